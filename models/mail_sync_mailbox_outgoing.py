"""Outgoing email through the user's own mailbox: SMTP with the mailbox's credentials,
a copy in the Sent folder over IMAP, never sent twice (see mail.sync.outbox)."""
import base64
import email.utils
import logging

from odoo import _, api, fields, models, tools

from ..sync import registry
from ..sync.errors import SyncError

_logger = logging.getLogger(__name__)


class MailSyncMailboxOutgoing(models.Model):
    _inherit = 'mail.sync.mailbox'

    outbox_ids = fields.One2many('mail.sync.outbox', 'mailbox_id', string='Outgoing Email')

    @api.model
    def _outgoing_mailbox_of(self, partner, sender):
        """The mailbox that sends for the user whose partner is ``partner``, if any, when
        ``sender`` (the user who made Odoo write the email) may send through it."""
        user = self.env['res.users'].sudo().search([('partner_id', '=', partner.id), ('share', '=', False)],
                                                   limit=1)
        if not user or not user._mail_sync_lets_send(sender):
            return self.browse()
        mailbox = self.sudo().search([('user_id', '=', user.id)], limit=1)
        if mailbox and mailbox.outgoing_enabled and mailbox.outgoing_status != 'suspended' \
                and not mailbox._blocked_reason():
            return mailbox
        return self.browse()

    def action_sync_outgoing_now(self):
        return self._sync_now(['outgoing'])

    # ------------------------------------------------------------------ one cycle
    def _sync_outgoing(self):
        """Send this mailbox's queued email; return counts. A failure of the channel
        (server down, password refused) raises and leaves the queue as it is."""
        self.ensure_one()
        Outbox = self.env['mail.sync.outbox'].sudo()
        stats = {'sent': 0, 'failed': 0, 'uncertain': 0, 'remaining': 0}
        cap = self.server_id.cycle_cap or 500
        pending = Outbox.search([('mailbox_id', '=', self.id), ('state', 'in', ('queued', 'submitting'))],
                                order='id')
        stats['remaining'] = max(0, len(pending) - cap)
        pending = pending[:cap]
        interrupted = pending.filtered(lambda row: row.state == 'submitting')
        if interrupted:
            self._settle_interrupted(interrupted, stats)
        queued = pending - interrupted
        if not queued:
            return stats
        smtp = self._connector('outgoing')
        copies = _SentCopies(self)
        try:
            for row_id in queued.ids:
                # One record at a time: prefetching the whole queue's emails (bodies,
                # attachments) at every field access would make the cycle quadratic.
                self._send_one(smtp, copies, Outbox.browse(row_id), stats)
        finally:
            smtp.close()
            copies.close()
        return stats

    def _send_one(self, smtp, copies, row, stats):
        mail = row.mail_id
        if not mail or mail.state not in ('outgoing', 'exception'):
            row.write({'state': 'failed', 'error': _('The email was cancelled or deleted in Odoo.')})
            self._commit()
            return
        raw, sender, recipients = self._render(mail)
        if not recipients:
            self._fail(row, _('The email has no recipient address.'), stats)
            return

        def point_of_no_return():
            row.write({'state': 'submitting', 'attempts': row.attempts + 1})
            self._commit()
        try:
            refused = smtp.send(raw, sender, recipients, before_data=point_of_no_return)
        except SyncError as exc:
            if exc.transient:
                if row.state == 'submitting':
                    if exc.code == 'server_busy':  # the server answered "not now": not sent
                        row.write({'state': 'queued'})
                        self._commit()
                    else:  # cut while the message itself was on the wire: maybe delivered
                        self._settle_interrupted(row, stats)
                raise
            if exc.code in ('recipients_refused', 'sender_refused', 'protocol'):
                self._fail(row, self.env['mail.sync.log']._describe(exc, mailbox=self), stats)
                return
            raise
        copy_error = copies.save(raw)
        row.write({'state': 'sent', 'sent_date': fields.Datetime.now(),
                   'error': copy_error or (refused and _('Refused recipients: %s') % ', '.join(refused))
                   or False})
        mail.write({'state': 'sent', 'failure_reason': False})
        mail._postprocess_sent_message(mail_sent=True)
        stats['sent'] += 1
        self._commit()

    def _render(self, mail):
        """The email as the mailbox owner sends it: From is the mailbox's address, replies
        come back to it (and to Odoo through the incoming sync), one message for all."""
        sender = self.email
        author = email.utils.formataddr((self.user_id.name or '', sender))
        to = [email.utils.formataddr((p.name or '', p.email)) for p in mail.recipient_ids if p.email]
        to += tools.email_split_and_format(mail.email_to or '')
        cc = tools.email_split_and_format(mail.email_cc or '')
        attachments = [(a.datas_fname or a.name, base64.b64decode(a.datas or b''), a.mimetype)
                       for a in mail.attachment_ids.sudo()]
        body = mail.body_html or ''
        message = self.env['ir.mail_server'].build_email(
            email_from=author, email_to=to, subject=mail.subject or '', body=body,
            body_alternative=tools.html2plaintext(body), email_cc=cc, reply_to=author,
            attachments=attachments, message_id=mail.message_id, references=mail.references,
            subtype='html', subtype_alternative='plain',
            headers=self._mail_headers(mail))
        recipients = [address for address in tools.email_split(', '.join(to + cc))]
        return message.as_string().encode('utf-8'), sender, recipients

    def _mail_headers(self, mail):
        headers = {}
        if mail.headers:
            try:
                headers.update(tools.safe_eval(mail.headers))
            except Exception:  # malformed stored headers: send without them
                pass
        headers.pop('Return-Path', None)
        return headers

    def _sent_folder_name(self, imap):
        folder = self.env['mail.sync.folder'].sudo().search(
            [('mailbox_id', '=', self.id), ('role', '=', 'sent')], limit=1)
        return folder.name or imap.find_sent_folder() or 'Sent'

    def _settle_interrupted(self, rows, stats):
        """Decide the rows whose sending was interrupted after the point of no return: a
        copy in the Sent folder proves the sending; without one, ask the author to check."""
        found = set()
        sent_copy = registry.lookup(self.server_id.server_type).sent_copy
        if sent_copy == 'server':  # sent and saved atomically (Exchange, Microsoft 365)
            connector = self._connector('outgoing')
            try:
                found = {row.id for row in rows if connector.find_sent(row.message_id)}
            finally:
                connector.close()
        elif sent_copy == 'append':
            imap = self._connector('incoming')
            try:
                folder = self._sent_folder_name(imap)
                found = {row.id for row in rows if imap.find_message_id(folder, row.message_id)}
            finally:
                imap.close()
        for row in rows:
            mail = row.mail_id
            if row.id in found:
                row.write({'state': 'sent', 'sent_date': fields.Datetime.now()})
                if mail:
                    mail.write({'state': 'sent', 'failure_reason': False})
                    mail._postprocess_sent_message(mail_sent=True)
                stats['sent'] += 1
            else:
                text = _('Sending was interrupted after the message had started to go out, so it '
                         'may or may not have reached the recipients. It was not sent again, to '
                         'avoid a duplicate: check with the recipients or your Sent folder, and '
                         'resend it if needed.')
                self._not_sent(row, 'uncertain', text, stats, 'send_uncertain', 'warning')
        self._commit()

    def _fail(self, row, text, stats):
        """A permanent failure of one email: the author sees it in the chatter."""
        self._not_sent(row, 'failed', text, stats, 'send_failed', 'error')
        self._commit()

    def _not_sent(self, row, state, text, stats, code, severity):
        """Record an email that did not (surely) go out: on its row, on the Odoo email (the
        author's failed-email envelope in the chatter) and in the log."""
        row.write({'state': state, 'error': text})
        mail = row.mail_id
        if mail:
            mail.write({'state': 'exception', 'failure_reason': text})
            mail._postprocess_sent_message(mail_sent=False)
        stats[state] += 1
        self.env['mail.sync.log']._record(
            code, '%s (%s)' % (text, row.subject or row.message_id), mailbox=self,
            channel='outgoing', severity=severity, error_class='permanent')

    def _fail_queue(self, text):
        """The channel is suspended: its queued email fails with the reason, so authors know."""
        stats = dict.fromkeys(('sent', 'failed', 'uncertain'), 0)
        for row in self.env['mail.sync.outbox'].sudo().search(
                [('mailbox_id', '=', self.id), ('state', '=', 'queued')]):
            self._fail(row, text, stats)
        return stats['failed']


class _SentCopies(object):
    """Copies of sent email into the Sent folder over one IMAP session per cycle."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.wanted = registry.lookup(mailbox.server_id.server_type).sent_copy == 'append' \
            and mailbox.server_id.append_sent
        self.imap = None
        self.folder = None

    def save(self, raw):
        """Store the copy; returns a warning for the outbox row, or False."""
        if not self.wanted:
            return False
        try:
            if self.imap is None:
                self.imap = self.mailbox._connector('incoming')
                self.folder = self.mailbox._sent_folder_name(self.imap)
            self.imap.append(self.folder, raw)
        except SyncError as exc:
            self.close()
            text = self.mailbox.env['mail.sync.log']._record_error(exc, mailbox=self.mailbox, channel='outgoing')
            return _('Sent, but its copy could not be saved in the Sent folder: %s') % text
        return False

    def close(self):
        if self.imap is not None:
            self.imap.close()
            self.imap = None
