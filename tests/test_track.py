"""Track and Untrack from "My Mailbox": Track marks the email Being Tracked and returns;
its job (run here through queue_job's own Job.load/perform, as the runner's worker does)
fetches it from the server as the owner, posts it, and tells the owner over the bus."""
from odoo import fields
from odoo.exceptions import AccessError, UserError

from devstack.procs import free_port

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

    def track_jobs(self):
        return self.run_jobs('mail_sync.track.%d' % self.box.id)

    def test_owner_tracks_where_the_rules_would_then_untracks(self):
        row = self.rows[0].sudo(self.rep)
        self.assertTrue(row.action_track())
        self.assertEqual(row.state, 'tracking', 'Being Tracked until the job ran')
        self.assertFalse(row.mail_message_id)
        [job] = self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.track.%d' % self.box.id)])
        self.assertEqual((job.state, job.user_id, job.channel), ('pending', self.rep, 'root.mail_sync.track'))
        row.action_track()  # a second click adds nothing
        self.assertEqual(self.env['queue.job'].sudo().search_count(
            [('identity_key', '=', 'mail_sync.track.%d' % self.box.id)]), 1)
        self.assertEqual(self.track_jobs(), ['tracked 1, failed 0'])
        partner = self.env['res.partner'].search([('email', '=', 'prospect@unknown.test')])
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id),
                         ('imported', 'manual', 'res.partner', partner.id))
        message = row.mail_message_id
        self.assertEqual(message.message_id, '<t1@unknown.test>')
        self.assertIn('Body of Interested', message.body)
        [told] = self.bus(self.rep, 'mail_sync_track')
        self.assertEqual((told['failed'], told['text'], told['documents']),
                         (False, '"Interested" is tracked.', [['res.partner', partner.id]]))
        row.action_untrack()
        self.assertEqual((row.state, row.mail_message_id.id), ('indexed', False))
        self.assertTrue(message.exists(), 'Untrack keeps the Odoo message')
        # Tracking again links to the message already in Odoo instead of importing twice.
        row.action_track()
        self.track_jobs()
        self.assertEqual(row.mail_message_id, message)
        self.assertEqual(self.env['mail.message'].search_count([('message_id', '=', '<t1@unknown.test>')]), 1)

    def test_track_on_a_record_the_user_picks(self):
        target = self.env['res.partner'].create({'name': 'Chosen Account'})
        # Posting on a contact takes the right to edit contacts (Odoo's rule for its chatter).
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        wizard = self.env['mail.sync.track'].sudo(self.rep).with_context(
            active_ids=self.rows[1].ids).create({'target': 'res.partner,%d' % target.id})
        wizard.action_track()
        self.assertEqual(self.rows[1].state, 'tracking')
        self.track_jobs()
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
        self.rows.sudo(self.rep).action_track()
        self.assertEqual(self.track_jobs(), ['tracked 1, failed 1'])
        gone, kept = self.rows
        self.assertEqual((gone.state, gone.track_error), ('indexed', 'This email is no longer on the server.'))
        self.assertEqual((kept.state, kept.track_error), ('imported', False))
        [told] = self.bus(self.rep, 'mail_sync_track')
        self.assertTrue(told['failed'])
        self.assertEqual(told['text'], '"Interested" could not be tracked: This email is no longer on the '
                                       'server. The other email was tracked.')

    def test_a_server_that_does_not_answer_is_tried_again_then_the_email_is_given_back(self):
        good_port = self.server.incoming_port
        self.server.incoming_port = free_port()  # nothing listens there
        row = self.rows[0]
        row.sudo(self.rep).action_track()
        self.track_jobs()
        self.assertEqual(row.state, 'tracking', 'a server that does not answer: the email waits')
        self.assertIn('Trying again in a minute.', row.track_error)
        [later] = self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.track.%d' % self.box.id),
                                                       ('state', '=', 'pending')])
        self.assertGreater(later.eta, fields.Datetime.now(), 'tried again later, not now')
        self.assertFalse(self.bus(self.rep, 'mail_sync_track'), 'nothing to tell yet')
        # The server is back when the retry comes: tracked, the waiting reason gone.
        self.server.incoming_port = good_port
        later.eta = fields.Datetime.now()
        self.track_jobs()
        self.assertEqual((row.state, row.track_error), ('imported', False))
        # An hour after the click the email is given back, with the reason.
        self.server.incoming_port = free_port()
        other = self.rows[1]
        other.sudo(self.rep).action_track()
        other.sudo().track_requested = '2000-01-01 00:00:00'  # an hour ago and more
        self.track_jobs()
        self.assertEqual(other.state, 'indexed')
        self.assertNotIn('Trying again', other.track_error)
        self.assertTrue(self.bus(self.rep, 'mail_sync_track')[-1]['failed'])

    def test_no_track_from_a_disabled_mailbox_or_a_copied_database(self):
        self.box.sudo().state = 'disabled'
        with self.assertRaises(UserError) as refused:
            self.rows[0].sudo(self.rep).action_track()
        self.assertIn('An administrator disabled this mailbox', refused.exception.name)
        self.assertFalse(self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.track.%d' % self.box.id)]))
        # Tracks asked for, then the database copied (its pending jobs with it): the copy's
        # job talks to no server and gives the emails back, saying why.
        self.box.sudo().write({'state': 'enabled', 'db_uuid': self.box._current_db_uuid()})
        self.rows.sudo(self.rep).action_track()
        self.env['ir.config_parameter'].sudo().set_param('database.uuid', 'copied-for-track')
        self.server.incoming_port = free_port()  # were it to connect, it would fail differently
        self.assertEqual(self.track_jobs(), ['not tracked: Paused: this database is a copy. A manager must '
                                             're-enable the mailbox (Test & Enable).'])
        self.assertEqual(self.rows.mapped('state'), ['indexed', 'indexed'])
        self.assertIn('this database is a copy', self.rows[0].track_error)
        self.assertTrue(self.bus(self.rep, 'mail_sync_track')[-1]['failed'])

    def test_a_lost_track_job_is_enqueued_again_by_the_safety_net_as_the_owner(self):
        self.rows[0].sudo(self.rep).action_track()
        self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.track.%d' % self.box.id)]).unlink()
        self.Mailbox._cron_schedule('incoming')
        [job] = self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.track.%d' % self.box.id)])
        self.assertEqual((job.state, job.user_id), ('pending', self.rep))
        self.track_jobs()
        self.assertEqual(self.rows[0].state, 'imported')
