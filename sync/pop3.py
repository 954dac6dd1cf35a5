"""POP3 connector (poplib with timeouts, TLS and our error mapping)."""
import poplib

from .connector import Connector
from .endpoint import _text, auth_error, map_network_error
from .errors import AuthError, ConfigError, PermanentError
from .message import RemoteMessage
from .oauth import BearerToken, sasl_error


class Pop3Connector(Connector):
    protocol = 'pop3'

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

    def retrieve(self, number, uidl=None):
        try:
            _resp, lines, octets = self.client.retr(number)
        except Exception as exc:
            raise self._map(exc)
        return RemoteMessage(b'\r\n'.join(lines) + b'\r\n', uidl=uidl, size=octets)

    def _map(self, exc):
        mapped = map_network_error(exc, self.endpoint)
        if mapped is not None:
            return mapped
        if isinstance(exc, poplib.error_proto):
            return PermanentError('protocol', _text(exc.args[0] if exc.args else exc))
        return exc
