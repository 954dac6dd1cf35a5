from odoo import SUPERUSER_ID, api, fields, models

SYNC_FIELDS = ('mail_sync_sender_id', 'mail_sync_mailbox_id')


class MailMail(models.Model):
    """Email that Odoo sends for a user whose mailbox has outgoing email on leaves through
    that mailbox (the outgoing sync), not through Odoo's mail servers, but only when that
    user sent it or allowed its sender (see ``res.users._mail_sync_lets_send``)."""

    _inherit = 'mail.mail'

    mail_sync_mailbox_id = fields.Many2one('mail.sync.mailbox', string='Sent Through Mailbox',
                                           readonly=True, index=True)
    mail_sync_sender_id = fields.Many2one(
        'res.users', string='Sent By', readonly=True, ondelete='set null',
        help='The user who made Odoo write this email (who posted the message or created the '
             'email); the superuser for automated email. Decides whether it may leave through '
             'its author\'s own mailbox.')

    @api.model
    def create(self, values):
        values = dict(values, mail_sync_sender_id=self._mail_sync_acting_uid(values))
        values.pop('mail_sync_mailbox_id', None)
        mail = super(MailMail, self).create(values)
        mailbox = mail.author_id and self.env['mail.sync.mailbox'].sudo()._outgoing_mailbox_of(
            mail.author_id, mail.sudo().mail_sync_sender_id)
        if mailbox:
            mail.sudo()._mail_sync_enqueue(mailbox)
        return mail

    @api.model
    def _mail_sync_acting_uid(self, values):
        """Who is sending: the current user, except that Odoo writes the emails of a posted
        message as the superuser (notifications), so then it is who created the message.
        Nobody can choose it: ORM create and write never take ``create_uid`` from callers."""
        if self.env.uid != SUPERUSER_ID or not values.get('mail_message_id'):
            return self.env.uid
        message = self.env['mail.message'].sudo().browse(values['mail_message_id'])
        return message.create_uid.id or SUPERUSER_ID

    @api.multi
    def write(self, values):
        """Who sent an email and through which mailbox are decided when it is created:
        users (who may write their emails) cannot change them."""
        if self.env.uid != SUPERUSER_ID:
            values = {key: value for key, value in values.items() if key not in SYNC_FIELDS}
        return super(MailMail, self).write(values)

    def _mail_sync_enqueue(self, mailbox):
        self.write({'mail_sync_mailbox_id': mailbox.id})
        recipients = [partner.email for partner in self.recipient_ids if partner.email]
        self.env['mail.sync.outbox'].sudo().create({
            'mailbox_id': mailbox.id, 'mail_id': self.id, 'mail_message_id': self.mail_message_id.id,
            'message_id': self.message_id, 'subject': (self.subject or '')[:500],
            'recipients': ', '.join(recipients + [self.email_to or ''])[:500].strip(', '),
        })
        mailbox.sudo()._enqueue_cycle('outgoing')  # sent by a job at once, not at the next cron run

    def send(self, auto_commit=False, raise_exception=False):
        """Odoo's queue and immediate sends skip the email of synchronized mailboxes: the
        outgoing sync sends it, with its own queue, throttling and retries."""
        others = self.filtered(lambda mail: not mail.mail_sync_mailbox_id)
        if others:
            return super(MailMail, others).send(auto_commit=auto_commit, raise_exception=raise_exception)
        return True
