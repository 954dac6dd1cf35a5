"""The state and rules of the test authorization server, without HTTP.

Clients, users, consents, authorization codes, refresh-token families and issued
access tokens live here; ``server.py`` only parses requests and renders answers.
Every rule follows the RFC it comes from: RFC 6749 (grants and error codes),
RFC 7636 (PKCE, S256 only), RFC 7662 (introspection), RFC 7009 (revocation),
RFC 7523 (JWT bearer assertions: Google service accounts, and client assertions
as MSAL sends them for certificate credentials), OAuth 2.0 Security BCP (refresh
token rotation with reuse detection: replaying a rotated refresh token revokes
the whole grant).

A test steers it through plain methods (``add_client``, ``add_user``,
``grant_consent``, ``revoke_consent``, ``expire_tokens``, ``set_skew``,
``token_requests``...) or the same operations over HTTP (``/_control/...``).
"""
import base64
import hashlib
import secrets
import threading
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
ID_SCOPES = {'openid', 'email', 'profile', 'offline_access'}


class OAuthError(Exception):
    """An RFC 6749 error answer: ``code`` (``invalid_grant``...), description, HTTP status."""

    def __init__(self, code, description='', status=400):
        super(OAuthError, self).__init__(code, description)
        self.code = code
        self.description = description
        self.status = status

    def body(self):
        body = {'error': self.code}
        if self.description:
            body['error_description'] = self.description
        return body


class Authority(object):
    def __init__(self, issuer=None):
        self.issuer = issuer
        self.lock = threading.RLock()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.clients = {}
        self.users = {}
        self.consents = {}  # (login, client_id) -> set of scopes
        self.codes = {}
        self.grants = {}  # grant id -> dict(active, client_id, login, scopes)
        self.refresh_tokens = {}  # refresh token -> dict(grant, active)
        self.tokens = {}  # jti -> dict(client_id, login, scopes, exp, active)
        self.requests = []  # one dict per /token request: grant_type, client_id, login, error
        self.skew = 0
        self.access_ttl = 3600
        self.code_ttl = 60
        self.unlicensed = set()  # logins whose mailbox "has no licence" (resource servers refuse)

    # ------------------------------------------------------------------ control
    def now(self):
        return int(time.time()) + self.skew

    def set_skew(self, seconds):
        """The server's clock runs ``seconds`` ahead (negative: behind) of the machine's."""
        self.skew = int(seconds)

    def add_client(self, client_id=None, secret=None, redirect_uris=(), app_scopes=(),
                   public_key_pem=None, service_account=False, delegation_scopes=()):
        """Register a client. ``app_scopes``: what an admin consented to for app-only tokens
        (client credentials). ``public_key_pem``: the certificate/public key whose private key
        signs client assertions (Entra certificate credentials) or, with ``service_account``,
        JWT bearer grants (Google service account with domain-wide delegation for
        ``delegation_scopes``)."""
        with self.lock:
            client_id = client_id or 'client-' + secrets.token_hex(6)
            self.clients[client_id] = {
                'secret': secret, 'redirect_uris': list(redirect_uris),
                'app_scopes': set(app_scopes), 'public_key': public_key_pem,
                'service_account': service_account, 'delegation_scopes': set(delegation_scopes)}
            return client_id

    def set_app_scopes(self, client_id, scopes):
        with self.lock:
            self.clients[client_id]['app_scopes'] = set(scopes)

    def add_redirect_uri(self, client_id, uri):
        with self.lock:
            self.clients[client_id]['redirect_uris'].append(uri)

    def add_user(self, login, password, email=None, upn=None):
        with self.lock:
            self.users[login] = {'password': password, 'email': email or login, 'upn': upn or login,
                                 'disabled': False}

    def disable_user(self, login, disabled=True):
        with self.lock:
            self.users[login]['disabled'] = disabled

    def grant_consent(self, login, client_id, scopes):
        with self.lock:
            self.consents.setdefault((login, client_id), set()).update(scopes)

    def revoke_consent(self, login, client_id):
        """The user withdraws consent: every grant and token of the pair stops working."""
        with self.lock:
            self.consents.pop((login, client_id), None)
            for grant in self.grants.values():
                if grant['login'] == login and grant['client_id'] == client_id:
                    grant['active'] = False
            for token in self.tokens.values():
                if token['login'] == login and token['client_id'] == client_id:
                    token['active'] = False

    def expire_tokens(self, client_id=None, login=None):
        """Every access token issued so far (optionally of one client/user) is expired now."""
        with self.lock:
            for token in self.tokens.values():
                if (client_id in (None, token['client_id'])) and (login in (None, token['login'])):
                    token['exp'] = min(token['exp'], self.now() - 1)

    def token_requests(self, grant_type=None, client_id=None, login=None, ok=None):
        """The /token requests made so far, filtered (``ok``: True = answered with a token)."""
        with self.lock:
            return [r for r in self.requests
                    if grant_type in (None, r['grant_type']) and client_id in (None, r['client_id'])
                    and login in (None, r['login']) and ok in (None, r['error'] is None)]

    def reset_counts(self):
        with self.lock:
            del self.requests[:]

    # ------------------------------------------------------------------ keys and tokens
    def jwks(self):
        numbers = self.key.public_key().public_numbers()

        def b64(value):
            raw = value.to_bytes((value.bit_length() + 7) // 8, 'big')
            return base64.urlsafe_b64encode(raw).rstrip(b'=').decode('ascii')
        return {'keys': [{'kty': 'RSA', 'use': 'sig', 'alg': 'RS256', 'kid': self.kid,
                          'n': b64(numbers.n), 'e': b64(numbers.e)}]}

    def public_pem(self):
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def _issue(self, client_id, login, scopes, app_only=False, grant=None):
        now = self.now()
        jti = secrets.token_urlsafe(12)
        scope = ' '.join(sorted(scopes))
        claims = {'iss': self.issuer, 'aud': client_id, 'iat': now, 'nbf': now,
                  'exp': now + self.access_ttl, 'jti': jti, 'client_id': client_id, 'azp': client_id,
                  'scope': scope, 'scp': scope}
        if login:
            user = self.users[login]
            claims.update(sub=login, email=user['email'], upn=user['upn'],
                          preferred_username=user['email'])
        else:
            claims.update(sub=client_id, roles=sorted(scopes))
        token = jwt.encode(claims, self.key, algorithm='RS256', headers={'kid': self.kid})
        if isinstance(token, bytes):
            token = token.decode('ascii')
        self.tokens[jti] = {'client_id': client_id, 'login': login, 'scopes': set(scopes),
                            'exp': claims['exp'], 'active': True, 'app_only': app_only,
                            'grant': grant}
        return token

    def _token_record(self, token):
        try:
            claims = jwt.decode(token, self.public_pem(), algorithms=['RS256'],
                                options={'verify_exp': False, 'verify_aud': False,
                                         'verify_nbf': False, 'verify_iat': False})
        except jwt.PyJWTError:
            return None, None
        return claims, self.tokens.get(claims.get('jti'))

    def introspect(self, token):
        """RFC 7662 answer for ``token`` (an access or refresh token)."""
        with self.lock:
            refresh = self.refresh_tokens.get(token)
            if refresh is not None:
                grant = self.grants[refresh['grant']]
                if not (refresh['active'] and grant['active']):
                    return {'active': False}
                return {'active': True, 'token_type': 'refresh_token', 'client_id': grant['client_id'],
                        'scope': ' '.join(sorted(grant['scopes'])), 'sub': grant['login']}
            claims, record = self._token_record(token)
            if not record or not record['active'] or record['exp'] <= self.now():
                return {'active': False}
            if record['login'] and self.users[record['login']]['disabled']:
                return {'active': False}
            answer = {'active': True, 'token_type': 'Bearer', 'client_id': claims['client_id'],
                      'scope': claims['scope'], 'exp': record['exp'], 'iat': claims['iat'],
                      'sub': claims['sub'], 'iss': self.issuer}
            for name in ('email', 'upn'):
                if name in claims:
                    answer[name] = claims[name]
            if record['login'] in self.unlicensed:
                answer['licensed'] = False
            return answer

    def revoke(self, token):
        """RFC 7009: revoking a refresh token ends its grant and the grant's access tokens."""
        with self.lock:
            refresh = self.refresh_tokens.get(token)
            if refresh is not None:
                grant = self.grants[refresh['grant']]
                grant['active'] = False
                for record in self.tokens.values():
                    if record.get('grant') == refresh['grant']:
                        record['active'] = False
                return
            _claims, record = self._token_record(token)
            if record:
                record['active'] = False

    # ------------------------------------------------------------------ client authentication
    def authenticate_client(self, client_id, secret=None, assertion_type=None, assertion=None,
                            audience=None):
        """The registered client, or OAuthError('invalid_client', status 401)."""
        if assertion_type or assertion:
            if assertion_type != CLIENT_ASSERTION or not assertion:
                raise OAuthError('invalid_client', 'Unsupported client assertion type.', 401)
            try:
                unverified = jwt.decode(assertion, options={'verify_signature': False})
            except jwt.PyJWTError:
                raise OAuthError('invalid_client', 'Malformed client assertion.', 401)
            client_id = client_id or unverified.get('iss')
            client = self.clients.get(client_id)
            if not client or not client['public_key']:
                raise OAuthError('invalid_client', 'Unknown client or no certificate registered.', 401)
            try:
                claims = jwt.decode(assertion, client['public_key'], algorithms=['RS256', 'PS256'],
                                    audience=audience, leeway=300)
            except jwt.PyJWTError as exc:
                raise OAuthError('invalid_client', 'Client assertion rejected: %s' % exc, 401)
            if claims.get('iss') != client_id or claims.get('sub') != client_id:
                raise OAuthError('invalid_client', 'Client assertion iss/sub must be the client id.', 401)
            return client_id, client
        client = self.clients.get(client_id)
        if not client:
            raise OAuthError('invalid_client', 'Unknown client.', 401)
        if client['secret'] is not None:
            if not secret or not secrets.compare_digest(secret.encode('utf-8'),
                                                        client['secret'].encode('utf-8')):
                raise OAuthError('invalid_client', 'Client authentication failed.', 401)
        return client_id, client

    # ------------------------------------------------------------------ authorization endpoint
    def check_authorize(self, params):
        """Validate an authorization request; returns the client. Errors that must not
        redirect (unknown client, bad redirect URI) are raised as OAuthError."""
        client = self.clients.get(params.get('client_id'))
        if not client:
            raise OAuthError('invalid_client', 'Unknown client.')
        if params.get('redirect_uri') not in client['redirect_uris']:
            raise OAuthError('invalid_request', 'redirect_uri is not registered for this client.')
        return client

    def authorize_error(self, params):
        """The redirectable error of a request (RFC 6749 4.1.2.1), or None."""
        if params.get('response_type') != 'code':
            return 'unsupported_response_type'
        if not params.get('code_challenge') or params.get('code_challenge_method') != 'S256':
            return 'invalid_request'
        return None

    def login(self, login, password):
        user = self.users.get(login)
        if not user or user['disabled'] or not secrets.compare_digest(
                user['password'].encode('utf-8'), (password or '').encode('utf-8')):
            return False
        return True

    def issue_code(self, params, login):
        with self.lock:
            scopes = set((params.get('scope') or '').split())
            self.grant_consent(login, params['client_id'], scopes)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {'client_id': params['client_id'], 'login': login, 'scopes': scopes,
                                'redirect_uri': params['redirect_uri'],
                                'challenge': params['code_challenge'], 'used': False,
                                'exp': self.now() + self.code_ttl, 'nonce': params.get('nonce')}
            return code

    # ------------------------------------------------------------------ token endpoint
    def token(self, form, client_secret=None, client_id=None):
        """Answer a /token request (``form``: the decoded body). Returns the JSON dict or
        raises OAuthError; every call is counted in ``requests``."""
        grant_type = form.get('grant_type')
        entry = {'grant_type': grant_type, 'client_id': client_id or form.get('client_id'),
                 'login': None, 'error': None, 'time': time.time()}
        with self.lock:
            self.requests.append(entry)
            try:
                answer = self._token(form, grant_type, client_secret, client_id, entry)
            except OAuthError as exc:
                entry['error'] = exc.code
                raise
            return answer

    def _token(self, form, grant_type, client_secret, client_id, entry):
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(form, entry)
        client_id, client = self.authenticate_client(
            client_id or form.get('client_id'), client_secret or form.get('client_secret'),
            form.get('client_assertion_type'), form.get('client_assertion'),
            audience=self.issuer + '/token')
        entry['client_id'] = client_id
        if grant_type == 'authorization_code':
            return self._authorization_code(form, client_id, entry)
        if grant_type == 'refresh_token':
            return self._refresh(form, client_id, entry)
        if grant_type == 'client_credentials':
            wanted = set((form.get('scope') or '').split()) - ID_SCOPES
            wanted = {_app_scope(scope) for scope in wanted}
            if not client['app_scopes']:
                raise OAuthError('unauthorized_client',
                                 'AADSTS7000229: no administrator consent for application permissions.')
            missing = wanted - client['app_scopes'] - {'.default'}
            if missing:
                raise OAuthError('invalid_scope', 'Not consented: %s' % ' '.join(sorted(missing)))
            return self._answer(client_id, None, client['app_scopes'], refresh=False, app_only=True)
        raise OAuthError('unsupported_grant_type', 'grant_type %s is not supported.' % grant_type)

    def _authorization_code(self, form, client_id, entry):
        record = self.codes.get(form.get('code') or '')
        if not record or record['client_id'] != client_id:
            raise OAuthError('invalid_grant', 'Unknown authorization code.')
        if record['used']:
            # RFC 6749 4.1.2: a replayed code revokes what it produced.
            for grant in self.grants.values():
                if grant.get('code') == form.get('code'):
                    grant['active'] = False
            raise OAuthError('invalid_grant', 'Authorization code already used.')
        record['used'] = True
        if record['exp'] <= self.now():
            raise OAuthError('invalid_grant', 'Authorization code expired.')
        if form.get('redirect_uri') != record['redirect_uri']:
            raise OAuthError('invalid_grant', 'redirect_uri does not match the authorization request.')
        verifier = form.get('code_verifier') or ''
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode('ascii', 'replace')).digest())
        if not verifier or not secrets.compare_digest(digest.rstrip(b'=').decode('ascii'),
                                                      record['challenge']):
            raise OAuthError('invalid_grant', 'PKCE verification failed.')
        entry['login'] = record['login']
        grant_id = secrets.token_hex(8)
        self.grants[grant_id] = {'active': True, 'client_id': client_id, 'login': record['login'],
                                 'scopes': set(record['scopes']), 'code': form.get('code')}
        return self._answer(client_id, record['login'], record['scopes'], grant=grant_id,
                            nonce=record.get('nonce'))

    def _refresh(self, form, client_id, entry):
        token = form.get('refresh_token') or ''
        record = self.refresh_tokens.get(token)
        if not record:
            raise OAuthError('invalid_grant', 'Unknown refresh token.')
        grant = self.grants[record['grant']]
        entry['login'] = grant['login']
        if grant['client_id'] != client_id:
            raise OAuthError('invalid_grant', 'Refresh token was issued to another client.')
        if not record['active']:
            # Reuse of a rotated refresh token: someone else may hold it. End the grant.
            grant['active'] = False
            raise OAuthError('invalid_grant', 'Refresh token already used (rotated); grant revoked.')
        if not grant['active']:
            raise OAuthError('invalid_grant', 'The grant was revoked.')
        if (grant['login'], client_id) not in self.consents:
            raise OAuthError('invalid_grant', 'AADSTS65001: consent withdrawn.')
        if self.users[grant['login']]['disabled']:
            raise OAuthError('invalid_grant', 'AADSTS50057: the user account is disabled.')
        scopes = grant['scopes']
        if form.get('scope'):
            asked = set(form['scope'].split())
            if not asked <= scopes | ID_SCOPES:
                raise OAuthError('invalid_scope', 'Scope exceeds the original grant.')
        record['active'] = False
        return self._answer(client_id, grant['login'], scopes, grant=record['grant'])

    def _jwt_bearer(self, form, entry):
        assertion = form.get('assertion') or ''
        try:
            unverified = jwt.decode(assertion, options={'verify_signature': False})
        except jwt.PyJWTError:
            raise OAuthError('invalid_grant', 'Malformed assertion.')
        client_id = unverified.get('iss')
        entry['client_id'] = client_id
        client = self.clients.get(client_id)
        if not client or not client['service_account'] or not client['public_key']:
            raise OAuthError('invalid_client', 'Unknown service account.', 401)
        try:
            claims = jwt.decode(assertion, client['public_key'], algorithms=['RS256'],
                                audience=self.issuer + '/token', leeway=0,
                                options={'require': ['exp', 'iat']})
        except jwt.PyJWTError as exc:
            raise OAuthError('invalid_grant', 'Invalid JWT signature or claims: %s' % exc)
        if claims['exp'] - claims['iat'] > 3600:
            raise OAuthError('invalid_grant', 'Assertion lifetime exceeds one hour.')
        login = claims.get('sub')
        if login not in self.users:
            raise OAuthError('invalid_grant', 'Invalid email or User ID.')
        entry['login'] = login
        scopes = set((claims.get('scope') or '').split())
        if not scopes or not scopes <= client['delegation_scopes']:
            raise OAuthError('unauthorized_client',
                             'Client is unauthorized to retrieve access tokens using this method, '
                             'or client not authorized for any of the scopes requested.')
        return self._answer(client_id, login, scopes, refresh=False)

    def _answer(self, client_id, login, scopes, refresh=True, grant=None, app_only=False,
                nonce=None):
        access = self._issue(client_id, login, scopes, app_only=app_only, grant=grant)
        answer = {'access_token': access, 'token_type': 'Bearer', 'expires_in': self.access_ttl,
                  'scope': ' '.join(sorted(scopes))}
        if refresh and grant and 'offline_access' in scopes:
            token = secrets.token_urlsafe(32)
            self.refresh_tokens[token] = {'grant': grant, 'active': True}
            answer['refresh_token'] = token
        if login and 'openid' in scopes:
            now = self.now()
            user = self.users[login]
            id_claims = {'iss': self.issuer, 'aud': client_id, 'sub': login, 'iat': now,
                         'exp': now + self.access_ttl, 'email': user['email'],
                         'preferred_username': user['email'], 'upn': user['upn']}
            if nonce:
                id_claims['nonce'] = nonce
            id_token = jwt.encode(id_claims, self.key, algorithm='RS256', headers={'kid': self.kid})
            answer['id_token'] = id_token.decode('ascii') if isinstance(id_token, bytes) else id_token
        return answer


def _app_scope(scope):
    """``https://outlook.office365.com/.default`` asks for every consented app permission."""
    return '.default' if scope.endswith('/.default') or scope == '.default' else scope

