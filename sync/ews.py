"""Exchange connector (exchangelib over EWS), fail-fast: it never sleeps for a server.

exchangelib keeps its timeout and HTTP adapter on the protocol class; we set them
on each protocol instance so profiles with different timeouts or certificate
settings can live in one Odoo process.
"""
import requests

from .connector import Connector
from .errors import AuthError, ConfigError, PermanentError, TransientError

try:  # exchangelib is a hard dependency of the addon, but keep import errors readable
    import exchangelib
    from exchangelib import errors as ews_errors
except ImportError:  # pragma: no cover
    exchangelib = None


def _adapter_class(verify):
    """An HTTP adapter that uses our verification choice, whatever REQUESTS_CA_BUNDLE says."""

    class _Adapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, _verify, cert):
            super(_Adapter, self).cert_verify(conn, url, verify, cert)

    return _Adapter


class EwsSettings(object):
    """Where the EWS endpoint is and how to reach it."""

    def __init__(self, email, ews_url=None, autodiscover=False, auth_type='basic',
                 timeout=60, verify_tls=True, cafile=None, impersonate=False):
        if not autodiscover and not ews_url:
            raise ConfigError('missing_ews_url')
        self.email = email
        self.ews_url = ews_url
        self.autodiscover = autodiscover
        self.auth_type = auth_type
        self.timeout = timeout
        self.verify = (cafile or True) if verify_tls else False
        self.impersonate = impersonate


class EwsConnector(Connector):
    protocol = 'ews'

    def __init__(self, settings, credentials):
        super(EwsConnector, self).__init__(settings, credentials)
        self.settings = settings
        self.account = None

    def connect(self):
        st = self.settings
        creds = exchangelib.Credentials(self.credentials.login, self.credentials.password)
        auth = {'basic': exchangelib.BASIC, 'ntlm': exchangelib.NTLM}[st.auth_type]
        access = exchangelib.IMPERSONATION if st.impersonate else exchangelib.DELEGATE
        adapter = _adapter_class(st.verify)
        old_adapter = exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS
        old_timeout = exchangelib.protocol.BaseProtocol.TIMEOUT
        try:
            # Autodiscover builds its own protocol objects: the class settings apply
            # during connect only, and are put back at once.
            exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS = adapter
            exchangelib.protocol.BaseProtocol.TIMEOUT = st.timeout
            if st.autodiscover:
                account = exchangelib.Account(
                    st.email, credentials=creds, autodiscover=True, access_type=access,
                    config=None)
            else:
                config = exchangelib.Configuration(
                    service_endpoint=st.ews_url, credentials=creds, auth_type=auth,
                    retry_policy=exchangelib.FailFast())
                account = exchangelib.Account(st.email, config=config, autodiscover=False,
                                              access_type=access)
            # exchangelib reads HTTP_ADAPTER_CLS from the class when it makes a session,
            # so make one now (Autodiscover has not made any on the EWS URL yet).
            account.protocol.release_session(account.protocol.get_session())
            account.protocol.TIMEOUT = st.timeout
            account.protocol.HTTP_ADAPTER_CLS = adapter
            self.account = account
            return account
        except Exception as exc:
            raise self._map(exc)
        finally:
            exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS = old_adapter
            exchangelib.protocol.BaseProtocol.TIMEOUT = old_timeout

    def check(self):
        """Connection test: the endpoint answers and the inbox can be read."""
        account = self.account or self.connect()
        try:
            inbox = account.inbox
            return {'messages': inbox.total_count, 'url': account.protocol.service_endpoint}
        except Exception as exc:
            raise self._map(exc)

    def close(self):
        if self.account is not None:
            self.account.protocol.close()
            self.account = None

    def _map(self, exc):
        """exchangelib's errors into ours; the order matters (subclasses first)."""
        if isinstance(exc, (AuthError, ConfigError, PermanentError, TransientError)):
            return exc
        detail = str(exc)
        if isinstance(exc, ews_errors.ErrorServerBusy):
            return TransientError('server_busy', detail, retry_after=exc.back_off)
        if isinstance(exc, ews_errors.RateLimitError):
            return TransientError('server_busy', detail, retry_after=exc.wait)
        if isinstance(exc, ews_errors.UnauthorizedError):
            return AuthError('auth_failed', detail)
        if isinstance(exc, ews_errors.ErrorImpersonateUserDenied):
            return AuthError('impersonation_denied', detail)
        if isinstance(exc, (ews_errors.ErrorAccessDenied,)):
            return AuthError('access_denied', detail)
        if isinstance(exc, (ews_errors.ErrorNonExistentMailbox,)):
            return PermanentError('mailbox_missing', detail)
        if isinstance(exc, ews_errors.AutoDiscoverFailed):
            return ConfigError('autodiscover_failed', detail)
        # exchangelib re-raises TLS errors as TransportError(str(e)) inside the handler
        if isinstance(exc, requests.exceptions.SSLError) or isinstance(
                exc.__context__, requests.exceptions.SSLError):
            return ConfigError('tls_untrusted', detail)
        if isinstance(exc, (requests.exceptions.Timeout,)):
            return TransientError('timeout', detail)
        if isinstance(exc, requests.exceptions.ConnectionError):
            if 'Name or service not known' in detail or 'nodename nor servname' in detail:
                return ConfigError('unknown_host', detail)
            return TransientError('connection_refused', detail)
        if isinstance(exc, ews_errors.TransportError):
            return TransientError('network', detail)
        if isinstance(exc, ews_errors.EWSError):
            return PermanentError('protocol', detail)
        return exc
