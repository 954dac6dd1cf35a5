"""The Graph v1.0 operations the connector uses, as one ``dispatch`` function.

``dispatch(graph, method, target, headers, body)`` answers one request (also each
request inside a ``$batch``) with a ``Reply``. Shapes follow Microsoft's v1.0
reference: error bodies ``{"error": {"code", "message", "innerError"}}``, delta
pages with ``@odata.nextLink`` / ``@odata.deltaLink`` and ``@removed`` entries,
``$value`` as MIME, ``sendMail`` with a base64 MIME body (``text/plain``) or JSON.
"""
import base64
import binascii
import collections
import datetime
import email
import email.policy
import email.utils
import json
import re
import urllib.parse
import uuid

from . import auth
from .store import StoreError, iso, new_id, utc_now

Reply = collections.namedtuple('Reply', 'status headers body')
SIZE_PROP = 'Integer 0x0E08'  # PidTagMessageSize
MAX_BATCH = 20
MAX_SUBSCRIPTION_MINUTES = 10080  # Outlook messages: under 7 days
DEFAULT_PAGE = 10

_FOLDER_RE = re.compile(r"^mailfolders(?:\('([^']+)'\))?$", re.I)
_RESOURCE_RE = re.compile(r"^/?(?:users/([^/]+)|me)/mailfolders(?:\('([^']+)'\)|/([^/]+))/messages$", re.I)
_IMID_FILTER = re.compile(r"^internetMessageId eq '((?:[^']|'')*)'$")
_NAME_FILTER = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
_SIZE_EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=id eq '(Integer 0x0?[eE]08)'\)$")


class GraphError(Exception):
    def __init__(self, status, code, message, headers=None):
        super(GraphError, self).__init__(code, message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def json_reply(status, payload, headers=None):
    hdrs = {'Content-Type': 'application/json; odata.metadata=minimal; odata.streaming=true; '
                            'IEEE754Compatible=false; charset=utf-8'}
    hdrs.update(headers or {})
    return Reply(status, hdrs, json.dumps(payload).encode('utf-8'))


def error_reply(status, code, message, headers=None):
    return json_reply(status, {'error': {'code': code, 'message': message, 'innerError': {
        'date': iso(utc_now()), 'request-id': str(uuid.uuid4()),
        'client-request-id': str(uuid.uuid4())}}}, headers)


def dispatch(graph, method, target, headers, body, inner=False):
    """Answer one request; never raises."""
    parsed = urllib.parse.urlsplit(target)
    path = parsed.path
    if path.startswith('/v1.0'):
        path = path[len('/v1.0'):]
    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    address = None
    try:
        if path.rstrip('/') == '/$batch' and method == 'POST' and not inner:
            return _batch(graph, headers, body)
        grant = graph.auth.grant(headers.get('Authorization'))
        if grant is None:
            raise GraphError(401, 'InvalidAuthenticationToken', 'Access token validation failure.',
                             {'WWW-Authenticate': 'Bearer realm="", authorization_uri='
                                                  '"https://login.microsoftonline.com/common/oauth2/authorize"'})
        segments = [urllib.parse.unquote(s) for s in path.strip('/').split('/') if s]
        if segments and segments[0].lower() == 'subscriptions':
            return graph.subscriptions.handle(method, segments[1:], grant, body)
        if not segments or segments[0].lower() not in ('users', 'me'):
            raise GraphError(400, 'BadRequest', 'Resource not found for the segment \'%s\'.'
                             % (segments[0] if segments else ''))
        if segments[0].lower() == 'me':
            if not grant.user:
                raise GraphError(400, 'BadRequest', '/me request is only valid with delegated '
                                                    'authentication flow.')
            address, rest = grant.user, segments[1:]
        else:
            if len(segments) < 2:
                raise GraphError(400, 'BadRequest', 'Unsupported request.')
            address, rest = segments[1], segments[2:]
        box = graph.store.mailbox(address)
        address = box.address
        if grant.user and grant.user not in (box.address.lower(), box.id):
            raise GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.')
        with graph.throttle.slot(box.address, path) as refused:
            if refused is not None:
                return refused
            return _mailbox_request(graph, box, method, rest, query, headers, body, grant)
    except GraphError as exc:
        return error_reply(exc.status, exc.code, exc.message, exc.headers)
    except StoreError as exc:
        return error_reply(exc.status, exc.code, exc.message)
    finally:
        graph.record(method, target, address, inner)


def _need(grant, scopes):
    if not grant.allows(scopes):
        raise GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.')


def _mailbox_request(graph, box, method, rest, query, headers, body, grant):
    from . import pim_api  # contacts, To Do tasks and events
    reply = pim_api.handle(graph, box, method, rest, query, headers, body, grant)
    if reply is not None:
        return reply
    lowered = [s.lower() for s in rest]
    if lowered == ['sendmail'] and method == 'POST':
        _need(grant, auth.SEND)
        return _send_mail(graph, box, headers, body)
    if lowered and _FOLDER_RE.match(rest[0]):
        folder_ref = _FOLDER_RE.match(rest[0]).group(1)
        if folder_ref is None and len(rest) >= 2:
            folder_ref, rest, lowered = rest[1], [rest[0]] + rest[2:], [lowered[0]] + lowered[2:]
        if folder_ref is None:
            return _folders(graph, box, method, query, body, grant)
        _need(grant, auth.READ)
        folder = box.folder(folder_ref)
        if lowered[1:] == [] and method == 'GET':
            return json_reply(200, _folder_json(box, folder))
        if lowered[1:] == ['messages', 'delta'] and method == 'GET':
            return graph.delta.page(box, folder, query, headers)
        if lowered[1:] == ['messages'] and method == 'GET':
            return _list(box, query, folder['id'])
        raise GraphError(400, 'BadRequest', 'Unsupported segment.')
    if lowered == ['messages'] and method == 'GET':
        _need(grant, auth.READ)
        return _list(box, query, None)
    if len(rest) >= 2 and lowered[0] == 'messages':
        message_id = rest[1]
        tail = lowered[2:]
        if tail == [] and method == 'GET':
            _need(grant, auth.READ)
            return json_reply(200, _message_json(box.message(message_id), query))
        if tail == ['$value'] and method == 'GET':
            _need(grant, auth.READ)
            return Reply(200, {'Content-Type': 'text/plain'}, box.message(message_id).raw)
        if tail == [] and method == 'PATCH':
            _need(grant, auth.WRITE)
            changes = _json(body)
            if set(changes) - {'categories'}:
                raise GraphError(400, 'ErrorInvalidProperty', 'Only categories can be updated here.')
            message = graph.store.set_categories(box.address, message_id, changes.get('categories') or [])
            return json_reply(200, _message_json(message, {}))
        if tail == ['move'] and method == 'POST':
            _need(grant, auth.WRITE)
            destination = _json(body).get('destinationId')
            if not destination:
                raise GraphError(400, 'ErrorInvalidParameter', 'destinationId is required.')
            return json_reply(201, _message_json(graph.store.move(box.address, message_id, destination), {}))
        if tail == [] and method == 'DELETE':
            _need(grant, auth.WRITE)
            graph.store.delete(box.address, message_id)
            return Reply(204, {}, b'')
    raise GraphError(400, 'BadRequest', 'Unsupported request %s %s.' % (method, '/'.join(rest)))


def _json(body):
    try:
        value = json.loads((body or b'{}').decode('utf-8'))
    except ValueError:
        raise GraphError(400, 'BadRequest', 'Unable to read JSON request payload.')
    if not isinstance(value, dict):
        raise GraphError(400, 'BadRequest', 'Unable to read JSON request payload.')
    return value


def _folder_json(box, folder):
    count = sum(1 for m in box.messages.values() if m.folder_id == folder['id'])
    return {'id': folder['id'], 'displayName': folder['displayName'], 'parentFolderId': None,
            'childFolderCount': 0, 'unreadItemCount': count, 'totalItemCount': count,
            'isHidden': False}


def _folders(graph, box, method, query, body, grant):
    if method == 'POST':
        _need(grant, auth.WRITE)
        name = _json(body).get('displayName')
        if not name:
            raise GraphError(400, 'ErrorInvalidParameter', 'displayName is required.')
        folder = graph.store.create_folder(box.address, name)
        return json_reply(201, _folder_json(box, folder))
    _need(grant, auth.READ)
    folders = list(box.folders.values())
    if query.get('$filter'):
        match = _NAME_FILTER.match(query['$filter'])
        if not match:
            raise GraphError(400, 'ErrorInvalidUrlQueryFilter', 'The query filter is not supported.')
        name = match.group(1).replace("''", "'").lower()
        folders = [f for f in folders if f['displayName'].lower() == name]
    return json_reply(200, {'value': [_folder_json(box, f) for f in folders]})


def _select(query):
    names = [n.strip() for n in (query.get('$select') or '').split(',') if n.strip()]
    return names or None


def _message_json(message, query, select=None, expand=None):
    props = message.properties()
    select = select if select is not None else _select(query)
    item = {'@odata.etag': 'W/"%s"' % message.change_key}
    if select:
        item.update((name, props[name]) for name in select if name in props)
        item['id'] = message.id
    else:
        item.update(props)
    expand = expand if expand is not None else query.get('$expand')
    if expand:
        item['singleValueExtendedProperties'] = [{'id': 'Integer 0xe08', 'value': str(len(message.raw))}]
    return item


def _check_expand(query):
    expand = query.get('$expand')
    if expand and not _SIZE_EXPAND.match(expand):
        raise GraphError(400, 'BadRequest', 'Unsupported $expand.')
    return expand


def _list(box, query, folder_id):
    """GET messages with ``$filter=internetMessageId eq '...'`` (the only filter served)."""
    _check_expand(query)
    rows = [m for m in box.messages.values() if folder_id is None or m.folder_id == folder_id]
    if query.get('$filter'):
        match = _IMID_FILTER.match(query['$filter'])
        if not match:
            raise GraphError(400, 'ErrorInvalidUrlQueryFilter', 'The query filter is not supported.')
        wanted = match.group(1).replace("''", "'")
        rows = [m for m in rows if m.internet_message_id == wanted]
    rows.sort(key=lambda m: m.seq)
    top = int(query.get('$top') or DEFAULT_PAGE)
    return json_reply(200, {'value': [_message_json(m, query) for m in rows[:top]]})


def _send_mail(graph, box, headers, body):
    content_type = (headers.get('Content-Type') or '').split(';')[0].strip().lower()
    if content_type == 'text/plain':  # MIME, base64: saved to Sent Items
        try:
            raw = base64.b64decode(body or b'', validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, 'ErrorMimeContentInvalidBase64String', 'Invalid base64 string for '
                                                                         'MIME content.')
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        recipients = [a for _n, a in email.utils.getaddresses(
            (parsed.get_all('To') or []) + (parsed.get_all('Cc') or []) + (parsed.get_all('Bcc') or []))
            if a]
        if not raw.strip() or not recipients:
            raise GraphError(400, 'ErrorMimeContentInvalid', 'The MIME content is invalid or has no '
                                                             'recipient.')
        save = True
    else:
        payload = _json(body)
        message = payload.get('message') or {}
        recipients = [r.get('emailAddress', {}).get('address') for key in
                      ('toRecipients', 'ccRecipients', 'bccRecipients') for r in message.get(key) or []]
        recipients = [r for r in recipients if r]
        if not recipients:
            raise GraphError(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.')
        save = payload.get('saveToSentItems', True) not in (False, 'false')
        raw = ('From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@devstack.graph>\r\n'
               'Content-Type: text/plain; charset=utf-8\r\n\r\n%s' % (
                   box.address, ', '.join(recipients), message.get('subject') or '', uuid.uuid4().hex,
                   (message.get('body') or {}).get('content') or '')).encode('utf-8')
    graph.store.send(box.address, raw, recipients, save_copy=save)
    return Reply(202, {}, b'')


def _batch(graph, headers, body):
    try:
        requests = json.loads((body or b'').decode('utf-8')).get('requests')
    except (ValueError, AttributeError):
        requests = None
    if not isinstance(requests, list):
        return error_reply(400, 'BadRequest', 'Invalid batch payload format.')
    if len(requests) > MAX_BATCH:
        return error_reply(400, 'BadRequest', 'Number of batch request steps exceeds the maximum of 20.')
    responses = []
    for request in requests:
        inner_headers = {'Authorization': headers.get('Authorization')}
        inner_headers.update(request.get('headers') or {})
        inner_body = request.get('body')
        if isinstance(inner_body, (dict, list)):
            inner_body = json.dumps(inner_body).encode('utf-8')
        elif isinstance(inner_body, str):
            inner_body = inner_body.encode('utf-8')
        url = request.get('url') or ''
        reply = dispatch(graph, (request.get('method') or 'GET').upper(),
                         '/v1.0/' + url.lstrip('/'), inner_headers, inner_body, inner=True)
        entry = {'id': request.get('id'), 'status': reply.status, 'headers': dict(reply.headers)}
        if reply.body:
            if 'json' in reply.headers.get('Content-Type', ''):
                entry['body'] = json.loads(reply.body.decode('utf-8'))
            else:  # non-JSON content comes base64-encoded
                entry['body'] = base64.b64encode(reply.body).decode('ascii')
        responses.append(entry)
    return json_reply(200, {'responses': responses})


class Delta(object):
    """Delta rounds of a folder: skip tokens (a round in progress) and delta tokens (where
    the next round starts), kept server side so tests can expire them (410)."""

    def __init__(self, graph):
        self.graph = graph
        self.skip = {}
        self.delta = {}

    def expire(self, address=None):
        """Forget the delta and skip tokens (of one mailbox): their next use gets 410."""
        for table in (self.skip, self.delta):
            for token in [t for t, s in table.items() if address is None or s['address'] == address.lower()]:
                del table[token]

    def page(self, box, folder, query, headers):
        store = self.graph.store
        if '$skiptoken' in query:
            state = self.skip.get(query['$skiptoken'])
        elif '$deltatoken' in query:
            state = self.delta.get(query['$deltatoken'])
            if state is not None:
                state = dict(state, upto=store.current_seq(), after=(0, ''))
        else:
            _check_expand(query)
            state = {'address': box.address.lower(), 'folder': folder['id'], 'since': 0,
                     'upto': store.current_seq(), 'after': (0, ''), 'select': _select(query),
                     'expand': query.get('$expand')}
        if state is None or state['folder'] != folder['id']:
            raise GraphError(410, 'syncStateNotFound', 'The sync state generation is not found. The '
                                                       'delta token is expired and data must be '
                                                       'synchronized again.')
        size = DEFAULT_PAGE
        prefer = re.search(r'odata\.maxpagesize=(\d+)', headers.get('Prefer') or '')
        if prefer:
            size = max(1, min(int(prefer.group(1)), 1000))
        rows, more = store.changes(box, folder['id'], state['since'], state['upto'], state['after'], size)
        value = []
        for seq, message_id, message in rows:
            if message is None:
                value.append({'@odata.type': '#microsoft.graph.message', 'id': message_id,
                              '@removed': {'reason': 'deleted'}})
            else:
                item = _message_json(message, {}, state['select'] or [], state['expand'])
                item['@odata.type'] = '#microsoft.graph.message'
                value.append(item)
        base = '%s/v1.0/users/%s/mailFolders/%s/messages/delta' % (
            self.graph.url_base, urllib.parse.quote(box.id), urllib.parse.quote(folder['id']))
        payload = {'@odata.context': '%s/v1.0/$metadata#Collection(message)' % self.graph.url_base,
                   'value': value}
        if more:
            token = new_id('sk')
            self.skip[token] = dict(state, after=(rows[-1][0], rows[-1][1]))
            payload['@odata.nextLink'] = base + '?$skiptoken=' + token
        else:
            token = new_id('dt')
            self.delta[token] = dict(state, since=state['upto'])
            payload['@odata.deltaLink'] = base + '?$deltatoken=' + token
        extra = {'Preference-Applied': 'odata.maxpagesize=%d' % size} if prefer else {}
        return json_reply(200, payload, extra)


def parse_resource(resource):
    """(user, folder) of a subscription resource such as
    ``users/{id}/mailFolders('inbox')/messages``, or None."""
    match = _RESOURCE_RE.match(resource or '')
    if not match:
        return None
    return match.group(1), match.group(2) or match.group(3)


def parse_time(value):
    try:
        return datetime.datetime.strptime(value[:19], '%Y-%m-%dT%H:%M:%S')
    except (TypeError, ValueError):
        return None
