"""Appointments, contacts and tasks through our connector (sync/ews.py, canonical values of
sync/items.py) against the EWS test endpoint, through the real exchangelib: round trips of
every canonical field, partial updates, stale change keys, deletes and sync state, time
zones of all-day and timed events, recurring series with exceptions, and no meeting
message ever sent."""
import datetime
import doctest
import itertools
import uuid

import exchangelib
import pytest
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import HTMLBody, OccurrenceItemId

from .. import items
from ..endpoint import Credentials
from ..errors import ConflictError, PermanentError, SyncError, SyncStateInvalid
from ..ews import EwsConnector, EwsSettings

pytest_plugins = ['devstack.ews.pytest_fixtures']
pytestmark = pytest.mark.usefixtures('no_server_bugs')
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]
UTC = datetime.timezone.utc


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def local(value, tzname):
    return value.astimezone(items.get_zone(tzname)).replace(tzinfo=None)


@pytest.fixture
def mailbox(ews_server):
    """(connector, address) of a fresh mailbox; the connector is closed afterwards."""
    n = next(_numbers)
    address, password = 'act%d-%s@example.test' % (n, _RUN), 'pw-%d-%s' % (n, _RUN)
    ews_server.add_account(address, password)
    conn = EwsConnector(EwsSettings(address, ews_url=ews_server.url, timeout=10,
                                    cafile=ews_server.certs['ca']), Credentials(address, password))
    try:
        yield conn, address
    finally:
        conn.close()


def sample(kind, address=None):
    """Every canonical field of ``kind`` set (what a round trip must keep)."""
    if kind == 'appointment':
        return {
            'subject': 'Quarterly review \u00e9t\u00e9', 'start': utc(2027, 1, 5, 14, 30),
            'end': utc(2027, 1, 5, 16, 0), 'all_day': False, 'timezone': 'America/New_York',
            'location': 'Room 4', 'body': 'Agenda:\n- figures\n- plans',
            'attendees': (('bob@example.test', 'Bob Builder', 'required'),
                          ('carol@elsewhere.test', 'Carol', 'optional')),
            'organizer': address, 'show_as': 'tentative', 'importance': 'high',
            'recurrence': items.normalize_recurrence({
                'freq': 'weekly', 'interval': 2, 'weekdays': ('TU', 'TH'),
                'start': datetime.date(2027, 1, 5), 'until': datetime.date(2027, 3, 31)}),
        }
    if kind == 'contact':
        return {'first_name': 'Ada', 'last_name': 'Lovelace', 'display_name': 'Ada Lovelace (Analytical)',
                'company': 'Engines Ltd', 'job_title': 'Analyst', 'email': 'ada@engines.test',
                'email2': 'ada.l@home.test', 'email3': 'al@club.test', 'phone': '+44 20 1234',
                'mobile': '+44 77 5678', 'home_phone': '+44 20 9999', 'street': '12 St James Sq',
                'city': 'London', 'state': 'Greater London', 'zip': 'SW1Y 4JH',
                'country': 'United Kingdom'}
    return {'subject': 'Send the offer', 'due': datetime.date(2027, 2, 10),
            'start': datetime.date(2027, 2, 1), 'status': 'InProgress', 'percent': 40.0,
            'notes': 'Call first.\nThen mail.'}


def test_doctests():
    failures, tried = doctest.testmod(items)
    assert tried > 0 and failures == 0


def test_canonical_field_lists_cover_the_samples():
    for kind in items.KINDS:
        assert set(sample(kind, 'x@example.test')) == set(items.FIELDS[kind])


# -- round trips --------------------------------------------------------------------

@pytest.mark.parametrize('kind', items.KINDS)
def test_create_and_read_back_every_canonical_field(ews_server, mailbox, kind):
    conn, address = mailbox
    values = sample(kind, address)
    written = dict(values)
    if kind == 'appointment':
        del written['organizer']  # read-only: the mailbox that saved the item
        written['uid'] = 'odoo-%s@example.test' % uuid.uuid4().hex
    item_id, change_key = conn.create_record(kind, written, categories=['Odoo', 'Customer'])
    assert change_key == ews_server.store.item(item_id)['change_key']
    [record] = conn.get_records(kind, [item_id])
    assert (record.kind, record.item_id, record.change_key) == (kind, item_id, change_key)
    assert record.values == values
    assert record.categories == ('Odoo', 'Customer')
    assert record.last_modified.tzinfo is not None
    assert abs(record.last_modified - datetime.datetime.now(UTC)) < datetime.timedelta(minutes=5)
    if kind == 'appointment':
        assert record.uid == written['uid'] and record.exceptions == []
    else:
        assert record.uid is None
    stored = ews_server.store.item(item_id)
    assert stored['kind'] == {'appointment': 'CalendarItem', 'contact': 'Contact', 'task': 'Task'}[kind]
    assert (stored['fields'].get('Body') is None) == (kind == 'contact')


def test_empty_values_read_back_empty(mailbox):
    conn, address = mailbox
    item_id, _ = conn.create_record('appointment', {
        'subject': '', 'start': utc(2027, 1, 6, 9), 'end': utc(2027, 1, 6, 10)})
    [record] = conn.get_records('appointment', [item_id])
    assert record.values == {
        'subject': '', 'start': utc(2027, 1, 6, 9), 'end': utc(2027, 1, 6, 10), 'all_day': False,
        'timezone': 'UTC', 'location': '', 'body': '', 'attendees': None, 'organizer': address,
        'show_as': 'busy', 'importance': 'normal', 'recurrence': None}
    contact_id, _ = conn.create_record('contact', {'last_name': 'Hopper'})
    [contact] = conn.get_records('contact', [contact_id])
    assert contact.values == dict({f: '' for f in items.FIELDS['contact']}, last_name='Hopper',
                                  display_name='Hopper')  # Exchange requires a display name
    task_id, _ = conn.create_record('task', {'subject': 'Bare'})
    [task] = conn.get_records('task', [task_id])
    assert task.values == {'subject': 'Bare', 'due': None, 'start': None, 'status': 'NotStarted',
                           'percent': 0.0, 'notes': ''}


def test_html_body_is_read_as_plain_text(ews_server, mailbox):
    conn, _address = mailbox
    account = conn.connect()  # Outlook writes HTML bodies
    task = exchangelib.Task(account=account, folder=account.tasks, subject='From Outlook', body=HTMLBody(
        '<html><head><style>p {margin: 0}</style></head><body><p>Dear&nbsp;Ada,</p>'
        '<p>see <b>you</b> &amp; yours</p></body></html>'))
    task.save()
    [record] = conn.get_records('task', [task.id])
    assert record.values['notes'] == 'Dear Ada,\nsee you & yours'


@pytest.mark.parametrize('first,rule', [
    (datetime.date(2027, 1, 15), {'freq': 'daily', 'interval': 3, 'until': datetime.date(2027, 2, 1)}),
    (datetime.date(2027, 1, 15), {'freq': 'monthly', 'interval': 1, 'day': 15, 'count': 5}),
    (datetime.date(2027, 1, 29), {'freq': 'monthly', 'interval': 2, 'weekdays': ('FR',), 'week': -1}),
    (datetime.date(2027, 1, 1), {'freq': 'monthly', 'weekdays': ('MO', 'TU', 'WE', 'TH', 'FR'),
                                 'week': 1}),
    (datetime.date(2027, 1, 15), {'freq': 'yearly', 'day': 15, 'month': 1, 'count': 10}),
    (datetime.date(2027, 11, 25), {'freq': 'yearly', 'weekdays': ('TH',), 'week': 4, 'month': 11}),
])
def test_recurrence_patterns_round_trip(mailbox, first, rule):
    conn, _address = mailbox
    start = datetime.datetime.combine(first, datetime.time(9), tzinfo=UTC)
    item_id, _ = conn.create_record('appointment', {
        'subject': 'Series', 'start': start, 'end': start + datetime.timedelta(hours=1),
        'all_day': False, 'timezone': 'UTC', 'recurrence': rule})  # no start: the event's date
    [record] = conn.get_records('appointment', [item_id])
    assert record.values['recurrence'] == items.normalize_recurrence(dict(rule, start=first))


def test_missing_ids_and_other_classes_are_left_out(ews_server, mailbox):
    conn, address = mailbox
    contact_id, _ = conn.create_record('contact', {'first_name': 'Grace'})
    gone_id, _ = conn.create_record('contact', {'first_name': 'Gone'})
    ews_server.store.delete(gone_id)
    task_id, _ = conn.create_record('task', {'subject': 'not a contact'})
    records = conn.get_records('contact', [gone_id, task_id, contact_id])
    assert [r.item_id for r in records] == [contact_id]
    assert conn.get_records('contact', []) == []


# -- updates ------------------------------------------------------------------------

def test_update_writes_only_the_given_appointment_fields(ews_server, mailbox):
    conn, address = mailbox
    values = sample('appointment', address)
    item_id, change_key = conn.create_record('appointment', values)
    new_key = conn.update_record('appointment', item_id, change_key,
                                 {'subject': 'Renamed', 'location': '', 'attendees': None})
    assert new_key != change_key and new_key == ews_server.store.item(item_id)['change_key']
    [record] = conn.get_records('appointment', [item_id])
    assert record.change_key == new_key
    assert record.values == dict(values, subject='Renamed', location='', attendees=None)
    fields = ews_server.store.item(item_id)['fields']
    assert 'Location' not in fields and 'RequiredAttendees' not in fields
    moved = {'start': utc(2027, 1, 7, 15), 'end': utc(2027, 1, 7, 16), 'all_day': False,
             'timezone': 'Europe/Berlin', 'recurrence': None}
    conn.update_record('appointment', item_id, new_key, moved)
    [record] = conn.get_records('appointment', [item_id])
    assert record.values == dict(values, subject='Renamed', location='', attendees=None, **moved)
    with pytest.raises(ValueError):  # times only together: a lone end would be ambiguous
        conn.update_record('appointment', item_id, record.change_key, {'end': utc(2027, 1, 7, 17)})


def test_update_writes_only_the_given_contact_fields(ews_server, mailbox):
    conn, _address = mailbox
    values = sample('contact')
    item_id, change_key = conn.create_record('contact', values)
    change = {'email2': 'new@home.test', 'mobile': '', 'city': 'Oxford', 'job_title': 'Countess'}
    new_key = conn.update_record('contact', item_id, change_key, change)
    assert new_key != change_key
    [record] = conn.get_records('contact', [item_id])
    assert record.values == dict(values, **change)
    assert 'MobilePhone' not in ews_server.store.item(item_id)['fields']['PhoneNumbers']
    # an empty display name is never deleted (Exchange requires one): it is made up again
    conn.update_record('contact', item_id, new_key, {'display_name': '', 'first_name': 'Augusta',
                                                     'last_name': 'King'})
    [record] = conn.get_records('contact', [item_id])
    assert (record.values['display_name'], record.values['first_name']) == ('Augusta King', 'Augusta')


def test_update_writes_only_the_given_task_fields(ews_server, mailbox):
    conn, _address = mailbox
    values = sample('task')
    item_id, change_key = conn.create_record('task', values)
    new_key = conn.update_record('task', item_id, change_key, {'percent': 75, 'due': None})
    [record] = conn.get_records('task', [item_id])
    assert record.values == dict(values, percent=75.0, due=None)
    assert 'DueDate' not in ews_server.store.item(item_id)['fields']
    assert conn.update_record('task', item_id, new_key, {}) == new_key  # nothing to write
    with pytest.raises(ValueError):
        conn.update_record('task', item_id, new_key, {'priority': 'high'})


def test_stale_change_key_raises_conflict_and_leaves_the_item(ews_server, mailbox):
    conn, _address = mailbox
    item_id, change_key = conn.create_record('task', sample('task'))
    ews_server.store.set_fields(item_id, Subject='Edited in Outlook')
    with pytest.raises(ConflictError) as info:
        conn.update_record('task', item_id, change_key, {'percent': 90})
    assert info.value.code == 'change_key_mismatch' and not info.value.transient
    assert isinstance(info.value, SyncError)
    stored = ews_server.store.item(item_id)
    assert (stored['subject'], stored['fields']['PercentComplete']) == ('Edited in Outlook', '40')
    [fresh] = conn.get_records('task', [item_id])
    conn.update_record('task', item_id, fresh.change_key, {'percent': 90})
    [after] = conn.get_records('task', [item_id])
    assert (after.values['subject'], after.values['percent']) == ('Edited in Outlook', 90.0)


def test_update_of_a_deleted_item_is_item_missing(ews_server, mailbox):
    conn, _address = mailbox
    item_id, change_key = conn.create_record('contact', {'first_name': 'Temp'})
    ews_server.store.delete(item_id)
    with pytest.raises(PermanentError) as info:
        conn.update_record('contact', item_id, change_key, {'first_name': 'Again'})
    assert info.value.code == 'item_missing'


# -- deletes and sync state -----------------------------------------------------------

def test_delete_is_reported_by_item_changes(ews_server, mailbox):
    conn, address = mailbox
    item_id, _ = conn.create_record('appointment', {
        'subject': 'To drop', 'start': utc(2027, 1, 8, 9), 'end': utc(2027, 1, 8, 10),
        'attendees': (('bob@example.test', 'Bob', 'required'),)})
    first = conn.item_changes('appointment')
    assert [r.item_id for r in first.created] == [item_id] and not first.more
    assert conn.delete_record('appointment', item_id) is True
    assert [i['subject'] for i in ews_server.store.contents(address, 'deleteditems')] == ['To drop']
    assert ews_server.store.contents(address, 'calendar') == []
    page = conn.item_changes('appointment', first.state)
    assert (page.created, page.updated, page.deleted) == ([], [], [item_id])
    assert conn.delete_record('appointment', item_id) is False  # gone already


def test_item_changes_pages_and_state(ews_server, mailbox):
    conn, address = mailbox
    ids = [conn.create_record('contact', {'first_name': 'C%d' % n})[0] for n in range(5)]
    ews_server.store.create(address, 'contacts', 'DistributionList', DisplayName='Team')
    seen, state, pages = [], None, 0
    while True:
        page = conn.item_changes('contact', state, max_changes=2)
        pages += 1
        assert all(r.kind == 'contact' and r.change_key for r in page.created)
        seen += [r.item_id for r in page.created]
        state = page.state
        if not page.more:
            break
    # Newest first; the list is skipped but counts in the page.
    assert seen == ids[::-1] and pages == 3
    rerun = conn.item_changes('contact', state)
    assert (rerun.created, rerun.updated, rerun.deleted, rerun.more) == ([], [], [], False)
    ews_server.store.set_fields(ids[3], GivenName='C3 edited')
    [updated] = conn.item_changes('contact', rerun.state).updated
    assert (updated.item_id, updated.change_key) == (ids[3], ews_server.store.item(ids[3])['change_key'])
    assert conn.item_changes('task').created == []  # each kind has its own folder
    with pytest.raises(SyncStateInvalid):
        conn.item_changes('task', state)


# -- time zones ---------------------------------------------------------------------

@pytest.mark.parametrize('tzname,stored_start', [
    ('America/Regina', '2027-03-03T06:00:00Z'),      # UTC-6 all year
    ('Pacific/Auckland', '2027-03-02T11:00:00Z'),    # UTC+13 in the NZ summer
    ('Pacific/Tongatapu', '2027-03-02T11:00:00Z'),   # UTC+13
])
def test_all_day_events_keep_their_dates(ews_server, mailbox, tzname, stored_start):
    conn, _address = mailbox
    values = {'subject': 'Holiday', 'start': datetime.date(2027, 3, 3), 'end': datetime.date(2027, 3, 5),
              'all_day': True, 'timezone': tzname}
    item_id, change_key = conn.create_record('appointment', values)
    fields = ews_server.store.item(item_id)['fields']
    assert (fields['Start'], fields['IsAllDayEvent']) == (stored_start, 'true')
    [record] = conn.get_records('appointment', [item_id])
    assert {k: record.values[k] for k in values} == values
    conn.update_record('appointment', item_id, change_key, dict(
        values, start=datetime.date(2027, 12, 31), end=datetime.date(2028, 1, 1)))
    [record] = conn.get_records('appointment', [item_id])
    assert (record.values['start'], record.values['end']) == (datetime.date(2027, 12, 31),
                                                              datetime.date(2028, 1, 1))


def test_timed_event_across_dst_keeps_local_time(ews_server, mailbox):
    """Berlin leaves summer time on 31 October 2027: 22:00 CEST to 06:00 CET is 9 hours."""
    conn, _address = mailbox
    values = {'subject': 'Night shift', 'start': utc(2027, 10, 30, 20), 'end': utc(2027, 10, 31, 5),
              'all_day': False, 'timezone': 'Europe/Berlin'}
    item_id, _ = conn.create_record('appointment', values)
    fields = ews_server.store.item(item_id)['fields']
    assert (fields['Start'], fields['End']) == ('2027-10-30T20:00:00Z', '2027-10-31T05:00:00Z')
    [record] = conn.get_records('appointment', [item_id])
    assert {k: record.values[k] for k in values} == values
    assert (local(record.values['start'], 'Europe/Berlin').hour,
            local(record.values['end'], 'Europe/Berlin').hour) == (22, 6)


# -- recurring series -----------------------------------------------------------------

def test_recurring_series_with_moved_and_cancelled_occurrences(ews_server, mailbox):
    """Tuesdays 09:00 New York, across the end of US summer time (7 November 2027): one
    occurrence moved in Outlook, one cancelled; the master reads back with both."""
    conn, address = mailbox
    rule = items.normalize_recurrence({'freq': 'weekly', 'weekdays': ('TU',),
                                       'start': datetime.date(2027, 10, 19), 'count': 4})
    values = {'subject': 'Standup', 'start': utc(2027, 10, 19, 13), 'end': utc(2027, 10, 19, 13, 30),
              'all_day': False, 'timezone': 'America/New_York', 'recurrence': rule}
    master_id, change_key = conn.create_record('appointment', values)
    state = conn.item_changes('appointment').state
    # Outlook moves the 2nd occurrence (26 Oct) by an hour and cancels the 4th (9 Nov, EST)
    account = conn.account
    second = exchangelib.CalendarItem(account=account, folder=account.calendar,
                                      _id=OccurrenceItemId(id=master_id, changekey=change_key,
                                                           instance_index=2))
    second.refresh()
    assert second.start == utc(2027, 10, 26, 13)
    second.start, second.end = utc(2027, 10, 26, 14), utc(2027, 10, 26, 14, 30)
    second.subject = 'Standup (moved)'
    second.save(update_fields=['start', 'end', 'subject'], send_meeting_invitations=SEND_TO_NONE)
    fourth = exchangelib.CalendarItem(account=account, folder=account.calendar,
                                      _id=OccurrenceItemId(id=master_id, changekey=None, instance_index=4))
    fourth.refresh()
    assert fourth.start == utc(2027, 11, 9, 14)  # still 09:00 local after the DST change
    fourth.delete(send_meeting_cancellations=SEND_TO_NONE)

    page = conn.item_changes('appointment', state)
    assert [r.item_id for r in page.updated] == [master_id] and page.created == []
    [record] = conn.get_records('appointment', [master_id])
    assert record.values['recurrence'] == rule and record.values['subject'] == 'Standup'
    moved, cancelled = record.exceptions
    assert (moved.original_start, moved.cancelled) == (utc(2027, 10, 26, 13), False)
    assert moved.item_id and moved.item_id != master_id and moved.change_key
    assert {k: moved.values[k] for k in ('subject', 'start', 'end', 'timezone')} == {
        'subject': 'Standup (moved)', 'start': utc(2027, 10, 26, 14),
        'end': utc(2027, 10, 26, 14, 30), 'timezone': 'America/New_York'}
    assert 'recurrence' not in moved.values
    assert (cancelled.original_start, cancelled.cancelled, cancelled.item_id) == (
        utc(2027, 11, 9, 14), True, None)
    # the exception is an item of its own for our writes too
    conn.update_record('appointment', moved.item_id, moved.change_key, {'location': 'Room 7'})
    [record] = conn.get_records('appointment', [master_id])
    assert record.exceptions[0].values['location'] == 'Room 7'


# -- no meeting messages ------------------------------------------------------------

def test_no_meeting_message_is_ever_sent(ews_server, mailbox):
    conn, address = mailbox
    bob = 'bob-%s@example.test' % _RUN
    ews_server.add_account(bob, 'pw')
    values = dict(sample('appointment', address), attendees=((bob, 'Bob', 'required'),))
    del values['organizer']
    item_id, change_key = conn.create_record('appointment', values)
    change_key = conn.update_record('appointment', item_id, change_key, {
        'start': utc(2027, 1, 12, 14), 'end': utc(2027, 1, 12, 15), 'all_day': False,
        'timezone': 'America/New_York', 'attendees': ((bob, 'Bob', 'required'),
                                                      ('dan@example.test', 'Dan', 'optional'))})
    conn.delete_record('appointment', item_id)
    assert ews_server.store.contents(bob) == []
    assert ews_server.store.contents(address, 'sentitems') == []
    log = [(e['operation'], e['item_id'], e['value']) for e in ews_server.store.meeting_log()
           if e['mailbox'] == address]
    assert log == [('CreateItem', item_id, 'SendToNone'), ('UpdateItem', item_id, 'SendToNone'),
                   ('DeleteItem', item_id, 'SendToNone')]


@pytest.fixture(autouse=True)
def only_send_to_none(ews_server):
    """Whatever a test does, no call of ours asks Exchange to send a meeting message."""
    yield
    sent = [e for e in ews_server.store.meeting_log()
            if e['mailbox'].startswith('act') and e['value'] != 'SendToNone']
    assert not sent, sent
