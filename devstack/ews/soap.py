"""SOAP envelopes of EWS: reading requests, writing responses and faults.

Responses carry a ``ServerVersionInfo`` header like Exchange 2016 CU (build
15.1.2507), which is what exchangelib reads to settle on a version. Requests
that ask for a schema newer than Exchange2016 get the fault Exchange 2016 gives
(ErrorInvalidServerVersion), so the client's version negotiation runs for real.
"""
from lxml import etree

S = 'http://schemas.xmlsoap.org/soap/envelope/'
M = 'http://schemas.microsoft.com/exchange/services/2006/messages'
T = 'http://schemas.microsoft.com/exchange/services/2006/types'
E = 'http://schemas.microsoft.com/exchange/services/2006/errors'
NSMAP = {'s': S, 'm': M, 't': T}

SERVER_VERSION = {'MajorVersion': '15', 'MinorVersion': '1', 'MajorBuildNumber': '2507',
                  'MinorBuildNumber': '6', 'Version': 'V2017_07_11'}
ACCEPTED_VERSIONS = ('Exchange2007', 'Exchange2007_SP1', 'Exchange2010', 'Exchange2010_SP1',
                     'Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2016')


class SoapFault(Exception):
    """A request-level error, answered as a SOAP Fault with HTTP 500."""

    def __init__(self, code, text, values=None):
        super(SoapFault, self).__init__(code, text)
        self.code = code
        self.text = text
        self.values = values or {}


def _element(ns, name, content=None, **attrs):
    elem = etree.Element('{%s}%s' % (ns, name), nsmap=NSMAP)
    for key, value in attrs.items():
        elem.set(key, str(value))
    if isinstance(content, (list, tuple)):
        elem.extend(child for child in content if child is not None)
    elif isinstance(content, etree._Element):
        elem.append(content)
    elif content is not None:
        elem.text = str(content)
    return elem


def t(name, content=None, **attrs):
    """An element in the types namespace: ``t('Subject', 'Hello')``."""
    return _element(T, name, content, **attrs)


def m(name, content=None, **attrs):
    """An element in the messages namespace."""
    return _element(M, name, content, **attrs)


def tq(name):
    return '{%s}%s' % (T, name)


def mq(name):
    return '{%s}%s' % (M, name)


def local(elem):
    return etree.QName(elem).localname


class Request(object):
    """One parsed EWS call: the operation element and what the header says."""

    def __init__(self, body):
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            root = etree.fromstring(body, parser)
        except etree.XMLSyntaxError as exc:
            raise SoapFault('ErrorSchemaValidation', 'The request failed schema validation: %s' % exc)
        header = root.find('{%s}Header' % S)
        soap_body = root.find('{%s}Body' % S)
        if soap_body is None or len(soap_body) == 0:
            raise SoapFault('ErrorSchemaValidation', 'The request failed schema validation: no Body.')
        self.operation_elem = soap_body[0]
        self.operation = local(self.operation_elem)
        self.version = None
        self.impersonate = None
        if header is not None:
            version = header.find(tq('RequestServerVersion'))
            if version is not None:
                self.version = version.get('Version')
            sid = header.find('%s/%s' % (tq('ExchangeImpersonation'), tq('ConnectingSID')))
            if sid is not None:
                address = sid.findtext(tq('PrimarySmtpAddress')) or sid.findtext(tq('SmtpAddress'))
                if not address:
                    raise SoapFault('ErrorImpersonationFailed',
                                    'Impersonation here needs a PrimarySmtpAddress or SmtpAddress.')
                self.impersonate = address.strip()
        if self.version is not None and self.version not in ACCEPTED_VERSIONS:
            raise SoapFault('ErrorInvalidServerVersion', 'The specified server version is invalid.')


def _envelope():
    """(Envelope, Body) with Exchange 2016's ServerVersionInfo in the header."""
    env = etree.Element('{%s}Envelope' % S, nsmap={'s': S})
    header = etree.SubElement(env, '{%s}Header' % S)
    info = etree.SubElement(header, tq('ServerVersionInfo'), nsmap={'h': T})
    for key, value in SERVER_VERSION.items():
        info.set(key, value)
    return env, etree.SubElement(env, '{%s}Body' % S)


def envelope(body_elem):
    env, body = _envelope()
    body.append(body_elem)
    etree.cleanup_namespaces(env, top_nsmap={'m': M, 't': T})
    return etree.tostring(env, xml_declaration=True, encoding='utf-8')


def fault_envelope(fault):
    """A SOAP Fault like Exchange's (errors namespace detail, MessageXml in types)."""
    env, body = _envelope()
    elem = etree.SubElement(body, '{%s}Fault' % S)
    etree.SubElement(elem, 'faultcode', nsmap={'a': T}).text = 'a:' + fault.code
    faultstring = etree.SubElement(elem, 'faultstring')
    faultstring.set('{http://www.w3.org/XML/1998/namespace}lang', 'en-US')
    faultstring.text = fault.text
    detail = etree.SubElement(elem, 'detail')
    etree.SubElement(detail, '{%s}ResponseCode' % E, nsmap={'e': E}).text = fault.code
    etree.SubElement(detail, '{%s}Message' % E, nsmap={'e': E}).text = fault.text
    if fault.values:
        msg_xml = etree.SubElement(detail, tq('MessageXml'), nsmap={'t': T})
        for name, value in fault.values.items():
            etree.SubElement(msg_xml, tq('Value'), Name=name).text = str(value)
    return etree.tostring(env, xml_declaration=True, encoding='utf-8')


def response_message(operation, code='NoError', text=None, children=(), response_class=None):
    """One ``m:<Operation>ResponseMessage`` with its ResponseCode."""
    if response_class is None:
        response_class = 'Success' if code == 'NoError' else 'Error'
    elem = m(operation + 'ResponseMessage', ResponseClass=response_class)
    if code != 'NoError':
        elem.append(m('MessageText', text or code))
    elem.append(m('ResponseCode', code))
    if code != 'NoError':
        elem.append(m('DescriptiveLinkKey', '0'))
    elem.extend(child for child in children if child is not None)
    return elem


def operation_response(operation, messages):
    return m(operation + 'Response', [m('ResponseMessages', list(messages))])
