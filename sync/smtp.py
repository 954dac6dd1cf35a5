"""SMTP connector (smtplib with timeouts, TLS and our error mapping)."""
import smtplib
import socket

from .connector import Connector
from .endpoint import auth_error, map_network_error
from .errors import AuthError, ConfigError, PermanentError, TransientError
from .oauth import BearerToken, sasl_error


class SmtpConnector(Connector):
    protocol = 'smtp'

    def connect(self):
        """EHLO, STARTTLS when asked, AUTH; return the smtplib client."""
        ep = self.endpoint
        try:
            if ep.encryption == 'ssl':
                client = smtplib.SMTP_SSL(ep.host, ep.port, timeout=ep.timeout, context=ep.tls_context())
            else:
                client = smtplib.SMTP(ep.host, ep.port, timeout=ep.timeout)
            self.client = client
            client.ehlo()
            if ep.encryption == 'starttls':
                if not client.has_extn('starttls'):
                    raise ConfigError('starttls_unsupported', '%s:%s' % (ep.host, ep.port))
                client.starttls(context=ep.tls_context())
                client.ehlo()
            if not client.has_extn('auth'):
                raise ConfigError('smtp_auth_unsupported', '%s:%s' % (ep.host, ep.port))
            if isinstance(self.credentials, BearerToken):
                self._login_bearer(client)
            else:
                try:
                    client.login(self.credentials.login, self.credentials.password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise auth_error(exc.smtp_error)
        except Exception as exc:
            self.close()
            raise self._map(exc)
        return client

    def _login_bearer(self, client):
        """AUTH XOAUTH2 (what Microsoft 365 and Gmail accept); a refused token is renewed once."""
        creds = self.credentials
        if 'XOAUTH2' not in (client.esmtp_features.get('auth') or '').upper().split():
            raise ConfigError('oauth_mechanism_unsupported', '%s:%s XOAUTH2' % (
                self.endpoint.host, self.endpoint.port))
        while True:
            error = ''
            try:
                code, answer = client.docmd('AUTH', 'XOAUTH2 ' + creds.sasl(None, 0, 'XOAUTH2'))
                if code == 334:  # the error challenge: answer empty, the server then says 535
                    error = sasl_error(answer)
                    code, answer = client.docmd('')
                if code != 235:
                    raise smtplib.SMTPAuthenticationError(code, answer)
                return
            except smtplib.SMTPAuthenticationError as exc:
                if creds.renew():
                    continue
                raise AuthError('oauth_token_refused', '%s %s %s' % (
                    exc.smtp_code, exc.smtp_error.decode('utf-8', 'replace'), error))

    def check(self):
        """Connection test: EHLO, STARTTLS and AUTH. Returns a summary."""
        client = self.connect()
        try:
            return {'extensions': sorted(client.esmtp_features)}
        finally:
            self.close()

    def send(self, raw, sender, recipients, before_data=None):
        """Submit one message (bytes) to ``recipients``; returns the refused ones when
        only some were refused.

        ``before_data`` is called once the server has taken the sender and recipients,
        just before the message itself goes out: from then on the message may have been
        delivered even if the answer never reaches us, so that is when the caller must
        have recorded the attempt.
        """
        client = self.client or self.connect()
        try:
            code, answer = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            refused = {}
            for recipient in recipients:
                code, answer = client.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, answer)
            if len(refused) == len(recipients):
                client.rset()
                raise smtplib.SMTPRecipientsRefused(refused)
        except Exception as exc:
            raise self._map(exc)
        if before_data:
            before_data()
        try:
            code, answer = client.data(raw)
        except Exception as exc:
            raise self._map(exc)
        if code != 250:
            raise self._map(smtplib.SMTPDataError(code, answer))
        return refused

    def _map(self, exc):
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, socket.timeout):  # smtplib hides timeouts in here
                return TransientError('timeout', str(exc))
            return TransientError('connection_lost', str(exc))
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            detail = '; '.join('%s: %s %s' % (rcpt, code, answer.decode('utf-8', 'replace'))
                               for rcpt, (code, answer) in sorted(exc.recipients.items()))
            if all(400 <= code < 500 for code, _answer in exc.recipients.values()):
                return TransientError('server_busy', detail)
            return PermanentError('recipients_refused', detail)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            detail = '%s %s (%s)' % (exc.smtp_code, exc.smtp_error.decode('utf-8', 'replace'), exc.sender)
            if 400 <= exc.smtp_code < 500:
                return TransientError('server_busy', detail)
            return PermanentError('sender_refused', detail)
        mapped = map_network_error(exc, self.endpoint)
        if mapped is not None:
            return mapped
        if isinstance(exc, smtplib.SMTPResponseException):
            detail = '%s %s' % (exc.smtp_code, exc.smtp_error.decode('utf-8', 'replace'))
            if 400 <= exc.smtp_code < 500:
                return TransientError('server_busy', detail)
            return PermanentError('protocol', detail)
        if isinstance(exc, smtplib.SMTPException):
            return PermanentError('protocol', str(exc))
        return exc
