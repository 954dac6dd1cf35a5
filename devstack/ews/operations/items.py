"""FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem and SendItem."""
import base64
import copy

from .. import calendar_items, delivery
from ..restriction import matches, sort_key
from ..shapes import INDEXED, INDEXED_PARTS, Shape, item_xml
from ..soap import SoapFault, local, m, mq, operation_response, response_message, t, tq
from ..store import StoreError, mailbox_elem, message_fields, now_utc
from .folders import page

WHEN_WHERE = ('Start', 'End', 'Location')  # what a meeting request has beyond its MIME
MEETING_FIELDS = ('Subject', 'Body') + WHEN_WHERE
DEFAULT_FOLDER = {'CalendarItem': 'calendar', 'Contact': 'contacts', 'Task': 'tasks'}
UNSUPPORTED = StoreError('ErrorInvalidOperation', 'This endpoint creates Message, CalendarItem, '
                         'Contact and Task items only (no response objects such as ReplyToItem).')


def _id_only(item):
    return t(item.kind, [t('ItemId', Id=item.id, ChangeKey=item.change_key)])


def find_item(ctx, op):
    shape = Shape(op.find(mq('ItemShape')))
    restriction = op.find(mq('Restriction'))
    order = op.find(mq('SortOrder'))
    messages = []
    for elem in op.find(mq('ParentFolderIds')):
        try:
            folder = ctx.folder(elem)
            items = [i for i in folder.items.values()
                     if restriction is None or matches(restriction[0], i)]
            for field_order in reversed(list(order) if order is not None else []):
                items.sort(key=lambda i: sort_key(field_order[0], i),
                           reverse=field_order.get('Order') == 'Descending')
        except StoreError as exc:
            messages.append(response_message('FindItem', exc.code, exc.text))
            continue
        view = op.find(mq('CalendarView'))
        if view is not None:
            chosen, attrs = calendar_view(view, items)
        else:
            chosen, attrs = page(op, 'IndexedPageItemView', items)
        root = m('RootFolder', [t('Items', [item_xml(i, shape) for i in chosen])], **attrs)
        messages.append(response_message('FindItem', children=[root]))
    return operation_response('FindItem', messages)


def calendar_view(view, items):
    """Singles, occurrences and exceptions overlapping [StartDate, EndDate), by start, at most
    MaxEntriesReturned (no paging), as Exchange's expanded view."""
    found = calendar_items.calendar_view(items, calendar_items.parse_instant(view.get('StartDate')),
                                         calendar_items.parse_instant(view.get('EndDate')))
    limit = int(view.get('MaxEntriesReturned', len(found)))
    return found[:limit], {'TotalItemsInView': str(len(found)),
                           'IncludesLastItemInRange': 'true' if len(found) <= limit else 'false'}


def get_item(ctx, op):
    shape = Shape(op.find(mq('ItemShape')))
    messages = []
    for elem in op.find(mq('ItemIds')):
        try:
            item = ctx.item(elem)
        except StoreError as exc:
            messages.append(response_message('GetItem', exc.code, exc.text))
            continue
        messages.append(response_message('GetItem', children=[m('Items', [item_xml(item, shape)])]))
    return operation_response('GetItem', messages)


def mime_bytes(ctx, op):
    """Bytes of MimeContent a GetItem asks for (what Exchange spends its time converting)."""
    if not Shape(op.find(mq('ItemShape'))).mime:
        return 0
    total = 0
    for elem in op.find(mq('ItemIds')):
        try:
            total += len(getattr(ctx.item(elem), 'mime', None) or b'')
        except StoreError:
            continue
    return total


def _saved_folder(ctx, op, default):
    saved = op.find(mq('SavedItemFolderId'))
    if saved is not None:
        return ctx.folder(saved[0])
    return ctx.mailbox.folder(default)


def _create_message(ctx, op, elem):
    disposition = op.get('MessageDisposition')
    if disposition not in ('SaveOnly', 'SendOnly', 'SendAndSaveCopy'):
        raise StoreError('ErrorInvalidOperation', 'MessageDisposition is required for messages.')
    fields = [copy.deepcopy(child) for child in elem if local(child) != 'MimeContent']
    mime = elem.find(tq('MimeContent'))
    raw = base64.b64decode(mime.text) if mime is not None and mime.text else None
    if raw is not None:  # properties from the MIME, then the ones the client set
        given = {local(f) for f in fields}
        fields = [f for f in message_fields(raw, now_utc()) if local(f) not in given] + fields
    folder = _saved_folder(ctx, op, 'drafts' if disposition == 'SaveOnly' else 'sentitems')
    item = ctx.store.add_item(folder, local(elem), fields, mime=raw)
    if disposition == 'SaveOnly':
        return _id_only(item)
    _send(ctx, item, keep=disposition == 'SendAndSaveCopy')
    return None


def _send(ctx, item, keep):
    """Send ``item``; keep it in its folder as the sent copy, or remove it."""
    if item.mime is None:
        item.mime = delivery.build_mime(item, ctx.mailbox.address)
    item.mime, message_id = delivery.ensure_message_id(item.mime)
    sent = [t('InternetMessageId', message_id), t('IsDraft', 'false'), t('IsRead', 'true')]
    for name in ('From', 'Sender'):
        if name not in item.fields:
            sent.append(mailbox_elem(name, '', ctx.mailbox.address))
    ctx.store.update_item(item, sent)
    delivery.deliver_local(ctx.store, item.mime, delivery.recipients(item))
    if not keep:
        ctx.store.remove_item(item)


def _create_calendar_item(ctx, op, elem):
    """Save the event; with attendees and SendMeetingInvitations other than SendToNone,
    send them a MeetingRequest (kept in Sent Items for SendToAllAndSaveCopy)."""
    invitations = op.get('SendMeetingInvitations')
    if invitations not in ('SendToNone', 'SendOnlyToAll', 'SendToAllAndSaveCopy'):
        raise StoreError('ErrorSendMeetingInvitationsRequired',
                         'SendMeetingInvitations attribute is required for calendar items.')
    item = ctx.store.add_item(_saved_folder(ctx, op, 'calendar'), 'CalendarItem',
                              [copy.deepcopy(c) for c in elem])
    ctx.store.record_meeting_message('CreateItem', item, invitations)
    attendees = _recipients_from_attendees(item)
    if invitations != 'SendToNone' and attendees is not None:
        copied = [copy.deepcopy(item.fields[name]) for name in MEETING_FIELDS if name in item.fields]
        request = ctx.store.add_item(ctx.mailbox.folder('sentitems'), 'MeetingRequest',
                                     copied + [attendees])
        request.mime = delivery.build_mime(request, ctx.mailbox.address)
        delivery.deliver_local(ctx.store, request.mime, delivery.recipients(request),
                               kind='MeetingRequest', extra_fields=[
                                   request.fields[name] for name in WHEN_WHERE
                                   if name in request.fields])
        if invitations == 'SendOnlyToAll':
            ctx.store.remove_item(request)
    return _id_only(item)


def _recipients_from_attendees(item):
    boxes = [copy.deepcopy(mailbox) for name in ('RequiredAttendees', 'OptionalAttendees')
             if name in item.fields for mailbox in item.fields[name].iter(tq('Mailbox'))]
    return t('ToRecipients', boxes) if boxes else None


def create_item(ctx, op):
    messages = []
    for elem in op.find(mq('Items')):
        kind = local(elem)
        try:
            if kind == 'Message':
                created = _create_message(ctx, op, elem)
            elif kind == 'CalendarItem':
                created = _create_calendar_item(ctx, op, elem)
            elif kind not in DEFAULT_FOLDER:
                raise UNSUPPORTED
            else:
                folder = _saved_folder(ctx, op, DEFAULT_FOLDER.get(kind, 'drafts'))
                created = _id_only(ctx.store.add_item(folder, kind, [copy.deepcopy(c) for c in elem]))
        except StoreError as exc:
            messages.append(response_message('CreateItem', exc.code, exc.text))
            continue
        messages.append(response_message('CreateItem', children=[m('Items', [created])]))
    return operation_response('CreateItem', messages)


def _field_name(uri_elem):
    """(property name, index key or None, part of an indexed entry or None) of a path."""
    uri = uri_elem.get('FieldURI')
    if local(uri_elem) == 'IndexedFieldURI':
        if uri in INDEXED:
            return INDEXED[uri], uri_elem.get('FieldIndex'), None
        if uri in INDEXED_PARTS:
            return INDEXED_PARTS[uri][0], uri_elem.get('FieldIndex'), INDEXED_PARTS[uri][1]
        raise StoreError('ErrorInvalidPropertyRequest', 'Unknown indexed field %s' % uri)
    if local(uri_elem) != 'FieldURI':
        raise StoreError('ErrorInvalidPropertyRequest', 'Only FieldURI and IndexedFieldURI are supported.')
    return uri.split(':', 1)[1], None, None


def _entry(container, key):
    for entry in container.findall(tq('Entry')):
        if entry.get('Key') == key:
            return entry
    return None


def _changes(item, updates):
    """(elements to set, names to delete) for the Updates of one ItemChange.

    Indexed properties (EmailAddresses, PhoneNumbers, PhysicalAddresses...) are
    changed entry by entry, or part by part for a physical address (Street, City...).
    """
    set_fields, delete, indexed = {}, set(), {}
    for update in updates:
        name, key, part = _field_name(update[0])
        setting = local(update) in ('SetItemField', 'AppendToItemField')
        value = None
        if setting:
            value = update[1].find(tq(name))
            if value is None:
                raise StoreError('ErrorInvalidPropertySet', 'No value for %s.' % name)
        if key is None:
            delete.discard(name)
            if not setting:
                set_fields.pop(name, None)
                delete.add(name)
            elif local(update) == 'AppendToItemField' and name in item.fields:
                merged = copy.deepcopy(item.fields[name])
                merged.extend(copy.deepcopy(child) for child in value)
                set_fields[name] = merged
            else:
                set_fields[name] = copy.deepcopy(value)
            continue
        if name not in indexed:
            current = item.fields.get(name)
            indexed[name] = copy.deepcopy(current) if current is not None else t(name)
        container = indexed[name]
        entry = _entry(container, key)
        new = _entry(value, key) if setting else None
        if setting and new is None:
            raise StoreError('ErrorInvalidPropertySet', 'No %s entry with Key %s.' % (name, key))
        if part is None:
            if entry is not None:
                container.remove(entry)
            if setting:
                container.append(copy.deepcopy(new))
            continue
        if entry is None:
            if not setting:
                continue
            entry = t('Entry', Key=key)
            container.append(entry)
        for old in entry.findall(tq(part)):
            entry.remove(old)
        if setting and new.find(tq(part)) is not None:
            entry.append(copy.deepcopy(new.find(tq(part))))
        if len(entry) == 0:
            container.remove(entry)
    for name, container in indexed.items():
        if len(container):
            set_fields[name] = container
            delete.discard(name)
        else:
            set_fields.pop(name, None)
            delete.add(name)
    return list(set_fields.values()), sorted(delete)


def _check_change_key(op, item, change_key):
    """Refuse a stale change key unless the client said AlwaysOverwrite.

    Exchange merges a stale AutoResolve change of a message when other properties
    changed; for calendar items, contacts and tasks (what two-way sync writes) any
    stale key is ErrorIrresolvableConflict here, so a client learns that it must
    re-read before writing.
    """
    resolution = op.get('ConflictResolution')
    if not change_key or change_key == item.change_key or resolution == 'AlwaysOverwrite':
        return
    if resolution == 'NeverOverwrite' or item.kind != 'Message':
        raise StoreError('ErrorIrresolvableConflict',
                         'The send or update operation could not be performed because the change '
                         'key passed in the request does not match the current change key for the item.')


def _update_one(ctx, op, change):
    id_elem = next(child for child in change if local(child) != 'Updates')
    item = ctx.item(id_elem)
    _check_change_key(op, item, id_elem.get('ChangeKey'))
    if item.kind == 'CalendarItem' and not op.get('SendMeetingInvitationsOrCancellations'):
        raise StoreError('ErrorSendMeetingInvitationsOrCancellationsRequired',
                         'SendMeetingInvitationsOrCancellations is required for calendar items.')
    set_fields, delete = _changes(item, change.find(tq('Updates')))
    item = ctx.store.update_item(item, set_fields, delete)
    if item.kind == 'CalendarItem':
        ctx.store.record_meeting_message('UpdateItem', item,
                                         op.get('SendMeetingInvitationsOrCancellations'))
    disposition = op.get('MessageDisposition')
    if item.kind == 'Message' and disposition in ('SendOnly', 'SendAndSaveCopy'):
        sent = ctx.store.move_item(item, ctx.mailbox.folder('sentitems'))
        _send(ctx, sent, keep=disposition == 'SendAndSaveCopy')
        return None
    return _id_only(item)


def update_item(ctx, op):
    messages = []
    for change in op.find(mq('ItemChanges')):
        try:
            updated = _update_one(ctx, op, change)
        except StoreError as exc:
            messages.append(response_message('UpdateItem', exc.code, exc.text))
            continue
        messages.append(response_message('UpdateItem', children=[
            m('Items', [updated]), m('ConflictResults', [t('Count', '0')])]))
    return operation_response('UpdateItem', messages)


def delete_item(ctx, op):
    delete_type = op.get('DeleteType')
    if delete_type not in ('HardDelete', 'SoftDelete', 'MoveToDeletedItems'):
        raise SoapFault('ErrorSchemaValidation', 'The DeleteType attribute is invalid.')
    cancellations = op.get('SendMeetingCancellations')
    messages = []
    for elem in op.find(mq('ItemIds')):
        try:
            item = ctx.item(elem)
            if item.kind == 'CalendarItem':
                if not cancellations:
                    raise StoreError('ErrorSendMeetingCancellationsRequired',
                                     'SendMeetingCancellations is required for calendar items.')
                ctx.store.record_meeting_message('DeleteItem', item, cancellations)
            trash = ctx.mailbox.folder('deleteditems')
            if isinstance(item, calendar_items.Occurrence):
                ctx.store.remove_item(item)  # leaves the series: a DeletedOccurrence
            elif delete_type == 'MoveToDeletedItems' and item.folder is not trash:
                ctx.store.move_item(item, trash)
            else:
                ctx.store.remove_item(item)
        except StoreError as exc:
            messages.append(response_message('DeleteItem', exc.code, exc.text))
            continue
        messages.append(response_message('DeleteItem'))
    return operation_response('DeleteItem', messages)


def move_item(ctx, op):
    messages = []
    try:
        destination = ctx.folder(op.find(mq('ToFolderId'))[0])
    except StoreError as exc:
        destination = exc
    for elem in op.find(mq('ItemIds')):
        try:
            if isinstance(destination, StoreError):
                raise destination
            moved = ctx.store.move_item(ctx.item(elem), destination)
        except StoreError as exc:
            messages.append(response_message('MoveItem', exc.code, exc.text))
            continue
        messages.append(response_message('MoveItem', children=[m('Items', [_id_only(moved)])]))
    return operation_response('MoveItem', messages)


def send_item(ctx, op):
    keep = op.get('SaveItemToFolder') == 'true'
    messages = []
    for elem in op.find(mq('ItemIds')):
        try:
            item = ctx.item(elem)
            sent = ctx.store.move_item(item, _saved_folder(ctx, op, 'sentitems'))
            _send(ctx, sent, keep)
        except StoreError as exc:
            messages.append(response_message('SendItem', exc.code, exc.text))
            continue
        messages.append(response_message('SendItem'))
    return operation_response('SendItem', messages)


HANDLERS = {'FindItem': find_item, 'GetItem': get_item, 'CreateItem': create_item,
            'UpdateItem': update_item, 'DeleteItem': delete_item, 'MoveItem': move_item,
            'SendItem': send_item}
