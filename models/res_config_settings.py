from odoo import api, fields, models

from .mail_sync_ledger import INDEX_RETENTION_DAYS


class ResConfigSettings(models.TransientModel):
    """Server-Side Sync options, kept as system parameters (Odoo 11 settings need
    explicit get_values/set_values for that)."""

    _inherit = 'res.config.settings'

    mail_sync_approved_only = fields.Boolean(
        string='Process Email Only for Approved Mailboxes',
        help='A mailbox syncs only once a manager has approved its email address.')
    mail_sync_index_retention_days = fields.Integer(
        string='Keep Untracked Email in "My Mailbox" (days)',
        help='After this, the sender, subject and preview of untracked email are forgotten.')

    @api.model
    def get_values(self):
        values = super(ResConfigSettings, self).get_values()
        params = self.env['ir.config_parameter'].sudo()
        values.update(
            mail_sync_approved_only=params.get_param('mail_sync.approved_only') in ('True', '1'),
            mail_sync_index_retention_days=int(params.get_param(
                'mail_sync.index_retention_days', INDEX_RETENTION_DAYS) or INDEX_RETENTION_DAYS),
        )
        return values

    def set_values(self):
        super(ResConfigSettings, self).set_values()
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('mail_sync.approved_only', repr(bool(self.mail_sync_approved_only)))
        params.set_param('mail_sync.index_retention_days',
                         str(max(1, self.mail_sync_index_retention_days or INDEX_RETENTION_DAYS)))
