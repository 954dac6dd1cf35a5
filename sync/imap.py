"""IMAP connector (imaplib with timeouts, TLS and our error mapping)."""
import imaplib
import socket

from .connector import Connector
from .endpoint import _text, auth_error, map_network_error
from .errors import ConfigError, PermanentError, TransientError


class _TimeoutMixin(object):
    """imaplib on Python 3.7 has no timeout argument: set it on the socket we create."""

    def _create_socket(self):
        return socket.create_connection((self.host, self.port), self._sync_timeout)


class _IMAP4(_TimeoutMixin, imaplib.IMAP4):
    def __init__(self, host, port, timeout):
        self._sync_timeout = timeout
        imaplib.IMAP4.__init__(self, host, port)


class _IMAP4_SSL(_TimeoutMixin, imaplib.IMAP4_SSL):
    def __init__(self, host, port, timeout, ssl_context):
        self._sync_timeout = timeout
        imaplib.IMAP4_SSL.__init__(self, host, port, ssl_context=ssl_context)

    def _create_socket(self):
        sock = _TimeoutMixin._create_socket(self)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class ImapConnector(Connector):
    protocol = 'imap'

    def connect(self):
        """Open, secure and authenticate a session; return the imaplib client."""
        ep = self.endpoint
        try:
            if ep.encryption == 'ssl':
                client = _IMAP4_SSL(ep.host, ep.port, ep.timeout, ep.tls_context())
            else:
                client = _IMAP4(ep.host, ep.port, ep.timeout)
            self.client = client
            if ep.encryption == 'starttls':
                if 'STARTTLS' not in client.capabilities:
                    raise ConfigError('starttls_unsupported', '%s:%s' % (ep.host, ep.port))
                client.starttls(ep.tls_context())
            self._login(client)
        except Exception as exc:
            self.close()
            raise self._map(exc)
        return client

    def _login(self, client):
        creds = self.credentials
        try:
            if 'AUTH=PLAIN' in client.capabilities:
                # AUTHENTICATE PLAIN sends UTF-8, so non-ASCII passwords work (LOGIN is ASCII only).
                token = b'\0' + creds.login.encode('utf-8') + b'\0' + creds.password.encode('utf-8')
                client.authenticate('PLAIN', lambda _challenge: token)
            else:
                client.login(creds.login, creds.password)
        except imaplib.IMAP4.error as exc:
            raise auth_error(exc.args[0] if exc.args else exc)

    def check(self):
        """Connection test: login, capabilities and INBOX. Returns a summary."""
        client = self.connect()
        try:
            typ, data = client.select('INBOX', readonly=True)
            if typ != 'OK':
                raise PermanentError('folder_missing', 'INBOX: %s' % _text(data))
            count = int(data[0])
            caps = sorted(c for c in client.capabilities if c in ('IDLE', 'CONDSTORE', 'QRESYNC', 'UIDPLUS'))
            return {'messages': count, 'capabilities': caps}
        except Exception as exc:
            raise self._map(exc)
        finally:
            self.close()

    def _goodbye(self, client):
        if client.state == 'SELECTED':
            client.close()
        client.logout()

    def _drop(self, client):
        client.shutdown()

    def _map(self, exc):
        mapped = map_network_error(exc, self.endpoint)
        if mapped is not None:
            return mapped
        if isinstance(exc, imaplib.IMAP4.abort):
            return TransientError('connection_lost', _text(exc.args[0] if exc.args else exc))
        if isinstance(exc, imaplib.IMAP4.error):
            return PermanentError('protocol', _text(exc.args[0] if exc.args else exc))
        return exc
