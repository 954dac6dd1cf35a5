"""Sending: the MIME of a message written through EWS, and local delivery.

Exchange builds the MIME of a message created from properties when it is sent;
we do the same with the standard library, so a recipient on this server gets
real RFC 822 bytes (its GetItem MimeContent) and a Message-ID.
Recipients that are not mailboxes of this server are dropped silently, as if
they had left for the internet.
"""
import copy
import email
import email.message
import email.policy
import email.utils
import uuid

from .soap import tq
from .store import StoreError, now_utc, message_fields


def _addresses(item, name):
    elem = item.fields.get(name)
    if elem is None:
        return []
    out = []
    for mailbox in elem.iter(tq('Mailbox')):
        address = mailbox.findtext(tq('EmailAddress'))
        if address:
            out.append((mailbox.findtext(tq('Name')) or '', address.strip()))
    return out


def build_mime(item, sender):
    """RFC 822 bytes for a Message item, with a new Message-ID unless it has one."""
    msg = email.message.EmailMessage()
    from_ = _addresses(item, 'From') or [('', sender)]
    msg['From'] = email.utils.formataddr(from_[0])
    for header, name in (('To', 'ToRecipients'), ('Cc', 'CcRecipients')):
        addresses = _addresses(item, name)
        if addresses:
            msg[header] = ', '.join(email.utils.formataddr(a) for a in addresses)
    msg['Subject'] = item.text('Subject') or ''
    msg['Date'] = email.utils.format_datetime(now_utc())
    msg['Message-ID'] = item.text('InternetMessageId') or '<%s@ews.devstack.test>' % uuid.uuid4().hex
    body = item.fields.get('Body')
    if body is not None and body.get('BodyType') == 'HTML':
        msg.set_content(body.text or '', subtype='html')
    else:
        msg.set_content(body.text if body is not None and body.text else '')
    return msg.as_bytes(policy=email.policy.SMTP)


def ensure_message_id(raw):
    """(raw, Message-ID): a Message-ID header is added when the MIME has none."""
    msg = email.message_from_bytes(raw)
    if msg['Message-ID']:
        return raw, msg['Message-ID'].strip()
    message_id = '<%s@ews.devstack.test>' % uuid.uuid4().hex
    return b'Message-ID: ' + message_id.encode('ascii') + b'\r\n' + raw, message_id


def recipients(item):
    return [address for name in ('ToRecipients', 'CcRecipients', 'BccRecipients')
            for _name, address in _addresses(item, name)]


def deliver_local(store, raw, addresses, kind='Message', extra_fields=()):
    """Put ``raw`` into the inbox of every address that is a mailbox here."""
    for address in addresses:
        try:
            mailbox = store.mailbox(address)
        except StoreError:
            continue
        fields = message_fields(raw, received=now_utc()) + [copy.deepcopy(f) for f in extra_fields]
        store.add_item(mailbox.folder('inbox'), kind, fields, mime=raw)
