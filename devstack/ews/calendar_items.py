"""Calendar items as Exchange keeps them: singles, recurring masters, occurrences, exceptions.

Only singles and masters are stored items (in their folder, reported by FindItem and
SyncFolderItems). Occurrences are computed from the master's pattern when asked for
(GetItem by OccurrenceItemId or by the occurrence's ItemId, FindItem with a
CalendarView). Changing an occurrence makes it an exception: its changed properties
live on the master (``item.exceptions``), and deleting one lists its original start
in ``item.deleted_occurrences``; both change the master (new ChangeKey, an Update in
SyncFolderItems). As the EWS reference says, occurrences share the master's ChangeKey.

An occurrence's ItemId is ``occ:<master id>|<original start UTC>`` in base64, so it
stays valid as long as the master and that occurrence exist.
"""
import base64
import binascii
import collections
import copy
import datetime
import uuid

from lxml import etree

from . import recurrence
from .soap import local, t, tq
from .store import Item, StoreError, ews_datetime, mailbox_elem, now_utc

SERIES_ONLY = ('Recurrence', 'ModifiedOccurrences', 'DeletedOccurrences', 'FirstOccurrence',
               'LastOccurrence')
ATTENDEE_FIELDS = ('RequiredAttendees', 'OptionalAttendees', 'Resources')


def parse_instant(text):
    value = datetime.datetime.fromisoformat(text.strip().replace('Z', '+00:00'))
    return value if value.tzinfo else value.replace(tzinfo=recurrence.UTC)


def new_uid():
    """An iCalendar UID in the hex form Exchange gives (a global object id)."""
    return ('040000008200E00074C5B7101A82E00800000000' + '0' * 32 + '10000000'
            + uuid.uuid4().hex.upper())


def prepare_new(fields, owner):
    """Properties Exchange adds to a new calendar item: UID (unless given) and Organizer."""
    names = {name for name in fields}
    if 'UID' not in names:
        fields['UID'] = t('UID', new_uid())
    if 'Organizer' not in names:
        fields['Organizer'] = mailbox_elem('Organizer', owner, owner)


def is_master(item):
    return item.kind == 'CalendarItem' and 'Recurrence' in item.fields and not isinstance(item, Occurrence)


def attendee_count(item):
    return sum(len(item.fields[name].findall(tq('Attendee'))) for name in ATTENDEE_FIELDS
               if name in item.fields)


def align_master(item):
    """Move a master's Start/End to its first occurrence, as Exchange does; check the pattern."""
    if not is_master(item):
        return
    tz = recurrence.item_zone(item.fields)
    for boundary in item.fields['Recurrence']:
        for name in ('StartDate', 'EndDate'):
            elem = boundary.find(tq(name))
            if elem is not None:  # as Exchange returns them: the date with the zone's offset
                elem.text = recurrence.date_with_offset(recurrence.parse_date(elem.text), tz)
    for _index, start, end in series(item):
        item.fields['Start'] = t('Start', ews_datetime(start))
        item.fields['End'] = t('End', ews_datetime(end))
        return
    raise recurrence.invalid('The recurrence pattern has no occurrence.')


def series(master):
    """(index, original start, original end) of the master's occurrences, deleted ones included."""
    return recurrence.instants(master.fields['Recurrence'], parse_instant(master.text('Start')),
                               parse_instant(master.text('End')),
                               recurrence.item_zone(master.fields))


# -- occurrence ids ----------------------------------------------------------------

def occurrence_id(master, original_start):
    text = 'occ:%s|%s' % (master.id, ews_datetime(original_start))
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def parse_occurrence_id(item_id):
    """(master id, original start) for an occurrence id, else None."""
    try:
        text = base64.b64decode(item_id or '', validate=True).decode('utf-8')
    except (binascii.Error, ValueError):
        return None
    if not text.startswith('occ:') or '|' not in text:
        return None
    master_id, start = text[4:].rsplit('|', 1)
    return master_id, parse_instant(start)


class Occurrence(object):
    """An occurrence or exception of ``master``, looking like an Item to shapes.py."""

    text = Item.text
    categories = Item.categories
    snapshot = Item.snapshot

    def __init__(self, master, index, original_start, start, end):
        self.master = master
        self.kind = 'CalendarItem'
        self.folder = master.folder
        self.mime = None
        self.index = index
        self.original_start = original_start
        self.id = occurrence_id(master, original_start)
        self.created = master.created
        self.created_seq = master.created_seq
        exception = master.exceptions.get(original_start)
        self.is_exception = exception is not None
        self.modified = exception['modified'] if exception else master.modified
        fields = collections.OrderedDict(
            (name, elem) for name, elem in master.fields.items() if name not in SERIES_ONLY)
        fields['Start'] = t('Start', ews_datetime(start))
        fields['End'] = t('End', ews_datetime(end))
        for name, elem in (exception['fields'] if exception else {}).items():
            if elem is None:
                fields.pop(name, None)
            else:
                fields[name] = elem
        self.fields = fields

    @property
    def change_key(self):
        return self.master.change_key


def occurrences(master):
    """Every occurrence of the series (exceptions applied), deleted ones left out."""
    for index, start, end in series(master):
        if start not in master.deleted_occurrences:
            yield Occurrence(master, index, start, start, end)


def occurrence_by_index(master, index):
    if not is_master(master):
        raise StoreError('ErrorCalendarItemNotRecurring' if master.kind == 'CalendarItem'
                         else 'ErrorItemNotFound', 'The item is not a recurring master.')
    for number, start, end in series(master):
        if number == index:
            return _live(master, number, start, end)
        if number > index:
            break
    raise StoreError('ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange',
                     'The occurrence index is out of the recurrence range.')


def occurrence_at(master, original_start):
    if is_master(master):
        for index, start, end in series(master):
            if start == original_start:
                return _live(master, index, start, end)
            if start > original_start:
                break
    raise StoreError('ErrorItemNotFound', 'The specified object was not found in the store.')


def _live(master, index, start, end):
    if start in master.deleted_occurrences:
        raise StoreError('ErrorCalendarOccurrenceIsDeletedFromRecurrence',
                         'The occurrence was deleted from the recurrence.')
    return Occurrence(master, index, start, start, end)


# -- changes to occurrences ----------------------------------------------------------

def update_occurrence(store, occurrence, set_fields, delete_fields):
    """Make ``occurrence`` an exception with these changes; the master changes too."""
    master = occurrence.master
    exception = master.exceptions.setdefault(
        occurrence.original_start, {'fields': collections.OrderedDict(), 'modified': None})
    for elem in set_fields:
        name = local(elem)
        if name not in SERIES_ONLY + ('UID', 'ItemClass'):
            exception['fields'][name] = elem
    for name in delete_fields:
        exception['fields'][name] = None
    exception['modified'] = now_utc()
    master.touch(store.next_seq())
    return occurrence_at(master, occurrence.original_start)


def delete_occurrence(store, occurrence):
    master = occurrence.master
    master.exceptions.pop(occurrence.original_start, None)
    master.deleted_occurrences.append(occurrence.original_start)
    master.deleted_occurrences.sort()
    master.touch(store.next_seq())


def series_changed(master, before):
    """After an update of the master: a new pattern or time drops exceptions and deletions."""
    after = [copy.deepcopy(master.fields.get(n)) for n in ('Recurrence', 'Start', 'End')]
    if [_xml(e) for e in after] != [_xml(e) for e in before]:
        master.exceptions.clear()
        del master.deleted_occurrences[:]


def _xml(elem):
    return None if elem is None else etree.tostring(elem)


# -- what GetItem and FindItem show ----------------------------------------------------

def _occurrence_info(tag, occurrence):
    return t(tag, [t('ItemId', Id=occurrence.id, ChangeKey=occurrence.change_key),
                   t('Start', occurrence.text('Start')), t('End', occurrence.text('End')),
                   t('OriginalStart', ews_datetime(occurrence.original_start))])


def computed(item):
    """The calendar properties Exchange computes: type, IsRecurring, the series' occurrences."""
    values = {}
    for name in ('StartTimeZone', 'EndTimeZone'):
        if name not in item.fields and 'MeetingTimeZone' not in item.fields:
            values[name] = t(name, Id='UTC')
    organizer = item.fields.get('Organizer')
    own = organizer is None or (organizer.findtext('.//' + tq('EmailAddress')) or '').lower() \
        == item.folder.owner
    values['IsMeeting'] = t('IsMeeting', 'true' if attendee_count(item) else 'false')
    if isinstance(item, Occurrence):
        values['CalendarItemType'] = t('CalendarItemType',
                                       'Exception' if item.is_exception else 'Occurrence')
        values['IsRecurring'] = t('IsRecurring', 'true')
        values['OriginalStart'] = t('OriginalStart', ews_datetime(item.original_start))
        values['RecurrenceId'] = t('RecurrenceId', ews_datetime(item.original_start))
        return values
    if not is_master(item):
        values['CalendarItemType'] = t('CalendarItemType', 'Single')
        values['IsRecurring'] = t('IsRecurring', 'false')
        return values
    values['CalendarItemType'] = t('CalendarItemType', 'RecurringMaster')
    # The reference documents IsRecurring as false on the organizer's own master.
    values['IsRecurring'] = t('IsRecurring', 'false' if own else 'true')
    modified = [occurrence_at(item, start) for start in sorted(item.exceptions)]
    if modified:
        values['ModifiedOccurrences'] = t('ModifiedOccurrences', [
            _occurrence_info('Occurrence', o) for o in modified])
    if item.deleted_occurrences:
        values['DeletedOccurrences'] = t('DeletedOccurrences', [
            t('DeletedOccurrence', [t('Start', ews_datetime(s))]) for s in item.deleted_occurrences])
    first = last = None
    for occurrence in occurrences(item):
        first = first or occurrence
        if not recurrence.has_end(item.fields['Recurrence']):
            break
        last = occurrence
    if first is not None:
        values['FirstOccurrence'] = _occurrence_info('FirstOccurrence', first)
    if last is not None:
        values['LastOccurrence'] = _occurrence_info('LastOccurrence', last)
    return values


def calendar_view(items, start, end):
    """Singles, occurrences and exceptions overlapping [start, end), by start (expanded view)."""
    found = []
    for item in items:
        if item.kind != 'CalendarItem' or 'Start' not in item.fields or 'End' not in item.fields:
            continue
        if not is_master(item):
            candidates = [item]
        else:
            candidates = [occurrence_at(item, s) for s in item.exceptions]
            for index, first, last in series(item):
                if first >= end:
                    break
                if first not in item.exceptions and first not in item.deleted_occurrences:
                    candidates.append(Occurrence(item, index, first, first, last))
        found.extend(c for c in candidates
                     if parse_instant(c.text('Start')) < end and parse_instant(c.text('End')) > start)
    found.sort(key=lambda c: parse_instant(c.text('Start')))
    return found
