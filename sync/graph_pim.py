"""Graph JSON of contacts, To Do tasks and events <-> the canonical values of sync/items.py.

Reading: ``record(kind, entry)`` is the RemoteRecord of one Graph item (times asked in
UTC with ``Prefer: outlook.timezone``). Writing: ``graph_values(kind, values, create)``
is the JSON body for the canonical ``values`` given ('' or None clears a field).

Microsoft To Do has no percent complete: a task's ``percent`` is never read (the merge
then takes it as unchanged on this side) and never written. Graph keeps a contact's
email addresses and phones as lists and its address as one object: writing one of them
needs the item's current value (``needs_current``).

>>> values = graph_values('task', {'subject': 'Call', 'due': datetime.date(2027, 3, 4),
...                                'status': 'InProgress', 'percent': 50.0}, create=True)
>>> values['title'], values['status'], values['dueDateTime']['dateTime'], 'percent' in str(values)
('Call', 'inProgress', '2027-03-04T00:00:00.0000000', False)
>>> record('task', {'id': 't1', '@odata.etag': 'W/"ck1"', 'title': 'Call',
...                 'status': 'completed', 'dueDateTime': {'dateTime': '2027-03-04T00:00:00.0000000',
...                 'timeZone': 'UTC'}}).values['status']
'Completed'
"""
import datetime

from . import items as canon

CONTACT_PLAIN = (('first_name', 'givenName'), ('last_name', 'surname'), ('display_name', 'displayName'),
                 ('company', 'companyName'), ('job_title', 'jobTitle'), ('mobile', 'mobilePhone'))
CONTACT_EMAILS = ('email', 'email2', 'email3')
CONTACT_LISTS = (('phone', 'businessPhones'), ('home_phone', 'homePhones'))
CONTACT_ADDRESS = (('street', 'street'), ('city', 'city'), ('state', 'state'), ('zip', 'postalCode'),
                   ('country', 'countryOrRegion'))
TASK_STATUS = {'NotStarted': 'notStarted', 'InProgress': 'inProgress', 'Completed': 'completed',
               'WaitingOnOthers': 'waitingOnOthers', 'Deferred': 'deferred'}
SHOW_AS = {'free': 'free', 'tentative': 'tentative', 'busy': 'busy', 'oof': 'oof',
           'workingelsewhere': 'workingElsewhere'}
DAYS = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')
INDEX = {1: 'first', 2: 'second', 3: 'third', 4: 'fourth', -1: 'last'}
GRAPH_TIME = '%Y-%m-%dT%H:%M:%S.0000000'


def change_key(entry):
    """An item's change key: ``changeKey`` (Outlook items) or the ``@odata.etag`` (To Do)."""
    if entry.get('changeKey'):
        return entry['changeKey']
    tag = entry.get('@odata.etag') or ''
    return tag[3:-1] if tag.startswith('W/"') else tag or None


def _instant(text):
    """Graph's ``dateTime`` (UTC, as asked) as an aware datetime."""
    if not text:
        return None
    return datetime.datetime.strptime(text[:19], '%Y-%m-%dT%H:%M:%S').replace(tzinfo=canon.UTC)


def parse_instant(text):
    """An ISO 8601 UTC instant ('2027-01-05T09:00:00Z', fractions allowed) as an aware datetime."""
    return _instant(text.replace('Z', ''))


def occurrence_start(master, occurrence_id):
    """The original start (aware UTC) of the occurrence ``OID.{master id}.{local date}`` of
    a series: the master's local start time on that date, in its start time zone (Graph
    answered ``start`` in UTC).

    >>> occurrence_start({'start': {'dateTime': '2027-01-05T14:00:00.0000000', 'timeZone': 'UTC'},
    ...                   'originalStartTimeZone': 'America/Chicago'}, 'OID.AAMk1.2027-07-06')
    datetime.datetime(2027, 7, 6, 13, 0, tzinfo=datetime.timezone.utc)
    """
    day = datetime.datetime.strptime(occurrence_id.rsplit('.', 1)[1], '%Y-%m-%d').date()
    zone = canon.get_zone(master.get('originalStartTimeZone') or 'UTC')
    local = _instant(master['start']['dateTime']).astimezone(zone)
    return datetime.datetime.combine(day, local.time()).replace(tzinfo=zone).astimezone(canon.UTC)


def _date(value):
    text = (value or {}).get('dateTime') if isinstance(value, dict) else None
    return datetime.datetime.strptime(text[:10], '%Y-%m-%d').date() if text else None


def record(kind, entry):
    """The RemoteRecord of a Graph item; None for an occurrence or exception of a series
    as calendarView lists it (its master is the item synced)."""
    if kind == 'appointment' and entry.get('type') in ('occurrence', 'exception'):
        return None
    reader = {'appointment': _event_values, 'contact': _contact_values, 'task': _task_values}[kind]
    found = canon.RemoteRecord(kind, entry['id'], change_key(entry),
                              uid=entry.get('iCalUId') if kind == 'appointment' else None,
                              categories=entry.get('categories') or (),
                              last_modified=_instant(entry.get('lastModifiedDateTime')), values=reader(entry))
    found.transaction_id = entry.get('transactionId')  # the UID Odoo created the event with
    return found


# ---------------------------------------------------------------------- reading
def _contact_values(entry):
    values = {name: (entry.get(attr) or '').strip() for name, attr in CONTACT_PLAIN}
    emails = [(e.get('address') or '').strip() for e in entry.get('emailAddresses') or ()]
    for index, name in enumerate(CONTACT_EMAILS):
        values[name] = emails[index] if index < len(emails) else ''
    for name, attr in CONTACT_LISTS:
        found = [p for p in entry.get(attr) or () if p]
        values[name] = found[0].strip() if found else ''
    address = entry.get('businessAddress') or {}
    values.update((name, (address.get(attr) or '').strip()) for name, attr in CONTACT_ADDRESS)
    return values


def _task_values(entry):
    status = {graph: name for name, graph in TASK_STATUS.items()}.get(entry.get('status'), 'NotStarted')
    body = entry.get('body') or {}
    return {'subject': entry.get('title') or '', 'due': _date(entry.get('dueDateTime')),
            'start': _date(entry.get('startDateTime')), 'status': status,
            'notes': canon.plain_text(body.get('content'), is_html=body.get('contentType') == 'html')}


def _event_values(entry):
    tzname = entry.get('originalStartTimeZone') or 'UTC'
    if canon.get_zone(tzname) is canon.UTC:
        tzname = 'UTC'
    all_day = bool(entry.get('isAllDay'))
    if all_day:  # the dates float: read as they are, whatever zone Graph answered in
        start, end = _date(entry.get('start')), _date(entry.get('end'))
        end = max(end or start, start + datetime.timedelta(days=1))
    else:
        start, end = (_instant((entry.get(key) or {}).get('dateTime')) for key in ('start', 'end'))
    body = entry.get('body') or {}
    attendees = [((a.get('emailAddress') or {}).get('address'), (a.get('emailAddress') or {}).get('name'),
                  'optional' if a.get('type') == 'optional' else 'required')
                 for a in entry.get('attendees') or () if a.get('type') != 'resource']
    organizer = ((entry.get('organizer') or {}).get('emailAddress') or {}).get('address') or ''
    return {
        'subject': entry.get('subject') or '', 'start': start, 'end': end, 'all_day': all_day,
        'timezone': tzname, 'location': ((entry.get('location') or {}).get('displayName') or '').strip(),
        'body': canon.plain_text(body.get('content'), is_html=body.get('contentType') == 'html'),
        'attendees': canon.attendees_value(attendees), 'organizer': organizer.lower(),
        'show_as': {v: k for k, v in SHOW_AS.items()}.get(entry.get('showAs'), 'busy'),
        'importance': entry.get('importance') or 'normal',
        'recurrence': recurrence_from_graph(entry.get('recurrence')),
    }


def recurrence_from_graph(value):
    """The canonical rule of a Graph ``patternedRecurrence`` (None when there is none).

    >>> rule = recurrence_from_graph({'pattern': {'type': 'weekly', 'interval': 1,
    ...     'daysOfWeek': ['friday', 'monday']}, 'range': {'type': 'numbered',
    ...     'startDate': '2027-01-04', 'numberOfOccurrences': 3}})
    >>> rule['freq'], rule['weekdays'], rule['count'], rule['start']
    ('weekly', ('MO', 'FR'), 3, datetime.date(2027, 1, 4))
    """
    if not value or not value.get('pattern'):
        return None
    pattern, span = value['pattern'], value.get('range') or {}
    kind = pattern.get('type') or ''
    freq = {'daily': 'daily', 'weekly': 'weekly', 'absoluteMonthly': 'monthly', 'relativeMonthly': 'monthly',
            'absoluteYearly': 'yearly', 'relativeYearly': 'yearly'}.get(kind)
    if freq is None:
        return None
    rule = {'freq': freq, 'interval': pattern.get('interval') or 1,
            'weekdays': [canon.WEEKDAYS[DAYS.index(d)] for d in pattern.get('daysOfWeek') or () if d in DAYS],
            'day': pattern.get('dayOfMonth') or None, 'month': pattern.get('month') or None}
    if kind.startswith('relative'):
        rule['week'] = {v: k for k, v in INDEX.items()}.get(pattern.get('index') or 'first')
    elif freq != 'weekly':
        rule['weekdays'] = ()
    day = lambda text: datetime.datetime.strptime(text, '%Y-%m-%d').date() if text else None  # noqa: E731
    rule['start'] = day(span.get('startDate'))
    if span.get('type') == 'numbered':
        rule['count'] = span.get('numberOfOccurrences')
    elif span.get('type') == 'endDate':
        rule['until'] = day(span.get('endDate'))
    return canon.normalize_recurrence(rule)


# ---------------------------------------------------------------------- writing
def needs_current(kind, values):
    """Whether writing ``values`` needs the item's current JSON (lists and objects Graph
    replaces whole)."""
    touched = set(CONTACT_EMAILS) | {n for n, _a in CONTACT_LISTS} | {n for n, _a in CONTACT_ADDRESS}
    return kind == 'contact' and bool(touched & set(values))


def graph_values(kind, values, create, current=None):
    """The JSON body writing the canonical ``values`` (``current``: the RemoteRecord read
    just before, for a contact's lists)."""
    extra = {'uid'} if create and kind == 'appointment' else set()
    unknown = set(values) - set(canon.FIELDS[kind]) - extra
    if unknown:
        raise ValueError('unknown %s fields: %s' % (kind, ', '.join(sorted(unknown))))
    writer = {'appointment': _event_body, 'contact': _contact_body, 'task': _task_body}[kind]
    return writer(values, create, current)


def _contact_body(values, create, current):
    body = {attr: values[name] or None for name, attr in CONTACT_PLAIN if name in values}
    if not body.get('displayName') and (create or 'displayName' in body):
        fallback = ' '.join(filter(None, (values.get('first_name'), values.get('last_name')))) or (
            values.get('company') or values.get('email'))
        if fallback:
            body['displayName'] = fallback
        elif create:
            raise ValueError('a contact needs a name, a company or an email address')
        else:
            body.pop('displayName')
    known = dict(current.values) if current is not None else {}
    if set(CONTACT_EMAILS) & set(values):
        merged = [values.get(name, known.get(name)) or '' for name in CONTACT_EMAILS]
        body['emailAddresses'] = [{'address': e.strip(), 'name': e.strip()} for e in merged if e.strip()]
    for name, attr in CONTACT_LISTS:
        if name in values:
            body[attr] = [values[name].strip()] if values[name] else []
    if {n for n, _a in CONTACT_ADDRESS} & set(values):
        body['businessAddress'] = {attr: (values.get(name, known.get(name)) or '') for name, attr in CONTACT_ADDRESS}
    return body


def _day(value):
    return {'dateTime': canon.as_date(value).strftime(GRAPH_TIME), 'timeZone': 'UTC'} if value else None


def _task_body(values, create, current):
    body = {}
    if 'subject' in values:
        body['title'] = values['subject'] or ''
    if 'due' in values:
        body['dueDateTime'] = _day(values['due'])
    if 'start' in values:
        body['startDateTime'] = _day(values['start'])
    if 'status' in values:
        body['status'] = TASK_STATUS.get(values['status'] or 'NotStarted', 'notStarted')
    if 'notes' in values:
        body['body'] = {'content': values['notes'] or '', 'contentType': 'text'}
    if create:
        body.setdefault('title', '')
    return body


def _event_body(values, create, current):
    body = {}
    if 'subject' in values:
        body['subject'] = values['subject'] or ''
    if 'location' in values:
        body['location'] = {'displayName': values['location'] or ''}
    if 'body' in values:
        body['body'] = {'contentType': 'text', 'content': values['body'] or ''}
    if 'attendees' in values:
        body['attendees'] = [{'type': role, 'emailAddress': {'address': email, 'name': name or email}}
                             for email, name, role in values['attendees'] or ()]
    if 'show_as' in values:
        body['showAs'] = SHOW_AS.get(values['show_as'] or 'busy', 'busy')
    if 'importance' in values:
        body['importance'] = values['importance'] or 'normal'
    if create and values.get('uid'):
        body['transactionId'] = values['uid']  # a retried creation returns the first event
    tzname = values.get('timezone') or 'UTC'
    if create or any(name in values for name in canon.TIME_FIELDS):
        missing = [name for name in ('start', 'end') if values.get(name) is None]
        if missing:
            raise ValueError('appointment times are written together; missing: %s' % ', '.join(missing))
        zone = canon.get_zone(tzname)
        tzname = tzname if zone is not canon.UTC else 'UTC'
        body['isAllDay'] = bool(values.get('all_day'))
        for key in ('start', 'end'):
            value = values[key]
            if body['isAllDay']:
                local = datetime.datetime.combine(canon.as_date(value), datetime.time(0))
            else:
                if not isinstance(value, datetime.datetime) or value.tzinfo is None:
                    raise ValueError('appointment times must be aware datetimes (or dates when all day)')
                local = value.astimezone(zone).replace(tzinfo=None)
            body[key] = {'dateTime': local.strftime(GRAPH_TIME), 'timeZone': tzname}
    if 'recurrence' in values:
        rule = values['recurrence']
        if rule and not rule.get('start'):
            if 'start' not in body:
                raise ValueError('a recurrence without its start date needs the appointment times')
            rule = dict(rule, start=datetime.datetime.strptime(body['start']['dateTime'][:10], '%Y-%m-%d').date())
        body['recurrence'] = recurrence_to_graph(rule, tzname) if rule else None
    return body


def recurrence_to_graph(rule, tzname='UTC'):
    """A Graph ``patternedRecurrence`` of a canonical rule.

    >>> value = recurrence_to_graph({'freq': 'monthly', 'interval': 2, 'weekdays': ('TU',), 'week': -1,
    ...                              'start': datetime.date(2027, 1, 26), 'until': datetime.date(2027, 12, 31)})
    >>> value['pattern'], value['range']['type'], value['range']['endDate']
    ({'type': 'relativeMonthly', 'interval': 2, 'daysOfWeek': ['tuesday'], 'index': 'last'}, 'endDate', '2027-12-31')
    """
    rule = canon.normalize_recurrence(rule)
    days = [DAYS[canon.WEEKDAYS.index(d)] for d in rule['weekdays']]
    freq = rule['freq']
    pattern = {'type': freq, 'interval': rule['interval']}
    if freq == 'weekly':
        pattern['daysOfWeek'] = days or [DAYS[rule['start'].weekday()]]
    elif freq in ('monthly', 'yearly'):
        relative = rule['week'] is not None and days
        pattern['type'] = ('relative' if relative else 'absolute') + freq.capitalize()
        if relative:
            pattern.update(daysOfWeek=days, index=INDEX.get(rule['week'], 'first'))
        else:
            pattern['dayOfMonth'] = rule['day'] or rule['start'].day
        if freq == 'yearly':
            pattern['month'] = rule['month'] or rule['start'].month
    span = {'startDate': rule['start'].isoformat(), 'recurrenceTimeZone': tzname}
    if rule['count']:
        span.update(type='numbered', numberOfOccurrences=rule['count'])
    elif rule['until']:
        span.update(type='endDate', endDate=rule['until'].isoformat())
    else:
        span['type'] = 'noEnd'
    return {'pattern': pattern, 'range': span}
