"""JSON for canonical values (see sync/items.py): what a sync link remembers of each side.

A link stores the canonical values of both sides as they were at the last sync (the
"base" of a three-way comparison). Canonical values are plain Python values compared
with ``==``, and some of them are not JSON types: dates, aware UTC datetimes, tuples
(attendees, weekdays, categories). These helpers tag such values so that they load
back as the same type and compare equal to what was stored:

- ``datetime.date``      -> ``{"$date": "2024-03-03"}``
- ``datetime.datetime``  -> ``{"$datetime": "2024-03-03T09:30:00+00:00"}`` (aware only,
  stored and loaded in UTC)
- ``tuple``              -> ``{"$tuple": [...]}`` (items tagged in turn)
- a plain dict that could be mistaken for a tag (one key starting with ``$``) ->
  ``{"$dict": {...}}``

Output is deterministic (sorted keys, no spaces), so an unchanged value stores the
same text. Naive datetimes are refused: the canonical contract is aware UTC, and a
naive one is a bug of whoever produced it, better caught here than stored wrongly.

>>> import datetime
>>> utc = datetime.timezone.utc
>>> values = {
...     'subject': 'Budget review',
...     'start': datetime.datetime(2024, 3, 3, 9, 30, tzinfo=utc),
...     'all_day': False,
...     'attendees': (('ann@example.com', 'Ann', 'required'),),
...     'recurrence': {'freq': 'weekly', 'interval': 1, 'weekdays': ('MO', 'WE'),
...                    'start': datetime.date(2024, 3, 3), 'count': None, 'until': None},
...     'percent': 12.5,
... }
>>> text = dumps(values)
>>> text[:60]
'{"all_day":false,"attendees":{"$tuple":[{"$tuple":["ann@exam'
>>> loads(text) == values
True
>>> loads(text)['recurrence']['weekdays']
('MO', 'WE')
>>> loads(text)['start'].tzinfo == utc
True

A datetime in another zone is stored as the same instant in UTC:

>>> regina = datetime.timezone(datetime.timedelta(hours=-6))
>>> dumps({'end': datetime.datetime(2024, 3, 3, 4, 0, tzinfo=regina)})
'{"end":{"$datetime":"2024-03-03T10:00:00+00:00"}}'
>>> loads(dumps({'end': datetime.datetime(2024, 3, 3, 4, 0, tzinfo=regina)}))['end']
datetime.datetime(2024, 3, 3, 10, 0, tzinfo=datetime.timezone.utc)

Dates stay dates (``datetime`` is a subclass of ``date``: the order of checks matters):

>>> loads(dumps({'due': datetime.date(2024, 2, 29)}))
{'due': datetime.date(2024, 2, 29)}

A dict that looks like a tag survives the round trip:

>>> loads(dumps({'x': {'$date': 'not a date'}}))
{'x': {'$date': 'not a date'}}

Empty input and bad values:

>>> loads(None), loads(''), dumps({})
({}, {}, '{}')
>>> dumps({'start': datetime.datetime(2024, 3, 3, 9, 30)})
Traceback (most recent call last):
...
ValueError: naive datetime 2024-03-03 09:30:00: canonical datetimes are aware (UTC)
>>> dumps({'x': {1, 2}})
Traceback (most recent call last):
...
TypeError: no canonical JSON form for set: {1, 2}
"""
import datetime
import json

DATE, DATETIME, TUPLE, DICT = '$date', '$datetime', '$tuple', '$dict'
TAGS = (DATE, DATETIME, TUPLE, DICT)
UTC = datetime.timezone.utc


def encode(value):
    """The JSON-ready form of one canonical value (tags added, recursively)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):  # before date: datetime is a date
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError('naive datetime %s: canonical datetimes are aware (UTC)' % value)
        return {DATETIME: value.astimezone(UTC).isoformat()}
    if isinstance(value, datetime.date):
        return {DATE: value.isoformat()}
    if isinstance(value, tuple):
        return {TUPLE: [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError('canonical dict keys are strings, not %r' % (key,))
            encoded[key] = encode(item)
        if len(encoded) == 1 and next(iter(encoded)).startswith('$'):
            return {DICT: encoded}
        return encoded
    raise TypeError('no canonical JSON form for %s: %r' % (type(value).__name__, value))


def decode(value):
    """The canonical value of a JSON-loaded ``value`` (tags resolved, recursively)."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag == DATETIME:
            return datetime.datetime.fromisoformat(inner).astimezone(UTC)
        if tag == DATE:
            return datetime.date.fromisoformat(inner)
        if tag == TUPLE:
            return tuple(decode(item) for item in inner)
        if tag == DICT:
            return {key: decode(item) for key, item in inner.items()}
    return {key: decode(item) for key, item in value.items()}


def dumps(values):
    """Serialise a dict of canonical values to deterministic JSON text."""
    return json.dumps(encode(dict(values or {})), sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False)


def loads(text):
    """The dict of canonical values stored by :func:`dumps` (``{}`` for empty text)."""
    if not text:
        return {}
    values = decode(json.loads(text))
    if not isinstance(values, dict):
        raise ValueError('canonical JSON holds a dict of values, not %s' % type(values).__name__)
    return values
