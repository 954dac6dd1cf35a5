from odoo import fields, models

LINE_KINDS = [('profile', 'Server Profile'), ('mailbox', 'Mailbox'), ('note', 'Note')]
RESULTS = [
    ('created', 'Created'),
    ('updated', 'Updated'),
    ('unchanged', 'Already Migrated'),
    ('skipped', 'Skipped'),
    ('failed', 'Failed'),
]
TEST_RESULTS = [('not_run', 'Not Run'), ('enabled', 'Enabled'), ('failed', 'Failed')]


class MailSyncMigrationLine(models.Model):
    """One profile, mailbox or note of a migration report, with its outcome and why."""

    _name = 'mail.sync.migration.line'
    _description = 'Server-Side Sync: Migration Report Line'
    _order = 'migration_id, sequence, id'

    migration_id = fields.Many2one('mail.sync.migration', required=True, ondelete='cascade', index=True)
    sequence = fields.Integer()
    kind = fields.Selection(LINE_KINDS, required=True)
    name = fields.Char(string='Item', required=True)
    source = fields.Char(help='The Odoo mail server or CSV row this item comes from.')
    email = fields.Char(string='Email Address')
    user_id = fields.Many2one('res.users', string='User', ondelete='set null')
    server_id = fields.Many2one('mail.sync.server', string='Profile', ondelete='set null')
    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox', ondelete='set null')
    fetchmail_id = fields.Many2one('fetchmail.server', string='Incoming Mail Server', ondelete='set null',
                                   groups='base.group_system', context={'active_test': False})
    result = fields.Selection(RESULTS, required=True)
    message = fields.Text(string='Details')
    test_state = fields.Selection(TEST_RESULTS, string='Test & Enable', default='not_run', required=True)
    test_message = fields.Text(string='Test Result')
    fetchmail_deactivated = fields.Boolean(string='Incoming Server Deactivated')
