"""Test & Enable All Mailboxes of a profile: one Test & Enable job per mailbox (the test
channel's capacity decides how many run at once, on whichever Odoo host), and one summary
for the manager who clicked once they all ran; the request itself never talks to a server.
Each mailbox's form shows its own progress as for a single test, without a pop-up each."""
import datetime

from odoo import _, fields, models

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import job

from .mail_sync_mailbox_jobs import JOB_CHANNELS

REPORT_RETRY = 10  # seconds between two looks at whether every test of the batch ran
REPORT_NAMED = 5  # failed mailboxes named in the summary (the list shows them all)


class MailSyncServerTestAll(models.Model):
    _inherit = 'mail.sync.server'

    def action_test_enable_all(self):
        """Test & Enable every mailbox of the profile that is not disabled by an admin and
        has an address and a channel turned on; opens the profile's mailboxes."""
        self.check_access_rights('write')
        self.check_access_rule('write')
        # The clock the tests' start is written with (the transaction's, one for all profiles).
        self.env.cr.execute("SELECT now() AT TIME ZONE 'UTC'")
        since = self.env.cr.fetchone()[0]  # a string: Odoo reads timestamps as text
        for server in self:
            mailboxes = server.mailbox_ids.filtered(
                lambda m: m.state != 'disabled' and m.email and m._active_channels())
            mailboxes.check_access_rule('write')
            started = [box.id for box in mailboxes if box._start_background_test(quiet=True)]
            if started:  # a report still pending (a second click) covers both
                server.with_delay(channel=JOB_CHANNELS['test'], max_retries=0,
                                  identity_key='mail_sync.test_all.%d' % server.id,
                                  eta=datetime.datetime.utcnow() + datetime.timedelta(seconds=REPORT_RETRY),
                                  description='Server-Side Sync: Test & Enable All of %s' % server.name
                                  )._job_test_all_report(since)
        return self[:1].action_view_mailboxes() if len(self) == 1 else True

    @job(default_channel='root.mail_sync.test')
    def _job_test_all_report(self, since):
        """Once no test of the profile's mailboxes started since ``since`` runs any more (a
        test whose worker died counts as ended at its deadline), tell the manager how many
        passed and which failed. Until then, a retry with a delay: nothing waits in the worker."""
        self.ensure_one()
        boxes = self.env['mail.sync.mailbox'].sudo().search(
            [('server_id', '=', self.id), ('test_started', '>=', since)], order='email')
        running = boxes.filtered(lambda b: b.test_running and (b.test_started or '') >= b._test_deadline())
        if running:
            raise RetryableJobError('%d tests still running' % len(running), seconds=REPORT_RETRY,
                                    ignore_retry=True)
        server = self.sudo().with_context(lang=self.env.user.lang)
        boxes = boxes.with_context(lang=self.env.user.lang)
        passed = boxes.filtered(lambda b: all(
            row.test_state == 'success' for channel, row in b._channel_states().items()
            if channel in b._active_channels()))
        failed = boxes - passed
        text = _('%(name)s: %(passed)d of %(total)d mailboxes passed the test and are enabled.') % {
            'name': server.name, 'passed': len(passed), 'total': len(boxes)}
        if failed:
            names = ', '.join(failed[:REPORT_NAMED].mapped('email'))
            if len(failed) > REPORT_NAMED:
                names = _('%(names)s and %(more)d more') % {'names': names, 'more': len(failed) - REPORT_NAMED}
            text += ' ' + _('Failed: %s. Each mailbox\'s form says what to fix.') % names
        self.env['bus.bus'].sendone((self.env.cr.dbname, 'res.partner', self.env.user.partner_id.id), {
            'type': 'mail_sync_test', 'server_id': server.id, 'done': True, 'passed': not failed,
            'title': _('Server-Side Sync: Test & Enable All'), 'text': text,
            'at': fields.Datetime.now()})
        return text
