"""Bearer tokens of the Graph endpoint.

A token is checked against the token table (set by tests through ``add_token``) or,
when ``introspection_url`` is set, by RFC 7662 introspection at the authorization
server (the OAuth test server of ``devstack/oauth``): ``active``, ``scope`` (delegated
permissions, space separated) or ``roles`` (application permissions), and ``upn``,
``preferred_username`` or ``sub`` for the signed-in user of a delegated token.
A grant is either delegated (one user: that user's mailbox only) or application
(``user`` None: any mailbox; a token with ``roles``, or whose ``sub`` is its ``client_id``,
as client-credentials tokens are).
"""
import base64
import json
import urllib.parse
import urllib.request

READ = ('Mail.Read', 'Mail.ReadWrite', 'Mail.ReadBasic')
WRITE = ('Mail.ReadWrite',)
SEND = ('Mail.Send',)


class Grant(object):
    def __init__(self, user, scopes):
        self.user = user.lower() if user else None
        self.scopes = set(scopes)

    def allows(self, needed):
        return bool(self.scopes & set(needed))


class Authenticator(object):
    def __init__(self):
        self.tokens = {}
        self.introspection_url = None
        self.introspection_auth = None  # (client id, secret) for the introspection call
        self.cafile = None

    def add_token(self, token, user=None, scopes=('Mail.ReadWrite', 'Mail.Send')):
        self.tokens[token] = Grant(user, scopes)

    def revoke(self, token):
        self.tokens.pop(token, None)

    def grant(self, header):
        """The Grant of an ``Authorization`` header, or None."""
        if not header or not header.startswith('Bearer '):
            return None
        token = header[len('Bearer '):].strip()
        if token in self.tokens:
            return self.tokens[token]
        if self.introspection_url:
            return self._introspect(token)
        return None

    def _introspect(self, token):
        data = urllib.parse.urlencode({'token': token, 'token_type_hint': 'access_token'}).encode()
        request = urllib.request.Request(self.introspection_url, data=data, headers={
            'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json'})
        if self.introspection_auth:
            pair = '%s:%s' % self.introspection_auth
            request.add_header('Authorization', 'Basic ' + base64.b64encode(pair.encode()).decode())
        handlers = [urllib.request.ProxyHandler({})]
        if self.cafile:
            import ssl
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=self.cafile)))
        try:
            with urllib.request.build_opener(*handlers).open(request, timeout=10) as response:
                claims = json.loads(response.read().decode('utf-8'))
        except Exception:
            return None
        if not claims.get('active'):
            return None
        scopes = (claims.get('scope') or '').split() + list(claims.get('roles') or [])
        app_only = bool(claims.get('roles')) or (claims.get('client_id') and claims.get('sub') == claims['client_id'])
        user = None if app_only else (claims.get('upn') or claims.get('preferred_username') or claims.get('sub'))
        return Grant(user, scopes)
