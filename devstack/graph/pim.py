"""Contacts, Microsoft To Do tasks and calendar events of the Graph endpoint.

Each mailbox has collections of items: its default contact folder, its To Do lists
(``Tasks``, the default list, exists from the start) and its calendar. Every change
takes the next number of one sequence; a delta round covers ``(since, upto]`` and pages
resume after the last (sequence, id) returned, as for messages (store.py). A deleted
item leaves a tombstone that a later round reports with ``@removed``.

A calendar is read as Graph's ``calendarView`` shows it (``view``): single events and
the occurrences and exceptions of each series in a time window, never the series
master (read with ``GET /events/{seriesMasterId}``); a delta round lists the instances
new to the view or changed, and ``@removed`` for each instance gone from it.

Events follow Outlook: ``transactionId`` makes a retried POST return the event it
created; an event with attendees is copied to the calendars of the attendees this
endpoint hosts (same ``iCalUId``), and each invitation, update and cancellation
Exchange would send is recorded per attendee in ``meeting_log`` (``kind`` one of
'invitation', 'update', 'cancellation'). Only the organizer's own changes send
anything: an attendee's copy changes nothing for the others.
"""
import copy
import datetime
import itertools
import threading
import uuid

try:
    import zoneinfo
except ImportError:  # Python 3.7
    from backports import zoneinfo

from .store import StoreError, iso, new_id, utc_now

UTC = datetime.timezone.utc
CONTACT_FIELDS = ('givenName', 'surname', 'displayName', 'companyName', 'jobTitle', 'emailAddresses',
                  'businessPhones', 'mobilePhone', 'homePhones', 'businessAddress', 'homeAddress',
                  'categories', 'personalNotes', 'middleName', 'title', 'department')
TASK_FIELDS = ('title', 'body', 'status', 'importance', 'dueDateTime', 'startDateTime',
               'completedDateTime', 'categories', 'isReminderOn', 'reminderDateTime')
TASK_STATUS = ('notStarted', 'inProgress', 'completed', 'waitingOnOthers', 'deferred')
EVENT_FIELDS = ('subject', 'body', 'start', 'end', 'isAllDay', 'location', 'attendees', 'showAs',
                'importance', 'recurrence', 'categories', 'sensitivity', 'isReminderOn',
                'responseRequested', 'transactionId')
SHOW_AS = ('free', 'tentative', 'busy', 'oof', 'workingElsewhere', 'unknown')
IMPORTANCE = ('low', 'normal', 'high')
GRAPH_TIME = '%Y-%m-%dT%H:%M:%S.0000000'


def not_found():
    return StoreError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.')


def bad(message, code='ErrorInvalidRequest'):
    return StoreError(400, code, message)


def zone(name):
    """The tzinfo of a Graph ``timeZone`` (IANA names and UTC), else a 400 as Graph answers."""
    if not name or name.upper() in ('UTC', 'Z', 'COORDINATED UNIVERSAL TIME'):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise bad("A valid TimeZone value must be specified. The following TimeZone value is not "
                  "supported: '%s'." % name, 'TimeZoneNotSupportedException')


def parse_local(value):
    """A dateTimeTimeZone's ``dateTime`` text as a naive datetime."""
    text = (value or '')[:19]
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        try:
            return datetime.datetime.strptime(text[:10], '%Y-%m-%d')
        except ValueError:
            raise bad('Cannot convert the literal \'%s\' to the expected type \'Edm.DateTimeOffset\'.' % value,
                      'BadRequest')


class Item(object):
    def __init__(self, kind, props):
        self.kind = kind
        self.id = new_id('AAMkAD' if kind != 'task' else 'AAkALg')
        self.props = props
        self.created = self.modified = utc_now()
        self.change_key = new_id('EQAAAB')
        self.seq = 0


class Collection(object):
    """A contact folder, a To Do list or a calendar: items and tombstones."""

    def __init__(self, kind, display_name, well_known=None):
        self.id = new_id('AQMkAD' if kind != 'task' else 'AAMkAGI')
        self.kind = kind
        self.display_name = display_name
        self.well_known = well_known
        self.items = {}
        self.tombstones = {}  # item id -> seq

    def item(self, item_id):
        found = self.items.get(item_id)
        if found is None:
            raise not_found()
        return found


class PimStore(object):
    """Every mailbox's contacts, task lists and calendar. ``lock`` guards everything;
    ``listeners`` are called (outside the lock) with (address, collection, change type,
    item id) after each change."""

    def __init__(self):
        self.lock = threading.RLock()
        self.boxes = {}  # lower address -> {'contacts': Collection, 'calendar': Collection, 'lists': {}}
        self._seq = itertools.count(1)
        self.meeting_log = []  # {'sender', 'attendee', 'kind', 'uid', 'subject'}
        self.listeners = []

    def box(self, address):
        key = address.lower()
        with self.lock:
            if key not in self.boxes:
                default = Collection('task', 'Tasks', 'defaultList')
                self.boxes[key] = {'contacts': Collection('contact', 'Contacts', 'contacts'),
                                   'calendar': Collection('event', 'Calendar', 'calendar'),
                                   'lists': {default.id: default}, 'address': address}
            return self.boxes[key]

    def collection(self, address, kind, ref=None):
        """The collection of ``kind`` ('contact', 'task', 'event'); ``ref`` an id or well-known name."""
        box = self.box(address)
        if kind == 'contact':
            found = box['contacts']
        elif kind == 'event':
            found = box['calendar']
        else:
            found = box['lists'].get(ref) or next(
                (c for c in box['lists'].values() if ref and c.well_known == ref), None)
            if found is None:
                raise not_found()
            return found
        if ref and ref not in (found.id, found.well_known):
            raise not_found()
        return found

    def current_seq(self):
        with self.lock:
            return next(self._seq)

    def _touch(self, address, collection, item, change):
        item.seq = next(self._seq)
        if change != 'created':
            item.change_key = new_id('EQAAAB')
            item.modified = utc_now()
        return (address.lower(), collection, change, item.id)

    def _notify(self, events):
        for event in events:
            for listener in list(self.listeners):
                listener(*event)

    def changes(self, collection, since, upto, after, limit):
        """One page of a contact folder's or To Do list's delta round: [(seq, id, Item or
        None for removed)] after ``after`` (a calendar's rounds go through ``view``)."""
        with self.lock:
            rows = [(i.seq, i.id, i) for i in collection.items.values() if since < i.seq <= upto]
            if since:
                rows += [(seq, item_id, None) for item_id, seq in collection.tombstones.items()
                         if since < seq <= upto]
            rows = sorted(row for row in rows if (row[0], row[1]) > tuple(after))
            return rows[:limit], len(rows) > limit

    # ------------------------------------------------------------------ contacts and tasks
    def create(self, address, collection, props):
        with self.lock:
            item = Item(collection.kind, props)
            collection.items[item.id] = item
            event = self._touch(address, collection, item, 'created')
        self._notify([event])
        return item

    def update(self, address, collection, item_id, props, if_match=None):
        with self.lock:
            item = collection.item(item_id)
            if if_match and if_match not in ('*', etag(item)):
                raise StoreError(412, 'ErrorIrresolvableConflict', 'The change key passed in the request '
                                 'does not match the current change key for the item.')
            item.props.update(props)
            event = self._touch(address, collection, item, 'updated')
        self._notify([event])
        return item

    def delete(self, address, collection, item_id):
        with self.lock:
            item = collection.item(item_id)
            del collection.items[item_id]
            collection.tombstones[item_id] = next(self._seq)
            event = (address.lower(), collection, 'deleted', item_id)
        self._notify([event])
        return item

    # ------------------------------------------------------------------ events
    def create_event(self, address, props):
        """POST /events: the organizer's event (the one of ``transactionId`` when it exists
        already), copies in the hosted attendees' calendars, one invitation per attendee."""
        with self.lock:
            calendar = self.collection(address, 'event')
            transaction = props.get('transactionId')
            if transaction:
                for item in calendar.items.values():
                    if item.props.get('transactionId') == transaction:
                        return item, False
            props = dict(props, iCalUId=props.get('iCalUId') or
                         '040000008200E00074C5B7101A82E008000000%s' % uuid.uuid4().hex.upper(),
                         organizer={'emailAddress': {'address': address, 'name': address.split('@')[0]}},
                         isOrganizer=True, isCancelled=False)
            props.setdefault('type', 'seriesMaster' if props.get('recurrence') else 'singleInstance')
            _zones(props)
            item = Item('event', props)
            calendar.items[item.id] = item
            events = [self._touch(address, calendar, item, 'created')]
            for attendee in _attendee_addresses(props):
                self._log(address, attendee, 'invitation', props)
                events += self._copy_to(attendee, props)
        self._notify(events)
        return item, True

    def update_event(self, address, item_id, props, if_match=None):
        with self.lock:
            calendar = self.collection(address, 'event')
            item = calendar.item(item_id)
            before = copy.deepcopy(item.props)
            props = _zones(dict(props))
            if 'recurrence' in props:
                props['type'] = 'seriesMaster' if props['recurrence'] else 'singleInstance'
            item = self.update(address, calendar, item_id, props, if_match)
            events = []
            if item.props.get('isOrganizer'):
                old, new = set(_attendee_addresses(before)), set(_attendee_addresses(item.props))
                meeting_changed = _meeting(before) != _meeting(item.props)
                for attendee in sorted(new - old):
                    self._log(address, attendee, 'invitation', item.props)
                for attendee in sorted(old - new):
                    self._log(address, attendee, 'cancellation', item.props)
                    events += self._remove_copy(attendee, item.props['iCalUId'])
                for attendee in sorted(new & old if meeting_changed else ()):
                    self._log(address, attendee, 'update', item.props)
                for attendee in sorted(new):
                    events += self._copy_to(attendee, item.props)
        self._notify(events)
        return item

    def delete_event(self, address, item_id):
        """DELETE (or cancel) by the organizer: one cancellation per attendee, their copies go."""
        with self.lock:
            calendar = self.collection(address, 'event')
            item = self.delete(address, calendar, item_id)
            events = []
            for exception in [i for i in calendar.items.values() if i.props.get('seriesMasterId') == item_id]:
                events.append(self.delete(address, calendar, exception.id) and
                              (address.lower(), calendar, 'deleted', exception.id))
            if item.props.get('isOrganizer'):
                for attendee in _attendee_addresses(item.props):
                    self._log(address, attendee, 'cancellation', item.props)
                    events += self._remove_copy(attendee, item.props['iCalUId'])
        self._notify(events)
        return item

    def _log(self, sender, attendee, kind, props):
        self.meeting_log.append({'sender': sender.lower(), 'attendee': attendee, 'kind': kind,
                                 'uid': props.get('iCalUId'), 'subject': props.get('subject') or ''})

    def _copy_to(self, attendee, props):
        """The attendee's copy (hosted attendees only), created or brought up to date."""
        if attendee not in self.boxes:
            return []
        calendar = self.boxes[attendee]['calendar']
        values = {k: copy.deepcopy(v) for k, v in props.items() if k not in ('transactionId', 'categories')}
        values.update(isOrganizer=False, responseStatus={'response': 'notResponded', 'time': None})
        for item in calendar.items.values():
            if item.props.get('iCalUId') == props['iCalUId']:
                values['categories'] = item.props.get('categories') or []
                if {k: v for k, v in item.props.items() if k != 'responseStatus'} == \
                        {k: v for k, v in values.items() if k != 'responseStatus'}:
                    return []
                item.props.update(values)
                return [self._touch(attendee, calendar, item, 'updated')]
        item = Item('event', values)
        calendar.items[item.id] = item
        return [self._touch(attendee, calendar, item, 'created')]

    def _remove_copy(self, attendee, uid):
        if attendee not in self.boxes:
            return []
        calendar = self.boxes[attendee]['calendar']
        for item in list(calendar.items.values()):
            if item.props.get('iCalUId') == uid:
                del calendar.items[item.id]
                calendar.tombstones[item.id] = next(self._seq)
                return [(attendee, calendar, 'deleted', item.id)]
        return []

    # ------------------------------------------------------------------ series
    def modify_occurrence(self, address, master_id, day, props):
        """As in Outlook: the occurrence of ``day`` (its original local date) changed: an
        exception of the series (created or updated); the master changes too (Exchange
        keeps exceptions in it)."""
        with self.lock:
            calendar = self.collection(address, 'event')
            master = calendar.item(master_id)
            original = occurrence_start(master, day)
            found = [i for i in calendar.items.values() if i.props.get('seriesMasterId') == master_id
                     and i.props.get('originalStart') == original]
            if found:
                item = found[0]
                item.props.update(_zones(dict(props)))
                events = [self._touch(address, calendar, item, 'updated')]
            else:
                values = {k: copy.deepcopy(v) for k, v in master.props.items()
                          if k not in ('recurrence', 'transactionId', 'cancelledOccurrences')}
                length = event_window(master)[1] - event_window(master)[0]
                begin = parse_local(original).replace(tzinfo=UTC)
                values.update(type='exception', seriesMasterId=master_id, originalStart=original,
                              start={'dateTime': begin.strftime(GRAPH_TIME), 'timeZone': 'UTC'},
                              end={'dateTime': (begin + length).strftime(GRAPH_TIME), 'timeZone': 'UTC'})
                values.update(_zones(dict(props)))
                item = Item('event', values)
                calendar.items[item.id] = item
                events = [self._touch(address, calendar, item, 'created')]
            events.append(self._touch(address, calendar, master, 'updated'))
        self._notify(events)
        return item.id

    def cancel_occurrence(self, address, master_id, day):
        """As in Outlook: the occurrence of ``day`` deleted (``cancelledOccurrences``)."""
        with self.lock:
            calendar = self.collection(address, 'event')
            master = calendar.item(master_id)
            original = occurrence_start(master, day)
            events = []
            for item in [i for i in calendar.items.values() if i.props.get('seriesMasterId') == master_id
                         and i.props.get('originalStart') == original]:
                del calendar.items[item.id]
                calendar.tombstones[item.id] = next(self._seq)
                events.append((address.lower(), calendar, 'deleted', item.id))
            master.props.setdefault('cancelledOccurrences', []).append('OID.%s.%s' % (master_id, day))
            events.append(self._touch(address, calendar, master, 'updated'))
        self._notify(events)

    def instances(self, address, master_id, start, end):
        """GET /events/{id}/instances: occurrences and exceptions starting in [start, end),
        cancelled ones left out."""
        with self.lock:
            calendar = self.collection(address, 'event')
            master = calendar.item(master_id)
            if not master.props.get('recurrence'):
                raise bad('The event is not a recurring series master.', 'ErrorInvalidRequest')
            out = [entry for _seq, entry, begin, _finish in self._expand(calendar, master, end)
                   if start <= begin < end]
            return sorted(out, key=lambda e: e['start']['dateTime'])

    def view(self, address, window, tz_name=None):
        """The calendar view of ``window`` (start, end) as Graph lists it in
        ``calendarView`` and its delta: {id: (seq, Graph JSON)} of the single events and of
        each series' occurrences and exceptions overlapping the window, never a series
        master. An occurrence carries its master's sequence number (a change of the series
        is a change of each occurrence); an exception its own."""
        start, end = window
        with self.lock:
            calendar = self.collection(address, 'event')
            out = {}
            for item in calendar.items.values():
                if item.props.get('seriesMasterId'):
                    continue  # an exception: listed with its series
                if item.props.get('recurrence'):
                    for seq, entry, begin, finish in self._expand(calendar, item, end, tz_name):
                        if begin < end and finish > start:
                            out[entry['id']] = (seq, entry)
                    continue
                first, last = event_window(item)
                if first < end and last > start:
                    out[item.id] = (item.seq, render(item, tz_name))
            return out

    def _expand(self, calendar, master, end, tz_name=None):
        """(seq, Graph JSON, start, end) of each occurrence and exception of a series
        starting before ``end`` (aware UTC bounds); cancelled occurrences left out."""
        master_id = master.id
        cancelled = set(master.props.get('cancelledOccurrences') or ())
        exceptions = {i.props['originalStart']: i for i in calendar.items.values()
                      if i.props.get('seriesMasterId') == master_id}
        length = event_window(master)[1] - event_window(master)[0]
        all_day = bool(master.props.get('isAllDay'))
        label = tz_name or 'UTC'
        target = zone(tz_name) if tz_name else UTC
        out = []
        for day in occurrence_dates(master.props['recurrence'], end.date() + datetime.timedelta(days=1)):
            original = occurrence_start(master, day)
            if 'OID.%s.%s' % (master_id, day) in cancelled:
                continue
            if original in exceptions:
                item = exceptions[original]
                out.append((item.seq, render(item, tz_name)) + event_window(item))
                continue
            begin = parse_local(original).replace(tzinfo=UTC)
            finish = begin + length
            if all_day:  # the dates float: midnight wherever read
                local = (begin.replace(tzinfo=None), finish.replace(tzinfo=None))
            else:
                local = tuple(v.astimezone(target).replace(tzinfo=None) for v in (begin, finish))
            entry = render(master, tz_name)
            entry.update(id='%s_%s' % (master_id, day.strftime('%Y%m%d')), type='occurrence',
                         seriesMasterId=master_id, originalStart=original, recurrence=None,
                         start={'dateTime': local[0].strftime(GRAPH_TIME), 'timeZone': label},
                         end={'dateTime': local[1].strftime(GRAPH_TIME), 'timeZone': label})
            entry.pop('cancelledOccurrences', None)
            out.append((master.seq, entry, begin, finish))
        return out

    # ------------------------------------------------------------------ test helpers
    def invitations(self, sender=None):
        """(attendee, kind, subject) of every meeting message sent (by ``sender``)."""
        with self.lock:
            return [(m['attendee'], m['kind'], m['subject']) for m in self.meeting_log
                    if sender is None or m['sender'] == sender.lower()]

    def items_of(self, address, kind, ref=None):
        """Test helper: the Graph JSON of every item of a collection, oldest first."""
        with self.lock:
            collection = self.collection(address, kind, ref or ('defaultList' if kind == 'task' else None))
            return [render(item) for item in sorted(collection.items.values(), key=lambda i: i.seq)]


DAYS = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')


def occurrence_dates(recurrence, before):
    """The local dates a Graph ``patternedRecurrence`` gives, up to ``before`` (daily,
    weekly, absolute and relative monthly and yearly patterns; numbered, endDate, noEnd
    ranges)."""
    pattern, span = recurrence['pattern'], recurrence['range']
    first = datetime.datetime.strptime(span['startDate'], '%Y-%m-%d').date()
    last = datetime.datetime.strptime(span['endDate'], '%Y-%m-%d').date() \
        if span.get('type') == 'endDate' else before
    count = span.get('numberOfOccurrences') if span.get('type') == 'numbered' else None
    interval = pattern.get('interval') or 1
    kind = pattern.get('type')
    out, day = [], first
    while day <= min(last, before) and (count is None or len(out) < count):
        if kind == 'daily':
            hit = (day - first).days % interval == 0
        elif kind == 'weekly':
            monday = first - datetime.timedelta(days=first.weekday())
            hit = DAYS[day.weekday()] in pattern.get('daysOfWeek', ()) and \
                ((day - monday).days // 7) % interval == 0
        elif kind == 'absoluteMonthly':
            months = (day.year - first.year) * 12 + day.month - first.month
            hit = day.day == pattern.get('dayOfMonth') and months % interval == 0
        elif kind == 'absoluteYearly':
            hit = (day.month, day.day) == (pattern.get('month'), pattern.get('dayOfMonth'))
        elif kind == 'relativeMonthly':
            months = (day.year - first.year) * 12 + day.month - first.month
            hit = months % interval == 0 and day == _nth_day(day, pattern)
        elif kind == 'relativeYearly':
            hit = day.month == pattern.get('month') and day == _nth_day(day, pattern)
        else:
            raise bad('The recurrence pattern %s is not served by this endpoint.' % kind)
        if hit:
            out.append(day)
        day += datetime.timedelta(days=1)
    return out


INDEXES = {'first': 0, 'second': 1, 'third': 2, 'fourth': 3, 'last': -1}


def _nth_day(day, pattern):
    """The day of ``day``'s month a relative pattern names: the ``index`` (first..fourth,
    last) of the days of the month that are one of ``daysOfWeek`` (Graph's rule: with
    several days, "first" is the first of any of them)."""
    wanted = {DAYS.index(d) for d in pattern.get('daysOfWeek') or () if d in DAYS}
    month = day.replace(day=1)
    days = []
    while month.month == day.month:
        if month.weekday() in wanted:
            days.append(month)
        month += datetime.timedelta(days=1)
    index = INDEXES.get(pattern.get('index') or 'first', 0)
    return days[index] if days and index < len(days) else None


def occurrence_start(master, day):
    """The original start (UTC, Graph's text) of the occurrence of local date ``day``: the
    master's local start time on that day, in its start time zone."""
    start = master.props['start']
    local_time = parse_local(start['dateTime']).time()
    tz = UTC if master.props.get('isAllDay') else zone(start.get('timeZone'))
    if isinstance(day, str):
        day = datetime.datetime.strptime(day, '%Y-%m-%d').date()
    instant = datetime.datetime.combine(day, local_time).replace(tzinfo=tz).astimezone(UTC)
    return instant.strftime('%Y-%m-%dT%H:%M:%SZ')


def _meeting(props):
    """What a change of sends an update: when and where (instants, not how they are
    written), the series' pattern. Attendees added or removed get their own message."""
    item = Item('event', props)
    return (event_window(item), bool(props.get('isAllDay')),
            ((props.get('location') or {}).get('displayName') or '').strip(), props.get('recurrence'))


def _zones(props):
    """The zones an event was written in, as Graph keeps them (``originalStartTimeZone``)."""
    for key in ('start', 'end'):
        if props.get(key):
            props['original%sTimeZone' % key.capitalize()] = props[key].get('timeZone') or 'UTC'
    return props


def etag(item):
    return 'W/"%s"' % item.change_key


def _attendee_addresses(props):
    return sorted({((a.get('emailAddress') or {}).get('address') or '').strip().lower()
                   for a in props.get('attendees') or ()} - {''})


def render(item, tz_name=None):
    """The Graph JSON of an item (event times in ``tz_name``, else UTC, as with
    ``Prefer: outlook.timezone``)."""
    payload = copy.deepcopy(item.props)
    payload.update({'@odata.etag': etag(item), 'id': item.id,
                    'createdDateTime': iso(item.created), 'lastModifiedDateTime': iso(item.modified)})
    if item.kind != 'task':
        payload['changeKey'] = item.change_key
    if item.kind == 'event':
        target = zone(tz_name) if tz_name else UTC
        label = tz_name or 'UTC'
        for key in ('start', 'end'):
            value = payload.get(key)
            if not value:
                continue
            local = parse_local(value['dateTime'])
            if not payload.get('isAllDay'):  # all-day dates float: midnight wherever read
                local = local.replace(tzinfo=zone(value.get('timeZone'))).astimezone(target).replace(tzinfo=None)
            payload[key] = {'dateTime': local.strftime(GRAPH_TIME), 'timeZone': label}
    return payload


def event_window(item):
    """(start, end) of an event as aware UTC instants (all-day: midnights in UTC), for
    calendarView's range."""
    bounds = []
    for key in ('start', 'end'):
        value = item.props[key]
        local = parse_local(value['dateTime'])
        tz = UTC if item.props.get('isAllDay') else zone(value.get('timeZone'))
        bounds.append(local.replace(tzinfo=tz).astimezone(UTC))
    return tuple(bounds)


def check_event(props, create):
    """Graph's validation of an event body (what Exchange refuses)."""
    unknown = set(props) - set(EVENT_FIELDS) - {'iCalUId', '@odata.type'}
    if unknown:
        raise bad("The property '%s' does not exist on type 'microsoft.graph.event'." % sorted(unknown)[0],
                  'RequestBodyRead')
    if create and not (props.get('start') and props.get('end')):
        raise bad('Your request can\'t be completed. The start and end times are required.',
                  'ErrorPropertyValidationFailure')
    if bool(props.get('start')) != bool(props.get('end')):
        raise bad('Start and end are changed together.', 'ErrorPropertyValidationFailure')
    if props.get('start'):
        start, end = props['start'], props['end']
        first = parse_local(start.get('dateTime')).replace(tzinfo=zone(start.get('timeZone')))
        last = parse_local(end.get('dateTime')).replace(tzinfo=zone(end.get('timeZone')))
        if last < first:
            raise bad('The end time must be after the start time.', 'ErrorCalendarEndDateIsEarlierThanStartDate')
        if props.get('isAllDay'):
            local = [parse_local(v['dateTime']) for v in (start, end)]
            if any(v.time() != datetime.time(0) for v in local) or local[0] == local[1]:
                raise bad('Your request can\'t be completed. If the event is an all-day event, start '
                          'and end must be set to midnight and be at least one day apart.',
                          'ErrorPropertyValidationFailure')
    if props.get('showAs') not in (None,) + SHOW_AS or props.get('importance') not in (None,) + IMPORTANCE:
        raise bad('Cannot convert the literal to the expected enum type.', 'BadRequest')


def check_task(props, create):
    unknown = set(props) - set(TASK_FIELDS) - {'@odata.type'}
    if unknown:
        raise bad("The property '%s' does not exist on type 'microsoft.graph.todoTask'." % sorted(unknown)[0],
                  'invalidRequest')
    if create and not props.get('title'):
        raise bad('A title is required.', 'invalidRequest')
    if props.get('status') not in (None,) + TASK_STATUS:
        raise bad("Requested value '%s' was not found." % props.get('status'), 'invalidRequest')


def check_contact(props):
    unknown = set(props) - set(CONTACT_FIELDS) - {'@odata.type'}
    if unknown:
        raise bad("The property '%s' does not exist on type 'microsoft.graph.contact'." % sorted(unknown)[0],
                  'RequestBodyRead')
    if len(props.get('emailAddresses') or ()) > 3:
        raise bad('A contact has at most three email addresses.', 'ErrorInvalidPropertyValue')
