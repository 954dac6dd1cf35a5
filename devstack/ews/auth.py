"""HTTP authentication of the EWS endpoint: Basic and NTLM, as IIS does it, and OAuth
bearer tokens (modern authentication) checked by introspection at the test
authorization server when ``Authenticator.introspector`` is set: a delegated token
acts as the mailbox of its ``email``; an app-only token (no email, scope ``mail.ews``)
may impersonate any mailbox, as ``full_access_as_app`` does in Exchange Online.

NTLM authenticates a connection, not a request: after the three-message
handshake, later requests on the same keep-alive connection are accepted
without an Authorization header (IIS's default). A bad password gets a plain
401 offering the methods again, which exchangelib reports as UnauthorizedError.
"""
import base64
import binascii
import hmac

from . import ntlm
from .store import StoreError


class Connection(object):
    """Authentication state of one TCP connection."""

    def __init__(self):
        self.challenge = None
        self.mailbox = None  # set once NTLM has authenticated the connection
        self.scheme = None  # how the current request was authenticated


EWS_SCOPE = 'mail.ews'


class AppPrincipal(object):
    """The caller of an app-only token: an application allowed to impersonate."""

    impersonation = True

    def __init__(self, client_id):
        self.address = client_id


class Authenticator(object):
    def __init__(self, store):
        self.store = store
        self.introspector = None  # devstack.oauth.introspect.Introspector, for Bearer tokens

    @staticmethod
    def offers():
        """WWW-Authenticate headers of a 401, strongest first as IIS lists them."""
        return [('WWW-Authenticate', 'NTLM'), ('WWW-Authenticate', 'Basic realm="127.0.0.1"')]

    def _account(self, user, password):
        try:
            mailbox = self.store.mailbox(user)
        except StoreError:
            return None
        if hmac.compare_digest(mailbox.password.encode('utf-8'), password.encode('utf-8')):
            return mailbox
        return None

    def check(self, conn, header):
        """(mailbox, headers): the caller's mailbox, or None and the headers of a 401."""
        scheme, _, token = (header or '').partition(' ')
        scheme = scheme.lower()
        if not header:
            return conn.mailbox, self.offers()
        if scheme == 'bearer':
            return self._bearer(conn, token.strip())
        try:
            data = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None, self.offers()
        if scheme == 'basic':
            conn.mailbox, conn.scheme = None, 'Basic'
            for charset in ('utf-8', 'latin-1'):  # requests sends latin-1, RFC 7617 utf-8
                try:
                    user, _, password = data.decode(charset).partition(':')
                except UnicodeDecodeError:
                    continue
                mailbox = self._account(user, password)
                if mailbox is not None:
                    return mailbox, []
            return None, self.offers()
        if scheme == 'ntlm':
            return self._ntlm(conn, data)
        return None, self.offers()

    def _bearer(self, conn, token):
        conn.mailbox, conn.scheme = None, 'Bearer'
        answer, error = (None, {'status': 'no introspector'}) if self.introspector is None \
            else self.introspector.check(token, EWS_SCOPE)
        if answer is None:
            code = 'insufficient_scope' if error.get('status') == 'insufficient_scope' else 'invalid_token'
            return None, [('WWW-Authenticate', 'Bearer error="%s"' % code)]
        if not answer.get('email'):
            return AppPrincipal(answer.get('client_id')), []
        try:
            return self.store.mailbox(answer['email']), []
        except StoreError:
            return None, [('WWW-Authenticate', 'Bearer error="invalid_token"')]

    def _ntlm(self, conn, data):
        conn.mailbox = None
        try:
            kind = ntlm.message_type(data)
            if kind == 1:
                message, conn.challenge = ntlm.challenge(data)
                return None, [('WWW-Authenticate', 'NTLM ' + base64.b64encode(message).decode('ascii'))]
            if kind == 3 and conn.challenge is not None:
                user, _domain, verify = ntlm.authenticate(data, conn.challenge)
                conn.challenge = None
                try:
                    mailbox = self.store.mailbox(user)
                except StoreError:
                    mailbox = None
                if mailbox is not None and verify(mailbox.password):
                    conn.mailbox, conn.scheme = mailbox, 'NTLM'
                    return mailbox, []
        except (ntlm.NtlmError, UnicodeDecodeError):
            pass
        conn.challenge = None
        return None, self.offers()
