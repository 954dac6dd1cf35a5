"""The test EWS endpoint with calendar items, contacts and tasks, through the real exchangelib.

What two-way sync needs from Exchange 2016: properties that round-trip, change keys
that move on every change and refuse stale writes, recurring series expanded in
their own time zone, occurrences that become exceptions or are deleted, and
SyncFolderItems that reports series as one item. Every write also records its
meeting-message setting (``store.meeting_messages``), so sync tests can prove that
no invitations were sent.
"""
import datetime
from decimal import Decimal

import pytest
from exchangelib import CalendarItem, Contact, EWSDate, EWSDateTime, EWSTimeZone, Task
from exchangelib import errors as ews_errors
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import SEND_ONLY_TO_ALL, SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE
from exchangelib.recurrence import (AbsoluteMonthlyPattern, DailyPattern, Recurrence,
                                    RelativeMonthlyPattern, WeeklyPattern)

from .test_ews_endpoint import account_for, new_user, trust_test_ca, user  # noqa: F401 (fixtures)

pytest_plugins = ['devstack.ews.pytest_fixtures']
pytestmark = pytest.mark.usefixtures('no_server_bugs')
CHICAGO = EWSTimeZone('America/Chicago')
UTC = EWSTimeZone('UTC')
HOUR = datetime.timedelta(hours=1)


def chicago(*args):
    return EWSDateTime(*args, tzinfo=CHICAGO)


def weekly_series(account, subject='Weekly sync', count=5, **kwargs):
    """Mondays 09:00-10:00 Chicago from 1 March 2027: DST starts on 14 March."""
    start = chicago(2027, 3, 1, 9, 0)
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                        end=start + HOUR, recurrence=Recurrence(
                            pattern=WeeklyPattern(interval=1, weekdays=['Monday']),
                            start=start.date(), number=count), **kwargs)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item


def view(account, start=chicago(2027, 2, 1, 0, 0), end=chicago(2027, 5, 1, 0, 0)):
    return list(account.calendar.view(start=start, end=end))


# -- calendar items ------------------------------------------------------------------

def test_calendar_item_round_trip_change_keys_and_conflicts(ews_server, user, new_user):
    address, _password, account = user
    bob, _ = new_user()
    start = chicago(2027, 1, 12, 14, 30)
    item = CalendarItem(account=account, folder=account.calendar, subject='Quarterly review',
                        start=start, end=start + 2 * HOUR, location='Room 4', body='Agenda: numbers',
                        categories=['Odoo'], importance='High', legacy_free_busy_status='Tentative',
                        required_attendees=[bob], optional_attendees=['carol@elsewhere.test'])
    item.save(send_meeting_invitations=SEND_TO_NONE)
    [got] = account.fetch(ids=[(item.id, None)])
    assert (got.subject, got.location, got.body, got.categories) == (
        'Quarterly review', 'Room 4', 'Agenda: numbers', ['Odoo'])
    assert (got.importance, got.legacy_free_busy_status, got.is_all_day) == ('High', 'Tentative', False)
    assert got.start == start and got.end == start + 2 * HOUR
    assert got._start_timezone == CHICAGO and got.start.astimezone(UTC).hour == 20
    assert [a.mailbox.email_address for a in got.required_attendees] == [bob]
    assert [a.mailbox.email_address for a in got.optional_attendees] == ['carol@elsewhere.test']
    assert (got.type, got.is_recurring, got.is_meeting) == ('Single', False, True)
    assert got.organizer.email_address == address
    assert got.uid.startswith('040000008200E00074C5B7101A82E008') and len(got.uid) > 80
    assert got.changekey == item.changekey

    got.subject, got.location = 'Quarterly review (moved)', None
    got.start, got.end = start + HOUR, start + 3 * HOUR
    got.save(update_fields=['subject', 'location', 'start', 'end'],
             send_meeting_invitations=SEND_TO_NONE)
    assert got.changekey != item.changekey
    again = account.calendar.get(id=item.id)
    assert (again.subject, again.location, again.start, again.uid) == (
        'Quarterly review (moved)', None, start + HOUR, got.uid)
    assert again.last_modified_time >= got.last_modified_time
    assert again.changekey == got.changekey

    item.subject = 'stale write'  # ``item`` still holds the first change key
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        item.save(update_fields=['subject'], send_meeting_invitations=SEND_TO_NONE)
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        item.save(update_fields=['subject'], conflict_resolution='NeverOverwrite',
                  send_meeting_invitations=SEND_TO_NONE)
    item.save(update_fields=['subject'], conflict_resolution='AlwaysOverwrite',
              send_meeting_invitations=SEND_TO_NONE)
    assert ews_server.store.item(item.id)['subject'] == 'stale write'

    item.delete(send_meeting_cancellations=SEND_TO_NONE)
    [missing] = account.fetch(ids=[(again.id, None)])
    assert isinstance(missing, ews_errors.ErrorItemNotFound)


def test_uid_given_by_the_client_is_kept(ews_server, user):
    _address, _password, account = user
    start = EWSDateTime(2027, 2, 1, 8, 0, tzinfo=UTC)
    shared = 'odoo-event-42@example.test'
    item = CalendarItem(account=account, folder=account.calendar, subject='Shared', start=start,
                        end=start + HOUR, uid=shared)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    other = CalendarItem(account=account, folder=account.calendar, subject='Own', start=start,
                         end=start + HOUR)
    other.save(send_meeting_invitations=SEND_TO_NONE)
    got, own = account.fetch(ids=[item, other])
    assert got.uid == shared
    assert own.uid not in (None, shared) and own.uid != got.uid


def test_all_day_event_round_trip_in_its_time_zone(ews_server, user):
    address, _password, account = user
    account.default_timezone = CHICAGO  # exchangelib writes all-day dates in this zone
    item = CalendarItem(account=account, folder=account.calendar, subject='Conference',
                        start=EWSDate(2027, 3, 3), end=EWSDate(2027, 3, 4), is_all_day=True)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    stored = ews_server.store.item(item.id)['fields']
    assert (stored['Start'], stored['End']) == ('2027-03-03T06:00:00Z', '2027-03-05T06:00:00Z')
    got = account.calendar.get(id=item.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (datetime.date(2027, 3, 3), datetime.date(2027, 3, 4))


# -- recurring series ---------------------------------------------------------------

def test_weekly_series_keeps_its_local_time_across_dst(ews_server, user):
    address, _password, account = user
    master = weekly_series(account)
    got = account.calendar.get(id=master.id)
    assert (got.type, got.is_recurring) == ('RecurringMaster', False)
    assert isinstance(got.recurrence.pattern, WeeklyPattern)
    assert got.recurrence.boundary.start == datetime.date(2027, 3, 1)
    assert got.recurrence.boundary.number == 5
    assert got.first_occurrence.start == chicago(2027, 3, 1, 9, 0)
    assert got.last_occurrence.start == chicago(2027, 3, 29, 9, 0)
    assert got.modified_occurrences is None and got.deleted_occurrences is None

    occurrences = view(account)
    assert [o.type for o in occurrences] == ['Occurrence'] * 5
    assert [o.start.astimezone(CHICAGO).hour for o in occurrences] == [9] * 5
    assert [o.start.astimezone(UTC).hour for o in occurrences] == [15, 15, 14, 14, 14]
    assert {o.uid for o in occurrences} == {got.uid}
    assert all(o.changekey == got.changekey for o in occurrences)

    third = master.occurrence(3)  # OccurrenceItemId: master id + InstanceIndex
    third.refresh()
    assert (third.type, third.is_recurring, third.id) == ('Occurrence', True, occurrences[2].id)
    assert third.start == chicago(2027, 3, 15, 9, 0) and third.subject == 'Weekly sync'
    with pytest.raises(ews_errors.ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        master.occurrence(6).refresh()
    series = third.recurring_master()  # RecurringMasterItemId from an occurrence
    series.refresh()
    assert series.id == master.id and series.type == 'RecurringMaster'


def test_monthly_and_daily_patterns(ews_server, user):
    _address, _password, account = user
    start = EWSDateTime(2027, 1, 31, 10, 0, tzinfo=UTC)
    for subject, pattern, boundary in (
            ('month end', AbsoluteMonthlyPattern(interval=1, day_of_month=31), dict(number=3)),
            ('last friday', RelativeMonthlyPattern(interval=2, weekday=5, week_number=5),
             dict(number=2)),
            ('every other day', DailyPattern(interval=2), dict(end=EWSDate(2027, 2, 6)))):
        CalendarItem(account=account, folder=account.calendar, subject=subject, start=start,
                     end=start + HOUR, recurrence=Recurrence(
                         pattern=pattern, start=start.date(), **boundary)).save(
            send_meeting_invitations=SEND_TO_NONE)
    found = {}
    for occurrence in view(account, start=start - HOUR, end=start + datetime.timedelta(days=120)):
        found.setdefault(occurrence.subject, []).append(occurrence.start.date())
    assert found['month end'] == [datetime.date(2027, 1, 31), datetime.date(2027, 2, 28),
                                  datetime.date(2027, 3, 31)]
    # Every other month from January; January's last Friday (29th) is before the start.
    assert found['last friday'] == [datetime.date(2027, 3, 26), datetime.date(2027, 5, 28)]
    assert found['every other day'] == [datetime.date(2027, 1, 31), datetime.date(2027, 2, 2),
                                        datetime.date(2027, 2, 4), datetime.date(2027, 2, 6)]
    masters = {i.subject: i for i in account.calendar.all()}
    # Exchange moves a master to its first occurrence.
    assert masters['last friday'].start == EWSDateTime(2027, 3, 26, 10, 0, tzinfo=UTC)


def test_moved_and_cancelled_occurrences(ews_server, user):
    _address, _password, account = user
    master = weekly_series(account)
    before = account.calendar.get(id=master.id)
    second = view(account)[1]
    second.start, second.end = chicago(2027, 3, 9, 16, 0), chicago(2027, 3, 9, 17, 0)
    second.subject = 'Moved to Tuesday'
    second.save(update_fields=['start', 'end', 'subject'], send_meeting_invitations=SEND_TO_NONE)
    third = master.occurrence(3)
    third.refresh()
    third.delete(send_meeting_cancellations=SEND_TO_NONE)

    after = account.calendar.get(id=master.id)
    assert after.changekey != before.changekey and after.subject == 'Weekly sync'
    [moved] = after.modified_occurrences
    assert moved.id == second.id
    assert (moved.start, moved.end) == (chicago(2027, 3, 9, 16, 0), chicago(2027, 3, 9, 17, 0))
    assert moved.original_start == chicago(2027, 3, 8, 9, 0)
    [deleted] = after.deleted_occurrences
    assert deleted.start == chicago(2027, 3, 15, 9, 0)

    shown = view(account)
    assert [(o.type, o.start.astimezone(CHICAGO).day, o.subject) for o in shown] == [
        ('Occurrence', 1, 'Weekly sync'), ('Exception', 9, 'Moved to Tuesday'),
        ('Occurrence', 22, 'Weekly sync'), ('Occurrence', 29, 'Weekly sync')]
    exception = account.calendar.get(id=second.id)  # the exception by its own ItemId
    assert (exception.type, exception.original_start) == ('Exception', chicago(2027, 3, 8, 9, 0))
    with pytest.raises(ews_errors.ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(3).refresh()

    # A new time for the whole series drops its exceptions, as in Outlook.
    after.start, after.end = chicago(2027, 3, 1, 11, 0), chicago(2027, 3, 1, 12, 0)
    after.save(update_fields=['start', 'end'], send_meeting_invitations=SEND_TO_NONE)
    final = account.calendar.get(id=master.id)
    assert final.modified_occurrences is None and final.deleted_occurrences is None
    assert [o.start.astimezone(CHICAGO).hour for o in view(account)] == [11] * 5


def test_occurrences_changed_as_outlook_through_the_store(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    master_id = store.create(address, 'calendar', 'CalendarItem', Subject='Stand-up',
                             Start='2027-03-01T15:00:00Z', End='2027-03-01T15:15:00Z',
                             timezone='Central Standard Time', RequiredAttendees=['x@y.test'],
                             recurrence={'pattern': 'DailyRecurrence', 'Interval': 1,
                                         'range': 'NumberedRecurrence', 'StartDate': '2027-03-01',
                                         'NumberOfOccurrences': 20})
    store.modify_occurrence(master_id, 2, Subject='Stand-up (long)', End='2027-03-02T16:00:00Z')
    store.delete_occurrence(master_id, 3)
    assert len(store.occurrences(master_id)) == 19
    got = account.calendar.get(id=master_id)
    assert [o.original_start.day for o in got.modified_occurrences] == [2]
    assert [d.start.day for d in got.deleted_occurrences] == [3]
    assert got.last_occurrence.start == chicago(2027, 3, 20, 9, 0)  # DST from 14 March
    assert got.required_attendees[0].mailbox.email_address == 'x@y.test'


# -- contacts and tasks -----------------------------------------------------------------

def test_contact_round_trip_with_indexed_properties(ews_server, user):
    _address, _password, account = user
    contact = Contact(account=account, folder=account.contacts, display_name='Ada Lovelace',
                      given_name='Ada', surname='Lovelace', company_name='Analytical Engines',
                      job_title='Analyst',
                      email_addresses=[EmailAddress(email='ada@example.test', label='EmailAddress1'),
                                       EmailAddress(email='ada@home.test', label='EmailAddress2')],
                      phone_numbers=[PhoneNumber(label='BusinessPhone', phone_number='+1 555 0100'),
                                     PhoneNumber(label='MobilePhone', phone_number='+1 555 0199')],
                      physical_addresses=[PhysicalAddress(label='Business', street='12 Engine Row',
                                                          city='London', zipcode='N1',
                                                          country='United Kingdom')])
    contact.save()
    got = account.contacts.get(id=contact.id)
    assert (got.display_name, got.given_name, got.surname, got.company_name, got.job_title) == (
        'Ada Lovelace', 'Ada', 'Lovelace', 'Analytical Engines', 'Analyst')
    assert {(e.label, e.email) for e in got.email_addresses} == {
        ('EmailAddress1', 'ada@example.test'), ('EmailAddress2', 'ada@home.test')}
    assert {(p.label, p.phone_number) for p in got.phone_numbers} == {
        ('BusinessPhone', '+1 555 0100'), ('MobilePhone', '+1 555 0199')}
    [address] = got.physical_addresses
    assert (address.label, address.street, address.city, address.zipcode, address.country) == (
        'Business', '12 Engine Row', 'London', 'N1', 'United Kingdom')

    got.email_addresses = [EmailAddress(email='ada@new.test', label='EmailAddress1')]
    got.phone_numbers = [PhoneNumber(label='HomePhone', phone_number='+44 20 0000')]
    got.physical_addresses = [PhysicalAddress(label='Business', street='1 New Street', city='Leeds')]
    got.job_title = None
    got.save(update_fields=['email_addresses', 'phone_numbers', 'physical_addresses', 'job_title'])
    assert got.changekey != contact.changekey
    again = account.contacts.get(id=contact.id)
    assert [(e.label, e.email) for e in again.email_addresses] == [('EmailAddress1', 'ada@new.test')]
    assert [(p.label, p.phone_number) for p in again.phone_numbers] == [('HomePhone', '+44 20 0000')]
    [address] = again.physical_addresses
    assert (address.street, address.city, address.zipcode, address.country) == (
        '1 New Street', 'Leeds', None, None)
    assert again.job_title is None and again.company_name == 'Analytical Engines'

    contact.surname = 'stale'
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        contact.save(update_fields=['surname'])
    again.delete()
    assert ews_server.store.contents(_address, 'contacts') == []


def test_task_round_trip_and_completion(ews_server, user):
    address, _password, account = user
    task = Task(account=account, folder=account.tasks, subject='Send the quote', body='Call first',
                status='InProgress', percent_complete=Decimal(40),
                start_date=EWSDate(2027, 1, 4), due_date=EWSDate(2027, 1, 8))
    task.save()
    got = account.tasks.get(id=task.id)
    assert (got.subject, got.body, got.status, got.percent_complete) == (
        'Send the quote', 'Call first', 'InProgress', Decimal(40))
    assert (got.start_date, got.due_date) == (datetime.date(2027, 1, 4), datetime.date(2027, 1, 8))
    assert got.complete_date is None

    got.status = 'Completed'
    got.save(update_fields=['status'])
    done = account.tasks.get(id=task.id)
    assert (done.status, done.percent_complete) == ('Completed', Decimal(100))
    assert done.complete_date is not None and done.changekey != task.changekey
    done.due_date = None
    done.save(update_fields=['due_date'])
    assert account.tasks.get(id=task.id).due_date is None
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        task.save(update_fields=['subject'])
    done.delete()
    assert ews_server.store.contents(address, 'tasks') == []


# -- SyncFolderItems --------------------------------------------------------------------

def _changes(folder):
    return [(kind, getattr(item, 'subject', None), item.id)
            for kind, item in folder.sync_items(only_fields=['subject', 'changekey'])]


def test_sync_folder_items_on_calendar_contacts_and_tasks(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    assert _changes(account.calendar) == [] and _changes(account.contacts) == []
    assert _changes(account.tasks) == []
    single = CalendarItem(account=account, folder=account.calendar, subject='Single',
                          start=chicago(2027, 3, 2, 9, 0), end=chicago(2027, 3, 2, 10, 0))
    single.save(send_meeting_invitations=SEND_TO_NONE)
    master = weekly_series(account, subject='Series')
    contact = Contact(account=account, folder=account.contacts, display_name='Grace Hopper')
    contact.save()
    task = Task(account=account, folder=account.tasks, subject='File report')
    task.save()
    assert _changes(account.calendar) == [('create', 'Series', master.id),  # newest first
                                          ('create', 'Single', single.id)]
    assert _changes(account.contacts) == [('create', None, contact.id)]
    assert _changes(account.tasks) == [('create', 'File report', task.id)]

    old_key = account.calendar.get(id=master.id).changekey
    second = master.occurrence(2)
    second.refresh()
    second.subject = 'Only this one'
    second.save(update_fields=['subject'], send_meeting_invitations=SEND_TO_NONE)
    [(kind, item)] = list(account.calendar.sync_items(only_fields=['subject']))
    assert (kind, item.id, item.subject) == ('update', master.id, 'Series')
    assert item.changekey != old_key

    store.set_fields(contact.id, GivenName='Grace')  # edited in Outlook
    task.subject = 'File report today'
    task.save(update_fields=['subject'])
    assert _changes(account.contacts) == [('update', None, contact.id)]
    assert _changes(account.tasks) == [('update', 'File report today', task.id)]

    single_id, task_id = single.id, task.id  # delete() forgets them
    master.occurrence(3).delete(send_meeting_cancellations=SEND_TO_NONE)
    single.delete(send_meeting_cancellations=SEND_TO_NONE)
    contact.move_to_trash()
    store.delete(task.id)
    assert _changes(account.calendar) == [('delete', None, single_id),
                                          ('update', 'Series', master.id)]
    assert [kind for kind, _s, _i in _changes(account.contacts)] == ['delete']
    assert _changes(account.tasks) == [('delete', None, task_id)]


# -- meeting messages -------------------------------------------------------------------

def test_meeting_message_settings_are_recorded(ews_server, user, new_user):
    address, _password, account = user
    bob, _ = new_user()
    start = chicago(2027, 4, 6, 9, 0)
    item = CalendarItem(account=account, folder=account.calendar, subject='Board', start=start,
                        end=start + HOUR, required_attendees=[bob, 'x@elsewhere.test'])
    item.save(send_meeting_invitations=SEND_TO_NONE)
    item.subject = 'Board (new room)'
    item.save(update_fields=['subject'], send_meeting_invitations=SEND_ONLY_TO_ALL)
    series = weekly_series(account, required_attendees=[bob])
    series.occurrence(1).delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    item.delete(send_meeting_cancellations=SEND_TO_NONE)
    Contact(account=account, folder=account.contacts, display_name='Not a meeting').save()
    log = [m for m in ews_server.store.meeting_log() if m['mailbox'] == address]
    assert [(m['operation'], m['value'], m['attendees'], m['subject']) for m in log] == [
        ('CreateItem', 'SendToNone', 2, 'Board'),
        ('UpdateItem', 'SendOnlyToAll', 2, 'Board (new room)'),
        ('CreateItem', 'SendToNone', 1, 'Weekly sync'),
        ('DeleteItem', 'SendToAllAndSaveCopy', 1, 'Weekly sync'),
        ('DeleteItem', 'SendToNone', 2, 'Board (new room)')]
    assert log[0]['item_id'] == item.id or log[0]['item_id'] == log[1]['item_id']
    assert log[3]['master_id'] == series.id and log[2]['master_id'] is None
    assert log == [m for m in ews_server.store.meeting_messages if m['mailbox'] == address]


def test_meeting_log_and_series_helpers_through_the_control_api(tmp_path, trust_test_ca, ews_server):
    from devstack.ews.control import RemoteEwsServer
    remote = RemoteEwsServer.spawn(ews_server.certs_dir, str(tmp_path / 'ews.log'))
    try:
        remote.add_account('cal@example.test', 'cal-pw')
        account = account_for(remote, 'cal@example.test', 'cal-pw')
        master = weekly_series(account, count=3)
        remote.store.delete_occurrence(master.id, 2)
        assert [o['fields']['CalendarItemType'] if 'CalendarItemType' in o['fields'] else o['kind']
                for o in remote.store.occurrences(master.id)] == ['CalendarItem'] * 2
        [entry] = remote.store.meeting_log(clear=True)
        assert (entry['operation'], entry['value'], entry['item_id']) == (
            'CreateItem', 'SendToNone', master.id)
        assert remote.store.meeting_log() == []
    finally:
        remote.stop()
