"""POP3 connector (poplib with timeouts, TLS and our error mapping).

Messages are read with ``TOP n <lines>`` when the server offers TOP: Dovecot marks a
message read (\\Seen) on RETR but not on TOP, so the user's read state stays theirs.
Responses are read by our own loop, without poplib's 2,048-byte line limit: one long
line must not make a message unreadable.
"""
import poplib

from .connector import Connector
from .endpoint import _text, auth_error, map_network_error
from .errors import AuthError, ConfigError, PermanentError
from .message import RemoteMessage
from .oauth import BearerToken, sasl_error


class Pop3Connector(Connector):
    protocol = 'pop3'
    _top = None  # whether the server offers TOP, asked once per session

    def connect(self):
        ep = self.endpoint
        try:
            if ep.encryption == 'ssl':
                client = poplib.POP3_SSL(ep.host, ep.port, timeout=ep.timeout, context=ep.tls_context())
            else:
                client = poplib.POP3(ep.host, ep.port, timeout=ep.timeout)
            self.client = client
            if ep.encryption == 'starttls':
                if 'STLS' not in client.capa():
                    raise ConfigError('starttls_unsupported', '%s:%s' % (ep.host, ep.port))
                client.stls(ep.tls_context())
            if isinstance(self.credentials, BearerToken):
                self._login_bearer(client)
            else:
                try:
                    client.user(self.credentials.login)
                    client.pass_(self.credentials.password)
                except poplib.error_proto as exc:
                    raise auth_error(exc.args[0] if exc.args else exc)
        except Exception as exc:
            self.close()
            raise self._map(exc)
        return client

    def _login_bearer(self, client):
        """AUTH XOAUTH2 / OAUTHBEARER with an initial response (RFC 5034); a refused token
        is renewed once."""
        creds, ep = self.credentials, self.endpoint
        while True:
            error = ''
            try:
                resp = client._shortcmd('AUTH %s %s' % (creds.mechanism, creds.sasl(ep.host, ep.port)))
                if resp.startswith(b'+OK'):
                    return
                error = sasl_error(resp[1:].strip())  # "+ <base64 JSON>": answer empty, get -ERR
                client._shortcmd('')
                raise poplib.error_proto(resp)
            except poplib.error_proto as exc:
                if creds.renew():
                    continue
                detail = _text(exc.args[0] if exc.args else exc)
                raise AuthError('oauth_token_refused', '%s %s' % (detail, error))

    def check(self):
        """Connection test: login and STAT. Returns a summary."""
        client = self.connect()
        try:
            count, size = client.stat()
            return {'messages': count, 'size': size}
        except Exception as exc:
            raise self._map(exc)
        finally:
            self.close()

    def list_uidls(self):
        """{uidl: message number} for every message on the server (mail stays there)."""
        client = self.client or self.connect()
        try:
            _resp, lines, _octets = client.uidl()
            found = {}
            for line in lines:
                number, uidl = line.decode('ascii', 'replace').split(None, 1)
                found[uidl.strip()] = int(number)
            return found
        except Exception as exc:
            raise self._map(exc)

    def list_sizes(self):
        """{message number: size in octets} (LIST), read before any message is downloaded."""
        client = self.client or self.connect()
        try:
            _resp, lines, _octets = client.list()
            sizes = {}
            for line in lines:
                number, size = line.split()[:2]
                sizes[int(number)] = int(size)
            return sizes
        except Exception as exc:
            raise self._map(exc)

    def retrieve(self, number, uidl=None, size=None):
        """The whole message. With TOP, ``size`` lines of body are asked for (a body has
        fewer lines than octets), so the message comes whole and is not marked read."""
        try:
            if self._has_top():
                if size is None:
                    size = int(self.client.list(number).split()[2])
                raw = self._multiline('TOP %d %d' % (number, size + 1))
            else:
                raw = self._multiline('RETR %d' % number)
        except Exception as exc:
            raise self._map(exc)
        return RemoteMessage(raw, uidl=uidl, size=size if size is not None else len(raw))

    def fetch_header(self, number, uidl=None, size=None):
        """Only the header block (``TOP n 0``), for a message too large to download."""
        try:
            raw = self._multiline('TOP %d 0' % number)
        except Exception as exc:
            raise self._map(exc)
        return RemoteMessage(raw, uidl=uidl, size=size if size is not None else len(raw), truncated=True)

    def _has_top(self):
        if self._top is None:
            try:
                self._top = 'TOP' in self.client.capa()
            except poplib.error_proto:  # no CAPA (RFC 1939 server): RETR only
                self._top = False
        return self._top

    def _multiline(self, command, chunk=65536):
        """Send ``command`` and return its multi-line answer, dot-unstuffed, line ends kept.
        Lines of any length are read in chunks (poplib's own reader refuses lines over
        2,048 bytes); the socket's timeout applies to every read."""
        client = self.client
        client._putcmd(command)
        client._getresp()  # raises error_proto on -ERR
        parts, line_start = [], True
        while True:
            line = client.file.readline(chunk)
            if not line:
                raise ConnectionResetError('the server closed the connection during %s'
                                           % command.split()[0])
            if line_start:
                if line in (b'.\r\n', b'.\n'):
                    return b''.join(parts)
                if line.startswith(b'..'):
                    line = line[1:]
            line_start = line.endswith(b'\n')
            parts.append(line)

    def _map(self, exc):
        mapped = map_network_error(exc, self.endpoint)
        if mapped is not None:
            return mapped
        if isinstance(exc, poplib.error_proto):
            return PermanentError('protocol', _text(exc.args[0] if exc.args else exc))
        return exc
