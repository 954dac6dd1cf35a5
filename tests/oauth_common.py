"""Shared set-up of the OAuth tests: profiles on the devstack authorization server."""
import itertools
import urllib.parse
import uuid

import pytest
import requests

from .common import MailSyncCase

_numbers = itertools.count()
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope='class')
def oauth_on_class(request, oauth_server):
    request.cls.oauth = oauth_server


def consent(oauth, authorize_url, login, password, action='accept'):
    """What a user's browser does on the consent page; returns the redirect's query."""
    session = requests.Session()
    session.trust_env = False
    page = session.get(authorize_url, verify=oauth.cafile, timeout=10)
    assert page.status_code == 200, page.text
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query))
    answer = session.post(oauth.issuer + '/authorize', verify=oauth.cafile, timeout=10,
                          allow_redirects=False,
                          data=dict(params, login=login, password=password, action=action))
    assert answer.status_code == 302, answer.text
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers['Location']).query))


@pytest.mark.usefixtures('oauth_on_class')
class OAuthCase(MailSyncCase):
    """MailSyncCase with ``self.oauth`` (the authorization server) and OAuth profiles."""

    SCOPES = 'mail.access mail.send mail.ews'

    def new_client(self, secret=None, **values):
        client_id = 'app-%d-%s' % (next(_numbers), RUN)
        secret = secret or 'secret-%s' % uuid.uuid4().hex
        values.setdefault('redirect_uris', ['http://127.0.0.1/mail_sync/oauth/callback'])
        self.oauth.authority.add_client(client_id, secret, **values)
        return client_id, secret

    def make_oauth_server(self, client_id, secret, provider='oidc', mode='app', **values):
        vals = {'auth_method': 'oauth', 'oauth_provider': provider, 'oauth_client_id': client_id,
                'oauth_secret': secret, 'oauth_token_mode': mode, 'oauth_scopes': self.SCOPES,
                'credential_mode': 'profile' if mode == 'app' else 'mailbox'}
        if provider == 'entra':
            vals.update(oauth_tenant='tenant-%s' % RUN, oauth_authority=self.oauth.issuer)
        else:
            vals.update(oauth_issuer=self.oauth.issuer)
        vals.update(values)
        if vals.get('server_type') == 'exchange':
            vals.update(name='Exchange OAuth test', ews_locate='url', timeout=10)
            return self.Server.sudo(self.manager).create(vals)
        return self.make_server(**vals)

    def oauth_user(self, login=None):
        """An account known to the authorization server (same login as Dovecot's)."""
        login, password = (login, 'idp-pw') if login else self.servers.new_account()
        self.oauth.authority.add_user(login, 'idp-' + password)
        return login, 'idp-' + password

    def connect_delegated(self, mailbox, login, password, redirect_uri='http://127.0.0.1/mail_sync/oauth/callback'):
        """Run the authorization code flow with PKCE for ``mailbox`` and store the grant."""
        from odoo.addons.mail_sync.sync.oauth import pkce_pair
        provider = mailbox.server_id._oauth_provider()
        verifier, challenge = pkce_pair()
        url = provider.authorization_url(redirect_uri, 'state-1', challenge, login_hint=login)
        answer = consent(self.oauth, url, login, password)
        assert answer.get('state') == 'state-1', answer
        response = provider.exchange_code(answer['code'], redirect_uri, verifier)
        mailbox._oauth_store_grant(response)
        return response
