"""ConvertId: exchangelib's first call, used to learn the server version.

Only EWS ids of this server exist here, so every id conversion fails per item
with ErrorInvalidIdMalformed, the answer Exchange gives exchangelib's "DUMMY" id.
"""
from ..soap import mq, operation_response, response_message


def convert_id(ctx, op):
    messages = [response_message('ConvertId', 'ErrorInvalidIdMalformed', 'Id is malformed.')
                for _elem in op.find(mq('SourceIds'))]
    return operation_response('ConvertId', messages)


HANDLERS = {'ConvertId': convert_id}
