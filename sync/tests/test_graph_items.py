"""Appointments, contacts and tasks through the Graph item source (sync/graph_items.py,
sync/graph_pim.py) against the Graph test endpoint over HTTPS: round trips of every
canonical field (a task's percent excepted: To Do has none), delta pages with the
records they carry, partial updates, stale change keys, deletes, a lost delta state,
all-day dates across time zones, an idempotent event creation (transactionId), and
the connector registered for the 'graph' server type's 'act' channel."""
import datetime
import doctest
import itertools
import uuid

import pytest

from .. import graph_pim, items, registry
from ..errors import AuthError, ConflictError, SyncStateInvalid
from ..graph import GraphSettings
from ..ews import SyncPage
from ..graph_items import GraphItemsConnector
from .test_ews_items import sample

pytest_plugins = ['devstack.graph.pytest_fixtures']
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]
SCOPES = ('Contacts.ReadWrite', 'Tasks.ReadWrite', 'Calendars.ReadWrite')
UTC = datetime.timezone.utc


@pytest.fixture
def mailbox(graph_server, graph_no_bugs):
    address = 'items%d-%s@example.test' % (next(_numbers), _RUN)
    graph_server.add_mailbox(address)
    token = 'items-token-' + address
    graph_server.add_token(token, user=address, scopes=SCOPES)
    conn = GraphItemsConnector(GraphSettings(address, base_url=graph_server.url, timeout=10,
                                             cafile=graph_server.certs['ca']), lambda: token)
    try:
        yield conn, address
    finally:
        conn.close()


def test_doctests():
    failures, tried = doctest.testmod(graph_pim)
    assert tried > 0 and failures == 0


def test_registered_for_the_act_channel():
    assert 'act' in registry.lookup('graph').channels


def expected(kind, address):
    values = sample(kind, address)
    if kind == 'task':
        values.pop('percent')  # Microsoft To Do has no percent complete
    return values


@pytest.mark.parametrize('kind', items.KINDS)
def test_every_field_round_trips(mailbox, kind):
    conn, address = mailbox
    values = sample(kind, address)
    item_id, change_key = conn.create_record(kind, {k: v for k, v in values.items() if k != 'organizer'})
    fresh = GraphItemsConnector(conn.settings, conn.credentials)  # nothing cached: read from Graph
    [record] = fresh.get_records(kind, [item_id])
    assert (record.item_id, record.change_key) == (item_id, change_key)
    assert record.values == expected(kind, address)
    if kind == 'appointment':
        assert record.uid


def delta_round(conn, kind, state, size):
    """Every page of one delta round: (changed ids, removed ids, pages, state)."""
    seen, removed, pages = [], [], 0
    while True:
        page = conn.item_changes(kind, state, max_changes=size)
        pages += 1
        seen += [stub.item_id for stub in page.created + page.updated]
        removed += page.deleted
        state = page.state
        if not page.more:
            return seen, removed, pages, state


@pytest.mark.parametrize('kind', items.KINDS)
def test_delta_pages_updates_conflicts_and_deletes(graph_server, mailbox, kind):
    """(The sample appointment is a series: calendarView lists its 13 instances, and the
    item synced is the series, named once a round, its master read once.)"""
    conn, address = mailbox
    values = {k: v for k, v in sample(kind, address).items() if k != 'organizer'}
    ids = [conn.create_record(kind, values, categories=('Tracked to Odoo',))[0] for _ in range(3)]
    fresh = GraphItemsConnector(conn.settings, conn.credentials)
    mark = len(graph_server.requests)
    seen, _removed, pages, state = delta_round(fresh, kind, None, 2)
    if kind == 'appointment':  # each page names the series of its instances (read once)
        assert pages == 20 and list(dict.fromkeys(seen)) == ids
    else:
        assert seen == ids and pages == 2
    records = fresh.get_records(kind, ids)
    extra = {'task': 1, 'appointment': 3 + 3, 'contact': 0}[kind]
    assert len(graph_server.requests) - mark == pages + extra, \
        'the records come with the delta pages (tasks: one look-up of the default list; series: ' \
        'their masters and their instances, one request each)'
    assert records[0].categories == ('Tracked to Odoo',)
    field = {'appointment': 'location', 'contact': 'email2', 'task': 'notes'}[kind]
    new_key = conn.update_record(kind, ids[0], records[0].change_key, {field: 'changed'})
    assert new_key != records[0].change_key
    with pytest.raises(ConflictError):
        conn.update_record(kind, ids[0], records[0].change_key, {field: 'stale'})
    assert conn.delete_record(kind, ids[1]) is True
    assert conn.delete_record(kind, ids[1]) is False
    seen, removed, _pages, round_end = delta_round(fresh, kind, state, 10)
    assert set(seen) == {ids[0]}
    if kind == 'appointment':  # Graph names the deleted series only by its 13 instances
        assert len(removed) == 13 and ids[1] not in removed
        page = fresh.series_removed(kind, SyncPage([], [], removed, round_end, False), ids)
        assert page.deleted == removed + [ids[1]]
        assert [(s.item_id, s.change_key) for s in page.updated] == [(ids[0], new_key), (ids[2], records[2].change_key)]
    else:
        assert removed == [ids[1]]
    [changed] = fresh.get_records(kind, [ids[0]])
    assert changed.values[field] == 'changed'
    others = {k: v for k, v in expected(kind, address).items() if k != field}
    assert {k: v for k, v in changed.values.items() if k != field} == others, 'only that field was written'
    graph_server.expire_delta(address)
    with pytest.raises(SyncStateInvalid):
        fresh.item_changes(kind, round_end)


def test_all_day_events_keep_their_dates_at_utc_minus_6_and_plus_13(mailbox):
    conn, _address = mailbox
    for tzname in ('America/Regina', 'Pacific/Tongatapu'):
        values = {'subject': 'Fair', 'start': datetime.date(2027, 3, 3), 'end': datetime.date(2027, 3, 5),
                  'all_day': True, 'timezone': tzname}
        item_id, _key = conn.create_record('appointment', values)
        [record] = GraphItemsConnector(conn.settings, conn.credentials).get_records('appointment', [item_id])
        assert (record.values['start'], record.values['end'], record.values['all_day'], record.values['timezone']) \
            == (datetime.date(2027, 3, 3), datetime.date(2027, 3, 5), True, tzname)


def test_a_retried_event_creation_returns_the_first_event(graph_server, mailbox):
    conn, address = mailbox
    values = {'subject': 'Retry', 'start': datetime.datetime(2027, 4, 1, 9, tzinfo=UTC),
              'end': datetime.datetime(2027, 4, 1, 10, tzinfo=UTC), 'all_day': False, 'timezone': 'UTC',
              'uid': 'retry-%s@odoo' % _RUN}
    first = conn.create_record('appointment', values)
    again = conn.create_record('appointment', values)
    assert first[0] == again[0]
    assert [e['subject'] for e in graph_server.pim_items(address, 'event')] == ['Retry']


def test_check_needs_the_three_permissions(graph_server, mailbox):
    conn, address = mailbox
    assert conn.check() == {}
    graph_server.add_token('mail-only-' + address, user=address, scopes=('Mail.ReadWrite',))
    mail_only = GraphItemsConnector(conn.settings, lambda: 'mail-only-' + address)
    with pytest.raises(AuthError):
        mail_only.check()


def test_a_series_with_a_moved_and_a_cancelled_occurrence(graph_server, mailbox):
    conn, address = mailbox
    first = datetime.datetime(2027, 1, 5, 9, tzinfo=items.get_zone('America/Chicago'))
    values = {'subject': 'Weekly review', 'start': first.astimezone(UTC),
              'end': (first + datetime.timedelta(hours=1)).astimezone(UTC), 'all_day': False,
              'timezone': 'America/Chicago',
              'recurrence': items.normalize_recurrence({'freq': 'weekly', 'weekdays': ('TU',),
                                                        'start': first.date(), 'count': 12})}
    item_id, _key = conn.create_record('appointment', values)
    moved = graph_server.pim_modify_occurrence(address, item_id, '2027-01-12', {
        'start': {'dateTime': '2027-01-12T12:00:00', 'timeZone': 'America/Chicago'},
        'end': {'dateTime': '2027-01-12T13:00:00', 'timeZone': 'America/Chicago'}})
    graph_server.pim_cancel_occurrence(address, item_id, '2027-03-16')  # after the DST change
    page = conn.item_changes('appointment', None, 10)
    assert [s.item_id for s in page.created] == [item_id], 'the exception is not an item of its own'
    [record] = conn.get_records('appointment', [item_id])
    assert [(o.original_start, o.cancelled, o.item_id) for o in record.exceptions] == [
        (datetime.datetime(2027, 1, 12, 15, tzinfo=UTC), False, moved),
        (datetime.datetime(2027, 3, 16, 14, tzinfo=UTC), True, None)]
    assert record.exceptions[0].values['start'] == datetime.datetime(2027, 1, 12, 18, tzinfo=UTC)
    assert record.values['recurrence']['count'] == 12


def test_ids_of_a_profile_moved_from_ews_are_translated(graph_server, mailbox):
    conn, address = mailbox
    item_id, _key = conn.create_record('contact', {'display_name': 'Moved'})
    graph_server.map_exchange_id(address, 'AAMkEWS-1', item_id)
    assert conn.translate_ids(['AAMkEWS-1']) == {}, 'only after a state that was not Graph\'s'
    with pytest.raises(SyncStateInvalid):
        conn.item_changes('contact', 'H4sIAAAAEWS-sync-state', 10)
    assert conn.translate_ids(['AAMkEWS-1', 'AAMkEWS-unknown']) == {'AAMkEWS-1': item_id}
