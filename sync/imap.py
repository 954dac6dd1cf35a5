"""IMAP connector (imaplib with timeouts, TLS and our error mapping)."""
import imaplib
import re
import socket

from .connector import Connector
from .endpoint import _text, auth_error, map_network_error
from .errors import ConfigError, PermanentError, TransientError
from .message import RemoteMessage

_FETCH_META = re.compile(rb'UID (\d+)|RFC822\.SIZE (\d+)|INTERNALDATE "([^"]+)"')


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


class FolderState(object):
    """What EXAMINE says about a folder: UIDVALIDITY names the generation of its UIDs."""

    def __init__(self, name, exists, uidvalidity=None, uidnext=None, highestmodseq=None):
        self.name = name
        self.exists = exists
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext
        self.highestmodseq = highestmodseq


def _quote(folder):
    return '"%s"' % folder.replace('\\', '\\\\').replace('"', '\\"') if ' ' in folder else folder


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

    def select_folder(self, folder='INBOX'):
        """EXAMINE a folder (read-only: flags never change); return its state."""
        client = self.client or self.connect()
        try:
            typ, data = client.select(_quote(folder), readonly=True)
            if typ != 'OK':
                raise PermanentError('folder_missing', '%s: %s' % (folder, _text(data)))
            state = FolderState(folder, int(data[0] or 0))
            for name in ('UIDVALIDITY', 'UIDNEXT', 'HIGHESTMODSEQ'):
                value = client.untagged_responses.get(name)
                if value and value[0]:
                    setattr(state, name.lower(), int(value[0]))
            if state.uidvalidity is None:
                raise PermanentError('protocol', '%s: no UIDVALIDITY' % folder)
            return state
        except Exception as exc:
            raise self._map(exc)

    def search_uids(self, after_uid=0, since=None):
        """UIDs above ``after_uid`` in the selected folder, received on or after ``since``."""
        criteria = ['UID', '%d:*' % (after_uid + 1)]
        if since is not None:
            criteria += ['SINCE', since.strftime('%d-%b-%Y')]
        try:
            typ, data = self.client.uid('SEARCH', *criteria)
            if typ != 'OK':
                raise PermanentError('protocol', 'SEARCH: %s' % _text(data))
            # "n:*" always matches the highest UID, even when it is below n.
            return sorted(uid for uid in map(int, (data[0] or b'').split()) if uid > after_uid)
        except Exception as exc:
            raise self._map(exc)

    def fetch(self, uids, folder='INBOX', batch=50):
        """Yield RemoteMessages with their full bytes (BODY.PEEK[]: the \\Seen flag is left alone)."""
        uids = list(uids)
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            try:
                typ, data = self.client.uid('FETCH', ','.join(map(str, chunk)),
                                            '(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])')
            except Exception as exc:
                raise self._map(exc)
            if typ != 'OK':
                raise PermanentError('protocol', 'FETCH: %s' % _text(data))
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta = {}
                for uid, size, date in _FETCH_META.findall(item[0]):
                    meta.setdefault('uid', uid and int(uid))
                    if size:
                        meta['size'] = int(size)
                    if date:
                        meta['date'] = date.decode('ascii', 'replace')
                if not meta.get('uid'):
                    continue
                yield RemoteMessage(item[1], uid=meta['uid'], folder=folder, size=meta.get('size'),
                                    internal_date=meta.get('date'))

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
