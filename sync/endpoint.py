"""Value objects for "where to connect" and "as whom", and the network-error mapping
shared by every socket-based connector (IMAP, POP3, SMTP)."""
import socket
import ssl

from .errors import AuthError, ConfigError, SyncError, TransientError

ENCRYPTIONS = ('ssl', 'starttls', 'none')


class Endpoint(object):
    """One server address with its transport security.

    ``cafile`` adds a private certificate authority to the system's trusted ones
    (an on-premises server signed by a company CA); ``verify_tls=False`` turns
    verification off altogether, which admins must choose explicitly.
    """

    def __init__(self, host, port, encryption='ssl', timeout=60, verify_tls=True, cafile=None):
        if encryption not in ENCRYPTIONS:
            raise ConfigError('bad_encryption', encryption)
        if not host:
            raise ConfigError('missing_host')
        self.host = host
        self.port = int(port)
        self.encryption = encryption
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.cafile = cafile

    def tls_context(self):
        if not self.verify_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context()
        if self.cafile:
            context.load_verify_locations(self.cafile)
        return context

    def __repr__(self):
        return '<Endpoint %s:%s %s>' % (self.host, self.port, self.encryption)


class Credentials(object):
    """A login and its password; the password never appears in repr or str."""

    def __init__(self, login, password):
        if not login:
            raise ConfigError('missing_login')
        if not password:
            raise ConfigError('missing_password')
        self.login = login
        self.password = password

    def __repr__(self):
        return '<Credentials %s>' % self.login

    __str__ = __repr__


def map_network_error(exc, endpoint):
    """Translate a socket/TLS exception into the sync error family.

    >>> map_network_error(ConnectionRefusedError(111, 'refused'), Endpoint('h', 1)).code
    'connection_refused'
    >>> map_network_error(socket.timeout('timed out'), Endpoint('h', 1)).transient
    True
    """
    where = '%s:%s' % (endpoint.host, endpoint.port)
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, socket.gaierror):
        return ConfigError('unknown_host', endpoint.host)
    if isinstance(exc, ConnectionRefusedError):
        return TransientError('connection_refused', where)
    if isinstance(exc, socket.timeout):
        return TransientError('timeout', '%s (%s s)' % (where, endpoint.timeout))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConfigError('tls_untrusted', '%s: %s' % (where, exc.verify_message))
    if isinstance(exc, ssl.SSLError):
        return ConfigError('tls_failed', '%s: %s' % (where, exc.reason or exc))
    if isinstance(exc, (ConnectionError, EOFError)):
        return TransientError('connection_lost', '%s: %s' % (where, exc))
    if isinstance(exc, OSError):
        return TransientError('network', '%s: %s' % (where, exc))
    return None


def auth_error(detail):
    return AuthError('auth_failed', _text(detail))


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return _text(value[0])
    return str(value)
