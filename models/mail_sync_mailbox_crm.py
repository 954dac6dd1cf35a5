"""Optional bridge to Odoo's CRM: used only when the ``crm`` app is installed, so the
addon does not depend on it. Email from an address of an open lead or opportunity is
tracked onto it (the "known contacts and leads" rule)."""
from odoo import api, models


class MailSyncMailboxCrm(models.Model):
    _inherit = 'mail.sync.mailbox'

    @api.model
    def _crm_installed(self):
        return 'crm.lead' in self.env

    def _open_lead_of(self, address):
        """The open lead or opportunity of ``address`` (opportunities first, then the
        most recent), or None. Won (100 %) and lost (archived) ones are closed."""
        if not address or not self._crm_installed():
            return None
        # =ilike is case-insensitive equality once its wildcards are escaped (_ is common).
        pattern = address.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')
        lead = self.env['crm.lead'].sudo().search(
            [('probability', '<', 100),
             '|', ('email_from', '=ilike', pattern), ('partner_id.email', '=ilike', pattern)],
            order='type desc, id desc', limit=1)
        return lead or None
