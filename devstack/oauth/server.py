"""An OAuth 2.0 / OpenID Connect authorization server over HTTPS on 127.0.0.1, for tests.

``OAuthServer(certs_dir).start()`` serves, under ``.issuer`` (``https://127.0.0.1:PORT``,
certificate from ``devstack.certs``, CA in ``.cafile``) and on a plain-HTTP twin
(``.http_url``, for resource servers on loopback):

- ``/.well-known/openid-configuration`` (also under any path prefix, as Entra ID's
  ``/{tenant}/v2.0/.well-known/openid-configuration``), ``/jwks``;
- ``/authorize``: a consent page (login, password, Accept / Deny), then a redirect
  with ``code`` and ``state`` (PKCE S256 required);
- ``/token``: authorization_code, refresh_token (rotated), client_credentials and
  the JWT bearer grant; client_secret_basic, client_secret_post, private_key_jwt;
- ``/introspect`` (RFC 7662), ``/revoke`` (RFC 7009), ``/userinfo``;
- ``/_control/<method>``: POST a JSON object of keyword arguments to call one of the
  ``Authority`` control methods (``add_client``, ``add_user``, ``revoke_consent``,
  ``expire_tokens``, ``set_skew``, ``token_requests``...); the answer is its JSON result.

The same control methods are reachable in-process through ``.authority``.
"""
import base64
import binascii
import html
import http.server
import json
import ssl
import sys
import threading
import traceback
import urllib.parse

from ..certs import make_certs
from ..procs import free_ports
from .authority import Authority, OAuthError

CONTROL = ('add_client', 'add_user', 'disable_user', 'grant_consent', 'revoke_consent',
           'expire_tokens', 'set_skew', 'token_requests', 'reset_counts', 'set_app_scopes',
           'add_redirect_uri')

CONSENT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in - devstack identity</title></head>
<body>
<h1>Sign in to continue to {client}</h1>
<p>The application <b>{client}</b> asks for: <span id="scopes">{scopes}</span></p>
<p class="error" id="error">{error}</p>
<form method="post" action="/authorize" id="consent">
{hidden}
<label>Email <input type="text" name="login" id="login" value="{login_hint}"></label>
<label>Password <input type="password" name="password" id="password"></label>
<button type="submit" name="action" value="accept" id="accept">Accept</button>
<button type="submit" name="action" value="deny" id="deny">Cancel</button>
</form>
</body></html>
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'devstack-oauth/1.0'
    sys_version = ''

    def log_message(self, *args):
        pass

    @property
    def authority(self):
        return self.server.oauth.authority

    def _send(self, status, body=b'', content_type='application/json', headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode('utf-8')
        elif isinstance(body, str):
            body = body.encode('utf-8')
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Type', content_type)
        self.send_header('Cache-Control', 'no-store')
        self.send_header('Pragma', 'no-cache')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, exc):
        headers = [('WWW-Authenticate', 'Basic realm="devstack"')] if exc.status == 401 else []
        self._send(exc.status, exc.body(), headers=headers)

    def _form(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        if self.headers.get('Content-Type', '').startswith('application/json'):
            return json.loads(raw.decode('utf-8') or '{}')
        pairs = urllib.parse.parse_qsl(raw.decode('utf-8'), keep_blank_values=True)
        return dict(pairs)

    def _basic(self):
        """(client_id, secret) of an HTTP Basic header (RFC 6749 2.3.1: form-encoded parts)."""
        scheme, _, value = (self.headers.get('Authorization') or '').partition(' ')
        if scheme.lower() != 'basic':
            return None, None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode('utf-8')
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError('invalid_client', 'Malformed Basic credentials.', 401)
        user, _, password = decoded.partition(':')
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)

    def _bearer(self):
        scheme, _, value = (self.headers.get('Authorization') or '').partition(' ')
        return value.strip() if scheme.lower() == 'bearer' else None

    def _route(self):
        return urllib.parse.urlsplit(self.path).path.rstrip('/') or '/'

    def _query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query,
                                           keep_blank_values=True))

    def do_GET(self):
        try:
            self._get()
        except Exception:  # a bug here must show in the test output, not as a hang
            self.server.oauth.errors.append(traceback.format_exc())
            self._send(500, {'error': 'server_error'})

    def do_POST(self):
        try:
            self._post()
        except OAuthError as exc:
            self._error(exc)
        except Exception:
            self.server.oauth.errors.append(traceback.format_exc())
            self._send(500, {'error': 'server_error'})

    def _get(self):
        route = self._route()
        if route.endswith('/.well-known/openid-configuration'):
            return self._send(200, self.server.oauth.discovery())
        if route == '/jwks':
            return self._send(200, self.authority.jwks())
        if route == '/authorize':
            return self._authorize_page(self._query())
        if route == '/userinfo':
            answer = self.authority.introspect(self._bearer() or '')
            if not answer.get('active') or 'email' not in answer:
                return self._send(401, {'error': 'invalid_token'},
                                  headers=[('WWW-Authenticate', 'Bearer error="invalid_token"')])
            return self._send(200, {'sub': answer['sub'], 'email': answer['email'],
                                    'preferred_username': answer['email']})
        self._send(404, {'error': 'not_found'})

    def _post(self):
        route = self._route()
        form = self._form()
        if route == '/authorize':
            return self._authorize_submit(form)
        if route == '/token':
            client_id, secret = self._basic()
            answer = self.authority.token(form, client_secret=secret, client_id=client_id)
            return self._send(200, answer)
        if route in ('/introspect', '/revoke'):
            client_id, secret = self._basic()
            self.authority.authenticate_client(
                client_id or form.get('client_id'), secret or form.get('client_secret'),
                form.get('client_assertion_type'), form.get('client_assertion'),
                audience=self.server.oauth.issuer + route)
            if route == '/introspect':
                return self._send(200, self.authority.introspect(form.get('token') or ''))
            self.authority.revoke(form.get('token') or '')
            return self._send(200, b'', content_type='text/plain')
        if route.startswith('/_control/'):
            name = route[len('/_control/'):]
            if name not in CONTROL:
                return self._send(404, {'error': 'unknown control method'})
            result = getattr(self.authority, name)(**form)
            return self._send(200, {'result': result})
        self._send(404, {'error': 'not_found'})

    # ------------------------------------------------------------------ consent
    def _authorize_page(self, params, error=''):
        try:
            self.authority.check_authorize(params)
        except OAuthError as exc:  # never redirect to an unverified URI (RFC 6749 4.1.2.1)
            return self._send(400, '<p id="error">%s: %s</p>' % (exc.code, html.escape(exc.description)),
                              content_type='text/html; charset=utf-8')
        code = self.authority.authorize_error(params)
        if code:
            return self._redirect(params, {'error': code})
        hidden = '\n'.join('<input type="hidden" name="%s" value="%s">' % (
            html.escape(name), html.escape(value)) for name, value in sorted(params.items())
            if name not in ('login', 'password', 'action'))
        page = CONSENT_PAGE.format(client=html.escape(params['client_id']),
                                   scopes=html.escape(params.get('scope', '')),
                                   error=html.escape(error), hidden=hidden,
                                   login_hint=html.escape(params.get('login_hint', '')))
        self._send(200, page, content_type='text/html; charset=utf-8')

    def _authorize_submit(self, form):
        try:
            self.authority.check_authorize(form)
        except OAuthError as exc:
            return self._send(400, '<p id="error">%s</p>' % exc.code,
                              content_type='text/html; charset=utf-8')
        if form.get('action') != 'accept':
            return self._redirect(form, {'error': 'access_denied',
                                         'error_description': 'The user declined consent.'})
        if not self.authority.login(form.get('login'), form.get('password')):
            return self._authorize_page(form, error='Wrong email or password.')
        code = self.authority.issue_code(form, form['login'])
        self._redirect(form, {'code': code})

    def _redirect(self, params, values):
        if params.get('state') is not None:
            values = dict(values, state=params['state'])
        target = params['redirect_uri']
        target += ('&' if '?' in target else '?') + urllib.parse.urlencode(values)
        self._send(302, b'', content_type='text/plain', headers=[('Location', target)])


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are no news
            self.oauth.errors.append(traceback.format_exc())


class OAuthServer(object):
    def __init__(self, certs_dir):
        self.certs = make_certs(certs_dir)
        self.port, self.http_port = free_ports(2)
        self.issuer = 'https://127.0.0.1:%d' % self.port
        self.http_url = 'http://127.0.0.1:%d' % self.http_port
        self.authority = Authority(self.issuer)
        self.errors = []
        self._servers = []

    @property
    def cafile(self):
        return self.certs['ca']

    def discovery(self):
        base = self.issuer
        return {
            'issuer': base,
            'authorization_endpoint': base + '/authorize',
            'token_endpoint': base + '/token',
            'introspection_endpoint': base + '/introspect',
            'revocation_endpoint': base + '/revoke',
            'userinfo_endpoint': base + '/userinfo',
            'jwks_uri': base + '/jwks',
            'response_types_supported': ['code'],
            'grant_types_supported': ['authorization_code', 'refresh_token', 'client_credentials',
                                      'urn:ietf:params:oauth:grant-type:jwt-bearer'],
            'code_challenge_methods_supported': ['S256'],
            'token_endpoint_auth_methods_supported': ['client_secret_basic', 'client_secret_post',
                                                      'private_key_jwt'],
            'scopes_supported': ['openid', 'email', 'profile', 'offline_access'],
            'subject_types_supported': ['public'],
            'id_token_signing_alg_values_supported': ['RS256'],
        }

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs['cert'], self.certs['key'])
        for port, tls in ((self.port, True), (self.http_port, False)):
            server = _Server(('127.0.0.1', port), _Handler)
            if tls:
                server.socket = context.wrap_socket(server.socket, server_side=True)
            server.oauth = self
            threading.Thread(target=server.serve_forever, daemon=True,
                             name='oauth-%d' % port).start()
            self._servers.append(server)
        return self

    def stop(self):
        while self._servers:
            server = self._servers.pop()
            server.shutdown()
            server.server_close()


if __name__ == '__main__':  # python -m devstack.oauth.server CERTS_DIR: serve until Ctrl-C
    oauth = OAuthServer(sys.argv[1] if len(sys.argv) > 1 else '.build/tls').start()
    print(oauth.issuer, oauth.http_url, flush=True)
    threading.Event().wait()
