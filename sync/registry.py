"""Server types and their connectors, found by key: adding a server type is one module
in ``sync/`` plus its entry here, never a new branch in the Odoo layer.

An entry says what a server type can do (``channels``, how sent email gets its copy in
the Sent folder, whether email can be tagged with a category, which authentication
methods apply) and builds the connector of a channel from a ``ConnectionConfig``: the
plain values of a profile and mailbox, with the secrets behind callables so that a
type that needs no password never asks for one.

>>> lookup('imap').channels
('incoming', 'outgoing')
>>> lookup('exchange').sent_copy, lookup('pop3').sent_copy
('server', None)
>>> try:
...     lookup('nope')
... except ConfigError as error:
...     print(error)
unknown_server_type: nope
"""
import collections

from .endpoint import Endpoint
from .errors import ConfigError, SyncError

ServerType = collections.namedtuple('ServerType', 'key label build channels sent_copy categories auth_methods')
_TYPES = collections.OrderedDict()


class ConnectionConfig(object):
    """What a connector may need; ``credentials()`` (a password or a bearer token of the
    mailbox) is read only when the connector asks for it."""

    def __init__(self, email, credentials=None, cafile=None, **settings):
        self.email = email
        self._credentials = credentials
        self.cafile = cafile
        self.settings = settings

    def __getattr__(self, name):
        settings = self.__dict__.get('settings') or {}
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    def credentials(self):
        if self._credentials is None:
            raise ConfigError('missing_login')
        return self._credentials()

    def endpoint(self, prefix):
        """The Endpoint of ``prefix`` ('incoming' or 'outgoing') settings."""
        host = self.settings.get(prefix + '_host') or self.settings.get('incoming_host')
        return Endpoint(host, self.settings.get(prefix + '_port'), self.settings.get(prefix + '_encryption'),
                        self.timeout, self.verify_tls, self.cafile)


def register(key, label, build, channels=('incoming', 'outgoing'), sent_copy=None, categories=False,
             auth_methods=('basic',)):
    """Add a server type. ``build(channel, config)`` returns a connector. ``sent_copy``:
    'server' when sending saves the copy (and the outgoing connector can ``find_sent``),
    'append' when the copy is appended to the Sent folder over the incoming connector."""
    _TYPES[key] = ServerType(key, label, build, tuple(channels), sent_copy, categories, tuple(auth_methods))


def lookup(key):
    try:
        return _TYPES[key]
    except KeyError:
        raise ConfigError('unknown_server_type', key)


def server_types():
    """(key, label) of every registered server type, in registration order."""
    return [(entry.key, entry.label) for entry in _TYPES.values()]


def connector(key, channel, config):
    entry = lookup(key)
    if channel not in entry.channels:
        raise SyncError('not_supported', channel)
    return entry.build(channel, config)


# ---------------------------------------------------------------------- the built-in types
def _mail_pair(incoming_cls):
    def build(channel, config):
        from .smtp import SmtpConnector
        if channel == 'incoming':
            return incoming_cls()(config.endpoint('incoming'), config.credentials())
        return SmtpConnector(config.endpoint('outgoing'), config.credentials())
    return build


def _imap():
    from .imap import ImapConnector
    return ImapConnector


def _pop3():
    from .pop3 import Pop3Connector
    return Pop3Connector


def _ews(channel, config):
    from .ews import EwsConnector, EwsSettings
    settings = EwsSettings(config.email, ews_url=config.ews_url, autodiscover=config.ews_autodiscover,
                           auth_type=config.auth_method, timeout=config.timeout,
                           verify_tls=config.verify_tls, cafile=config.cafile,
                           impersonate=config.impersonate)
    return EwsConnector(settings, config.credentials())


def _graph(channel, config):
    from .graph import GraphConnector, GraphSettings
    settings = GraphSettings(config.email, base_url=config.graph_url, timeout=config.timeout,
                             verify_tls=config.verify_tls, cafile=config.cafile)
    credentials = config.credentials()
    if not hasattr(credentials, 'renew'):  # a password: Microsoft Graph takes OAuth 2.0 only
        raise ConfigError('oauth_required', config.email)
    if channel == 'act':  # appointments, contacts and tasks
        from .graph_items import GraphItemsConnector
        return GraphItemsConnector(settings, credentials,
                                   invitations=config.settings.get('graph_invitations') or 'microsoft')
    return GraphConnector(settings, credentials, channel=channel)


register('exchange', 'Exchange (EWS)', _ews, channels=('incoming', 'outgoing', 'act'), sent_copy='server',
         categories=True, auth_methods=('basic', 'ntlm'))
register('imap', 'IMAP with SMTP', _mail_pair(_imap), sent_copy='append')
register('pop3', 'POP3 with SMTP', _mail_pair(_pop3))
register('graph', 'Microsoft 365 (Graph)', _graph, channels=('incoming', 'outgoing', 'act'), sent_copy='server',
         categories=True, auth_methods=('oauth',))
