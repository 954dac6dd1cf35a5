from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..models.exact_match import exact_ilike

MANAGER = 'mail_sync.group_mail_sync_manager'


class MailSyncMailboxMap(models.TransientModel):
    """Map a user to a mailbox address, with a confirmation when the address is taken.

    Managers only: it says who owns an address, and Odoo 11 applies no access rights to
    transient models (anyone may create one), so create and the lookup check the group."""

    _name = 'mail.sync.mailbox.map'
    _description = 'Map a User to a Mailbox'

    user_id = fields.Many2one('res.users', string='User', required=True, domain=[('share', '=', False)])
    email = fields.Char(string='Email Address', required=True)
    server_id = fields.Many2one('mail.sync.server', string='Email Server Profile')
    conflict_mailbox_id = fields.Many2one('mail.sync.mailbox', compute='_compute_conflict',
                                          string='Currently Mapped To')
    conflict_message = fields.Char(compute='_compute_conflict')
    state = fields.Selection([('edit', 'Edit'), ('confirm', 'Confirm')], default='edit')

    @api.model
    def _check_manager(self):
        if not self.env.user.has_group(MANAGER):
            raise AccessError(_('Only a Server-Side Sync manager can map mailboxes.'))

    @api.model
    def create(self, values):
        self._check_manager()
        return super(MailSyncMailboxMap, self).create(values)

    @api.depends('email', 'user_id')
    def _compute_conflict(self):
        Mailbox = self.env['mail.sync.mailbox'].sudo()
        manager = self.env.user.has_group(MANAGER)
        for wizard in self:
            other = Mailbox.search([('email', '=ilike', exact_ilike((wizard.email or '').strip())),
                                    ('user_id', '!=', wizard.user_id.id)], limit=1) \
                if wizard.email and manager else Mailbox
            wizard.conflict_mailbox_id = other.id
            wizard.conflict_message = other and _(
                '%s is already mapped to the mailbox of %s. Confirming disables that mailbox, '
                'logs the change, and maps the address to %s instead.') % (
                wizard.email, other.user_id.name, wizard.user_id.name) or False

    def action_map(self):
        self.ensure_one()
        self._check_manager()
        if self.conflict_mailbox_id and self.state != 'confirm':
            self.state = 'confirm'
            return {'type': 'ir.actions.act_window', 'res_model': self._name, 'res_id': self.id,
                    'view_mode': 'form', 'target': 'new'}
        return self._apply()

    def _apply(self):
        Mailbox = self.env['mail.sync.mailbox']
        email = self.email.strip()
        if self.conflict_mailbox_id:
            self.conflict_mailbox_id._break_mapping(self.user_id)
        mailbox = Mailbox.search([('user_id', '=', self.user_id.id)], limit=1)
        if mailbox:
            mailbox.write({'email': email, 'login': email,
                           'server_id': (self.server_id or mailbox.server_id).id, 'state': 'draft'})
        else:
            if not self.server_id:
                raise UserError(_('Choose the email server profile of the new mailbox.'))
            mailbox = Mailbox.create({'user_id': self.user_id.id, 'email': email,
                                      'server_id': self.server_id.id})
        return {'type': 'ir.actions.act_window', 'res_model': 'mail.sync.mailbox',
                'res_id': mailbox.id, 'view_mode': 'form', 'target': 'current'}
