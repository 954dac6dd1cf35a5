from odoo import _, api, fields, models
from odoo.exceptions import UserError

from . import transaction


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
        """A one-shot cron job, so that the admin does not wait for hundreds of logins."""
        self.ensure_one()
        cron = self.env['ir.cron'].sudo().create({
            'name': _('Server-Side Sync: Test & Enable for %s') % self.name,
            'model_id': self.env.ref('mail_sync.model_mail_sync_migration').id,
            'state': 'code',
            'code': 'model.browse(%d)._run_test_enable()' % self.id,
            'user_id': self.env.uid,
            'interval_number': 1, 'interval_type': 'minutes',
            'numbercall': 1, 'doall': True,
            'nextcall': fields.Datetime.now(),
        })
        self.sudo().write({'cron_id': cron.id, 'state': 'testing'})
        return cron

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
        """Run the pending Test & Enable now, from the report's form."""
        self.check_access_rights('write')
        return self._run_test_enable()
