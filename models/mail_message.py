from odoo import SUPERUSER_ID, _, api, models


class MailMessage(models.Model):
    _inherit = 'mail.message'

    @api.model
    def read_group(self, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
        """Group only the messages the user could search. Odoo 11's grouped read applies
        record rules only, not the access filter of ``_search`` (private channels, documents
        the user cannot read), which let any user read other users' email bodies."""
        # mail.compose.message copies this class: it has its own access rules.
        if self._name == 'mail.message' and self.env.uid != SUPERUSER_ID:
            domain = [('id', 'in', self._search(list(domain or [])))]
        return super(MailMessage, self).read_group(
            domain, fields, groupby, offset=offset, limit=limit, orderby=orderby, lazy=lazy)

    @api.multi
    def message_format(self):
        """Add ``mail_sync_origin``: which synchronized mailboxes the message came from and
        why it was tracked, shown under the message in the chatter (False when none)."""
        values = super(MailMessage, self).message_format()
        origins = self._mail_sync_origins()
        for message in values:
            message['mail_sync_origin'] = origins.get(message['id'], False)
        return values

    @api.multi
    def _mail_sync_origins(self):
        """{message id: origin text} in one query for all of ``self``: the mailboxes an
        email was tracked from or sits in (ledger), and the mailbox it was sent through
        (outbox).

        The ledger and the outbox are private to each mailbox's owner, so they are read
        without record rules (as sudo would), and only the mailbox address, the reason and
        the sending state leave this method: any reader of the document may see where its
        email came from or went through, nothing more.
        """
        if not self.ids:
            return {}
        self.env.cr.execute("""
            SELECT ledger.mail_message_id, ledger.mailbox_id, ledger.state, ledger.track_reason,
                   mailbox.email, CASE WHEN ledger.state = 'imported' THEN 1 ELSE 2 END AS rank,
                   ledger.id AS row_id, 'ledger' AS source
            FROM mail_sync_ledger ledger
            JOIN mail_sync_mailbox mailbox ON mailbox.id = ledger.mailbox_id
            WHERE ledger.mail_message_id IN %s AND ledger.state IN ('imported', 'linked')
              AND mailbox.email IS NOT NULL
            UNION ALL
            SELECT outbox.mail_message_id, outbox.mailbox_id, outbox.state, NULL, mailbox.email,
                   CASE outbox.state WHEN 'sent' THEN 0 WHEN 'uncertain' THEN 4 WHEN 'failed' THEN 5
                                     ELSE 3 END AS rank,
                   outbox.id AS row_id, 'outbox' AS source
            FROM mail_sync_outbox outbox
            JOIN mail_sync_mailbox mailbox ON mailbox.id = outbox.mailbox_id
            WHERE outbox.mail_message_id IN %s AND mailbox.email IS NOT NULL
            ORDER BY 1, 6, 7
        """, [tuple(self.ids), tuple(self.ids)])
        found, sent = {}, {}
        for message_id, mailbox_id, state, reason, email, _rank, _row, source in self.env.cr.fetchall():
            if source == 'outbox':
                # One line per mailbox, the best state first: sent, sending, uncertain, failed
                # (an email to several recipients has one outbox row per Odoo email).
                sent.setdefault(message_id, {}).setdefault(mailbox_id, (state, email))
                continue
            mailboxes = found.setdefault(message_id, {})
            # Imported rows come first: a mailbox that tracked the message and also holds a
            # copy elsewhere (moved, UIDVALIDITY change) is listed once, as the tracking one.
            mailboxes.setdefault(mailbox_id, (state, reason, email))
        if not found and not sent:
            return {}
        reasons = dict(self.env['mail.sync.ledger'].sudo()._fields['track_reason']
                       ._description_selection(self.env))
        return {message_id: self._mail_sync_origin_text(
            list(found.get(message_id, {}).values()), reasons,
            sent=list(sent.get(message_id, {}).values()))
            for message_id in set(found) | set(sent)}

    @api.model
    def _mail_sync_origin_text(self, mailboxes, reasons, sent=()):
        """One line from [(state, reason, address)], tracking mailboxes first, and from the
        outbox's [(state, address)] for email Odoo sent through a mailbox."""
        parts = []
        for state, email in sent:
            if state == 'sent':
                parts.append(_("Sent through %s's mailbox") % email)
            elif state == 'failed':
                parts.append(_("Not sent through %s's mailbox: the sending failed") % email)
            elif state == 'uncertain':
                parts.append(_("Perhaps not sent through %s's mailbox: check its Sent folder") % email)
            else:
                parts.append(_("Being sent through %s's mailbox") % email)
        for state, reason, email in mailboxes:
            if state != 'imported':
                continue
            if reason == 'manual':
                parts.append(_("Tracked by hand from %s's mailbox") % email)
            elif reason:
                parts.append(_("Tracked from %(mailbox)s's mailbox: %(reason)s") % {
                    'mailbox': email, 'reason': reasons.get(reason, reason)})
            else:
                parts.append(_("Tracked from %s's mailbox") % email)
        senders = {email for _state, email in sent}
        # The copy of a sent email in its sender's Sent folder says nothing new.
        others = [email for state, _reason, email in mailboxes
                  if state != 'imported' and email not in senders]
        if others:
            if parts:
                text = _('Also in the mailbox of %s') if len(others) == 1 else \
                    _('Also in the mailboxes of %s')
            else:
                text = _('In the mailbox of %s') if len(others) == 1 else _('In the mailboxes of %s')
            parts.append(text % ', '.join(others))
        return ' \u00b7 '.join(parts)
