"""An SMTP submission server (aiosmtpd) with AUTH and STARTTLS or implicit TLS,
delivering each accepted message to Dovecot over LMTP."""
import logging
import smtplib
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from .procs import free_ports


class LmtpRelay(object):
    """aiosmtpd handler: hand every message to Dovecot's LMTP, one recipient at a time."""

    def __init__(self, lmtp_port):
        self.lmtp_port = lmtp_port
        self.received = []

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

    def __init__(self, users, lmtp_port, certs, port=None, ssl_port=None):
        self.users = users  # shared dict, same accounts as Dovecot
        self.handler = LmtpRelay(lmtp_port)
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
        plain = Controller(self.handler, port=self.port, tls_context=self._context(), **common)
        implicit = Controller(self.handler, port=self.ssl_port, ssl_context=self._context(), **common)
        for controller in (plain, implicit):
            controller.start()
            self.controllers.append(controller)
        return self

    def stop(self):
        while self.controllers:
            self.controllers.pop().stop()
