from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import job

from . import transaction
from .mail_sync_mailbox_jobs import BUSY_RETRY, JOB_CHANNELS, JOB_STATES_ALIVE

MIGRATION_CLAIM_CLASS = 7295  # advisory lock of a running migration Test & Enable


def migration_identity(migration_id):
    return 'mail_sync.migration.%d' % migration_id


class MailSyncMigration(models.Model):
    """The record of one migration run (from Odoo's mail servers or from a CSV file):
    what was created, updated, skipped or failed and why, and the Test & Enable results."""

    _name = 'mail.sync.migration'
    _description = 'Server-Side Sync: Migration Report'
    _order = 'id desc'

    name = fields.Char(required=True, readonly=True)
    mode = fields.Selection([('servers', 'Odoo Mail Servers'), ('csv', 'CSV File')],
                            string='Source', required=True, readonly=True)
    user_id = fields.Many2one('res.users', string='Run By', readonly=True,
                              default=lambda self: self.env.user)
    state = fields.Selection([('applied', 'Applied'), ('testing', 'Test & Enable Scheduled'),
                              ('done', 'Done')], default='applied', required=True, readonly=True)
    process_after = fields.Datetime(string='Process Email Received After', readonly=True)
    test_enable = fields.Boolean(string='Test & Enable in the Background', readonly=True)
    deactivate_fetchmail = fields.Boolean(string='Deactivate Migrated Incoming Servers', readonly=True)
    # Reports made before Test & Enable became a queue_job job ran it in a one-shot cron.
    cron_id = fields.Many2one('ir.cron', string='Background Job', readonly=True, ondelete='set null',
                              groups='base.group_system')
    line_ids = fields.One2many('mail.sync.migration.line', 'migration_id', string='Lines', readonly=True)
    created_count = fields.Integer(compute='_compute_counts', string='Created')
    updated_count = fields.Integer(compute='_compute_counts', string='Updated')
    unchanged_count = fields.Integer(compute='_compute_counts', string='Already Migrated')
    skipped_count = fields.Integer(compute='_compute_counts', string='Skipped')
    failed_count = fields.Integer(compute='_compute_counts', string='Failed')
    enabled_count = fields.Integer(compute='_compute_counts', string='Enabled')
    test_failed_count = fields.Integer(compute='_compute_counts', string='Test Failed')

    @api.depends('line_ids.result', 'line_ids.test_state')
    def _compute_counts(self):
        for migration in self:
            lines = migration.line_ids
            for result in ('created', 'updated', 'unchanged', 'skipped', 'failed'):
                migration[result + '_count'] = len(lines.filtered(lambda l: l.result == result))
            migration.enabled_count = len(lines.filtered(lambda l: l.test_state == 'enabled'))
            migration.test_failed_count = len(lines.filtered(lambda l: l.test_state == 'failed'))

    # ------------------------------------------------------------------ Test & Enable
    def _schedule_test_enable(self):
        """A job on the test channel (run as the admin who migrated), so that nobody waits
        for hundreds of logins and no cron thread is held by them."""
        self.ensure_one()
        self.sudo().write({'state': 'testing'})
        self._enqueue_test_enable()

    def _enqueue_test_enable(self):
        key = migration_identity(self.id)
        pending = self.env['queue.job'].sudo().search([('identity_key', '=', key),
                                                       ('state', 'in', JOB_STATES_ALIVE)], limit=1)
        if pending:
            return pending
        self.with_delay(channel=JOB_CHANNELS['test'], identity_key=key, max_retries=0,
                        description='Server-Side Sync: Test & Enable for %s' % self.name)._job_test_enable()
        return self.env['queue.job'].sudo().search([('identity_key', '=', key)], order='id desc', limit=1)

    @job(default_channel='root.mail_sync.test')
    def _job_test_enable(self):
        """The Test & Enable of this migration's mailboxes; never two runs of one migration at
        once (a lock), each result committed, so a run after a killed worker goes on where it
        stopped."""
        migration = self.exists()
        if not migration:
            return 'no such migration'
        if not self.env['mail.sync.mailbox']._try_lock(MIGRATION_CLAIM_CLASS, migration.id):
            raise RetryableJobError('the Test & Enable of migration %d runs in another worker' % migration.id,
                                    seconds=BUSY_RETRY, ignore_retry=True)
        try:
            migration._run_test_enable()
        finally:
            self.env['mail.sync.mailbox']._unlock(MIGRATION_CLAIM_CLASS, migration.id)
        return '%d enabled, %d failed' % (migration.enabled_count, migration.test_failed_count)

    @api.model
    def _requeue_dead_test_jobs(self):
        """Housekeeping: the job of a worker that died in a migration's Test & Enable runs again."""
        self.env['mail.sync.mailbox']._requeue_dead_jobs('test', claim_class=MIGRATION_CLAIM_CLASS,
                                                         key='mail_sync.migration.')

    def _run_test_enable(self):
        """Test & Enable every mailbox this migration created or updated; write each result
        on its line; deactivate the migrated fetchmail server of each enabled mailbox when
        asked (servers that create documents are kept: they do more than read a mailbox)."""
        for migration in self:
            lines = migration.line_ids.filtered(
                lambda l: l.kind == 'mailbox' and l.mailbox_id and l.result in ('created', 'updated')
                and l.test_state == 'not_run')
            for line in lines:
                migration._test_line(line)
                migration._commit()
            migration.state = 'done'
        return True

    def _test_line(self, line):
        mailbox = line.mailbox_id
        try:
            with self.env.cr.savepoint():
                passed = mailbox._test_and_enable()
        except UserError as exc:
            line.write({'test_state': 'failed', 'test_message': exc.name})
            return
        states = mailbox._channel_states()
        messages = ['%s: %s' % (channel, states[channel].test_message)
                    for channel in ('incoming', 'outgoing')
                    if states[channel].test_state != 'not_run']
        values = {'test_state': 'enabled' if passed else 'failed', 'test_message': '\n'.join(messages)}
        fetchmail = line.sudo().fetchmail_id
        if passed and self.deactivate_fetchmail and fetchmail and fetchmail.active:
            if fetchmail.object_id:
                values['test_message'] += '\n' + _(
                    'The incoming server %s is kept active: it creates %s records.') % (
                    fetchmail.name, fetchmail.object_id.name)
            else:
                fetchmail.write({'active': False})
                values['fetchmail_deactivated'] = True
        line.write(values)

    def _commit(self):
        """Keep each mailbox's result even if a later one kills the job."""
        transaction.commit(self.env.cr)

    def action_run_test_enable(self):
        """From the report's form: make sure the Test & Enable job of the migrated mailboxes
        runs (again, for instance after a restore lost it); it says nothing new while one is
        queued or running."""
        self.check_access_rights('write')
        for migration in self.filtered(lambda m: m.state == 'testing'):
            migration._enqueue_test_enable()
        return True
