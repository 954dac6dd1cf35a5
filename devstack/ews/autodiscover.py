"""Autodiscover the way exchangelib 5.0.3 does it, served on loopback ports.

exchangelib 5.0.3 speaks SOAP Autodiscover (GetUserSettings at
/autodiscover/autodiscover.svc), not POX, and finds it like this for
user@example.test: (1) https://example.test/, (2) https://autodiscover.example.test/
(both port 443), (3) an unauthenticated GET of http://autodiscover.example.test/
(port 80) whose 302 redirect may point anywhere on https, including another
port, (4) an SRV record, but only records with port 443 are kept. Before each
URL it looks the host name up with its own dnspython Resolver. So the only way
to a server on a free port without touching exchangelib's code is step 3:

- DNS: our server (dns_server.py) has A records for autodiscover.<domain> and
  for "127.0.0.1:<https port>" (exchangelib looks up the host:port of a redirect
  URL as a name), NXDOMAIN for the rest, so step 1 stops at once. exchangelib
  builds its Resolver from ``Autodiscovery.DNS_RESOLVER_KWARGS`` and
  ``DNS_RESOLVER_ATTRS``, its configuration knobs for this; ``client_settings``
  sets them to our server (dnspython's default resolver is not used by it).
- HTTP: the plain HTTP port of the endpoint doubles as the test network's web
  proxy (HTTP_PROXY/HTTPS_PROXY, NO_PROXY=127.0.0.1, read by requests). It
  refuses CONNECT tunnels, so step 2 fails at once, and answers the step 3 GET
  for http://autodiscover.<domain>/... with a redirect to
  https://127.0.0.1:<https port>/autodiscover/autodiscover.svc, whose
  certificate is valid.
Then GetUserSettings (authenticated like EWS) returns the EWS URL.
"""
import contextlib
import os

from lxml import etree

from .soap import S, SERVER_VERSION

A = 'http://schemas.microsoft.com/exchange/2010/Autodiscover'
WSA = 'http://www.w3.org/2005/08/addressing'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'
SVC_PATH = '/autodiscover/autodiscover.svc'
SCHEMAS = ('Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, '
           'Exchange2013, Exchange2013_SP1, Exchange2016')


def dns_names(domain, https_port):
    """The names our DNS server resolves: the Autodiscover host and the redirect's host:port."""
    return ['autodiscover.' + domain, '127.0.0.1:%d' % https_port]


class AutodiscoverInfo(object):
    """What a client needs to autodiscover this endpoint for ``domain``."""

    def __init__(self, domain, dns_port, proxy_url, https_port):
        self.domain = domain
        self.dns_port = dns_port
        self.proxy_url = proxy_url
        self.redirect_url = 'https://127.0.0.1:%d%s' % (https_port, SVC_PATH)
        self.environ = {name: proxy_url for name in ('HTTP_PROXY', 'HTTPS_PROXY',
                                                     'http_proxy', 'https_proxy')}
        self.environ.update(NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost')

    @contextlib.contextmanager
    def client_settings(self):
        """Point exchangelib's DNS look-ups and this process's proxy at the endpoint."""
        from exchangelib.autodiscover.discovery import Autodiscovery
        saved_env = {name: os.environ.get(name) for name in self.environ}
        saved = Autodiscovery.DNS_RESOLVER_KWARGS, Autodiscovery.DNS_RESOLVER_ATTRS
        Autodiscovery.DNS_RESOLVER_KWARGS = {'configure': False}
        Autodiscovery.DNS_RESOLVER_ATTRS = dict(saved[1], nameservers=['127.0.0.1'],
                                                port=self.dns_port)
        os.environ.update(self.environ)
        try:
            yield self
        finally:
            Autodiscovery.DNS_RESOLVER_KWARGS, Autodiscovery.DNS_RESOLVER_ATTRS = saved
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def redirect_for(self, absolute_url):
        """The step 3 redirect target for an absolute-form GET, or None."""
        prefix = 'http://autodiscover.%s' % self.domain
        url = absolute_url.lower()
        if url in (prefix + SVC_PATH, prefix + ':80' + SVC_PATH):
            return self.redirect_url
        return None


def _a(name, text=None, **attrs):
    elem = etree.Element('{%s}%s' % (A, name), nsmap={None: A, 'i': XSI})
    for key, value in attrs.items():
        elem.set(key, value)
    if text is not None:
        elem.text = text
    return elem


def _settings(ews, address):
    mailbox = ews.store.mailboxes[address.lower()]
    return {
        'UserDisplayName': mailbox.address,
        'UserDN': '/o=DevStack/ou=Exchange Administrative Group/cn=Recipients/cn=%s' % mailbox.address,
        'MailboxDN': '/o=DevStack/ou=Exchange Administrative Group/cn=Configuration/cn=Servers'
                     '/cn=EWS/cn=Microsoft Private MDB',
        'AutoDiscoverSMTPAddress': mailbox.address,
        'ExternalEwsUrl': ews.url,
        'InternalEwsUrl': ews.url,
        'EwsSupportedSchemas': SCHEMAS,
    }


def _user_response(ews, address, wanted):
    response = _a('UserResponse')
    if (address or '').lower() not in ews.store.mailboxes:
        response.append(_a('ErrorCode', 'InvalidUser'))
        response.append(_a('ErrorMessage', "Invalid user: '%s'" % address))
        return response
    settings = _settings(ews, address)
    response.append(_a('ErrorCode', 'NoError'))
    response.append(_a('ErrorMessage', 'No error.'))
    target = _a('RedirectTarget')
    target.set('{%s}nil' % XSI, 'true')
    response.append(target)
    errors, values = _a('UserSettingErrors'), _a('UserSettings')
    for name in wanted:
        if name in settings:
            setting = _a('UserSetting', **{'{%s}type' % XSI: 'StringSetting'})
            setting.extend([_a('Name', name), _a('Value', settings[name])])
            values.append(setting)
        else:
            error = _a('UserSettingError')
            error.extend([_a('ErrorCode', 'SettingIsNotAvailable'),
                          _a('ErrorMessage', 'The requested setting is not available.'),
                          _a('SettingName', name)])
            errors.append(error)
    response.extend([errors, values])
    return response


def respond(ews, body):
    """(HTTP status, bytes) for a GetUserSettings request."""
    try:
        request = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        message = request.find('{%s}Body/{%s}GetUserSettingsRequestMessage' % (S, A))
        users = [m.text for m in message.iter('{%s}Mailbox' % A)]
        wanted = [s.text for s in message.iter('{%s}Setting' % A)]
    except (etree.XMLSyntaxError, AttributeError):
        return 400, b''
    env = etree.Element('{%s}Envelope' % S, nsmap={'s': S, 'a': WSA})
    header = etree.SubElement(env, '{%s}Header' % S)
    action = etree.SubElement(header, '{%s}Action' % WSA)
    action.set('{%s}mustUnderstand' % S, '1')
    action.text = '%s/Autodiscover/GetUserSettingsResponse' % A
    info = etree.SubElement(header, '{%s}ServerVersionInfo' % A, nsmap={'h': A, 'i': XSI})
    for name in ('MajorVersion', 'MinorVersion', 'MajorBuildNumber', 'MinorBuildNumber'):
        etree.SubElement(info, '{%s}%s' % (A, name)).text = SERVER_VERSION[name]
    etree.SubElement(info, '{%s}Version' % A).text = 'Exchange2016'
    reply = _a('GetUserSettingsResponseMessage')
    response = _a('Response')
    user_responses = _a('UserResponses')
    user_responses.extend(_user_response(ews, address, wanted) for address in users)
    response.extend([_a('ErrorCode', 'NoError'), _a('ErrorMessage'), user_responses])
    reply.append(response)
    etree.SubElement(env, '{%s}Body' % S).append(reply)
    return 200, etree.tostring(env, xml_declaration=True, encoding='utf-8')
