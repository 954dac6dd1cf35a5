"""Track as new lead (My Mailbox), offered only when Odoo's CRM app is installed."""
from email.utils import getaddresses

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
        contact, from what the index lists, and open it; the Track job posts the email on
        it. The lead is created with the user's own rights."""
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
            name, address = row._index_party()
            partner = address and self.env['res.partner'].sudo().search(
                [('email', '=ilike', address)], limit=1)
            lead = Lead.create({
                'name': row.subject or _('Email from %s') % (name or address or _('Unknown sender')),
                'type': lead_type,
                'contact_name': name or False,
                'email_from': address or False,
                'partner_id': partner.id if partner else False,
                'user_id': self.env.user.id,
            })
            self.browse(row.id)._request_track(target=lead)
            leads |= lead
        if not leads:
            return True
        if len(leads) == 1:  # the email reaches its chatter once the Track job ran
            return {'type': 'ir.actions.act_window', 'res_model': 'crm.lead', 'res_id': leads.id,
                    'view_mode': 'form', 'views': [(False, 'form')], 'target': 'current'}
        return {'type': 'ir.actions.act_window', 'res_model': 'crm.lead', 'name': _('New Leads'),
                'domain': [('id', 'in', leads.ids)], 'view_mode': 'tree,form',
                'views': [(False, 'tree'), (False, 'form')], 'target': 'current'}

    def _index_party(self):
        """(name, address) of the other party as the index lists it: the sender, or the first
        recipient of sent email."""
        text = (self.recipients if self.sent else self.email_from) or ''
        name, address = (getaddresses([text]) or [('', '')])[0]
        return name, address
