from odoo import fields, models

OUTBOX_STATES = [
    ('queued', 'Queued'),
    ('submitting', 'Being Submitted'),
    ('sent', 'Sent'),
    ('failed', 'Failed'),
    ('uncertain', 'Interrupted While Sending'),
]


class MailSyncOutbox(models.Model):
    """One email Odoo sends through a user's own mailbox, and how far its sending got.

    Never twice: the row is committed as ``submitting`` just before the message body
    goes to the SMTP server, and as ``sent`` once the server accepted it and its copy is
    in the Sent folder. A worker that dies in between leaves ``submitting``; on resume,
    a copy in the Sent folder proves it was sent, and without one the row becomes
    ``uncertain`` and the author is asked to check, instead of sending it again.
    """

    _name = 'mail.sync.outbox'
    _description = 'Server-Side Sync: Outgoing Email'
    _order = 'id desc'
    _rec_name = 'subject'

    mailbox_id = fields.Many2one('mail.sync.mailbox', required=True, ondelete='cascade', index=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', store=True, readonly=True, string='User')
    mail_id = fields.Many2one('mail.mail', string='Odoo Email', ondelete='set null', index=True)
    mail_message_id = fields.Many2one('mail.message', string='Message', ondelete='set null')
    message_id = fields.Char(string='Message-ID', required=True, index=True)
    subject = fields.Char()
    recipients = fields.Char(string='To')
    state = fields.Selection(OUTBOX_STATES, required=True, default='queued', index=True)
    attempts = fields.Integer(readonly=True)
    sent_date = fields.Datetime(string='Sent On', readonly=True)
    error = fields.Text(readonly=True)

    _sql_constraints = [
        ('mail_uniq', 'unique(mail_id)', 'An Odoo email is sent through one mailbox once.'),
    ]
