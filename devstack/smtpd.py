"""An SMTP submission server (aiosmtpd) with AUTH and STARTTLS or implicit TLS,
delivering each accepted message to Dovecot over LMTP."""
import base64
import binascii
import json
import logging
import smtplib
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

AUTH_LINE_LIMIT = 12288  # RFC 4954: AUTH lines may be that long (a JWT bearer token is ~1 KB)


class _Smtp(SMTP):
    line_length_limit = AUTH_LINE_LIMIT + 2

    def __init__(self, *args, **kwargs):
        super(_Smtp, self).__init__(*args, **kwargs)
        self.command_size_limits['AUTH'] = AUTH_LINE_LIMIT


class _Controller(Controller):
    def factory(self):
        return _Smtp(self.handler, **self.SMTP_kwargs)

from .procs import free_ports


class LmtpRelay(object):
    """aiosmtpd handler: hand every message to Dovecot's LMTP, one recipient at a time.

    With ``introspector`` (devstack.oauth.introspect) it also offers AUTH XOAUTH2 and
    checks each bearer token at the authorization server (scope ``SEND_SCOPE``), as
    Microsoft 365 and Gmail do for submission."""

    SEND_SCOPE = 'mail.send'

    def __init__(self, lmtp_port, introspector=None):
        self.lmtp_port = lmtp_port
        self.received = []
        self.introspector = introspector
        self.bearer_logins = []  # logins authenticated with XOAUTH2, in order

    async def auth_XOAUTH2(self, server, args):
        if self.introspector is None:
            await server.push('504 5.5.4 Unrecognized authentication type')
            return AuthResult(success=False, handled=True)
        if len(args) > 1:
            blob = args[1].encode('ascii', 'replace')
        else:
            blob = await server.challenge_auth('', encode_to_b64=False)
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(blob)
        try:
            fields = dict(part.split('=', 1) for part in
                          base64.b64decode(blob, validate=True).decode('utf-8').split('\x01') if '=' in part)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            await server.push('501 5.5.2 Cannot decode response')
            return AuthResult(success=False, handled=True)
        user, token = fields.get('user', ''), fields.get('auth', '')[len('Bearer '):]
        answer, error = self.introspector.check(token, self.SEND_SCOPE)
        if answer is not None and (answer.get('email') or '').lower() != user.lower():
            answer, error = None, {'status': 'invalid_token', 'schemes': 'bearer'}
        if answer is None:  # RFC 7628 style: an error challenge, the client answers empty
            await server.challenge_auth(json.dumps(error).encode('utf-8'))
            return AuthResult(success=False, handled=False,
                              message='535 5.7.3 Authentication unsuccessful')
        self.bearer_logins.append(user)
        return AuthResult(success=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith('@refused.test'):  # for tests of refused recipients
            return '550 5.1.1 No such user here'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        for rcpt in envelope.rcpt_tos:
            lmtp = smtplib.LMTP('127.0.0.1', self.lmtp_port)
            try:
                lmtp.sendmail(envelope.mail_from, [rcpt], envelope.original_content)
            except smtplib.SMTPRecipientsRefused:
                pass  # not one of our accounts: accepted and dropped, like a smarthost
            finally:
                lmtp.quit()
        return '250 Message accepted for delivery'


class SmtpServer(object):
    """Two listeners: ``port`` (plain, STARTTLS offered) and ``ssl_port`` (implicit TLS)."""

    def __init__(self, users, lmtp_port, certs, port=None, ssl_port=None, introspector=None):
        self.users = users  # shared dict, same accounts as Dovecot
        self.handler = LmtpRelay(lmtp_port, introspector)
        self.certs = certs
        spare = free_ports(2)
        self.port = port or spare[0]
        self.ssl_port = ssl_port or spare[1]
        self.controllers = []

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode('utf-8', 'replace')
        password = auth_data.password.decode('utf-8', 'replace')
        ok = login in self.users and self.users[login] == password
        # handled=False lets aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)

    def _context(self):
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs['cert'], self.certs['key'])
        return context

    def start(self):
        # AUTH without TLS is allowed on purpose: tests cover plain SMTP on loopback.
        warnings.filterwarnings('ignore', 'Requiring AUTH while not requiring TLS')
        logging.getLogger('mail.log').setLevel(logging.ERROR)
        common = dict(hostname='127.0.0.1', authenticator=self._authenticate,
                      auth_require_tls=False, auth_required=True,
                      server_hostname='localhost')
        plain = _Controller(self.handler, port=self.port, tls_context=self._context(), **common)
        implicit = _Controller(self.handler, port=self.ssl_port, ssl_context=self._context(), **common)
        for controller in (plain, implicit):
            controller.start()
            self.controllers.append(controller)
        return self

    def stop(self):
        while self.controllers:
            self.controllers.pop().stop()
