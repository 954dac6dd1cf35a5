"""The three-way merge of linked items (sync/reconcile.py), without a database."""
import datetime
import doctest

import pytest

from .. import reconcile as module
from ..reconcile import reconcile

BASE = {'subject': 'Call', 'location': 'Room 1', 'body': 'Agenda'}
EARLY, LATE = datetime.datetime(2026, 11, 1, 9), datetime.datetime(2026, 11, 1, 10)
BOTH = {'subject': 'both', 'location': 'both', 'body': 'both'}


def test_doctests():
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0


def test_nothing_changed_writes_nothing():
    merge = reconcile(dict(BASE), dict(BASE), BASE, BASE, BOTH)
    assert not merge.changes and not merge.conflicts
    assert merge.base_local == merge.base_remote == BASE


def test_what_the_sync_wrote_is_not_synced_back():
    first = reconcile(dict(BASE, subject='New'), dict(BASE), BASE, BASE, BOTH)
    assert first.to_exchange == {'subject': 'New'}
    # Next run: Exchange now holds what the sync wrote; nothing flows either way.
    again = reconcile(dict(BASE, subject='New'), dict(BASE, subject='New'), first.base_local,
                      first.base_remote, BOTH)
    assert not again.changes


@pytest.mark.parametrize('rule, local_time, remote_time, winner', [
    ('recent', LATE, EARLY, 'odoo'), ('recent', EARLY, LATE, 'exchange'),
    ('odoo', EARLY, LATE, 'odoo'), ('exchange', LATE, EARLY, 'exchange'),
])
def test_concurrent_edits_follow_the_rule_and_keep_the_loser(rule, local_time, remote_time, winner):
    merge = reconcile(dict(BASE, subject='Odoo'), dict(BASE, subject='Outlook'), BASE, BASE, BOTH,
                      rule=rule, local_time=local_time, remote_time=remote_time)
    assert merge.conflicts == [module.Conflict('subject', 'Odoo', 'Outlook', winner)]
    if winner == 'odoo':
        assert (merge.to_exchange, merge.to_odoo) == ({'subject': 'Odoo'}, {})
    else:
        assert (merge.to_exchange, merge.to_odoo) == ({}, {'subject': 'Outlook'})
    assert merge.base_local['subject'] == merge.base_remote['subject']


def test_same_edit_on_both_sides_is_no_conflict():
    merge = reconcile(dict(BASE, subject='Same'), dict(BASE, subject='Same'), BASE, BASE, BOTH)
    assert not merge.changes and not merge.conflicts


def test_one_way_fields_have_a_single_source():
    directions = {'subject': 'to_exchange', 'location': 'to_odoo', 'body': 'none'}
    local = dict(BASE, subject='S odoo', location='L odoo', body='B odoo')
    remote = dict(BASE, subject='S ex', location='L ex', body='B ex')
    merge = reconcile(local, remote, BASE, BASE, directions)
    assert merge.to_exchange == {'subject': 'S odoo'}
    assert merge.to_odoo == {'location': 'L ex'}
    assert not merge.conflicts, 'a field with one source is no conflict'
    # A change on the side that is not the source stays there and is not retried.
    again = reconcile(dict(merge.base_local, subject='S odoo'), dict(merge.base_remote, location='L2'),
                      merge.base_local, merge.base_remote, directions)
    assert again.to_exchange == {} and again.to_odoo == {'location': 'L2'}


def test_a_new_link_pushes_the_side_that_has_values():
    merge = reconcile(dict(BASE), {}, {}, {}, BOTH)
    assert merge.to_exchange == BASE and not merge.to_odoo


def test_unknown_direction_or_rule_is_refused():
    with pytest.raises(ValueError):
        reconcile(BASE, BASE, BASE, BASE, {'subject': 'sideways'})
    with pytest.raises(ValueError):
        reconcile(BASE, BASE, BASE, BASE, BOTH, rule='coin')
