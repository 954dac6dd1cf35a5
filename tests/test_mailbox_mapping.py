from psycopg2 import IntegrityError

from odoo.exceptions import UserError, ValidationError
from odoo.tools import mute_logger

from .common import MailSyncCase


class TestMailboxMapping(MailSyncCase):

    def setUp(self):
        super(TestMailboxMapping, self).setUp()
        self.server = self.make_server()
        self.alice = self.make_user('alice')
        self.bob = self.make_user('bob')

    @mute_logger('odoo.sql_db')
    def test_one_mailbox_per_user(self):
        self.make_mailbox(self.alice, self.server)
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.make_mailbox(self.alice, self.server)

    def test_one_mailbox_per_address_whatever_the_case(self):
        box = self.make_mailbox(self.alice, self.server, email='Shared@Example.test')
        with self.assertRaises(UserError) as info:
            self.make_mailbox(self.bob, self.server, email='shared@example.TEST')
        self.assertIn('Map Mailbox', str(info.exception))
        self.assertIn(self.alice.name, str(info.exception))
        self.assertEqual(box.email, 'Shared@Example.test')

    @mute_logger('odoo.sql_db')
    def test_database_enforces_address_uniqueness(self):
        self.make_mailbox(self.alice, self.server, email='dup@example.test')
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.cr.execute(
                "INSERT INTO mail_sync_mailbox (user_id, server_id, email, state, name) "
                "VALUES (%s, %s, 'DUP@example.test', 'draft', 'raw')", [self.bob.id, self.server.id])

    def test_new_address_needs_new_approval_and_test(self):
        box = self.make_mailbox(self.alice, self.server)
        box.sudo(self.manager).action_approve()
        self.assertTrue(box.approved)
        box.sudo().write({'incoming_test_state': 'success'})
        box.email = 'alice.new@example.test'
        self.assertFalse(box.approved)
        self.assertEqual(box.incoming_test_state, 'not_run')

    def test_remap_asks_for_confirmation_then_moves_the_address(self):
        old = self.make_mailbox(self.alice, self.server, email='sales@example.test')
        old.write({'state': 'enabled'})
        wizard = self.env['mail.sync.mailbox.map'].sudo(self.manager).create({
            'user_id': self.bob.id, 'email': 'SALES@example.test', 'server_id': self.server.id})
        self.assertEqual(wizard.conflict_mailbox_id, old)
        self.assertIn(self.alice.name, wizard.conflict_message)
        self.assertIn('disables', wizard.conflict_message)
        action = wizard.action_map()
        # First click: nothing changed yet, the wizard asks to confirm.
        self.assertEqual(wizard.state, 'confirm')
        self.assertEqual(action['res_model'], 'mail.sync.mailbox.map')
        self.assertEqual(old.email, 'sales@example.test')
        self.assertFalse(self.Mailbox.search([('user_id', '=', self.bob.id)]))
        action = wizard.action_map()
        new = self.Mailbox.browse(action['res_id'])
        self.assertEqual((new.user_id, new.email, new.state), (self.bob, 'SALES@example.test', 'draft'))
        self.assertEqual((old.state, old.email), ('disabled', False))
        log = self.Log.search([('mailbox_id', '=', old.id), ('code', '=', 'remapped')])
        self.assertEqual(len(log), 1)
        self.assertIn(self.bob.name, log.message)

    def test_remap_without_conflict_maps_at_once(self):
        wizard = self.env['mail.sync.mailbox.map'].sudo(self.manager).create({
            'user_id': self.bob.id, 'email': 'bob.box@example.test', 'server_id': self.server.id})
        action = wizard.action_map()
        self.assertEqual(action['res_model'], 'mail.sync.mailbox')
        self.assertEqual(self.Mailbox.browse(action['res_id']).email, 'bob.box@example.test')

    def test_remap_updates_the_users_existing_mailbox(self):
        box = self.make_mailbox(self.bob, self.server, email='bob.old@example.test')
        wizard = self.env['mail.sync.mailbox.map'].sudo(self.manager).create({
            'user_id': self.bob.id, 'email': 'bob.new@example.test'})
        wizard.action_map()
        self.assertEqual(box.email, 'bob.new@example.test')
        self.assertEqual(self.Mailbox.search_count([('user_id', '=', self.bob.id)]), 1)

    def test_appointments_channel_only_for_exchange(self):
        with self.assertRaises(ValidationError):
            self.make_mailbox(self.alice, self.server, act_enabled=True)

    def test_form_warns_when_address_is_taken(self):
        self.make_mailbox(self.alice, self.server, email='taken@example.test')
        form = self.Mailbox.new({'user_id': self.bob.id, 'server_id': self.server.id})
        form.email = 'Taken@example.test'
        result = form._onchange_email()
        self.assertIn(self.alice.name, result['warning']['message'])
        self.assertEqual(form.login, 'Taken@example.test')

    def test_user_sees_mailbox_in_preferences_fields(self):
        box = self.make_mailbox(self.alice, self.server)
        alice = self.alice.sudo(self.alice)
        self.assertEqual(alice.mail_sync_mailbox_id, box)
        self.assertEqual(alice.mail_sync_email, box.email)
        self.assertEqual(alice.mail_sync_state, 'Not synchronizing yet: needs Test & Enable.')
        self.assertEqual(alice.mail_sync_track, 'odoo_replies')
        alice.write({'mail_sync_track': 'all'})
        self.assertEqual(self.alice.mail_sync_track, 'all')
