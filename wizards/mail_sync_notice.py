from odoo import fields, models


class MailSyncNotice(models.TransientModel):
    """A message shown after an action, saying what it did (Odoo 11 has no notification
    an action can return)."""

    _name = 'mail.sync.notice'
    _description = 'Server-Side Sync: Notice'

    message = fields.Text(readonly=True)

    def _show(self, title, message):
        """The window action that shows ``message`` in a dialog titled ``title``."""
        notice = self.create({'message': message})
        return {'type': 'ir.actions.act_window', 'name': title, 'res_model': self._name,
                'res_id': notice.id, 'view_mode': 'form', 'target': 'new',
                'views': [(self.env.ref('mail_sync.view_mail_sync_notice_form').id, 'form')]}
