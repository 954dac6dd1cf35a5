"""OAuth 2.0 token providers (Microsoft Entra ID, Google, any OpenID Connect issuer) and
the SASL strings that carry a bearer token over IMAP, POP3 and SMTP.

Pure Python: no Odoo. A provider turns its configuration into access tokens:

- ``client_credentials()``: app-only token (admin consent); for Google a service
  account's signed JWT assertion (RFC 7523) for ``subject`` (domain-wide delegation);
- ``authorization_url(...)`` and ``exchange_code(...)``: the delegated authorization
  code flow with PKCE (RFC 7636, S256);
- ``refresh(refresh_token)``: a new access token (and, with rotation, a new refresh token).

Each returns a ``TokenResponse``. Expiry is computed from ``expires_in`` on *our*
clock, never from the token's ``exp`` claim, so a provider whose clock is off does
not make us refresh in a loop or use stale tokens. Every HTTP call has a timeout
and verifies TLS (``verify`` may name a CA file). Errors become ``AuthError`` (the
grant or the app is refused: a person must act) with the provider's error code in
``detail``, or ``TransientError`` (network, 5xx), or ``ConfigError``.

>>> xoauth2('jane@example.com', 'tok')
'dXNlcj1qYW5lQGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHRvawEB'
>>> base64.b64decode(oauthbearer('jane@example.com', 'tok', 'imap.example.com', 993))
b'n,a=jane@example.com,\\x01host=imap.example.com\\x01port=993\\x01auth=Bearer tok\\x01\\x01'
"""
import base64
import hashlib
import json
import secrets
import time
import urllib.parse

import jwt
import requests

from .errors import AuthError, ConfigError, TransientError

# How long before its expiry a token is refreshed (seconds), and at least this share of
# its lifetime: a sync cycle started with a token must be able to finish with it.
REFRESH_MARGIN = 300
REFRESH_SHARE = 0.1
# Provider error codes that mean "a person must act": the grant is gone or refused.
GRANT_ERRORS = ('invalid_grant', 'invalid_client', 'unauthorized_client', 'access_denied',
                'consent_required', 'interaction_required', 'invalid_scope')
ID_SCOPES = ('openid', 'email', 'profile', 'offline_access')


def xoauth2(user, token):
    """The SASL XOAUTH2 initial response (Google and Microsoft), base64-encoded text."""
    raw = 'user=%s\x01auth=Bearer %s\x01\x01' % (user, token)
    return base64.b64encode(raw.encode('utf-8')).decode('ascii')


def oauthbearer(user, token, host, port):
    """The SASL OAUTHBEARER initial response (RFC 7628), base64-encoded text."""
    raw = 'n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01' % (
        user.replace('=', '=3D').replace(',', '=2C'), host, int(port), token)
    return base64.b64encode(raw.encode('utf-8')).decode('ascii')


def pkce_pair():
    """(verifier, S256 challenge) for one authorization request (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode('ascii')).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')


class BearerToken(object):
    """Credentials of a connector that authenticates with an OAuth bearer token.

    ``source(refused=None)`` returns an access token; a connector whose server refused
    the token calls ``renew()`` once, which asks ``source`` for another one. The token
    never appears in repr or str. ``mechanism``: XOAUTH2 or OAUTHBEARER (IMAP, POP3).
    """

    def __init__(self, login, source, mechanism='XOAUTH2'):
        if not login:
            raise ConfigError('missing_login')
        if isinstance(source, str):
            value = source
            source = lambda refused=None: value  # noqa: E731 (a fixed token, for tests and tools)
        self.login = login
        self.source = source
        self.mechanism = mechanism or 'XOAUTH2'
        self._token = None
        self.renewed = False

    @property
    def token(self):
        if self._token is None:
            self._token = self.source()
        return self._token

    def renew(self):
        """A new token after the server refused the current one; False when already renewed."""
        if self.renewed:
            return False
        self.renewed = True
        self._token = self.source(refused=self._token)
        return True

    def sasl(self, host, port, mechanism=None):
        """The base64 initial response of ``mechanism`` (default: this credential's)."""
        if (mechanism or self.mechanism) == 'OAUTHBEARER':
            return oauthbearer(self.login, self.token, host, port)
        return xoauth2(self.login, self.token)

    def __repr__(self):
        return '<BearerToken %s>' % self.login

    __str__ = __repr__


class TokenResponse(object):
    """What a token endpoint answered, with the expiry on our own clock."""

    def __init__(self, access_token, expires_in=3600, refresh_token=None, scope='', email=None,
                 now=None):
        self.access_token = access_token
        self.expires_in = int(expires_in or 3600)
        self.expires_at = (now or time.time()) + self.expires_in
        self.refresh_token = refresh_token
        self.scope = scope or ''
        self.email = email

    @property
    def scopes(self):
        return set(self.scope.split())

    def __repr__(self):
        return '<TokenResponse expires_in=%s scope=%r>' % (self.expires_in, self.scope)


def refresh_due(expires_at, lifetime, now=None):
    """Whether a token expiring at ``expires_at`` (our clock) must be refreshed now.

    >>> refresh_due(1000 + 3600, 3600, now=1000)
    False
    >>> refresh_due(1000 + 200, 3600, now=1000)
    True
    """
    margin = max(REFRESH_MARGIN, REFRESH_SHARE * (lifetime or 0))
    return (now or time.time()) >= expires_at - margin


def missing_scopes(granted, needed):
    """Scopes of ``needed`` not in ``granted`` (``.default`` asks for whatever is consented)."""
    granted = set((granted or '').split()) if isinstance(granted, str) else set(granted or ())
    return sorted(s for s in needed if s not in granted and not s.endswith('/.default'))


def error_from_answer(status, body, where):
    """The SyncError of a token endpoint's error answer (RFC 6749 5.2)."""
    code = (body or {}).get('error') or 'http_%s' % status
    description = (body or {}).get('error_description') or ''
    detail = '%s: %s (%s)' % (code, description, where) if description else '%s (%s)' % (code, where)
    if status >= 500 or code in ('temporarily_unavailable', 'server_error'):
        return TransientError('oauth_unavailable', detail, retry_after=60)
    if code in GRANT_ERRORS or status in (400, 401):
        return AuthError(_ERROR_CODES.get(code, 'oauth_refused'), detail)
    return AuthError('oauth_refused', detail)


# Our error codes (each has a user text in the log model): what the user must do differs.
_ERROR_CODES = {
    'invalid_grant': 'oauth_invalid_grant',  # reconnect the mailbox
    'interaction_required': 'oauth_invalid_grant',
    'consent_required': 'oauth_not_consented',
    'unauthorized_client': 'oauth_not_consented',  # admin consent missing
    'invalid_client': 'oauth_invalid_client',  # client id/secret/certificate wrong
    'invalid_scope': 'oauth_scope_missing',
    'access_denied': 'oauth_access_denied',
}


class OAuthProvider(object):
    """A plain RFC 6749 / OpenID Connect provider, spoken with ``requests``.

    ``endpoints``: dict with ``authorization_endpoint`` and ``token_endpoint`` (and
    optionally ``revocation_endpoint``), as in a discovery document. ``credential``:
    the client secret, or for a Google service account its private key (PEM) with
    ``client_email`` as ``client_id``.
    """

    name = 'oidc'

    def __init__(self, client_id, credential, endpoints, scopes, timeout=30, verify=True,
                 session=None):
        if not client_id:
            raise ConfigError('oauth_missing_client_id')
        self.client_id = client_id
        self.credential = credential
        self.endpoints = dict(endpoints)
        self.scopes = list(scopes)
        self.timeout = timeout
        self.verify = verify
        self.session = session or requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not override ``verify``

    @classmethod
    def discover(cls, issuer, timeout=30, verify=True, session=None):
        """The discovery document of ``issuer`` (``/.well-known/openid-configuration``)."""
        url = issuer.rstrip('/') + '/.well-known/openid-configuration'
        if not url.startswith('https://'):
            raise ConfigError('oauth_issuer_not_https', issuer)
        sess = session or requests.Session()
        sess.trust_env = False
        try:
            answer = sess.get(url, timeout=timeout, verify=verify)
        except requests.RequestException as exc:
            raise _network_error(exc, url)
        if answer.status_code != 200:
            raise ConfigError('oauth_discovery_failed', '%s: HTTP %s' % (url, answer.status_code))
        try:
            document = answer.json()
        except ValueError:
            raise ConfigError('oauth_discovery_failed', '%s: not JSON' % url)
        if not document.get('token_endpoint'):
            raise ConfigError('oauth_discovery_failed', '%s: no token_endpoint' % url)
        return document

    # ------------------------------------------------------------------ flows
    def authorization_url(self, redirect_uri, state, code_challenge, login_hint=None):
        params = {'response_type': 'code', 'client_id': self.client_id,
                  'redirect_uri': redirect_uri, 'scope': ' '.join(self._delegated_scopes()),
                  'state': state, 'code_challenge': code_challenge,
                  'code_challenge_method': 'S256'}
        if login_hint:
            params['login_hint'] = login_hint
        params.update(self._extra_authorize_params())
        endpoint = self.endpoints.get('authorization_endpoint')
        if not endpoint:
            raise ConfigError('oauth_discovery_failed', 'no authorization_endpoint')
        return endpoint + ('&' if '?' in endpoint else '?') + urllib.parse.urlencode(params)

    def exchange_code(self, code, redirect_uri, code_verifier):
        return self._post({'grant_type': 'authorization_code', 'code': code,
                           'redirect_uri': redirect_uri, 'code_verifier': code_verifier})

    def refresh(self, refresh_token):
        answer = self._post({'grant_type': 'refresh_token', 'refresh_token': refresh_token})
        if not answer.refresh_token:  # no rotation: the old one stays valid
            answer.refresh_token = refresh_token
        return answer

    def client_credentials(self, subject=None):
        return self._post({'grant_type': 'client_credentials', 'scope': ' '.join(self.scopes)})

    # ------------------------------------------------------------------ helpers
    def _delegated_scopes(self):
        return list(ID_SCOPES[:2]) + ['offline_access'] + [s for s in self.scopes if s not in ID_SCOPES]

    def _extra_authorize_params(self):
        return {}

    def _post(self, data, authenticate=True):
        url = self.endpoints.get('token_endpoint')
        if not url:
            raise ConfigError('oauth_discovery_failed', 'no token_endpoint')
        auth = None
        if authenticate:
            if self.credential:
                auth = (urllib.parse.quote_plus(self.client_id), urllib.parse.quote_plus(self.credential))
            else:  # public client (PKCE only)
                data = dict(data, client_id=self.client_id)
        try:
            answer = self.session.post(url, data=data, auth=auth, timeout=self.timeout,
                                       verify=self.verify, headers={'Accept': 'application/json'})
        except requests.RequestException as exc:
            raise _network_error(exc, url)
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or 'access_token' not in body:
            raise error_from_answer(answer.status_code, body, _host(url))
        return _token_response(body)


class GoogleProvider(OAuthProvider):
    """Google: the authorization code flow for users, or a service account with
    domain-wide delegation (a JWT assertion signed with its key, RFC 7523)."""

    name = 'google'
    AUTHORIZE = 'https://accounts.google.com/o/oauth2/v2/auth'
    TOKEN = 'https://oauth2.googleapis.com/token'

    def _extra_authorize_params(self):
        # Google gives a refresh token only with offline access, and again only on consent.
        return {'access_type': 'offline', 'prompt': 'consent'}

    def _delegated_scopes(self):
        return ['openid', 'email'] + [s for s in self.scopes if s not in ID_SCOPES]

    def client_credentials(self, subject=None):
        """A token for ``subject``'s mailbox from the service account's key."""
        if not subject:
            raise ConfigError('missing_login')
        url = self.endpoints['token_endpoint']
        now = int(time.time())
        claims = {'iss': self.client_id, 'sub': subject, 'scope': ' '.join(self.scopes),
                  'aud': url, 'iat': now, 'exp': now + 3600}
        try:
            assertion = jwt.encode(claims, self.credential, algorithm='RS256')
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError('oauth_bad_key', type(exc).__name__)
        if isinstance(assertion, bytes):
            assertion = assertion.decode('ascii')
        return self._post({'grant_type': 'urn:ietf:params:oauth:grant-type:jwt-bearer',
                           'assertion': assertion}, authenticate=False)


class EntraProvider(OAuthProvider):
    """Microsoft Entra ID through msal: client secret or certificate, app-only or delegated.

    ``authority`` is ``https://login.microsoftonline.com/<tenant>`` (another host for
    national clouds or tests). ``certificate``: dict(private_key=PEM, thumbprint=SHA-1 hex).
    """

    name = 'entra'

    def __init__(self, client_id, credential, authority, scopes, timeout=30, verify=True,
                 certificate=None, session=None):
        super(EntraProvider, self).__init__(client_id, credential, {}, scopes, timeout=timeout,
                                            verify=verify, session=session)
        self.authority = authority
        self.certificate = certificate
        self._app = None

    def app(self):
        import msal  # here: importing msal costs ~0.3 s, only OAuth profiles pay it
        if self._app is None:
            credential = self.certificate or self.credential
            if not credential:
                raise ConfigError('oauth_missing_secret')
            self.session.verify = self.verify
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=credential, authority=self.authority,
                    http_client=_TimeoutSession(self.session, self.timeout),
                    instance_discovery=not self.authority.startswith(('https://127.', 'https://localhost')),
                    token_cache=msal.TokenCache())
            except ValueError as exc:
                raise ConfigError('oauth_discovery_failed', str(exc)[:300])
            except requests.RequestException as exc:
                raise _network_error(exc, self.authority)
        return self._app

    def _resource_scopes(self):
        return [s for s in self.scopes if s not in ID_SCOPES]

    def authorization_url(self, redirect_uri, state, code_challenge, login_hint=None):
        return self.app().get_authorization_request_url(
            self._resource_scopes(), state=state, redirect_uri=redirect_uri,
            login_hint=login_hint, code_challenge=code_challenge, code_challenge_method='S256')

    def exchange_code(self, code, redirect_uri, code_verifier):
        return self._msal(lambda app: app.acquire_token_by_authorization_code(
            code, self._resource_scopes(), redirect_uri=redirect_uri,
            data={'code_verifier': code_verifier}))

    def refresh(self, refresh_token):
        answer = self._msal(lambda app: app.acquire_token_by_refresh_token(
            refresh_token, self._resource_scopes()))
        if not answer.refresh_token:
            answer.refresh_token = refresh_token
        return answer

    def client_credentials(self, subject=None):
        # App-only tokens ask for the resource's ".default": every consented permission.
        resources = {s.rsplit('/', 1)[0] for s in self._resource_scopes() if '/' in s}
        scopes = sorted(r + '/.default' for r in resources) or self._resource_scopes()
        return self._msal(lambda app: app.acquire_token_for_client(scopes[:1]))

    def _msal(self, call):
        try:
            body = call(self.app())
        except requests.RequestException as exc:
            raise _network_error(exc, self.authority)
        if not body or 'access_token' not in body:
            raise error_from_answer(400, body or {}, _host(self.authority))
        return _token_response(body)


class _TimeoutSession(object):
    """The ``http_client`` msal expects (get/post/close), with our timeout on every call."""

    def __init__(self, session, timeout):
        self.session = session
        self.timeout = timeout

    def get(self, url, **kwargs):
        kwargs.setdefault('timeout', self.timeout)
        return self.session.get(url, **kwargs)

    def post(self, url, **kwargs):
        kwargs.setdefault('timeout', self.timeout)
        return self.session.post(url, **kwargs)

    def close(self):
        self.session.close()


def _token_response(body):
    email = None
    claims = body.get('id_token_claims')
    if not claims and body.get('id_token'):
        try:  # only to read the address: the token came straight from the token endpoint over TLS
            claims = jwt.decode(body['id_token'], options={'verify_signature': False})
        except jwt.PyJWTError:
            claims = {}
    if claims:
        email = claims.get('email') or claims.get('preferred_username') or claims.get('upn')
    return TokenResponse(body['access_token'], body.get('expires_in') or 3600,
                         body.get('refresh_token'), body.get('scope') or '', email)


def _host(url):
    return urllib.parse.urlsplit(url).netloc or url


def _network_error(exc, url):
    where = _host(url)
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError('tls_untrusted', where)
    if isinstance(exc, requests.Timeout):
        return TransientError('timeout', where)
    return TransientError('network', '%s: %s' % (where, type(exc).__name__))


def sasl_error(challenge):
    """The JSON error a server sends in an XOAUTH2/OAUTHBEARER failure challenge, as text
    (e.g. ``{"status":"invalid_token","scope":"..."}``); never contains the token."""
    if isinstance(challenge, str):
        challenge = challenge.encode('ascii', 'replace')
    try:
        decoded = base64.b64decode(challenge.strip() or b'', validate=False)
        body = json.loads(decoded.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return ''
    return ', '.join('%s=%s' % (key, body[key]) for key in sorted(body) if key != 'auth')
