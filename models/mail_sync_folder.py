from odoo import fields, models

FOLDER_ROLES = [('inbox', 'Inbox'), ('sent', 'Sent Items'),
                ('calendar', 'Calendar'), ('contacts', 'Contacts'), ('tasks', 'Tasks')]


class MailSyncFolder(models.Model):
    """What sync remembers of one remote folder between cycles.

    ``last_uid`` is the high-water mark of UIDs handled under ``uidvalidity``; it is
    written in the same transaction as the ledger rows of each batch, so a cycle
    resumes exactly after its last commit. ``uidnext`` is the folder's UIDNEXT when
    it was last read to the end: while the server reports the same UIDVALIDITY and
    UIDNEXT, nothing new arrived and the cycle costs one STATUS command.
    """

    _name = 'mail.sync.folder'
    _description = 'Server-Side Sync: Remote Folder'
    _order = 'mailbox_id, role'

    mailbox_id = fields.Many2one('mail.sync.mailbox', required=True, ondelete='cascade', index=True)
    name = fields.Char(required=True, help='Folder name on the server.')
    role = fields.Selection(FOLDER_ROLES, required=True, default='inbox')
    uidvalidity = fields.Integer(string='UIDVALIDITY', readonly=True)
    uidnext = fields.Integer(string='UIDNEXT', readonly=True)
    last_uid = fields.Integer(string='Last UID Handled', readonly=True)
    sync_state = fields.Text(string='EWS Sync State', readonly=True,
                             help='Exchange: SyncFolderItems state of this folder (name is its '
                                  'distinguished id), saved with the ledger rows it covers.')
    backlog_ledger_id = fields.Integer(
        string='Backlog Starts After', readonly=True,
        help='Exchange: while a backlog (first sync, reset state, several pages) is read, the '
             'last ledger row id before it (-1: none); its indexed replies are re-evaluated '
             'once it is read to the end.')

    _sql_constraints = [
        ('mailbox_role_uniq', 'UNIQUE(mailbox_id, role)', 'A mailbox syncs one folder per role.'),
    ]

    def _is_unchanged(self, status):
        """True when ``status`` (a FolderState from STATUS) says nothing arrived."""
        self.ensure_one()
        return bool(self.uidnext) and self.uidvalidity == status.uidvalidity \
            and self.uidnext == status.uidnext
