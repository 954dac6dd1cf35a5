"""The mailboxes behind the EWS endpoint: folders, items and a change log.

Item properties are kept as EWS XML elements (``t:Subject``, ``t:Categories``...)
keyed by their local name, so whatever a client sets with CreateItem or
UpdateItem comes back unchanged from GetItem. Every change gets a number from
one store-wide counter; SyncFolderItems compares those numbers with the one in
the client's sync state. Deleted or moved-away items leave a tombstone so that
a later sync can report the Delete.

One re-entrant lock guards everything: the HTTP server is threaded, and tests
call the same methods (``deliver``, ``add_category``...) from their own thread.
"""
import base64
import collections
import copy
import datetime
import email
import email.policy
import email.header
import email.utils
import itertools
import threading

from lxml import etree

from .soap import t

# distinguished id -> (display name, FolderClass, element name, parent distinguished id)
DISTINGUISHED = collections.OrderedDict([
    ('root', ('', None, 'Folder', None)),
    ('msgfolderroot', ('Top of Information Store', 'IPF.Note', 'Folder', 'root')),
    ('inbox', ('Inbox', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('drafts', ('Drafts', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('outbox', ('Outbox', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('sentitems', ('Sent Items', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('deleteditems', ('Deleted Items', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('junkemail', ('Junk Email', 'IPF.Note', 'Folder', 'msgfolderroot')),
    ('calendar', ('Calendar', 'IPF.Appointment', 'CalendarFolder', 'msgfolderroot')),
    ('contacts', ('Contacts', 'IPF.Contact', 'ContactsFolder', 'msgfolderroot')),
    ('tasks', ('Tasks', 'IPF.Task', 'TasksFolder', 'msgfolderroot')),
])
FOLDER_ELEMENT = {'IPF.Appointment': 'CalendarFolder', 'IPF.Contact': 'ContactsFolder',
                  'IPF.Task': 'TasksFolder'}
ITEM_CLASS = {'Message': 'IPM.Note', 'CalendarItem': 'IPM.Appointment', 'Contact': 'IPM.Contact',
              'Task': 'IPM.Task', 'MeetingRequest': 'IPM.Schedule.Meeting.Request'}


BOOLEAN_EXTRA = {'ReminderIsSet', 'AllowNewTimeProposal', 'MeetingRequestWasSent'}
DATETIME_FIELDS = {'Start', 'End', 'DueDate', 'StartDate', 'CompleteDate', 'ReminderDueBy'}


def normalise(elem):
    """Write values as Exchange returns them: xs:boolean "1" as "true", date-times in UTC."""
    name = etree.QName(elem).localname
    if (name.startswith(('Is', 'Has')) or name in BOOLEAN_EXTRA) and elem.text in ('0', '1'):
        elem.text = 'true' if elem.text == '1' else 'false'
    elif name in DATETIME_FIELDS and elem.text and 'T' in elem.text:
        try:
            value = datetime.datetime.fromisoformat(elem.text.strip().replace('Z', '+00:00'))
        except ValueError:
            return elem
        if value.tzinfo is not None:
            elem.text = ews_datetime(value)
    return elem


def task_rules(fields):
    """Exchange keeps a task's Status and PercentComplete consistent and dates its completion."""
    status = fields.get('Status')
    percent = fields.get('PercentComplete')
    if status is not None and status.text == 'Completed':
        fields['PercentComplete'] = t('PercentComplete', '100')
        if 'CompleteDate' not in fields:
            fields['CompleteDate'] = t('CompleteDate', ews_datetime(now_utc()))
    elif percent is not None and percent.text in ('100', '100.0'):
        fields['Status'] = t('Status', 'Completed')
        fields['CompleteDate'] = t('CompleteDate', ews_datetime(now_utc()))
    else:
        fields.pop('CompleteDate', None)


class StoreError(Exception):
    """An EWS response code (ErrorItemNotFound...) raised by the store."""

    def __init__(self, code, text=''):
        super(StoreError, self).__init__(code, text)
        self.code = code
        self.text = text or code


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def ews_datetime(value):
    return value.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class Item(object):
    def __init__(self, item_id, kind, folder, seq, fields, mime=None):
        self.id = item_id
        self.kind = kind  # the EWS element name: Message, CalendarItem, Contact, Task
        self.folder = folder
        self.fields = collections.OrderedDict()  # local name -> t: element
        self.mime = mime  # raw RFC 822 bytes; None for a draft made from properties
        self.created = now_utc()
        self.version = 0
        self.change_key = None
        self.created_seq = seq
        self.exceptions = {}  # recurring master: original start (UTC) -> changed occurrence
        self.deleted_occurrences = []  # recurring master: original starts (UTC), sorted
        self.changed_seq = seq  # any change, the read flag included
        self.content_seq = seq  # changes other than the read flag
        for elem in fields:
            self.fields[etree.QName(elem).localname] = normalise(elem)
        self.touch(seq)

    def touch(self, seq, read_flag_only=False):
        self.version += 1
        self.change_key = _b64('CK:%d:%d' % (seq, self.version))
        self.changed_seq = seq
        if not read_flag_only:
            self.content_seq = seq
        self.modified = now_utc()

    def text(self, name):
        elem = self.fields.get(name)
        return elem.text if elem is not None else None

    @property
    def categories(self):
        elem = self.fields.get('Categories')
        return [child.text for child in elem] if elem is not None else []

    def snapshot(self):
        """What a test sees: plain Python values, safe to keep after the lock is released."""
        return {'id': self.id, 'change_key': self.change_key, 'kind': self.kind,
                'subject': self.text('Subject'), 'categories': self.categories,
                'message_id': self.text('InternetMessageId'), 'mime': self.mime,
                'fields': {name: _plain(elem) for name, elem in self.fields.items()}}


def _plain(elem):
    """A leaf element's text, or the XML of a complex one without namespace clutter."""
    if len(elem) == 0:
        return elem.text
    elem = copy.deepcopy(elem)
    etree.cleanup_namespaces(elem)
    return etree.tostring(elem).decode('utf-8')


class Folder(object):
    def __init__(self, owner, folder_id, name, folder_class, parent, distinguished=None):
        self.owner = owner  # the mailbox address
        self.id = folder_id
        self.name = name
        self.folder_class = folder_class
        self.parent = parent
        self.distinguished = distinguished
        self.items = collections.OrderedDict()
        self.tombstones = {}  # item id -> (created_seq, deleted_seq)
        self.change_key = _b64('FCK:' + folder_id)

    @property
    def element_name(self):
        if self.distinguished:
            return DISTINGUISHED[self.distinguished][2]
        return FOLDER_ELEMENT.get(self.folder_class, 'Folder')


class Mailbox(object):
    def __init__(self, address, password, impersonation):
        self.address = address
        self.password = password
        self.impersonation = impersonation
        self.folders = collections.OrderedDict()
        self.by_name = {}
        for key, (name, folder_class, _elem, parent) in DISTINGUISHED.items():
            folder = Folder(address, _b64('folder:%s:%s' % (address, key)), name, folder_class,
                            self.by_name.get(parent), distinguished=key)
            self.folders[folder.id] = folder
            self.by_name[key] = folder

    def folder(self, key):
        """A folder by distinguished name ("inbox"), id or display name ("Projects")."""
        if key in self.by_name:
            return self.by_name[key]
        if key in self.folders:
            return self.folders[key]
        for folder in self.folders.values():
            if folder.name == key:
                return folder
        raise StoreError('ErrorFolderNotFound', 'The specified folder could not be found in the store.')


class Store(object):
    def __init__(self):
        self.lock = threading.RLock()
        self.mailboxes = {}
        # Every CreateItem/UpdateItem/DeleteItem of a calendar item, with the meeting
        # invitation or cancellation setting it carried (see record_meeting_message).
        self.meeting_messages = []
        self._counter = itertools.count(1)
        self.seq = 0

    def next_seq(self):
        self.seq = next(self._counter)
        return self.seq

    # -- accounts -----------------------------------------------------------
    def add_account(self, address, password, impersonation=False):
        with self.lock:
            mailbox = Mailbox(address.lower(), password, impersonation)
            self.mailboxes[mailbox.address] = mailbox
            return mailbox

    def mailbox(self, address):
        with self.lock:
            try:
                return self.mailboxes[(address or '').lower()]
            except KeyError:
                raise StoreError('ErrorNonExistentMailbox',
                                 'No mailbox with such guid or SMTP address: %s' % address)

    # -- folders ------------------------------------------------------------
    def create_folder(self, address, name, parent='msgfolderroot', folder_class='IPF.Note'):
        with self.lock:
            mailbox = self.mailbox(address)
            parent = mailbox.folder(parent)
            folder = Folder(mailbox.address, _b64('folder:%s:%d' % (mailbox.address, self.next_seq())),
                            name, folder_class, parent)
            mailbox.folders[folder.id] = folder
            return folder.id

    # -- items --------------------------------------------------------------
    def add_item(self, folder, kind, fields, mime=None):
        """Put a new item (t: elements) into ``folder``; return the Item."""
        with self.lock:
            seq = self.next_seq()
            item_id = _b64('item:%s:%d' % (folder.id, seq))
            fields = list(fields)
            names = {etree.QName(elem).localname for elem in fields}
            if 'ItemClass' not in names:
                fields.append(t('ItemClass', ITEM_CLASS.get(kind, 'IPM.Note')))
            item = Item(item_id, kind, folder, seq, fields, mime)
            if kind == 'CalendarItem':
                from . import calendar_items
                calendar_items.prepare_new(item.fields, folder.owner)
                calendar_items.align_master(item)
            elif kind == 'Task':
                task_rules(item.fields)
            folder.items[item_id] = item
            return item

    def find_item(self, item_id):
        """A stored item by id, or an occurrence (calendar_items.Occurrence) by its own id."""
        with self.lock:
            for mailbox in self.mailboxes.values():
                for folder in mailbox.folders.values():
                    if item_id in folder.items:
                        return folder.items[item_id]
            from . import calendar_items
            occurrence = calendar_items.parse_occurrence_id(item_id)
            if occurrence is not None:
                return calendar_items.occurrence_at(self.find_item(occurrence[0]), occurrence[1])
            raise StoreError('ErrorItemNotFound', 'The specified object was not found in the store.')

    def update_item(self, item, set_fields=(), delete_fields=()):
        """Replace (or delete) whole properties; an occurrence becomes an exception of its master."""
        with self.lock:
            from . import calendar_items
            set_fields = [normalise(elem) for elem in set_fields]
            if isinstance(item, calendar_items.Occurrence):
                return calendar_items.update_occurrence(self, item, set_fields, delete_fields)
            before = [copy.deepcopy(item.fields.get(n)) for n in ('Recurrence', 'Start', 'End')]
            names = {etree.QName(elem).localname for elem in set_fields} | set(delete_fields)
            for elem in set_fields:
                item.fields[etree.QName(elem).localname] = elem
            for name in delete_fields:
                item.fields.pop(name, None)
            if item.kind == 'CalendarItem':
                calendar_items.align_master(item)
                calendar_items.series_changed(item, before)
            elif item.kind == 'Task':
                task_rules(item.fields)
            item.touch(self.next_seq(), read_flag_only=names == {'IsRead'})
            return item

    def remove_item(self, item):
        with self.lock:
            from . import calendar_items
            if isinstance(item, calendar_items.Occurrence):
                calendar_items.delete_occurrence(self, item)
                return
            folder = item.folder
            del folder.items[item.id]
            folder.tombstones[item.id] = (item.created_seq, self.next_seq())

    def move_item(self, item, destination):
        """Move to another folder; like Exchange, the item gets a new id there."""
        with self.lock:
            self.remove_item(item)
            moved = self.add_item(destination, item.kind, item.fields.values(), item.mime)
            moved.created = item.created
            moved.exceptions = item.exceptions
            moved.deleted_occurrences = item.deleted_occurrences
            return moved

    # -- meeting messages ---------------------------------------------------
    def record_meeting_message(self, operation, item, value):
        """Note what a client asked for calendar item ``item``: ``value`` is its
        SendMeetingInvitations (CreateItem), SendMeetingInvitationsOrCancellations
        (UpdateItem) or SendMeetingCancellations (DeleteItem) attribute."""
        from . import calendar_items
        with self.lock:
            master = getattr(item, 'master', None)
            self.meeting_messages.append({
                'operation': operation, 'mailbox': item.folder.owner, 'item_id': item.id,
                'master_id': master.id if master is not None else None,
                'subject': item.text('Subject'), 'value': value,
                'attendees': calendar_items.attendee_count(item)})

    def meeting_log(self, clear=False):
        """Copies of ``meeting_messages`` (dicts: operation, mailbox, item_id, master_id,
        subject, value, attendees); ``clear`` empties the list."""
        with self.lock:
            log = [dict(entry) for entry in self.meeting_messages]
            if clear:
                del self.meeting_messages[:]
            return log

    # -- what Outlook's user would do ---------------------------------------
    def deliver(self, address, raw, folder='inbox'):
        """Deliver raw RFC 822 bytes into a folder (the inbox by default); return the item id."""
        with self.lock:
            return self.add_item(self.mailbox(address).folder(folder), 'Message',
                                 message_fields(raw, received=now_utc()), mime=raw).id

    def add_category(self, item_id, category):
        with self.lock:
            item = self.find_item(item_id)
            self._set_categories(item, item.categories + [category])

    def remove_category(self, item_id, category):
        with self.lock:
            item = self.find_item(item_id)
            self._set_categories(item, [c for c in item.categories if c != category])

    def _set_categories(self, item, categories):
        if categories:
            self.update_item(item, [t('Categories', [t('String', c) for c in categories])])
        else:
            self.update_item(item, delete_fields=['Categories'])

    def set_fields(self, item_id, **values):
        """Edit simple fields, e.g. ``set_fields(id, Subject='new', IsRead='true')``."""
        with self.lock:
            item = self.find_item(item_id)
            self.update_item(item, [t(name, value) for name, value in values.items()])

    def touch(self, item_id):
        """A save that changes no value: Exchange still gives the item a new ChangeKey and
        LastModifiedTime and reports it as an Update (a client saving without edits, the
        calendar assistant, a retention tag stamped), so a change key is no proof of an edit."""
        with self.lock:
            item = self.find_item(item_id)
            item.touch(self.next_seq())

    def move(self, item_id, folder):
        with self.lock:
            item = self.find_item(item_id)
            mailbox = self.mailbox(item.folder.owner)
            return self.move_item(item, mailbox.folder(folder)).id

    def delete(self, item_id):
        with self.lock:
            self.remove_item(self.find_item(item_id))

    def create(self, address, folder, kind, timezone=None, recurrence=None, **values):
        """Create a CalendarItem, Contact or Task from simple fields (Subject, Start, GivenName...).

        Calendar items also take ``timezone`` (a Windows id: StartTimeZone and EndTimeZone),
        attendee fields as lists of addresses (``RequiredAttendees=['bob@x.test']``) and
        ``recurrence``: a dict with ``pattern`` and ``range`` element names and their
        children, e.g. ``{'pattern': 'WeeklyRecurrence', 'Interval': 1, 'DaysOfWeek':
        'Monday', 'range': 'NumberedRecurrence', 'StartDate': '2027-03-01',
        'NumberOfOccurrences': 5}``.
        """
        with self.lock:
            fields = []
            for name, value in values.items():
                if isinstance(value, (list, tuple)):
                    value = [t('Attendee', [mailbox_elem('Mailbox', '', a)[0]]) for a in value]
                fields.append(t(name, value))
            if recurrence:
                fields.append(recurrence_elem(recurrence))
            if timezone:
                fields += [t('StartTimeZone', Id=timezone), t('EndTimeZone', Id=timezone)]
            return self.add_item(self.mailbox(address).folder(folder), kind, fields).id

    def modify_occurrence(self, master_id, index, **values):
        """Change occurrence ``index`` (1-based) of a series, e.g. ``Start=..., End=...``;
        return the id of the exception."""
        from . import calendar_items
        with self.lock:
            occurrence = calendar_items.occurrence_by_index(self.find_item(master_id), index)
            return self.update_item(occurrence, [t(n, v) for n, v in values.items()]).id

    def delete_occurrence(self, master_id, index):
        from . import calendar_items
        with self.lock:
            self.remove_item(calendar_items.occurrence_by_index(self.find_item(master_id), index))

    def occurrences(self, master_id):
        """Snapshots of the live occurrences of a series (bounded series only)."""
        from . import calendar_items
        with self.lock:
            return [o.snapshot() for o in calendar_items.occurrences(self.find_item(master_id))]

    def contents(self, address, folder='inbox'):
        """Snapshots of the items in a folder, oldest first."""
        with self.lock:
            return [item.snapshot() for item in self.mailbox(address).folder(folder).items.values()]

    def item(self, item_id):
        with self.lock:
            return self.find_item(item_id).snapshot()


def recurrence_elem(spec):
    """A ``t:Recurrence`` from the dict form ``Store.create`` takes."""
    spec = dict(spec)
    pattern, boundary = spec.pop('pattern'), spec.pop('range')
    pattern_keys = ('Interval', 'DaysOfWeek', 'FirstDayOfWeek', 'DayOfMonth', 'DayOfWeekIndex', 'Month')
    range_keys = ('StartDate', 'EndDate', 'NumberOfOccurrences')
    return t('Recurrence', [
        t(pattern, [t(k, spec[k]) for k in pattern_keys if k in spec]),
        t(boundary, [t(k, spec[k]) for k in range_keys if k in spec])])


def mailbox_elem(tag, name, address):
    children = [t('Name', name or address), t('EmailAddress', address), t('RoutingType', 'SMTP')]
    return t(tag, [t('Mailbox', children)])


def _recipients(tag, values):
    pairs = email.utils.getaddresses(values)
    boxes = [t('Mailbox', [t('Name', name or addr), t('EmailAddress', addr), t('RoutingType', 'SMTP')])
             for name, addr in pairs if addr]
    return t(tag, boxes) if boxes else None


def message_fields(raw, received):
    """The Message properties Exchange derives from the MIME of a delivered email."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    fields = [t('Subject', _header(msg, 'Subject'))]
    body = _text_body(msg)
    if body is not None:
        fields.append(t('Body', body, BodyType='Text'))
    fields.append(t('DateTimeReceived', ews_datetime(received)))
    date = msg.get('Date')
    parsed = email.utils.parsedate_to_datetime(date) if date else None
    if parsed is not None and parsed.tzinfo is not None:
        fields.append(t('DateTimeSent', ews_datetime(parsed)))
    fields.append(t('HasAttachments', 'true' if _has_attachments(msg) else 'false'))
    sender = email.utils.parseaddr(_header(msg, 'From'))
    for tag, header in (('ToRecipients', 'To'), ('CcRecipients', 'Cc')):
        elem = _recipients(tag, [_header(msg, header)] if msg.get(header) else [])
        if elem is not None:
            fields.append(elem)
    if sender[1]:
        fields.append(mailbox_elem('From', sender[0], sender[1]))
        fields.append(mailbox_elem('Sender', sender[0], sender[1]))
    if msg.get('Message-ID'):
        fields.append(t('InternetMessageId', msg['Message-ID'].strip()))
    fields.append(t('IsRead', 'false'))
    return [f for f in fields if f is not None]


def _header(msg, name):
    """A header as text: RFC 2047 words decoded, raw 8-bit bytes read as UTF-8."""
    value = msg.get(name)
    if value is None:
        return ''
    text = ''
    for part, charset in email.header.decode_header(value):
        if isinstance(part, bytes):
            try:
                part = part.decode(charset if charset not in (None, 'unknown-8bit') else 'utf-8')
            except (LookupError, UnicodeDecodeError):
                part = part.decode('utf-8', 'replace')
        text += part
    return text


def _text_body(msg):
    for part in msg.walk():
        if part.get_content_type() == 'text/plain' and not part.get_filename():
            payload = part.get_payload(decode=True) or b''
            return payload.decode(part.get_content_charset() or 'utf-8', 'replace')
    return None


def _has_attachments(msg):
    return any(part.get_filename() for part in msg.walk())
