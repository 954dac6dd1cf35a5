"""Orchestration settings and housekeeping: job channel capacities, profile failure alert,
automatic disabling, log retention."""
import datetime

from odoo import fields

from devstack.procs import free_port

from .common import MailSyncCase


def _days_ago(days):
    return fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(days=days))


class TestHousekeeping(MailSyncCase):

    def setUp(self):
        super(TestHousekeeping, self).setUp()
        self.server = self.make_server('imap', 'none')

    def enabled_box(self, name):
        box = self.make_mailbox(self.make_user(name), self.server)
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled')
        return box

    def test_settings_show_the_job_channel_capacities_of_this_host(self):
        """Parallel workers are the job runner's channel capacities, from the configuration:
        shown, not stored (the crons only schedule, there are no lanes to add)."""
        shown = self.env['res.config.settings'].create({}).mail_sync_job_channels
        self.assertIn('root.mail_sync.incoming:2', shown)
        crons = self.env.ref('mail_sync.ir_cron_sync_incoming') | self.env.ref('mail_sync.ir_cron_sync_outgoing')
        self.assertEqual(crons.mapped('code'), ["model._cron_schedule('incoming')", "model._cron_schedule('outgoing')"])

    def test_profile_owner_alerted_once_when_most_mailboxes_fail(self):
        boxes = [self.enabled_box('user%d' % n) for n in range(3)]
        self.server.incoming_port = free_port()  # the server is gone
        owner_notes = lambda: self.server.message_ids.filtered(  # noqa: E731
            lambda m: self.server.owner_id.partner_id in m.partner_ids)
        boxes[0]._run_incoming_cycle()
        self.assertFalse(owner_notes(), 'one of three failing is not an alert')
        boxes[1]._run_incoming_cycle()
        self.assertEqual(len(owner_notes()), 1)
        self.assertIn('2 of the 3 mailboxes', owner_notes().body)
        boxes[2]._run_incoming_cycle()
        self.assertEqual(len(owner_notes()), 1, 'one alert per hour, not one per failure')

    def test_archived_users_and_long_failing_mailboxes_are_disabled(self):
        archived, stale, fine = (self.enabled_box(name) for name in ('gone', 'stale', 'fine'))
        archived.user_id.sudo().active = False
        stale.sudo().write({'incoming_last_success': _days_ago(15), 'incoming_test_date': _days_ago(20)})
        fine.sudo().write({'incoming_last_success': _days_ago(1)})
        disabled = self.env['mail.sync.mailbox']._disable_unusable()
        self.assertEqual(disabled, archived | stale)
        self.assertEqual([b.state for b in (archived, stale, fine)], ['disabled', 'disabled', 'enabled'])
        log = self.Log.search([('mailbox_id', '=', stale.id), ('code', '=', 'auto_disabled')])
        self.assertIn('no successful sync for 14 days', log.message)

    def test_housekeeping_deletes_conflicts_as_old_as_the_log_retention(self):
        box = self.enabled_box('conflicted')
        link = self.env['mail.sync.link'].sudo().create({
            'mailbox_id': box.id, 'kind': 'contact', 'res_model': 'res.partner', 'res_id': box.user_id.partner_id.id,
            'item_id': 'housekeeping-item', 'state': 'linked'})
        Conflict = self.env['mail.sync.conflict']
        old, recent = [Conflict._record(link, 'job_title', 'Buyer', 'Head of Purchasing', 'exchange', 'recent')
                       for _ in range(2)]
        old.sudo().write({'date': _days_ago(31)})
        self.env['ir.config_parameter'].sudo().set_param('mail_sync.log_retention_days', '30')
        self.env['mail.sync.mailbox']._cron_housekeeping()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())

    def test_housekeeping_deletes_old_log_entries_in_batches(self):
        box = self.enabled_box('logged')
        old = self.Log._record('old_problem', 'Long ago', mailbox=box)
        old.sudo().last_seen = _days_ago(31)
        recent = self.Log._record('new_problem', 'Yesterday', mailbox=box)
        deleted = self.Log._gc(30, 1, lambda: None)
        self.assertEqual(deleted, 1)
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())
        self.env['mail.sync.mailbox']._cron_housekeeping()  # the cron's own pass keeps it too
        self.assertTrue(recent.exists())
