"""Who sees what: own mailbox and logs only, passwords never readable nor stored in clear."""
import logging

import pytest
from psycopg2 import sql

from odoo.exceptions import AccessError

from ..models.secret_store import key_file_path
from .common import MailSyncCase
from .oauth_common import OAuthCase, oauth_on_class  # noqa: F401 (fixture)


class _Capture(logging.Handler):
    def __init__(self):
        super(_Capture, self).__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class TestSecurity(MailSyncCase):

    def setUp(self):
        super(TestSecurity, self).setUp()
        self.server = self.make_server(credential_mode='mailbox')
        self.alice = self.make_user('alice')
        self.bob = self.make_user('bob')
        self.box_a = self.make_mailbox(self.alice, self.server, password='Alice-Secret-1')
        self.box_b = self.make_mailbox(self.bob, self.server, password='Bob-Secret-2')
        self.Log._record('auth_failed', 'bob problem', mailbox=self.box_b)
        self.Log._record('auth_failed', 'alice problem', mailbox=self.box_a)

    def test_users_see_only_their_own_mailbox(self):
        Mailbox = self.Mailbox.sudo(self.alice)
        self.assertEqual(Mailbox.search([]), self.box_a)
        with self.assertRaises(AccessError):
            self.box_b.sudo(self.alice).read(['email'])
        self.assertEqual(self.box_a.sudo(self.alice).read(['email'])[0]['email'], self.box_a.email)

    def test_users_see_only_their_own_logs(self):
        logs = self.Log.sudo(self.alice).search([('code', '=', 'auth_failed')])
        self.assertEqual(logs.mapped('mailbox_id'), self.box_a)
        self.assertEqual(logs.mapped('message'), ['alice problem'])
        bob_log = self.Log.search([('mailbox_id', '=', self.box_b.id)])
        with self.assertRaises(AccessError):
            bob_log.sudo(self.alice).read(['message'])

    def test_users_cannot_change_mailboxes_or_profiles(self):
        with self.assertRaises(AccessError):
            self.box_a.sudo(self.alice).write({'email': 'other@example.test'})
        with self.assertRaises(AccessError):
            self.Mailbox.sudo(self.alice).create({'user_id': self.alice.id, 'server_id': self.server.id})
        with self.assertRaises(AccessError):
            self.server.sudo(self.alice).write({'name': 'x'})

    def test_passwords_are_never_readable(self):
        for user in (self.alice, self.manager, self.env.ref('base.user_root')):
            data = self.box_a.sudo(user).read(['password', 'password_set'])[0]
            self.assertEqual((data['password'], data['password_set']), (False, True))
            self.assertFalse([name for name in self.box_a.sudo(user).read()[0] if 'password_crypt' in name])
            self.assertFalse([name for name in self.server.sudo(user).read()[0] if 'password_crypt' in name])
        self.assertNotIn('password_crypt', self.Mailbox.fields_get())
        self.assertNotIn('service_password_crypt', self.Server.fields_get())
        # The encrypted value exists only as a column that no ORM read can reach.
        self.cr.execute('SELECT password_crypt FROM mail_sync_mailbox WHERE id = %s', [self.box_a.id])
        self.assertTrue(self.cr.fetchone()[0].startswith('fernet:'))

    def test_no_password_or_key_in_clear_anywhere_in_the_database(self):
        self.server.write({'credential_mode': 'profile', 'service_login': 'svc',
                           'service_password': 'Service-Secret-3'})
        self.box_a.invalidate_cache()
        with open(key_file_path()) as handle:
            key = handle.read().strip()
        needles = ['Alice-Secret-1', 'Bob-Secret-2', 'Service-Secret-3', key]
        self.cr.execute("""
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_name = c.table_name
                 AND t.table_schema = c.table_schema AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND c.data_type IN ('text', 'character varying')
        """)
        columns = self.cr.fetchall()
        self.assertGreater(len(columns), 100)
        found = []
        for table, column in columns:
            for needle in needles:
                self.cr.execute(sql.SQL('SELECT 1 FROM {} WHERE {} LIKE %s LIMIT 1').format(
                    sql.Identifier(table), sql.Identifier(column)), ['%' + needle + '%'])
                if self.cr.fetchone():
                    found.append((table, column, needle[:4]))
        self.assertEqual(found, [])
        # ...and the stored values really are the encrypted passwords.
        self.assertEqual(self.box_b._secret_get('password_crypt'), 'Bob-Secret-2')
        self.assertEqual(self.server._plain_service_password(), 'Service-Secret-3')

    def test_log_messages_hide_passwords_echoed_by_a_server(self):
        entry = self.Log._record('protocol', 'server said: LOGIN bob Bob-Secret-2 failed',
                                mailbox=self.box_b)
        self.assertNotIn('Bob-Secret-2', entry.message)
        self.assertIn('********', entry.message)


def _columns_containing(cr, needles):
    """(table, column, needle prefix) of every text column of the database holding a needle."""
    cr.execute("""
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_name = c.table_name
             AND t.table_schema = c.table_schema AND t.table_type = 'BASE TABLE'
        WHERE c.table_schema = 'public' AND c.data_type IN ('text', 'character varying')
    """)
    found = []
    for table, column in cr.fetchall():
        for needle in needles:
            cr.execute(sql.SQL('SELECT 1 FROM {} WHERE {} LIKE %s LIMIT 1').format(
                sql.Identifier(table), sql.Identifier(column)), ['%' + needle + '%'])
            if cr.fetchone():
                found.append((table, column, needle[:4]))
    return found


@pytest.mark.usefixtures('oauth_on_class')
class TestOAuthSecrets(OAuthCase):
    """OAuth client secrets, access and refresh tokens: never in any column in clear (this
    transaction's or the token table's own), never in Odoo's log, never in an RPC answer."""

    def test_no_oauth_secret_or_token_in_clear_anywhere(self):
        capture = _Capture()
        # Listen where the token code logs, whatever another test did to logging's config
        # (a later dictConfig disables existing loggers; levels may have been raised).
        ours = logging.getLogger('odoo.addons.mail_sync.models.mail_sync_mailbox_oauth')
        saved = ours.level, ours.disabled, ours.propagate
        ours.setLevel(logging.DEBUG)
        ours.disabled, ours.propagate = False, False
        ours.addHandler(capture)
        logging.getLogger().addHandler(capture)
        try:
            client_id, secret = self.new_client()
            server = self.make_oauth_server(client_id, secret, mode='delegated')
            mailbox = self.make_mailbox(self.make_user('tokenscan'), server, outgoing_enabled=True)
            login, password = self.oauth_user(mailbox.email)
            grant = self.connect_delegated(mailbox, login, password)
            self.oauth.authority.expire_tokens(client_id=client_id)
            self.assertTrue(mailbox._test_and_enable(), mailbox.incoming_test_message)  # refreshes
            current = mailbox._oauth_access_token()
            self.oauth.authority.revoke_consent(login, client_id)
            mailbox._run_cycle('incoming')  # invalid_grant: logged and told, in words
        finally:
            ours.removeHandler(capture)
            ours.setLevel(saved[0])
            ours.disabled, ours.propagate = saved[1], saved[2]
            logging.getLogger().removeHandler(capture)
        needles = [secret, grant.access_token, grant.refresh_token, current]
        needles += [value[-24:] for value in needles]  # no fragment either
        self.assertEqual(_columns_containing(self.cr, needles), [])
        with self.registry.cursor() as cr:  # the token table is written by its own cursors
            self.assertEqual(_columns_containing(cr, needles), [])
            cr.execute('SELECT refresh_token_crypt FROM mail_sync_oauth_token WHERE mailbox_key = %s',
                       [mailbox.id])
        logged = '\n'.join(capture.messages)
        self.assertIn('OAuth token refreshed', logged)
        self.assertEqual([n[:4] for n in needles if n in logged], [])
        answers = repr(mailbox.sudo(self.manager).read()) + repr(server.sudo(self.manager).read()) + \
            repr(mailbox.user_id.sudo(mailbox.user_id).read(['mail_sync_oauth_email']))
        self.assertEqual([n[:4] for n in needles if n in answers], [])
        self.assertEqual(server.sudo(self.manager).read(['oauth_secret'])[0]['oauth_secret'], False)
