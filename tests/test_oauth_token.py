"""The token API ``mail.sync.mailbox._oauth_access_token`` against the devstack
authorization server: app-only (msal for Entra ID, plain OIDC), delegated refresh with
rotation, a revoked grant, clock skew, and tokens encrypted at rest."""
import jwt

from odoo.addons.mail_sync.sync.errors import AuthError

from .oauth_common import OAuthCase, oauth_on_class  # noqa: F401 (fixture)


class TestOAuthToken(OAuthCase):

    def _token_rows(self, server):
        self.env.cr.execute('SELECT * FROM mail_sync_oauth_token WHERE server_key = %s', [server.id])
        return self.env.cr.dictfetchall()

    def test_app_only_entra_token_through_msal_is_cached(self):
        client_id, secret = self.new_client(app_scopes=self.SCOPES.split())
        server = self.make_oauth_server(client_id, secret, provider='entra')
        mailbox = self.make_mailbox(self.manager, server)
        before = len(self.oauth.authority.token_requests(client_id=client_id))
        token = mailbox._oauth_access_token()
        claims = jwt.decode(token, options={'verify_signature': False})
        self.assertEqual(claims['client_id'], client_id)
        self.assertIn('mail.access', claims['scp'].split())
        self.assertEqual(mailbox._oauth_access_token(), token, 'a valid token is reused')
        requests_made = self.oauth.authority.token_requests(client_id=client_id)
        self.assertEqual(len(requests_made) - before, 1)
        self.assertEqual(requests_made[-1]['grant_type'], 'client_credentials')
        # Encrypted at rest: no column holds the token.
        for row in self._token_rows(server):
            self.assertNotIn(token, repr(row))
            self.assertNotIn(token[:40], repr(row))

    def test_app_only_without_admin_consent_says_so(self):
        client_id, secret = self.new_client()  # no application permission consented
        server = self.make_oauth_server(client_id, secret)
        mailbox = self.make_mailbox(self.manager, server)
        with self.assertRaises(AuthError) as caught:
            mailbox._oauth_access_token()
        self.assertEqual(caught.exception.code, 'oauth_not_consented')
        self.assertIn('unauthorized_client', caught.exception.detail)

    def test_app_only_missing_scope_is_named(self):
        client_id, secret = self.new_client(app_scopes=['mail.access'])
        server = self.make_oauth_server(client_id, secret)
        mailbox = self.make_mailbox(self.manager, server)
        with self.assertRaises(AuthError) as caught:
            mailbox._oauth_access_token()
        self.assertEqual(caught.exception.code, 'oauth_scope_missing')
        self.assertIn('mail.send', caught.exception.detail)

    def test_wrong_client_secret(self):
        client_id, _secret = self.new_client(app_scopes=['mail.access'])
        server = self.make_oauth_server(client_id, 'not-the-secret')
        mailbox = self.make_mailbox(self.manager, server)
        with self.assertRaises(AuthError) as caught:
            mailbox._oauth_access_token()
        self.assertEqual(caught.exception.code, 'oauth_invalid_client')
        self.assertNotIn('not-the-secret', str(caught.exception))

    def test_delegated_refresh_rotates_and_revocation_raises_invalid_grant(self):
        client_id, secret = self.new_client()
        server = self.make_oauth_server(client_id, secret, mode='delegated')
        mailbox = self.make_mailbox(self.manager, server)
        login, password = self.oauth_user(mailbox.email)
        first = self.connect_delegated(mailbox, login, password)
        self.assertEqual(mailbox.oauth_email, login)
        self.assertTrue(mailbox.oauth_connected)
        self.assertEqual(mailbox._oauth_access_token(), first.access_token)
        # Expired early (server side): the connector reports the refusal, we refresh once.
        self.oauth.authority.expire_tokens(client_id=client_id)
        count = len(self.oauth.authority.token_requests(client_id=client_id, grant_type='refresh_token'))
        second = mailbox._oauth_access_token(refused=first.access_token)
        self.assertNotEqual(second, first.access_token)
        self.assertEqual(len(self.oauth.authority.token_requests(
            client_id=client_id, grant_type='refresh_token', ok=True)) - count, 1)
        # The rotated refresh token was stored: the next refresh works too.
        third = mailbox._oauth_access_token(refused=second)
        self.assertNotIn(third, (first.access_token, second))
        # The user withdraws consent at the provider: invalid_grant, in words and code.
        self.oauth.authority.revoke_consent(login, client_id)
        with self.assertRaises(AuthError) as caught:
            mailbox._oauth_access_token(refused=third)
        self.assertEqual(caught.exception.code, 'oauth_invalid_grant')
        self.assertIn('invalid_grant', caught.exception.detail)
        mailbox.invalidate_cache()
        self.assertFalse(mailbox.oauth_connected, 'the dead refresh token is dropped')

    def test_clock_skew_of_the_provider_does_not_cause_refresh_loops(self):
        client_id, secret = self.new_client(app_scopes=self.SCOPES.split())
        server = self.make_oauth_server(client_id, secret)
        mailbox = self.make_mailbox(self.manager, server)
        self.oauth.authority.set_skew(-2 * 3600)  # its clock is two hours late: exp looks past
        try:
            token = mailbox._oauth_access_token()
            claims = jwt.decode(token, options={'verify_signature': False, 'verify_exp': False})
            self.assertLess(claims['exp'], __import__('time').time())
            self.assertEqual(mailbox._oauth_access_token(), token)
            self.assertEqual(len(self.oauth.authority.token_requests(client_id=client_id)), 1)
        finally:
            self.oauth.authority.set_skew(0)

    def test_secret_is_write_only(self):
        client_id, secret = self.new_client(app_scopes=['mail.access'])
        server = self.make_oauth_server(client_id, secret)
        values = server.read(['oauth_secret', 'oauth_secret_set'])[0]
        self.assertFalse(values['oauth_secret'])
        self.assertTrue(values['oauth_secret_set'])
        self.env.cr.execute('SELECT * FROM mail_sync_server WHERE id = %s', [server.id])
        self.assertNotIn(secret, repr(self.env.cr.fetchall()))
