"""How our test resource servers (SMTP, EWS) check a bearer token: RFC 7662
introspection at the authorization server, as a real resource server does."""
import requests


class Introspector(object):
    """``check(token, scope)``: the introspection answer when the token is active and
    carries ``scope``, else None. ``last_error`` says why the last check failed, in the
    shape of an XOAUTH2 error challenge."""

    def __init__(self, url, client_id, secret, verify=True, timeout=10):
        self.url = url
        self.auth = (client_id, secret)
        self.verify = verify
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.checked = 0

    def check(self, token, scope=None):
        self.checked += 1
        answer = self.session.post(self.url, data={'token': token}, auth=self.auth,
                                   verify=self.verify, timeout=self.timeout).json()
        if not answer.get('active'):
            return None, {'status': 'invalid_token', 'schemes': 'bearer'}
        if scope and scope not in (answer.get('scope') or '').split():
            return None, {'status': 'insufficient_scope', 'schemes': 'bearer', 'scope': scope}
        if answer.get('licensed') is False:
            return None, {'status': 'mailbox_not_licensed', 'schemes': 'bearer'}
        return answer, None

    @staticmethod
    def for_server(oauth, name):
        """A resource-server client registered on ``oauth`` (an OAuthServer) as ``name``."""
        secret = 'rs-%s-secret' % name
        oauth.authority.add_client(name, secret)
        return Introspector(oauth.http_url + '/introspect', name, secret)
