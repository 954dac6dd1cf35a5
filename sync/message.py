"""RemoteMessage: one email as fetched from a server, with the headers sync needs.

Headers are parsed lazily and only the header block is read, so a 30 MB message
costs no more to classify than a small one. Nothing here raises on bad input:
broken MIME, 8-bit headers or a missing Message-ID give best-effort values.

>>> msg = RemoteMessage(b'From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\\r\\n'
...                     b'Subject: Hello\\r\\nIn-Reply-To: <a@x>\\r\\n\\r\\nHi\\r\\n', uid=7)
>>> msg.sender, msg.subject, msg.references
(('Jürgen', 'j@example.com'), 'Hello', ['<a@x>'])
>>> msg.message_id.endswith('@mail-sync.invalid>')  # none in the message: derived from its bytes
True
"""
import email
import email.header
import email.policy
import email.utils
import hashlib
import re

_ID_RE = re.compile(r'<[^<>\s]+>')


_SURROGATE_RE = re.compile('[\ud800-\udfff]')


def clean_text(text):
    """Text PostgreSQL accepts: without NUL characters and without the lone surrogates
    that undecodable bytes leave (neither can be stored in a text column).

    >>> clean_text('a\\x00b\\udcfc')
    'ab\\ufffd'
    """
    if not text:
        return text
    return _SURROGATE_RE.sub('\ufffd', text.replace('\x00', ''))


def decode_8bit(data):
    """Bytes in an undeclared charset: UTF-8 when they are valid UTF-8, else Windows-1252
    (what mail clients that send raw 8-bit headers mostly use), else Latin-1.

    >>> decode_8bit(b'Gr\\xfc\\xdfe'), decode_8bit(b'Gr\\xc3\\xbc\\xc3\\x9fe')
    ('Grüße', 'Grüße')
    """
    for charset in ('utf-8', 'windows-1252'):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode('latin-1')


def _decode_part(data, charset):
    if charset in (None, 'unknown-8bit'):
        return decode_8bit(data)
    try:
        return data.decode(charset, 'replace')
    except LookupError:  # unknown charset name
        return decode_8bit(data)


def _unencoded(data):
    """An unencoded run of a header that email.header handed back as bytes: ASCII, or
    text it encoded with raw-unicode-escape (after our 8-bit decoding)."""
    try:
        return data.decode('ascii')
    except UnicodeDecodeError:
        try:
            return data.decode('raw-unicode-escape')
        except UnicodeDecodeError:
            return decode_8bit(data)


def decode_header(value):
    """Decode an RFC 2047 header into text, never raising. Undeclared 8-bit bytes (which
    the email package marks ``unknown-8bit``) are decoded by ``decode_8bit``.

    >>> decode_header(email.message_from_bytes(b'Subject: Gr\\xfc\\xdfe =?utf-8?q?K=C3=B6ln?=\\r\\n\\r\\n',
    ...               policy=email.policy.compat32)['Subject'])
    'Grüße Köln'
    """
    if value is None:
        return ''
    if isinstance(value, email.header.Header):
        try:
            value = ''.join(_decode_part(chunk, charset) if isinstance(chunk, bytes) else chunk
                            for chunk, charset in email.header.decode_header(value))
        except Exception:
            value = str(value)
    value = str(value)
    if _SURROGATE_RE.search(value):  # bytes smuggled as surrogates (surrogateescape)
        value = decode_8bit(value.encode('ascii', 'surrogateescape'))
    try:
        parts = email.header.decode_header(value)
    except Exception:  # malformed encoded words: keep the raw text
        parts = [(value, None)]
    out = []
    for text, charset in parts:
        if isinstance(text, bytes):
            text = _unencoded(text) if charset is None else _decode_part(text, charset)
        out.append(text)
    return re.sub(r'\s+', ' ', clean_text(''.join(out))).strip()


class RemoteMessage(object):
    """An email fetched from a folder (IMAP ``uid``, EWS ``item_id``) or a POP3 server (``uidl``)."""

    def __init__(self, raw, uid=None, uidl=None, folder=None, size=None, internal_date=None,
                 truncated=False, item_id=None):
        self.raw = raw
        self.truncated = truncated  # only the header block was fetched (too large)
        self.refused = None  # why the server would not send the whole message, if it would not
        self.uid = uid
        self.uidl = uidl
        self.item_id = item_id
        self.folder = folder
        self.size = size if size is not None else len(raw)
        self.internal_date = internal_date
        self._headers = None

    @property
    def headers(self):
        if self._headers is None:
            end = self.raw.find(b'\r\n\r\n')
            if end < 0:
                end = self.raw.find(b'\n\n')
            block = self.raw if end < 0 else self.raw[:end + 2]
            self._headers = email.message_from_bytes(block, policy=email.policy.compat32)
        return self._headers

    def header(self, name):
        return decode_header(self.headers.get(name))

    @property
    def message_id(self):
        """The Message-ID, or a stable one derived from the bytes when it is missing."""
        found = _ID_RE.findall(self.header('Message-ID'))
        if found:
            return found[0]
        return '<%s@mail-sync.invalid>' % hashlib.sha256(self.raw).hexdigest()[:40]

    @property
    def references(self):
        """Message-IDs this one answers (In-Reply-To first, then References, newest first)."""
        ids = _ID_RE.findall(self.header('In-Reply-To'))
        for ref in reversed(_ID_RE.findall(self.header('References'))):
            if ref not in ids:
                ids.append(ref)
        return ids

    @property
    def sender(self):
        name, address = email.utils.parseaddr(self.header('From'))
        return name, address.lower()

    @property
    def addressees(self):
        """(name, address) of the To and Cc recipients, addresses in lower case."""
        values = [self.header(name) for name in ('To', 'Cc')]
        return [(name, address.lower()) for name, address in email.utils.getaddresses(values) if address]

    @property
    def recipients(self):
        return [address for _name, address in self.addressees]

    @property
    def subject(self):
        return self.header('Subject')

    @property
    def date(self):
        """The Date header as an aware datetime, or None when absent or unreadable."""
        try:
            return email.utils.parsedate_to_datetime(self.header('Date'))
        except (TypeError, ValueError, IndexError):
            return None

    def preview(self, length=200):
        """The start of the first text part, for the mailbox index (no bodies are stored)."""
        try:
            message = email.message_from_bytes(self.raw, policy=email.policy.compat32)
            for part in message.walk():
                if part.get_content_type() == 'text/plain' and not part.get_filename():
                    payload = part.get_payload(decode=True) or b''
                    text = _decode_part(payload, part.get_content_charset())
                    return re.sub(r'\s+', ' ', clean_text(text)).strip()[:length]
        except Exception:  # a preview is a nicety: never fail on it
            pass
        return ''
