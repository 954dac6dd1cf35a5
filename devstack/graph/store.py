"""Mailboxes, folders and messages of the Graph endpoint, with per-folder change tracking.

Every change to a message (created, updated, moved, deleted) takes the next number of
one global sequence; a folder's delta round covers the changes in ``(since, upto]``,
and a page resumes after the last (sequence, id) it returned, so a message changed
while a round is paged moves to the next round instead of pushing others out of it.
Moving a message gives it a new id, as Exchange Online does.
"""
import base64
import datetime
import email
import email.policy
import email.utils
import itertools
import os
import threading
import uuid

WELL_KNOWN = (('inbox', 'Inbox'), ('sentitems', 'Sent Items'), ('deleteditems', 'Deleted Items'),
              ('drafts', 'Drafts'))


class StoreError(Exception):
    """An error the endpoint answers with ``status`` and a Graph error ``code``."""

    def __init__(self, status, code, message):
        super(StoreError, self).__init__(code, message)
        self.status = status
        self.code = code
        self.message = message


def new_id(prefix='AAMk'):
    return prefix + base64.urlsafe_b64encode(os.urandom(24)).decode('ascii').rstrip('=')


def utc_now():
    return datetime.datetime.utcnow().replace(microsecond=0)


def iso(value):
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


class Message(object):
    def __init__(self, folder_id, raw, categories=(), received=None):
        self.id = new_id()
        self.folder_id = folder_id
        self.raw = raw
        self.categories = list(categories)
        self.received = received or utc_now()
        self.seq = 0
        self.change_key = new_id('CQAA')
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.headers = parsed
        self.internet_message_id = (parsed.get('Message-ID') or '').strip() or \
            '<%s@devstack.graph>' % uuid.uuid4().hex

    def header(self, name):
        return str(self.headers.get(name) or '')

    def addresses(self, name):
        return [{'emailAddress': {'name': display, 'address': address}}
                for display, address in email.utils.getaddresses(self.headers.get_all(name) or [])
                if address]

    def properties(self):
        """Every property this endpoint serves, by Graph name."""
        sender = self.addresses('From')
        return {
            'id': self.id, 'changeKey': self.change_key, 'parentFolderId': self.folder_id,
            'subject': self.header('Subject'), 'internetMessageId': self.internet_message_id,
            'categories': list(self.categories), 'receivedDateTime': iso(self.received),
            'sentDateTime': iso(self.received), 'from': sender[0] if sender else None,
            'sender': sender[0] if sender else None, 'toRecipients': self.addresses('To'),
            'ccRecipients': self.addresses('Cc'), 'isRead': False,
            'hasAttachments': b'Content-Disposition: attachment' in self.raw,
            'bodyPreview': '',
        }


class Mailbox(object):
    def __init__(self, address):
        self.id = str(uuid.uuid4())
        self.address = address
        self.folders = {}  # id -> {'id', 'displayName', 'wellKnown'}
        self.messages = {}  # id -> Message
        self.tombstones = {}  # folder id -> {message id: seq}
        for name, display in WELL_KNOWN:
            folder_id = new_id('AQMk')
            self.folders[folder_id] = {'id': folder_id, 'displayName': display, 'wellKnown': name}

    def folder(self, ref):
        """The folder by id or well-known name (case-insensitive), or a 404."""
        if ref in self.folders:
            return self.folders[ref]
        for folder in self.folders.values():
            if folder['wellKnown'] and folder['wellKnown'] == ref.lower():
                return folder
        raise StoreError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.')

    def message(self, message_id):
        found = self.messages.get(message_id)
        if found is None:
            raise StoreError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.')
        return found


class Store(object):
    """All mailboxes. ``lock`` guards everything; ``listeners`` are called (outside the
    lock) with (mailbox, folder id, change type, message id) after each change."""

    def __init__(self):
        self.lock = threading.RLock()
        self.mailboxes = {}  # lower address -> Mailbox
        self._seq = itertools.count(1)
        self.listeners = []
        self.sent = []  # (sender address, raw MIME, recipients) of every sendMail

    # ------------------------------------------------------------------ mailboxes
    def add_mailbox(self, address):
        with self.lock:
            key = address.lower()
            if key not in self.mailboxes:
                self.mailboxes[key] = Mailbox(address)
            return self.mailboxes[key].id

    def mailbox(self, ref):
        """By id or address (userPrincipalName), or a 404 as Graph answers it."""
        with self.lock:
            box = self.mailboxes.get((ref or '').lower())
            if box is None:
                box = next((b for b in self.mailboxes.values() if b.id == ref), None)
            if box is None:
                raise StoreError(404, 'ErrorInvalidUser',
                                 "The requested user '%s' is invalid." % ref)
            return box

    def create_folder(self, address, display_name):
        with self.lock:
            box = self.mailbox(address)
            for folder in box.folders.values():
                if folder['displayName'].lower() == display_name.lower():
                    raise StoreError(409, 'ErrorFolderExists', 'A folder with the specified name '
                                                               'already exists.')
            folder_id = new_id('AQMk')
            box.folders[folder_id] = {'id': folder_id, 'displayName': display_name, 'wellKnown': None}
            return box.folders[folder_id]

    # ------------------------------------------------------------------ changes
    def _touch(self, box, message, change):
        message.seq = next(self._seq)
        if change != 'created':
            message.change_key = new_id('CQAA')
        return (box, message.folder_id, change, message.id)

    def _notify(self, events):
        for event in events:
            for listener in list(self.listeners):
                listener(*event)

    def deliver(self, address, raw, folder='inbox', categories=(), received=None):
        """A message arrives in ``folder``; returns its id."""
        if isinstance(raw, str):
            raw = raw.encode('utf-8')
        with self.lock:
            box = self.mailbox(address)
            folder_id = box.folder(folder)['id']
            message = Message(folder_id, raw, categories, received)
            box.messages[message.id] = message
            event = self._touch(box, message, 'created')
        self._notify([event])
        return message.id

    def set_categories(self, address, message_id, categories):
        with self.lock:
            box = self.mailbox(address)
            message = box.message(message_id)
            message.categories = list(categories)
            event = self._touch(box, message, 'updated')
        self._notify([event])
        return message

    def move(self, address, message_id, destination):
        """Move to another folder: a new id there, the old id deleted here."""
        with self.lock:
            box = self.mailbox(address)
            message = box.message(message_id)
            target = box.folder(destination)['id']
            events = [self._delete(box, message)]
            moved = Message(target, message.raw, message.categories, message.received)
            moved.internet_message_id = message.internet_message_id
            box.messages[moved.id] = moved
            events.append(self._touch(box, moved, 'created'))
        self._notify(events)
        return moved

    def delete(self, address, message_id):
        with self.lock:
            box = self.mailbox(address)
            event = self._delete(box, box.message(message_id))
        self._notify([event])

    def _delete(self, box, message):
        del box.messages[message.id]
        seq = next(self._seq)
        box.tombstones.setdefault(message.folder_id, {})[message.id] = seq
        return (box, message.folder_id, 'deleted', message.id)

    def send(self, address, raw, recipients, save_copy=True):
        """sendMail: a copy in Sent Items (when asked), delivery to local mailboxes."""
        with self.lock:
            self.mailbox(address)
            self.sent.append((address, raw, list(recipients)))
        if save_copy:
            self.deliver(address, raw, folder='sentitems')
        for recipient in recipients:
            if recipient.lower() in self.mailboxes:
                self.deliver(recipient, raw)

    # ------------------------------------------------------------------ reading
    def current_seq(self):
        with self.lock:
            value = next(self._seq)
            return value

    def changes(self, box, folder_id, since, upto, after, limit):
        """One page of a delta round: [(seq, id, Message or None for removed)] in
        (sequence, id) order, with since < seq <= upto and (seq, id) > ``after``."""
        with self.lock:
            rows = [(m.seq, m.id, m) for m in box.messages.values()
                    if m.folder_id == folder_id and since < m.seq <= upto]
            if since:  # an initial round lists what is there, not what went
                rows += [(seq, mid, None) for mid, seq in box.tombstones.get(folder_id, {}).items()
                         if since < seq <= upto]
            rows = sorted(row for row in rows if (row[0], row[1]) > tuple(after))
            return rows[:limit], len(rows) > limit

    def contents(self, address, folder='inbox'):
        """Test helper: (id, internetMessageId, categories) of a folder's messages."""
        with self.lock:
            box = self.mailbox(address)
            named = [f for f in box.folders.values() if f['displayName'].lower() == folder.lower()]
            folder_id = named[0]['id'] if named else box.folder(folder)['id']
            return [(m.id, m.internet_message_id, list(m.categories))
                    for m in sorted(box.messages.values(), key=lambda m: m.seq)
                    if m.folder_id == folder_id]
