"""Three-way merge of one linked item: what a sync writes to Odoo, to Exchange, and which
concurrent edits conflicted.

Each side is compared with its own *base*: the canonical values that side had when the
item was last synced. A field that differs from its base changed on that side since; a
change the sync itself wrote is part of the new base, so it is never synced back. A
field's direction limits where it may flow. When both sides changed a field to
different values, the direction decides if it has a single source, else the conflict
rule: 'recent' (the side modified last wins), 'odoo' or 'exchange'. The loser's value
is reported so that the user can see it.

>>> base = {'subject': 'Call', 'location': 'Room 1'}
>>> merge = reconcile({'subject': 'Call', 'location': 'Room 2'}, {'subject': 'Call Anna', 'location': 'Room 1'},
...                   base, base, {'subject': 'both', 'location': 'both'})
>>> merge.to_odoo, merge.to_exchange, merge.conflicts
({'subject': 'Call Anna'}, {'location': 'Room 2'}, [])
>>> merge.base_local == merge.base_remote == {'subject': 'Call Anna', 'location': 'Room 2'}
True

A direction keeps a field from flowing the other way (and the next run does not retry it):

>>> merge = reconcile({'subject': 'Mine'}, {'subject': 'Call'}, base, base, {'subject': 'to_odoo'})
>>> merge.to_exchange, merge.base_local['subject']
({}, 'Mine')

Both sides changed: the most recent change wins, the other is kept as a conflict:

>>> import datetime
>>> merge = reconcile({'subject': 'A'}, {'subject': 'B'}, base, base, {'subject': 'both'},
...                   local_time=datetime.datetime(2026, 1, 1, 10), remote_time=datetime.datetime(2026, 1, 1, 9))
>>> merge.to_exchange, merge.conflicts
({'subject': 'A'}, [Conflict(field='subject', odoo_value='A', exchange_value='B', winner='odoo')])
"""
import collections

DIRECTIONS = ('both', 'to_exchange', 'to_odoo', 'none')
RULES = ('recent', 'odoo', 'exchange')
_MISSING = object()

Conflict = collections.namedtuple('Conflict', 'field odoo_value exchange_value winner')


class Merge(object):
    """The outcome: values to write on each side, conflicts, and the bases to store once
    the writes are done."""

    def __init__(self):
        self.to_odoo = {}
        self.to_exchange = {}
        self.conflicts = []
        self.base_local = {}
        self.base_remote = {}

    @property
    def changes(self):
        return bool(self.to_odoo or self.to_exchange)


def _flows(direction, towards):
    return direction == 'both' or direction == towards


def reconcile(local, remote, base_local, base_remote, directions, rule='recent',
              local_time=None, remote_time=None):
    """Merge the canonical values ``local`` (Odoo) and ``remote`` (Exchange) of one item.

    ``base_local``/``base_remote``: each side's values at the last sync (empty for a new
    link: every field then counts as changed on that side). A field missing from ``local``
    or ``remote`` was not read on that side and counts as unchanged there. ``directions``: field ->
    one of DIRECTIONS; fields not listed are left alone. ``local_time``/``remote_time``:
    when each side was last modified (comparable datetimes), for the 'recent' rule.
    """
    if rule not in RULES:
        raise ValueError(rule)
    merge = Merge()
    for field, direction in sorted(directions.items()):
        if direction not in DIRECTIONS:
            raise ValueError(direction)
        if field not in local and field not in remote:
            continue
        here, there = local.get(field), remote.get(field)
        merge.base_local[field] = here if field in local else base_local.get(field)
        merge.base_remote[field] = there if field in remote else base_remote.get(field)
        if direction == 'none' or (field in local and field in remote and here == there):
            continue
        # A side that did not report the field (not read) did not change it.
        local_changed = field in local and base_local.get(field, _MISSING) != here
        remote_changed = field in remote and base_remote.get(field, _MISSING) != there
        if local_changed and remote_changed:
            winner = _winner(direction, rule, local_time, remote_time)
            if direction == 'both':
                merge.conflicts.append(Conflict(field, here, there, winner))
        elif local_changed:
            winner = 'odoo'
        elif remote_changed:
            winner = 'exchange'
        else:  # both as last synced, yet different: a direction that keeps them apart
            continue
        if winner == 'odoo' and _flows(direction, 'to_exchange'):
            merge.to_exchange[field] = here
            merge.base_remote[field] = here
        elif winner == 'exchange' and _flows(direction, 'to_odoo'):
            merge.to_odoo[field] = there
            merge.base_local[field] = there
    return merge


def _winner(direction, rule, local_time, remote_time):
    if direction == 'to_exchange':
        return 'odoo'
    if direction == 'to_odoo':
        return 'exchange'
    if rule == 'recent':
        if local_time is None or remote_time is None:
            return 'exchange' if local_time is None else 'odoo'
        return 'odoo' if local_time > remote_time else 'exchange'
    return rule
