"""Track and Untrack from "My Mailbox": fetched from the server at once."""
from odoo.exceptions import AccessError, UserError

from .common import MailSyncCase
from .test_incoming import raw_mail


class TestTrack(MailSyncCase):

    def setUp(self):
        super(TestTrack, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.servers.dovecot.append_many(self.box.login, [
            raw_mail('New Prospect <prospect@unknown.test>', 'Interested', '<t1@unknown.test>'),
            raw_mail('Someone <someone@unknown.test>', 'About the lead', '<t2@unknown.test>'),
        ])
        self.box._sync_incoming()
        self.rows = self.box.ledger_ids.sorted('uid')
        self.assertEqual(self.rows.mapped('state'), ['indexed', 'indexed'])

    def test_owner_tracks_where_the_rules_would_then_untracks(self):
        row = self.rows[0].sudo(self.rep)
        row.action_track()
        partner = self.env['res.partner'].search([('email', '=', 'prospect@unknown.test')])
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id),
                         ('imported', 'manual', 'res.partner', partner.id))
        message = row.mail_message_id
        self.assertEqual(message.message_id, '<t1@unknown.test>')
        self.assertIn('Body of Interested', message.body)
        row.action_untrack()
        self.assertEqual((row.state, row.mail_message_id.id), ('indexed', False))
        self.assertTrue(message.exists(), 'Untrack keeps the Odoo message')
        # Tracking again links to the message already in Odoo instead of importing twice.
        row.action_track()
        self.assertEqual(row.mail_message_id, message)

    def test_track_on_a_record_the_user_picks(self):
        target = self.env['res.partner'].create({'name': 'Chosen Account'})
        # Posting on a contact takes the right to edit contacts (Odoo's rule for its chatter).
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        wizard = self.env['mail.sync.track'].sudo(self.rep).with_context(
            active_ids=self.rows[1].ids).create({'target': 'res.partner,%d' % target.id})
        wizard.action_track()
        self.assertEqual((self.rows[1].model, self.rows[1].res_id), ('res.partner', target.id))
        self.assertIn('<t2@unknown.test>', target.message_ids.mapped('message_id'))

    def test_only_the_owner_tracks(self):
        other = self.make_user('other')
        with self.assertRaises(AccessError):
            self.rows[0].sudo(other).action_track()
        self.assertEqual(self.rows[0].state, 'indexed')

    def test_email_gone_from_the_server(self):
        client = self.servers.dovecot.imap(self.box.login)
        client.select('INBOX')
        client.uid('STORE', str(self.rows[0].uid), '+FLAGS', '(\\Deleted)')
        client.expunge()
        client.logout()
        with self.assertRaises(UserError):
            self.rows[0].sudo(self.rep).action_track()
