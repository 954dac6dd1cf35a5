"""Preferences: "Connect my mailbox" for users whose profile uses per-user OAuth 2.0."""
from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

OAUTH_FIELDS = ['mail_sync_oauth', 'mail_sync_oauth_connected', 'mail_sync_oauth_email']


class ResUsers(models.Model):
    _inherit = 'res.users'

    mail_sync_oauth = fields.Boolean(compute='_compute_mail_sync_oauth', string='Mailbox Uses OAuth')
    mail_sync_oauth_connected = fields.Boolean(compute='_compute_mail_sync_oauth',
                                               string='Mailbox Connected')
    mail_sync_oauth_email = fields.Char(compute='_compute_mail_sync_oauth', string='Connected As')

    def __init__(self, pool, cr):
        init_res = super(ResUsers, self).__init__(pool, cr)
        type(self).SELF_READABLE_FIELDS = list(self.SELF_READABLE_FIELDS) + OAUTH_FIELDS
        return init_res

    def _compute_mail_sync_oauth(self):
        visible = self._mail_sync_visible()
        mailboxes = self.env['mail.sync.mailbox'].sudo().search([('user_id', 'in', visible.ids)])
        by_user = {mailbox.user_id.id: mailbox for mailbox in mailboxes}
        for user in self:
            box = by_user.get(user.id)
            delegated = bool(box) and box.server_id.auth_method == 'oauth' and \
                box.server_id.oauth_token_mode == 'delegated'
            user.mail_sync_oauth = delegated
            user.mail_sync_oauth_connected = delegated and box.oauth_connected
            user.mail_sync_oauth_email = delegated and box.oauth_email

    def _mail_sync_own_mailbox(self):
        self.ensure_one()
        if self != self.env.user:
            raise AccessError(_('You can only connect your own mailbox.'))
        box = self.env['mail.sync.mailbox'].sudo().search([('user_id', '=', self.id)], limit=1)
        if not box:
            raise UserError(_('You have no mailbox yet: ask your administrator to map one.'))
        return box

    def action_mail_sync_oauth_connect(self):
        box = self._mail_sync_own_mailbox()
        return {'type': 'ir.actions.act_url', 'target': 'self',
                'url': '/mail_sync/oauth/start?mailbox=%d' % box.id}

    def action_mail_sync_oauth_disconnect(self):
        box = self._mail_sync_own_mailbox()
        box.sudo(self.env.user).action_oauth_disconnect()
        return True
