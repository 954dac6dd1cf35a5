"""What the mail gateway stores from email that mail_sync imports: text PostgreSQL
accepts (no NUL characters, which it refuses in any text column) and undeclared 8-bit
headers decoded like the ledger decodes them ("Grüße", not "Gr��e")."""
import email.header

from odoo import api, models

from ..sync.message import clean_text, decode_header

_HEADER_KEYS = (('subject', 'Subject'), ('from', 'From'), ('email_from', 'From'), ('to', 'To'),
                ('cc', 'Cc'))


class MailThread(models.AbstractModel):
    _inherit = 'mail.thread'

    @api.model
    def message_parse(self, message, save_original=False):
        values = super(MailThread, self).message_parse(message, save_original=save_original)
        if not self.env.context.get('mail_sync_mailbox_id'):
            return values
        for key, name in _HEADER_KEYS:
            raw = message.get(name) if hasattr(message, 'get') else None
            if isinstance(raw, email.header.Header):  # 8-bit bytes without a declared charset
                values[key] = decode_header(raw)
        self._answer_an_author(values)
        return _clean(values)

    def _answer_an_author(self, values):
        """A reply to an internal note notifies the note's author, and Odoo 11 fails on
        one without (partner_ids gets (4, False): the email would be quarantined), e.g. an
        email from an unknown sender that answered the note: such a reply answers the
        nearest ancestor that has an author (message_post moves it to the thread's first
        message anyway)."""
        if not values.get('internal') or not values.get('parent_id'):
            return
        parent = self.env['mail.message'].sudo().browse(values['parent_id'])
        seen = set()
        while parent and not parent.author_id and parent.parent_id and parent.id not in seen:
            seen.add(parent.id)
            parent = parent.parent_id
        if parent.author_id:
            values['parent_id'] = parent.id

    def _message_extract_payload_postprocess(self, message, body, attachments):
        # Before Odoo parses the body with lxml, which refuses NUL characters too.
        if self.env.context.get('mail_sync_mailbox_id'):
            body = clean_text(body)
            attachments = [_clean(attachment) for attachment in attachments]
        return super(MailThread, self)._message_extract_payload_postprocess(message, body, attachments)


def _clean(value):
    """``value`` with NUL characters removed from every text in it (bytes are kept as they are:
    attachments are stored as files)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, '_fields'):  # _Attachment namedtuple
        return type(value)(*[_clean(item) for item in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(item) for item in value)
    return value
