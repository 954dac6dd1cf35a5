from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    mail_sync_approved_only = fields.Boolean(
        string='Process Email Only for Approved Mailboxes', config_parameter='mail_sync.approved_only',
        help='A mailbox syncs only once a manager has approved its email address.')
