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
        """{message id: origin text} in one query for all of ``self``.

        The ledger is private to each mailbox's owner, so it is read without record rules
        (as sudo would), and only the mailbox address and the reason leave this method: any
        reader of the document may see where its email came from, nothing more.
        """
        if not self.ids:
            return {}
        self.env.cr.execute("""
            SELECT ledger.mail_message_id, ledger.mailbox_id, ledger.state, ledger.track_reason,
                   mailbox.email
            FROM mail_sync_ledger ledger
            JOIN mail_sync_mailbox mailbox ON mailbox.id = ledger.mailbox_id
            WHERE ledger.mail_message_id IN %s AND ledger.state IN ('imported', 'linked')
              AND mailbox.email IS NOT NULL
            ORDER BY ledger.mail_message_id, ledger.state != 'imported', ledger.id
        """, [tuple(self.ids)])
        found = {}
        for message_id, mailbox_id, state, reason, email in self.env.cr.fetchall():
            mailboxes = found.setdefault(message_id, {})
            # Imported rows come first: a mailbox that tracked the message and also holds a
            # copy elsewhere (moved, UIDVALIDITY change) is listed once, as the tracking one.
            mailboxes.setdefault(mailbox_id, (state, reason, email))
        if not found:
            return {}
        reasons = dict(self.env['mail.sync.ledger'].sudo()._fields['track_reason']
                       ._description_selection(self.env))
        return {message_id: self._mail_sync_origin_text(list(mailboxes.values()), reasons)
                for message_id, mailboxes in found.items()}

    @api.model
    def _mail_sync_origin_text(self, mailboxes, reasons):
        """One line from [(state, reason, address)], tracking mailboxes first."""
        parts = []
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
        others = [email for state, _reason, email in mailboxes if state != 'imported']
        if others:
            if parts:
                text = _('Also in the mailbox of %s') if len(others) == 1 else \
                    _('Also in the mailboxes of %s')
            else:
                text = _('In the mailbox of %s') if len(others) == 1 else _('In the mailboxes of %s')
            parts.append(text % ', '.join(others))
        return ' \u00b7 '.join(parts)
