"""Appointments, contacts and tasks as plain Python values: the contract between the
Exchange connector and the Odoo side.

A record read from Exchange is a ``RemoteRecord`` whose ``values`` hold canonical
fields (``FIELDS`` per kind) with plain values that compare with ``==``: text is
'' when empty, anything else None. Appointment times are aware UTC datetimes, or
``datetime.date`` for all-day events (end exclusive, as Exchange: a one-day event
on 3 March ends on 4 March); ``timezone`` is the IANA name of the start time zone.

All-day events are midnight to midnight in their own time zone; keeping that zone
is what stops a user at UTC-6 or UTC+13 from seeing them a day off:

>>> all_day_bounds(datetime.date(2027, 3, 3), datetime.date(2027, 3, 4), 'Pacific/Auckland')
(datetime.datetime(2027, 3, 2, 11, 0, tzinfo=datetime.timezone.utc), \
datetime.datetime(2027, 3, 3, 11, 0, tzinfo=datetime.timezone.utc))
>>> all_day_dates(*all_day_bounds(datetime.date(2027, 3, 3), datetime.date(2027, 3, 4),
...                                'America/Regina'), 'America/Regina')
(datetime.date(2027, 3, 3), datetime.date(2027, 3, 4))
"""
import datetime
import html
import html.parser
import re

try:
    import zoneinfo
except ImportError:  # Python 3.7: the backport exchangelib depends on
    from backports import zoneinfo


from .kinds import FIELDS, NAMES as KINDS  # noqa: F401 (the kinds and their fields: kinds.py)

# Fields whose empty value is None rather than ''.
NON_TEXT = {'start', 'end', 'all_day', 'attendees', 'recurrence', 'due', 'percent'}
# Appointment fields that only make sense together: a write gives all of them or none.
TIME_FIELDS = ('start', 'end', 'all_day', 'timezone')
# Fields an exception (modified occurrence) of a series carries.
OCCURRENCE_FIELDS = tuple(f for f in FIELDS['appointment'] if f != 'recurrence')

SHOW_AS = ('free', 'tentative', 'busy', 'oof', 'workingelsewhere')
IMPORTANCE = ('low', 'normal', 'high')
TASK_STATUS = ('NotStarted', 'InProgress', 'Completed', 'WaitingOnOthers', 'Deferred')
WEEKDAYS = ('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')
FREQS = ('daily', 'weekly', 'monthly', 'yearly')
UTC = datetime.timezone.utc


class RemoteRecord(object):
    """An appointment, contact or task as Exchange has it (see the module docstring)."""

    def __init__(self, kind, item_id, change_key=None, uid=None, categories=(), last_modified=None,
                 values=None, exceptions=()):
        self.kind = kind
        self.item_id = item_id
        self.change_key = change_key
        self.uid = uid
        self.categories = tuple(categories or ())
        self.last_modified = last_modified
        self.values = dict(values or {})
        self.exceptions = list(exceptions)

    def __repr__(self):
        return '<RemoteRecord %s %s>' % (self.kind, self.item_id)


class RemoteOccurrence(object):
    """One exception of a recurring series: moved or edited (``values`` set), or
    cancelled. ``original_start`` (aware UTC) is the start the series gave it."""

    def __init__(self, original_start, cancelled=False, item_id=None, change_key=None, values=None):
        self.original_start = original_start
        self.cancelled = cancelled
        self.item_id = item_id
        self.change_key = change_key
        self.values = dict(values or {})

    def __repr__(self):
        return '<RemoteOccurrence %s%s>' % (self.original_start, ' cancelled' if self.cancelled else '')


def empty(field):
    """The canonical empty value of a field.

    >>> empty('subject'), empty('due')
    ('', None)
    """
    return None if field in NON_TEXT else ''


def get_zone(name):
    """The tzinfo of an IANA name; UTC for an empty or unknown one."""
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def all_day_bounds(start, end, tzname):
    """The aware UTC instants of midnight of the dates ``start`` and ``end`` in ``tzname``:
    what Exchange stores for an all-day event. An ``end`` not after ``start`` becomes
    the next day."""
    if end is None or end <= start:
        end = start + datetime.timedelta(days=1)
    zone = get_zone(tzname)
    return tuple(datetime.datetime.combine(day, datetime.time(0)).replace(tzinfo=zone).astimezone(UTC)
                 for day in (start, end))


def all_day_dates(start, end, tzname):
    """The dates of an all-day event whose Exchange bounds are the instants ``start`` and
    ``end``, read in ``tzname`` (the event's start time zone)."""
    zone = get_zone(tzname)
    first = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    return first, max(last, first + datetime.timedelta(days=1))


def as_utc(value):
    """An aware datetime in UTC (plain ``datetime``, not a subclass), or None.

    >>> as_utc(datetime.datetime(2027, 1, 5, 9, 0, tzinfo=get_zone('Europe/Berlin')))
    datetime.datetime(2027, 1, 5, 8, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    value = value.astimezone(UTC)
    return datetime.datetime(value.year, value.month, value.day, value.hour, value.minute,
                             value.second, value.microsecond, tzinfo=UTC)


def as_date(value):
    """A plain ``datetime.date`` (not a subclass such as EWSDate), or None."""
    return None if value is None else datetime.date(value.year, value.month, value.day)


class _TextExtractor(html.parser.HTMLParser):
    BREAKS = {'br', 'p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table'}
    HIDDEN = {'head', 'style', 'script', 'title'}

    def __init__(self):
        super(_TextExtractor, self).__init__(convert_charrefs=True)
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == 'br':
            self.parts.append('\n')
        elif tag in self.BREAKS:
            self._block()

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BREAKS:
            self._block()

    def _block(self):
        """A block edge starts a new line, but never adds an empty one."""
        if self.parts and not self.parts[-1].endswith('\n'):
            self.parts.append('\n')

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(re.sub(r'\s+', ' ', data))


def html_to_text(markup):
    """Readable plain text of an HTML body.

    >>> html_to_text('<html><head><style>p {}</style></head><body><p>Hello&nbsp;<b>you</b></p>'
    ...              '<div>line&lt;2&gt;<br>line 3</div><p>&nbsp;</p><p>Bye</p></body></html>')
    'Hello you\\nline<2>\\nline 3\\n\\nBye'
    """
    parser = _TextExtractor()
    parser.feed(markup or '')
    parser.close()
    text = ''.join(parser.parts).replace('\xa0', ' ')
    lines = [line.strip() for line in text.split('\n')]
    return re.sub(r'\n{3,}', '\n\n', '\n'.join(lines)).strip()


def plain_text(value, is_html=False):
    """Canonical body text: HTML stripped, Unix line ends, no trailing blanks.

    >>> plain_text('Agenda\\r\\n- one\\r\\n\\r\\n')
    'Agenda\\n- one'
    """
    if not value:
        return ''
    if is_html:
        return html_to_text(value)
    return '\n'.join(line.rstrip() for line in value.replace('\r\n', '\n').replace('\r', '\n')
                     .split('\n')).rstrip()


def attendees_value(entries):
    """The canonical attendee tuple from (email, name, 'required'|'optional') entries:
    emails lower-cased, one entry per email (required wins), sorted.

    >>> attendees_value([('Bob@X.test', 'Bob', 'optional'), ('ann@x.test', '', 'required'),
    ...                  ('bob@x.test', 'Bob', 'required')])
    (('ann@x.test', '', 'required'), ('bob@x.test', 'Bob', 'required'))
    """
    found = {}
    for email, name, role in entries:
        email = (email or '').strip().lower()
        if not email:
            continue
        if email not in found or role == 'required':
            found[email] = (email, name or '', role)
    return tuple(sorted(found.values())) or None


def normalize_recurrence(rule):
    """A recurrence dict with every key present, so that two of them compare with ``==``.

    Keys: ``freq`` ('daily', 'weekly', 'monthly', 'yearly'), ``interval``, ``weekdays``
    (tuple of 'MO'..'SU': weekly days, or the day of a "second Tuesday" rule), ``day``
    (day of the month), ``week`` (1..4, or -1 for the last: "second Tuesday"), ``month``
    (1..12, yearly), ``start`` (date), ``count`` and ``until`` (date): at most one of them.

    >>> normalize_recurrence({'freq': 'weekly', 'weekdays': ['FR', 'MO'],
    ...                       'start': datetime.date(2027, 1, 4), 'count': 3}) == {
    ...     'freq': 'weekly', 'interval': 1, 'weekdays': ('MO', 'FR'), 'day': None, 'week': None,
    ...     'month': None, 'start': datetime.date(2027, 1, 4), 'count': 3, 'until': None}
    True
    """
    if not rule:
        return None
    freq = rule.get('freq')
    if freq not in FREQS:
        raise ValueError('unknown recurrence frequency %r' % (freq,))
    weekdays = tuple(sorted(set(rule.get('weekdays') or ()), key=WEEKDAYS.index))
    count = rule.get('count') or None
    return {
        'freq': freq, 'interval': 1 if freq == 'yearly' else int(rule.get('interval') or 1),
        'weekdays': weekdays, 'day': rule.get('day') or None, 'week': rule.get('week') or None,
        'month': rule.get('month') or None, 'start': as_date(rule.get('start')),
        'count': int(count) if count else None,
        'until': None if count else as_date(rule.get('until')),
    }


# EWS recurrence elements: "DayOfWeekIndex" First..Fourth, Last; extra "DaysOfWeek" values
# of relative patterns (Day, Weekday, WeekendDay) as the sets of days they stand for.
_LAST_WEEK = 5
_DAY_GROUPS = {8: WEEKDAYS, 9: WEEKDAYS[:5], 10: WEEKDAYS[5:]}


def recurrence_to_ews(rule):
    """(pattern element, its attributes, boundary element, its attributes) of a canonical
    rule, attributes named as exchangelib's recurrence classes name them (weekdays
    1 = Monday, week_number 1..5 with 5 the last, month 1..12).

    >>> recurrence_to_ews({'freq': 'monthly', 'interval': 2, 'weekdays': ('TU',), 'week': -1,
    ...                    'start': datetime.date(2027, 1, 26), 'until': datetime.date(2027, 12, 31)})
    ('RelativeMonthlyRecurrence', {'interval': 2, 'weekday': 2, 'week_number': 5}, \
'EndDateRecurrence', {'start': datetime.date(2027, 1, 26), 'end': datetime.date(2027, 12, 31)})
    """
    rule = normalize_recurrence(rule)
    freq, days = rule['freq'], [WEEKDAYS.index(d) + 1 for d in rule['weekdays']]
    if rule['start'] is None:
        raise ValueError('a recurrence needs its start date')
    if freq == 'daily':
        pattern = ('DailyRecurrence', {'interval': rule['interval']})
    elif freq == 'weekly':
        pattern = ('WeeklyRecurrence', {'interval': rule['interval'],
                                        'weekdays': days or [rule['start'].isoweekday()]})
    else:
        relative = rule['week'] is not None and days
        attrs = {} if freq == 'yearly' else {'interval': rule['interval']}
        if relative:
            group = [n for n, names in _DAY_GROUPS.items() if tuple(rule['weekdays']) == names]
            attrs.update(weekday=group[0] if group else days[0],
                         week_number=_LAST_WEEK if rule['week'] < 0 else min(rule['week'], 4))
        else:
            attrs['day_of_month'] = rule['day'] or rule['start'].day
        if freq == 'yearly':
            attrs['month'] = rule['month'] or rule['start'].month
        pattern = ('%s%sRecurrence' % ('Relative' if relative else 'Absolute', freq.capitalize()), attrs)
    if rule['count']:
        boundary = ('NumberedRecurrence', {'start': rule['start'], 'number': rule['count']})
    elif rule['until']:
        boundary = ('EndDateRecurrence', {'start': rule['start'], 'end': rule['until']})
    else:
        boundary = ('NoEndRecurrence', {'start': rule['start']})
    return pattern + boundary


def recurrence_from_ews(pattern, attrs, boundary, boundary_attrs):
    """The canonical rule of an EWS recurrence (the inverse of ``recurrence_to_ews``);
    None for a pattern we do not know (task regeneration patterns).

    >>> rule = recurrence_from_ews('WeeklyRecurrence', {'interval': 1, 'weekdays': [5, 1]},
    ...                            'NumberedRecurrence', {'start': datetime.date(2027, 1, 4), 'number': 3})
    >>> rule['freq'], rule['weekdays'], rule['count'], rule['until']
    ('weekly', ('MO', 'FR'), 3, None)
    """
    freqs = {'DailyRecurrence': 'daily', 'WeeklyRecurrence': 'weekly',
             'AbsoluteMonthlyRecurrence': 'monthly', 'RelativeMonthlyRecurrence': 'monthly',
             'AbsoluteYearlyRecurrence': 'yearly', 'RelativeYearlyRecurrence': 'yearly'}
    if pattern not in freqs:
        return None
    rule = {'freq': freqs[pattern], 'interval': attrs.get('interval') or 1,
            'day': attrs.get('day_of_month'), 'month': attrs.get('month')}
    if pattern == 'WeeklyRecurrence':
        rule['weekdays'] = [WEEKDAYS[n - 1] for n in attrs.get('weekdays') or ()]
    elif pattern.startswith('Relative'):
        weekday = attrs.get('weekday')
        rule['weekdays'] = _DAY_GROUPS.get(weekday) or (WEEKDAYS[weekday - 1],)
        rule['week'] = -1 if attrs.get('week_number') == _LAST_WEEK else attrs.get('week_number')
    start = boundary_attrs.get('start')
    rule['start'] = start.date() if isinstance(start, datetime.datetime) else start
    if boundary == 'NumberedRecurrence':
        rule['count'] = boundary_attrs.get('number')
    elif boundary == 'EndDateRecurrence':
        end = boundary_attrs.get('end')
        rule['until'] = end.date() if isinstance(end, datetime.datetime) else end
    return normalize_recurrence(rule)
