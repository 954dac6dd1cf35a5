from odoo import api, fields, models

TRACK_CHOICES = [
    ('all', 'All email messages'),
    ('odoo_replies', 'Email messages in response to Odoo email'),
    ('contacts', 'Email messages from known contacts and leads'),
    ('none', 'No email messages'),
]


class ResUsers(models.Model):
    _inherit = 'res.users'

    mail_sync_track = fields.Selection(
        TRACK_CHOICES, string='Track Incoming Email', default='odoo_replies', required=True,
        help='Which email arriving in your mailbox Odoo imports and links to its records.')
    mail_sync_track_sent = fields.Boolean(
        string='Track Sent Email', help='Also import the email you send from your mail client '
                                        '(your Sent folder), by the same rule, on the records of its recipients.')
    mail_sync_mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox',
                                           compute='_compute_mail_sync_mailbox')
    mail_sync_email = fields.Char(string='Synchronized Address', compute='_compute_mail_sync_mailbox')
    mail_sync_state = fields.Char(string='Mailbox Status', compute='_compute_mail_sync_mailbox')

    def __init__(self, pool, cr):
        """Let users read and change their own tracking choice in Preferences."""
        init_res = super(ResUsers, self).__init__(pool, cr)
        type(self).SELF_WRITEABLE_FIELDS = list(self.SELF_WRITEABLE_FIELDS) + ['mail_sync_track', 'mail_sync_track_sent']
        type(self).SELF_READABLE_FIELDS = list(self.SELF_READABLE_FIELDS) + [
            'mail_sync_track', 'mail_sync_track_sent', 'mail_sync_mailbox_id', 'mail_sync_email', 'mail_sync_state']
        return init_res

    @api.depends()
    def _compute_mail_sync_mailbox(self):
        mailboxes = self.env['mail.sync.mailbox'].sudo().search([('user_id', 'in', self.ids)])
        by_user = {mailbox.user_id.id: mailbox for mailbox in mailboxes}
        for user in self:
            mailbox = by_user.get(user.id)
            user.mail_sync_mailbox_id = mailbox.id if mailbox else False
            user.mail_sync_email = mailbox.email if mailbox else False
            user.mail_sync_state = mailbox.status_message if mailbox else False

    def action_mail_sync_map(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window', 'res_model': 'mail.sync.mailbox.map',
            'view_mode': 'form', 'target': 'new',
            'context': {'default_user_id': self.id, 'default_email': self.email or self.login},
        }
