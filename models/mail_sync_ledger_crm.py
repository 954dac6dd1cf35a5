"""Track as new lead (My Mailbox), offered only when Odoo's CRM app is installed."""
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError


class MailSyncLedgerCrm(models.Model):
    _inherit = 'mail.sync.ledger'

    can_create_lead = fields.Boolean(compute='_compute_can_create_lead',
                                     string='Can Create a Lead')

    @api.depends('state')
    def _compute_can_create_lead(self):
        allowed = 'crm.lead' in self.env and \
            self.env['crm.lead'].check_access_rights('create', raise_exception=False)
        for row in self:
            row.can_create_lead = bool(allowed)

    def action_track_new_lead(self):
        """Create a lead (an opportunity for users without leads) with the sender as its
        contact, and post the email on it. The lead is created with the user's own rights."""
        if 'crm.lead' not in self.env:
            raise UserError(_('Install the CRM app to create leads from email.'))
        for row in self:
            if row.mailbox_id.user_id != self.env.user:
                raise AccessError(_('Only the owner of a mailbox can create leads from its email.'))
        Lead = self.env['crm.lead']
        Lead.check_access_rights('create')
        lead_type = 'lead' if self.env.user.has_group('crm.group_use_lead') else 'opportunity'
        leads = Lead
        for row in self.sudo():
            if row.state != 'indexed':
                continue
            mailbox = row.mailbox_id
            message = row._fetch_explained()
            name, address = (message.addressees or [('', '')])[0] if row.sent else message.sender
            partner = address and self.env['res.partner'].sudo().search(
                [('email', '=ilike', address)], limit=1)
            lead = Lead.create({
                'name': message.subject or _('Email from %s') % (name or address),
                'type': lead_type,
                'contact_name': name or False,
                'email_from': address or False,
                'partner_id': partner.id if partner else False,
                'user_id': self.env.user.id,
            })
            row._track_message(message, lead, reason='manual')
            mailbox._mark_remote(row, tracked=True)
            leads |= lead
        if len(leads) != 1:
            return True
        return {'type': 'ir.actions.act_window', 'res_model': 'crm.lead', 'res_id': leads.id,
                'view_mode': 'form', 'target': 'current'}
