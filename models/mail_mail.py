from odoo import api, fields, models


class MailMail(models.Model):
    """Email that Odoo sends on behalf of a user whose mailbox has outgoing email on
    leaves through that mailbox (the outgoing sync), not through Odoo's mail servers."""

    _inherit = 'mail.mail'

    mail_sync_mailbox_id = fields.Many2one('mail.sync.mailbox', string='Sent Through Mailbox',
                                           readonly=True, index=True)

    @api.model
    def create(self, values):
        mail = super(MailMail, self).create(values)
        mailbox = mail.author_id and self.env['mail.sync.mailbox'].sudo()._outgoing_mailbox_of(mail.author_id)
        if mailbox:
            mail.sudo()._mail_sync_enqueue(mailbox)
        return mail

    def _mail_sync_enqueue(self, mailbox):
        self.write({'mail_sync_mailbox_id': mailbox.id})
        recipients = [partner.email for partner in self.recipient_ids if partner.email]
        self.env['mail.sync.outbox'].sudo().create({
            'mailbox_id': mailbox.id, 'mail_id': self.id, 'mail_message_id': self.mail_message_id.id,
            'message_id': self.message_id, 'subject': (self.subject or '')[:500],
            'recipients': ', '.join(recipients + [self.email_to or ''])[:500].strip(', '),
        })

    def send(self, auto_commit=False, raise_exception=False):
        """Odoo's queue and immediate sends skip the email of synchronized mailboxes: the
        outgoing sync sends it, with its own queue, throttling and retries."""
        others = self.filtered(lambda mail: not mail.mail_sync_mailbox_id)
        if others:
            return super(MailMail, others).send(auto_commit=auto_commit, raise_exception=raise_exception)
        return True
