"""The Graph test endpoint's contacts, To Do tasks and events over HTTPS (plain
``requests``): CRUD, delta rounds with pages, ``@removed`` and lost tokens,
``transactionId``, all-day dates that float, ``Prefer: outlook.timezone``, copies in
attendees' calendars and the record of the invitations Exchange would send."""
import itertools
import uuid

import pytest
import requests

pytest_plugins = ['devstack.graph.pytest_fixtures']
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]
SCOPES = ('Contacts.ReadWrite', 'Tasks.ReadWrite', 'Calendars.ReadWrite')


class Client(object):
    def __init__(self, server, address):
        self.server, self.address = server, address
        self.token = 'pim-token-%s' % address
        server.add_token(self.token, user=address, scopes=SCOPES)
        self.session = requests.Session()

    def call(self, method, path, expect=200, headers=None, **kwargs):
        url = path if path.startswith('https://') else '%s/users/%s/%s' % (self.server.url, self.address, path)
        answer = self.session.request(method, url, timeout=10, verify=self.server.certs['ca'], headers=dict(
            headers or {}, Authorization='Bearer ' + self.token), **kwargs)
        assert answer.status_code == expect, (answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def delta_round(self, path, size=2, **params):
        """Every page of one round: (items, removed ids, pages, delta link)."""
        items, removed, pages = [], [], 0
        page = self.call('GET', path, params=params, headers={'Prefer': 'odata.maxpagesize=%d' % size})
        while True:
            pages += 1
            for entry in page['value']:
                (removed.append(entry['id']) if '@removed' in entry else items.append(entry))
            if '@odata.nextLink' not in page:
                return items, removed, pages, page['@odata.deltaLink']
            page = self.call('GET', page['@odata.nextLink'], headers={'Prefer': 'odata.maxpagesize=%d' % size})


def new_address(server):
    address = 'pim%d-%s@example.test' % (next(_numbers), _RUN)
    server.add_mailbox(address)
    return address


@pytest.fixture
def client(graph_server, graph_no_bugs):
    return Client(graph_server, new_address(graph_server))


def test_contacts_crud_and_delta_rounds(client, graph_server):
    folder = client.call('GET', 'contactFolders/contacts')['id']
    ids = [client.call('POST', 'contacts', expect=201, json={
        'givenName': 'Ann%d' % n, 'surname': 'Lee', 'displayName': 'Ann%d Lee' % n,
        'emailAddresses': [{'address': 'ann%d@x.test' % n, 'name': 'Ann'}]})['id'] for n in range(5)]
    items, removed, pages, link = client.delta_round('contactFolders/%s/contacts/delta' % folder)
    assert [i['id'] for i in items] == ids and removed == [] and pages == 3
    assert items[0]['emailAddresses'][0]['address'] == 'ann0@x.test' and items[0]['changeKey']
    idle = client.call('GET', link)
    assert idle['value'] == [] and '@odata.deltaLink' in idle
    old = client.call('GET', 'contacts/%s' % ids[1])
    client.call('PATCH', 'contacts/%s' % ids[1], json={'jobTitle': 'Buyer'},
                headers={'If-Match': old['@odata.etag']})
    client.call('PATCH', 'contacts/%s' % ids[1], expect=412, json={'jobTitle': 'Other'},
                headers={'If-Match': old['@odata.etag']})
    client.call('DELETE', 'contacts/%s' % ids[2], expect=204)
    client.call('GET', 'contacts/%s' % ids[2], expect=404)
    client.call('POST', 'contacts', expect=400, json={'nickname2': 'x'})
    changed = client.call('GET', idle['@odata.deltaLink'])
    assert [(e['id'], '@removed' in e, e.get('jobTitle')) for e in changed['value']] == [
        (ids[1], False, 'Buyer'), (ids[2], True, None)]
    graph_server.expire_delta(client.address)
    client.call('GET', changed['@odata.deltaLink'], expect=410)


def test_todo_lists_tasks_and_delta(client):
    lists = client.call('GET', 'todo/lists')['value']
    default = [entry for entry in lists if entry['wellknownListName'] == 'defaultList'][0]['id']
    base = 'todo/lists/%s/tasks' % default
    task = client.call('POST', base, expect=201, json={
        'title': 'Send the quote', 'dueDateTime': {'dateTime': '2027-03-04T00:00:00', 'timeZone': 'UTC'},
        'body': {'content': 'With discount', 'contentType': 'text'}})
    assert task['status'] == 'notStarted' and 'changeKey' not in task and task['@odata.etag']
    client.call('POST', base, expect=400, json={'title': 'x', 'status': 'finished'})
    items, _removed, _pages, link = client.delta_round(base + '/delta')
    assert [i['title'] for i in items] == ['Send the quote']
    done = client.call('PATCH', '%s/%s' % (base, task['id']), json={'status': 'completed'})
    assert done['completedDateTime']['dateTime']
    assert [e['status'] for e in client.call('GET', link)['value']] == ['completed']


def event(subject, start, end, tz='UTC', **extra):
    body = {'subject': subject, 'start': {'dateTime': start, 'timeZone': tz},
            'end': {'dateTime': end, 'timeZone': tz}}
    body.update(extra)
    return body


def test_events_transaction_all_day_timezones_and_window(client):
    first = client.call('POST', 'events', expect=201, json=event(
        'Demo', '2027-03-03T10:00:00', '2027-03-03T11:00:00', 'Europe/Brussels', transactionId='tx-1'))
    again = client.call('POST', 'events', expect=201, json=event(
        'Demo', '2027-03-03T10:00:00', '2027-03-03T11:00:00', 'Europe/Brussels', transactionId='tx-1'))
    assert again['id'] == first['id'], 'a retried POST with the same transactionId creates nothing'
    assert first['start'] == {'dateTime': '2027-03-03T09:00:00.0000000', 'timeZone': 'UTC'}
    assert first['type'] == 'singleInstance' and first['iCalUId'] and first['isOrganizer']
    local = client.call('GET', 'events/%s' % first['id'], headers={'Prefer': 'outlook.timezone="Pacific/Auckland"'})
    assert local['start'] == {'dateTime': '2027-03-03T22:00:00.0000000', 'timeZone': 'Pacific/Auckland'}
    holiday = client.call('POST', 'events', expect=201, json=event(
        'Holiday', '2027-03-05T00:00:00', '2027-03-06T00:00:00', 'Pacific/Auckland', isAllDay=True))
    read = client.call('GET', 'events/%s' % holiday['id'], headers={'Prefer': 'outlook.timezone="America/Regina"'})
    assert read['start']['dateTime'][:10] == '2027-03-05' and read['end']['dateTime'][:10] == '2027-03-06'
    client.call('POST', 'events', expect=400, json=event('Bad', '2027-03-05T10:00:00', '2027-03-06T00:00:00',
                                                         isAllDay=True))
    client.call('POST', 'events', expect=400, json=event('Bad', '2027-03-05T10:00:00', '2027-03-05T09:00:00'))
    client.call('POST', 'events', expect=201, json=event('Far away', '2029-01-01T10:00:00', '2029-01-01T11:00:00'))
    client.call('GET', 'calendarView/delta', expect=400)
    items, _removed, _pages, link = client.delta_round(
        'calendarView/delta', startDateTime='2027-03-01T00:00:00Z', endDateTime='2027-04-01T00:00:00Z')
    assert sorted(i['subject'] for i in items) == ['Demo', 'Holiday'], 'only what the window holds'
    client.call('DELETE', 'events/%s' % first['id'], expect=204)
    assert [('@removed' in e, e['id']) for e in client.call('GET', link)['value']] == [(True, first['id'])]


def test_calendar_view_delta_lists_a_series_as_its_instances_never_its_master(client, graph_server):
    """As Graph's calendarView/delta: occurrences and exceptions (``seriesMasterId``,
    ``originalStart``), the master read on its own; a cancelled occurrence, a deleted
    series, an occurrence past a shortened range: ``@removed`` for each instance."""
    window = {'startDateTime': '2027-03-01T00:00:00Z', 'endDateTime': '2027-04-01T00:00:00Z'}
    series = client.call('POST', 'events', expect=201, json=event(
        'Weekly', '2027-03-02T09:00:00', '2027-03-02T10:00:00', 'Europe/Brussels',
        recurrence={'pattern': {'type': 'weekly', 'interval': 1, 'daysOfWeek': ['tuesday']},
                    'range': {'type': 'numbered', 'startDate': '2027-03-02', 'numberOfOccurrences': 10}}))
    single = client.call('POST', 'events', expect=201, json=event('Once', '2027-03-05T09:00:00', '2027-03-05T10:00:00'))
    items, removed, _pages, link = client.delta_round('calendarView/delta', **window)
    assert removed == [] and 'seriesMaster' not in [i['type'] for i in items]
    occurrences = sorted((i for i in items if i['type'] == 'occurrence'), key=lambda i: i['start']['dateTime'])
    assert [i['originalStart'] for i in occurrences] == [
        '2027-03-02T08:00:00Z', '2027-03-09T08:00:00Z', '2027-03-16T08:00:00Z', '2027-03-23T08:00:00Z',
        '2027-03-30T07:00:00Z'], 'the window\'s five, in the series\' time zone (DST on 28 March)'
    assert {i['seriesMasterId'] for i in occurrences} == {series['id']} and single['id'] in [i['id'] for i in items]
    assert client.call('GET', 'events/%s' % series['id'])['type'] == 'seriesMaster'
    assert client.call('GET', link)['value'] == [], 'an idle round lists nothing'

    moved = graph_server.pim_modify_occurrence(client.address, series['id'], '2027-03-09', {
        'start': {'dateTime': '2027-03-09T15:00:00', 'timeZone': 'Europe/Brussels'},
        'end': {'dateTime': '2027-03-09T16:00:00', 'timeZone': 'Europe/Brussels'}})
    items, removed, _pages, link = client.delta_round(link)
    exception = [i for i in items if i['id'] == moved][0]
    assert (exception['type'], exception['seriesMasterId'], exception['originalStart']) == (
        'exception', series['id'], '2027-03-09T08:00:00Z')
    assert removed == [occurrences[1]['id']], 'the occurrence it replaces leaves the view'
    assert 'seriesMaster' not in [i['type'] for i in items]

    graph_server.pim_cancel_occurrence(client.address, series['id'], '2027-03-16')
    items, removed, _pages, link = client.delta_round(link)
    assert removed == [occurrences[2]['id']]
    assert {i['seriesMasterId'] for i in items} == {series['id']}, 'the series changed: its instances too'

    client.call('PATCH', 'events/%s' % series['id'], json={'recurrence': {
        'pattern': {'type': 'weekly', 'interval': 1, 'daysOfWeek': ['tuesday']},
        'range': {'type': 'numbered', 'startDate': '2027-03-02', 'numberOfOccurrences': 4}}})
    items, removed, _pages, link = client.delta_round(link)
    assert removed == [occurrences[4]['id']], 'shortened to four: the fifth goes'

    client.call('DELETE', 'events/%s' % series['id'], expect=204)
    items, removed, _pages, link = client.delta_round(link)
    assert items == [] and sorted(removed) == sorted([occurrences[0]['id'], moved, occurrences[3]['id']])
    assert client.call('GET', link)['value'] == []


def test_relative_monthly_and_yearly_patterns(client):
    """"The first working day of each month" (several days: the first of any of them) and
    "the second Tuesday of March" fall on the days Outlook shows."""
    def days(pattern, start, count):
        series = client.call('POST', 'events', expect=201, json=event(
            'Relative', start + 'T09:00:00', start + 'T10:00:00',
            recurrence={'pattern': pattern, 'range': {'type': 'numbered', 'startDate': start,
                                                      'numberOfOccurrences': count}}))
        found = client.call('GET', 'events/%s/instances' % series['id'], params={
            'startDateTime': '2027-01-01T00:00:00Z', 'endDateTime': '2031-01-01T00:00:00Z'})['value']
        return [i['start']['dateTime'][:10] for i in found]

    weekdays = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday']
    assert days({'type': 'relativeMonthly', 'interval': 1, 'daysOfWeek': weekdays, 'index': 'first'},
                '2027-05-03', 3) == ['2027-05-03', '2027-06-01', '2027-07-01']
    assert days({'type': 'relativeMonthly', 'interval': 2, 'daysOfWeek': ['friday'], 'index': 'last'},
                '2027-01-29', 3) == ['2027-01-29', '2027-03-26', '2027-05-28']
    assert days({'type': 'relativeYearly', 'interval': 1, 'daysOfWeek': ['tuesday'], 'index': 'second',
                 'month': 3}, '2027-03-09', 3) == ['2027-03-09', '2028-03-14', '2029-03-13']


def test_meetings_reach_attendees_and_each_message_is_recorded(client, graph_server):
    colleague = new_address(graph_server)
    outsider = 'guest-%s@elsewhere.test' % _RUN
    attendees = [{'type': 'required', 'emailAddress': {'address': a}} for a in (colleague, outsider)]
    meeting = client.call('POST', 'events', expect=201, json=event(
        'Kick-off', '2027-05-03T10:00:00', '2027-05-03T11:00:00', attendees=attendees))
    copies = graph_server.pim_items(colleague, 'event')
    assert [(c['iCalUId'], c['isOrganizer']) for c in copies] == [(meeting['iCalUId'], False)]
    client.call('PATCH', 'events/%s' % meeting['id'], json={'body': {'content': 'agenda', 'contentType': 'text'}})
    client.call('PATCH', 'events/%s' % meeting['id'], json={'location': {'displayName': 'Room 2'}})
    client.call('POST', 'events/%s/cancel' % meeting['id'], expect=202, json={'comment': 'sorry'})
    log = graph_server.invitations(client.address)
    assert sorted(log) == sorted([
        (colleague, 'invitation', 'Kick-off'), (outsider, 'invitation', 'Kick-off'),
        (colleague, 'update', 'Kick-off'), (outsider, 'update', 'Kick-off'),
        (colleague, 'cancellation', 'Kick-off'), (outsider, 'cancellation', 'Kick-off')]), \
        'a body edit sends nothing; a place change one update; the cancel one cancellation each'
    assert graph_server.pim_items(colleague, 'event') == []


def test_permissions_are_checked(graph_server, graph_no_bugs):
    address = new_address(graph_server)
    graph_server.add_token('mail-only-' + address, user=address, scopes=('Mail.ReadWrite',))
    answer = requests.get('%s/users/%s/contacts' % (graph_server.url, address), timeout=10,
                          verify=graph_server.certs['ca'],
                          headers={'Authorization': 'Bearer mail-only-' + address})
    assert answer.status_code == 403
