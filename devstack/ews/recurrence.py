"""Recurrence patterns of calendar items: the dates a pattern gives and the instants of a series.

Exchange stores one master item with a pattern (DailyRecurrence, WeeklyRecurrence,
AbsoluteMonthlyRecurrence, RelativeMonthlyRecurrence, AbsoluteYearlyRecurrence,
RelativeYearlyRecurrence) and a range (NoEndRecurrence, EndDateRecurrence,
NumberedRecurrence), and expands occurrences when asked. Each occurrence starts at
the master's local start time in the series' start time zone, so a 09:00 Chicago
meeting stays 09:00 local across a daylight-saving change (its UTC time moves).

Time zones arrive as Windows ids (``StartTimeZone Id="Central Standard Time"``);
they are mapped to IANA names with the CLDR table that tzlocal (a dependency of
exchangelib) ships, and resolved with backports.zoneinfo.
"""
import calendar
import datetime
import itertools

from backports import zoneinfo
from tzlocal.windows_tz import win_tz

from .soap import local, tq
from .store import StoreError

UTC = datetime.timezone.utc
WEEKDAYS = ('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday')
WEEK_INDEXES = ('First', 'Second', 'Third', 'Fourth', 'Last')
MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
          'September', 'October', 'November', 'December')
PATTERNS = ('DailyRecurrence', 'WeeklyRecurrence', 'AbsoluteMonthlyRecurrence',
            'RelativeMonthlyRecurrence', 'AbsoluteYearlyRecurrence', 'RelativeYearlyRecurrence')
RANGES = ('NoEndRecurrence', 'EndDateRecurrence', 'NumberedRecurrence')
HORIZON_YEARS = 100  # a series without end is expanded this far at most


def invalid(text):
    return StoreError('ErrorInvalidRecurrence', text)


def zone(tz_id):
    """A Windows time zone id (or an IANA name, as Exchange also accepts) -> ZoneInfo."""
    if not tz_id or tz_id in ('UTC', 'tzone://Microsoft/Utc'):
        return zoneinfo.ZoneInfo('UTC')
    name = win_tz.get(tz_id) or (tz_id if '/' in tz_id else None)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, TypeError, ValueError):
        raise StoreError('ErrorTimeZone', 'The time zone %r is not known.' % tz_id)


def item_zone(fields, name='StartTimeZone'):
    """The time zone of a calendar item's start (StartTimeZone, else MeetingTimeZone, else UTC)."""
    for key in (name, 'MeetingTimeZone'):
        elem = fields.get(key)
        if elem is not None:
            return zone(elem.get('Id') or elem.get('TimeZoneName') or elem.get('Name'))
    return zone(None)


def parse_date(text):
    """xs:date as Exchange sends it, maybe with an offset (2027-03-01 or 2027-03-01-06:00)."""
    try:
        return datetime.date.fromisoformat((text or '').strip()[:10])
    except ValueError:
        raise invalid('The recurrence date %r is invalid.' % text)


def date_with_offset(day, tz):
    """xs:date with the UTC offset ``tz`` has at the start of ``day``: 2027-03-01-06:00."""
    offset = datetime.datetime.combine(day, datetime.time()).replace(tzinfo=tz).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    sign = '-' if minutes < 0 else '+'
    return '%s%s%02d:%02d' % (day.isoformat(), sign, abs(minutes) // 60, abs(minutes) % 60)


def _parts(recurrence):
    pattern = boundary = None
    for child in recurrence:
        if local(child) in PATTERNS:
            pattern = child
        elif local(child) in RANGES:
            boundary = child
    if pattern is None or boundary is None:
        raise invalid('A recurrence needs a pattern and a range this endpoint knows.')
    return pattern, boundary


def _int(elem, name, default=None, low=1, high=999):
    text = elem.findtext(tq(name))
    if text is None:
        if default is None:
            raise invalid('%s needs %s.' % (local(elem), name))
        return default
    value = int(text)
    if not low <= value <= high:
        raise invalid('%s %s is out of range.' % (local(elem), name))
    return value


def _month(elem):
    text = (elem.findtext(tq('Month')) or '').strip()
    if text not in MONTHS:
        raise invalid('%s needs a Month.' % local(elem))
    return MONTHS.index(text) + 1


def _day_in_month(year, month, day):
    return datetime.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _relative_day(year, month, spec, index):
    """The 'First Monday' / 'Last Weekday' / 'Second Day' of a month."""
    days = [datetime.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    if spec in WEEKDAYS:
        days = [d for d in days if d.weekday() == WEEKDAYS.index(spec)]
    elif spec == 'Weekday':
        days = [d for d in days if d.weekday() < 5]
    elif spec == 'WeekendDay':
        days = [d for d in days if d.weekday() >= 5]
    elif spec != 'Day':
        raise invalid('DaysOfWeek %r is invalid here.' % spec)
    return days[-1] if index == 'Last' else days[WEEK_INDEXES.index(index)]


def _relative(elem):
    spec = (elem.findtext(tq('DaysOfWeek')) or '').strip()
    index = (elem.findtext(tq('DayOfWeekIndex')) or '').strip()
    if index not in WEEK_INDEXES:
        raise invalid('%s needs a DayOfWeekIndex.' % local(elem))
    return spec, index


def _months(start, interval, pick):
    """Dates ``pick(year, month)`` every ``interval`` months from the month of ``start``."""
    year, month = start.year, start.month
    while True:
        day = pick(year, month)
        if day >= start:
            yield day
        month += interval
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _weekly(pattern, start):
    interval = _int(pattern, 'Interval')
    names = (pattern.findtext(tq('DaysOfWeek')) or '').split()
    if not names or any(name not in WEEKDAYS for name in names):
        raise invalid('WeeklyRecurrence needs DaysOfWeek (Monday...Sunday).')
    wanted = {WEEKDAYS.index(name) for name in names}
    first = (pattern.findtext(tq('FirstDayOfWeek')) or 'Sunday').strip()
    week = start - datetime.timedelta(days=(start.weekday() - WEEKDAYS.index(first)) % 7)
    while True:
        for offset in range(7):
            day = week + datetime.timedelta(days=offset)
            if day >= start and day.weekday() in wanted:
                yield day
        week += datetime.timedelta(weeks=interval)


def _pattern_dates(pattern, start):
    """All dates of ``pattern`` on or after ``start``, in order (endless)."""
    name = local(pattern)
    if name == 'DailyRecurrence':
        step = datetime.timedelta(days=_int(pattern, 'Interval'))
        return (start + step * n for n in itertools.count())
    if name == 'WeeklyRecurrence':
        return _weekly(pattern, start)
    if name == 'AbsoluteMonthlyRecurrence':
        day = _int(pattern, 'DayOfMonth', high=31)
        return _months(start, _int(pattern, 'Interval'), lambda y, m: _day_in_month(y, m, day))
    if name == 'RelativeMonthlyRecurrence':
        spec, index = _relative(pattern)
        return _months(start, _int(pattern, 'Interval'), lambda y, m: _relative_day(y, m, spec, index))
    month = _month(pattern)
    if name == 'AbsoluteYearlyRecurrence':
        day = _int(pattern, 'DayOfMonth', high=31)
        return (d for d in (_day_in_month(y, month, day) for y in itertools.count(start.year))
                if d >= start)
    spec, index = _relative(pattern)  # RelativeYearlyRecurrence
    return (d for d in (_relative_day(y, month, spec, index) for y in itertools.count(start.year))
            if d >= start)


def dates(recurrence):
    """The dates of a ``t:Recurrence`` element, in order, within its range."""
    pattern, boundary = _parts(recurrence)
    start = parse_date(boundary.findtext(tq('StartDate')))
    found = _pattern_dates(pattern, start)
    horizon = start.replace(year=min(start.year + HORIZON_YEARS, 9999))
    found = itertools.takewhile(lambda d: d <= horizon, found)
    if local(boundary) == 'NumberedRecurrence':
        return itertools.islice(found, _int(boundary, 'NumberOfOccurrences'))
    if local(boundary) == 'EndDateRecurrence':
        end = parse_date(boundary.findtext(tq('EndDate')))
        return itertools.takewhile(lambda d: d <= end, found)
    return found


def has_end(recurrence):
    return local(_parts(recurrence)[1]) != 'NoEndRecurrence'


def instants(recurrence, start, end, tz):
    """(index, start, end) of every occurrence as aware UTC datetimes, 1-based index.

    ``start``/``end`` are the master's: their local wall-clock times in ``tz`` are
    kept for every occurrence (and the local duration, so an all-day event stays
    midnight to midnight).
    """
    local_start = start.astimezone(tz).replace(tzinfo=None)
    duration = end.astimezone(tz).replace(tzinfo=None) - local_start
    for index, day in enumerate(dates(recurrence), 1):
        wall = datetime.datetime.combine(day, local_start.time())
        yield (index, wall.replace(tzinfo=tz).astimezone(UTC),
               (wall + duration).replace(tzinfo=tz).astimezone(UTC))
