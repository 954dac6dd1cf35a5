from odoo import fields, models

from ..models.mail_sync_migration_line import LINE_KINDS

ACTIONS = [
    ('create', 'To Create'),
    ('update', 'To Update'),
    ('none', 'Already Migrated'),
    ('manual', 'Map by Hand'),
    ('conflict', 'Conflict'),
    ('skip', 'Not Migrated'),
    ('error', 'Error'),
]
# How a mailbox line found its user: never by an address users can change themselves.
MATCHES = [
    ('login', 'By Login'),
    ('mailbox', 'By Existing Mailbox'),
    ('manual', 'Picked by Hand'),
    ('csv', 'By user_login (CSV)'),
]


class MailSyncMigrationWizardLine(models.TransientModel):
    """One proposal of the migration's dry run: a profile or mailbox to create or update,
    or a conflict that explains why something is left alone."""

    _name = 'mail.sync.migration.wizard.line'
    _description = 'Server-Side Sync: Migration Proposal'
    _order = 'sequence, id'

    wizard_id = fields.Many2one('mail.sync.migration.wizard', required=True, ondelete='cascade')
    sequence = fields.Integer()
    kind = fields.Selection(LINE_KINDS, required=True, readonly=True)
    action = fields.Selection(ACTIONS, required=True, readonly=True)
    name = fields.Char(string='Item', readonly=True)
    source = fields.Char(readonly=True, help='The Odoo mail server or CSV row this item comes from.')
    email = fields.Char(string='Email Address', readonly=True)
    login = fields.Char(readonly=True)
    user_id = fields.Many2one('res.users', string='User', domain=[('share', '=', False)],
                              help='For a login no user has: the user whose mailbox it is.')
    server_id = fields.Many2one('mail.sync.server', string='Existing Profile', readonly=True)
    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Existing Mailbox', readonly=True)
    fetchmail_id = fields.Many2one('fetchmail.server', string='Incoming Mail Server', readonly=True,
                                   groups='base.group_system')
    match = fields.Selection(MATCHES, string='Matched', readonly=True,
                             help='How the user was found: by login (users cannot change it), by '
                                  'the address of a mailbox a manager mapped, or picked by hand.')
    has_password = fields.Boolean(string='Stored Password', readonly=True)
    confirmed = fields.Boolean(
        string='Attach Password',
        help='Tick to attach the incoming server\'s stored password to this user\'s mailbox. '
             'Unticked, the mailbox is created without it (enter it on the mailbox).')
    profile_key = fields.Char(readonly=True)
    message = fields.Text(string='Details', readonly=True)
