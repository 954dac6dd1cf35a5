from odoo import api, fields, models

LEDGER_STATES = [
    ('imported', 'Tracked'),
    ('linked', 'Linked (already in Odoo)'),
    ('indexed', 'Not Tracked'),
    ('quarantined', 'Quarantined'),
]
TRACK_REASONS = [
    ('reply', 'Reply to an Odoo email'),
    ('alias', 'Sent to an Odoo alias'),
    ('known_sender', 'From a known contact'),
    ('all_email', 'All email is tracked'),
    ('manual', 'Tracked manually'),
]


class MailSyncLedger(models.Model):
    """Our memory of every remote message seen in a mailbox: where it is on the server
    (IMAP UIDVALIDITY + UID, or POP3 UIDL), its Message-ID, and what became of it.

    A ledger row commits in the same transaction as the records it produces, so a
    message is imported once and only once whatever is interrupted. Untracked mail
    keeps a light index here (sender, subject, date, size, preview; no body).
    """

    _name = 'mail.sync.ledger'
    _description = 'Server-Side Sync: Remote Message'
    _order = 'date desc, id desc'
    _rec_name = 'subject'

    mailbox_id = fields.Many2one('mail.sync.mailbox', required=True, ondelete='cascade', index=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', store=True, readonly=True, string='User')
    folder = fields.Char(help='IMAP folder; empty for POP3.')
    uidvalidity = fields.Integer(string='UIDVALIDITY')
    uid = fields.Integer(string='UID')
    uidl = fields.Char(string='POP3 UIDL')
    message_id = fields.Char(string='Message-ID', required=True, index=True)
    state = fields.Selection(LEDGER_STATES, required=True, index=True)
    track_reason = fields.Selection(TRACK_REASONS, string='Why Tracked')
    mail_message_id = fields.Many2one('mail.message', string='Odoo Message', ondelete='set null')
    model = fields.Char(string='Document Model')
    res_id = fields.Integer(string='Document ID')
    subject = fields.Char()
    email_from = fields.Char(string='From')
    recipients = fields.Char(string='To')
    date = fields.Datetime()
    size = fields.Integer()
    preview = fields.Char()
    error = fields.Text(help='Why the message was quarantined.')
    raw_attachment_id = fields.Many2one('ir.attachment', string='Original Message', ondelete='set null',
                                        groups='mail_sync.group_mail_sync_manager')

    @api.model_cr
    def init(self):
        cr = self.env.cr
        cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_ledger_imap_uniq
                      ON mail_sync_ledger (mailbox_id, folder, uidvalidity, uid) WHERE uid IS NOT NULL""")
        cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_ledger_pop_uniq
                      ON mail_sync_ledger (mailbox_id, uidl) WHERE uidl IS NOT NULL""")

    @api.model
    def last_uid(self, mailbox, folder, uidvalidity):
        self.env.cr.execute("""SELECT max(uid) FROM mail_sync_ledger
                               WHERE mailbox_id = %s AND folder = %s AND uidvalidity = %s""",
                            [mailbox.id, folder, uidvalidity])
        return self.env.cr.fetchone()[0] or 0
