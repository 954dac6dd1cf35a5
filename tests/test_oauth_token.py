"""The token API ``mail.sync.mailbox._oauth_access_token`` against the devstack
authorization server: app-only (msal for Entra ID, plain OIDC), delegated refresh with
rotation, a revoked grant, clock skew, and tokens encrypted at rest."""
import jwt

from odoo.exceptions import ValidationError

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

    def test_provider_presets_fill_hosts_ports_and_scopes(self):
        server = self.Server.new({'name': 'M365', 'server_type': 'imap', 'auth_method': 'oauth',
                                  'oauth_provider': 'entra', 'oauth_token_mode': 'delegated'})
        server._onchange_oauth_preset()
        self.assertEqual((server.incoming_host, server.incoming_port, server.incoming_encryption),
                         ('outlook.office365.com', 993, 'ssl'))
        self.assertEqual((server.outgoing_host, server.outgoing_port), ('smtp.office365.com', 587))
        self.assertIn('https://outlook.office.com/IMAP.AccessAsUser.All', server.oauth_scopes)
        self.assertEqual(server.credential_mode, 'mailbox')
        server.server_type = 'pop3'
        server._onchange_oauth_preset()
        self.assertEqual(server.incoming_port, 995)
        self.assertIn('POP.AccessAsUser.All', server.oauth_scopes)
        server.oauth_token_mode = 'app'
        server._onchange_oauth_preset()
        self.assertEqual(server.oauth_scopes, 'https://outlook.office365.com/.default')
        self.assertEqual(server.credential_mode, 'profile')
        google = self.Server.new({'name': 'G', 'server_type': 'pop3', 'auth_method': 'oauth',
                                  'oauth_provider': 'google', 'oauth_token_mode': 'delegated'})
        google._onchange_oauth_preset()
        self.assertEqual((google.incoming_host, google.incoming_port), ('pop.gmail.com', 995))
        self.assertEqual((google.outgoing_host, google.oauth_scopes), ('smtp.gmail.com', 'https://mail.google.com/'))

    def test_profile_settings_are_checked_when_entered(self):
        client_id, secret = self.new_client()
        with self.assertRaises(ValidationError):
            self.make_oauth_server(client_id, secret, oauth_client_id=False)
        with self.assertRaises(ValidationError):
            self.make_oauth_server(client_id, secret, provider='entra', oauth_tenant=False)
        with self.assertRaises(ValidationError):
            self.make_oauth_server(client_id, secret, oauth_issuer='http://sso.example.test')
        self.env['ir.config_parameter'].set_param('web.base.url', 'https://odoo.example.test/')
        server = self.make_oauth_server(client_id, secret, mode='delegated')
        self.assertEqual(server.oauth_redirect_url, 'https://odoo.example.test/mail_sync/oauth/callback')

    def test_changing_the_client_forgets_its_tokens(self):
        client_id, secret = self.new_client(app_scopes=self.SCOPES.split())
        server = self.make_oauth_server(client_id, secret)
        mailbox = self.make_mailbox(self.manager, server)
        first = mailbox._oauth_access_token()
        other_id, other_secret = self.new_client(app_scopes=self.SCOPES.split())
        server.sudo(self.manager).write({'oauth_client_id': other_id, 'oauth_secret': other_secret})
        second = mailbox._oauth_access_token()
        self.assertNotEqual(first, second)
        self.assertEqual(jwt.decode(second, options={'verify_signature': False})['client_id'], other_id)

    def test_entra_certificate_credential_signs_a_client_assertion(self):
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'mail_sync app')])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode('ascii')
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode('ascii')
        client_id = 'cert-app-%s' % self.id()[-8:]
        self.oauth.authority.add_client(client_id, None, app_scopes=self.SCOPES.split(),
                                        public_key_pem=key.public_key().public_bytes(
                                            serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))
        server = self.make_oauth_server(client_id, False, provider='entra', oauth_certificate=key_pem,
                                        oauth_thumbprint=self.Server._oauth_thumbprint(cert_pem))
        mailbox = self.make_mailbox(self.manager, server)
        token = mailbox._oauth_access_token()
        self.assertEqual(jwt.decode(token, options={'verify_signature': False})['client_id'], client_id)
        self.assertFalse(server.read(['oauth_certificate'])[0]['oauth_certificate'])
