"""FindItem restrictions and sort orders over stored items.

Supported: And, Or, Not, Exists, IsEqualTo, IsNotEqualTo, IsGreaterThan(OrEqualTo),
IsLessThan(OrEqualTo) with a FieldURIOrConstant, and Contains (Substring,
Prefixed, FullString; IgnoreCase or exact). Date-times are compared as instants.
Anything else is refused with ErrorUnsupportedPathForQuery rather than ignored.
"""
import datetime

from .shapes import computed_values
from .soap import local, tq
from .store import StoreError

COMPARE = {
    'IsEqualTo': lambda a, b: a == b, 'IsNotEqualTo': lambda a, b: a != b,
    'IsGreaterThan': lambda a, b: a > b, 'IsGreaterThanOrEqualTo': lambda a, b: a >= b,
    'IsLessThan': lambda a, b: a < b, 'IsLessThanOrEqualTo': lambda a, b: a <= b,
}


def _normalise(text):
    text = (text or '').strip()
    try:
        value = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        return text.lower() if text.lower() in ('true', 'false') else text
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.isoformat()


def _values(path, item):
    """All text values of the field at ``path`` (several for Categories, recipients...)."""
    if local(path) != 'FieldURI':
        raise StoreError('ErrorUnsupportedPathForQuery', 'Only FieldURI paths are supported here.')
    elem = computed_values(item).get(path.get('FieldURI').split(':', 1)[1])
    if elem is None:
        return []
    if len(elem):
        return [child.text or '' for child in elem.iter() if len(child) == 0 and child.text]
    return [elem.text or '']


def matches(expr, item):
    name = local(expr)
    if name == 'And':
        return all(matches(child, item) for child in expr)
    if name == 'Or':
        return any(matches(child, item) for child in expr)
    if name == 'Not':
        return not matches(expr[0], item)
    if name == 'Exists':
        return bool(_values(expr[0], item))
    if name in COMPARE:
        constant = expr.find('%s/%s' % (tq('FieldURIOrConstant'), tq('Constant')))
        if constant is None:
            raise StoreError('ErrorUnsupportedPathForQuery', 'Only constants can be compared.')
        wanted = _normalise(constant.get('Value'))
        return any(COMPARE[name](_normalise(v), wanted) for v in _values(expr[0], item))
    if name == 'Contains':
        wanted = expr.find(tq('Constant')).get('Value')
        fold = expr.get('ContainmentComparison', 'Exact') != 'Exact'
        mode = expr.get('ContainmentMode', 'Substring')
        for value in _values(expr[0], item):
            a, b = (value.lower(), wanted.lower()) if fold else (value, wanted)
            if (mode == 'FullString' and a == b or mode == 'Prefixed' and a.startswith(b)
                    or mode not in ('FullString', 'Prefixed') and b in a):
                return True
        return False
    raise StoreError('ErrorUnsupportedPathForQuery', 'Restriction %s is not supported here.' % name)


def sort_key(path, item):
    values = _values(path, item)
    return _normalise(values[0]) if values else ''
