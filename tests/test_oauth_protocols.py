"""Every protocol with OAuth bearer tokens, checked by the real servers: Dovecot's oauth2
passdb (IMAP and POP3, XOAUTH2 and OAUTHBEARER), the SMTP server's AUTH XOAUTH2 and the
EWS endpoint's Bearer authentication, all introspecting at the devstack authorization
server; Test & Enable explains a missing scope; an expired token is renewed once."""
import os
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .oauth_common import OAuthCase, oauth_on_class  # noqa: F401 (fixture)
from .test_ews_incoming import ews_on_class  # noqa: F401 (fixture)

import pytest


def _dovecot_logins(servers, login):
    path = os.path.join(servers.dovecot.folder, 'dovecot.log')
    with open(path, errors='replace') as handle:
        return re.findall(r'Login: user=<%s>, method=(\S+),' % re.escape(login), handle.read())


@pytest.mark.usefixtures('ews_on_class')
class TestOAuthProtocols(OAuthCase):

    def delegated_mailbox(self, server_type='imap', encryption='none', mechanism='XOAUTH2',
                          scopes=None, **values):
        client_id, secret = self.new_client()
        server = self.make_oauth_server(client_id, secret, mode='delegated', server_type=server_type,
                                        encryption=encryption, oauth_mechanism=mechanism,
                                        oauth_scopes=scopes or self.SCOPES)
        user = self.make_user('u%s' % client_id[-12:])
        mailbox = self.make_mailbox(user, server, outgoing_enabled=True, **values)
        login, password = self.oauth_user(mailbox.email)
        self.connect_delegated(mailbox, login, password)
        return mailbox, client_id

    def test_imap_xoauth2_and_smtp_xoauth2_pass_test_and_enable(self):
        mailbox, _client = self.delegated_mailbox()
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        self.assertEqual(mailbox.state, 'enabled')
        self.assertEqual(mailbox.incoming_test_state, 'success')
        self.assertEqual(mailbox.outgoing_test_state, 'success')
        self.assertEqual(_dovecot_logins(self.servers, mailbox.email), ['XOAUTH2'])
        self.assertIn(mailbox.email, self.servers.smtp.handler.bearer_logins)

    def test_imap_oauthbearer_over_tls(self):
        mailbox, _client = self.delegated_mailbox(encryption='ssl', mechanism='OAUTHBEARER')
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        self.assertEqual(_dovecot_logins(self.servers, mailbox.email), ['OAUTHBEARER'])

    def test_pop3_xoauth2_and_oauthbearer(self):
        mailbox, _client = self.delegated_mailbox(server_type='pop3')
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        self.assertIn('XOAUTH2', _dovecot_logins(self.servers, mailbox.email))
        mailbox.server_id.oauth_mechanism = 'OAUTHBEARER'
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        self.assertIn('OAUTHBEARER', _dovecot_logins(self.servers, mailbox.email))

    def test_missing_scope_is_explained_by_test_and_enable(self):
        # The profile asks only for sending: Dovecot refuses the token for IMAP.
        mailbox, _client = self.delegated_mailbox(scopes='mail.send')
        self.assertFalse(mailbox._test_and_enable())
        self.assertEqual(mailbox.incoming_test_state, 'failure')
        self.assertEqual(mailbox.outgoing_test_state, 'success')
        message = mailbox.incoming_test_message
        self.assertIn('refused the OAuth token', message)
        self.assertIn('permission for this protocol', message)
        self.assertIn('status=401', message)  # Dovecot's error challenge, kept for the admin
        self.assertEqual(_dovecot_logins(self.servers, mailbox.email), [])

    def test_token_expired_early_is_renewed_once_and_the_login_succeeds(self):
        mailbox, client_id = self.delegated_mailbox()
        mailbox._oauth_access_token()
        self.oauth.authority.expire_tokens(client_id=client_id)  # our cache still thinks it valid
        before = len(self.oauth.authority.token_requests(client_id=client_id, grant_type='refresh_token'))
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        after = len(self.oauth.authority.token_requests(client_id=client_id, grant_type='refresh_token'))
        self.assertEqual(after - before, 1, 'the refused token is replaced once, then shared by both channels')

    def test_google_service_account_with_domain_wide_delegation(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode('ascii')
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        client_id = 'robot-%s@project.iam.gserviceaccount.com' % self.id()[-8:]
        self.oauth.authority.add_client(client_id, None, public_key_pem=public_pem, service_account=True,
                                        delegation_scopes=self.SCOPES.split())
        server = self.make_oauth_server(client_id, private_pem, provider='google', mode='app')
        mailbox = self.make_mailbox(self.manager, server, outgoing_enabled=True)
        self.oauth_user(mailbox.email)
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        self.assertEqual(_dovecot_logins(self.servers, mailbox.email), ['XOAUTH2'])
        requests_made = self.oauth.authority.token_requests(client_id=client_id)
        self.assertEqual([r['grant_type'] for r in requests_made],
                         ['urn:ietf:params:oauth:grant-type:jwt-bearer'])

    def test_ews_app_only_bearer_with_impersonation(self):
        address = 'ewsoauth-%s@example.test' % self.id()[-8:]
        self.ews.add_account(address, 'x')
        client_id, secret = self.new_client(app_scopes=['mail.ews'])
        server = self.make_oauth_server(client_id, secret, provider='entra', mode='app',
                                        server_type='exchange', ews_url=self.ews.url,
                                        oauth_scopes='mail.ews')
        mailbox = self.Mailbox.sudo(self.manager).create({
            'user_id': self.manager.id, 'server_id': server.id, 'email': address})
        self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)
        calls = [call for call in self.ews.calls if call.impersonate == address]
        self.assertTrue(calls)
        self.assertEqual({call.auth for call in calls}, {'Bearer'})

    def test_ews_bearer_without_the_ews_scope_is_refused(self):
        address = 'ewsnoscope-%s@example.test' % self.id()[-8:]
        self.ews.add_account(address, 'x')
        client_id, secret = self.new_client(app_scopes=['mail.access'])
        server = self.make_oauth_server(client_id, secret, mode='app', server_type='exchange',
                                        ews_url=self.ews.url, oauth_scopes='mail.access')
        mailbox = self.Mailbox.sudo(self.manager).create({
            'user_id': self.manager.id, 'server_id': server.id, 'email': address})
        self.assertFalse(mailbox._test_and_enable())
        self.assertIn('refused the OAuth token', mailbox.incoming_test_message)
