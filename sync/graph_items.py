"""Appointments, contacts and tasks of Microsoft 365 through Microsoft Graph: the item
source of the 'act' channel, offering the cycle the interface of sync/ews.py
(``item_changes``, ``get_records``, ``create_record``, ``update_record``,
``delete_record``) over Graph's REST API.

Contacts are the default contact folder (``contactFolders/contacts``), tasks the default
Microsoft To Do list, appointments the calendar as seen through ``calendarView`` in a
window around today (Graph tracks calendar changes only in a time window). The view
lists a series as its occurrences and exceptions, never as the series itself: the item
synced is the series (its master, read once a round by ``seriesMasterId``), with its
exceptions and cancelled occurrences, as EWS gives it. Each kind
is read by delta rounds: a page's ``@odata.nextLink`` or ``@odata.deltaLink`` is the
sync state the cycle saves. Delta pages carry the whole items, so reading the records
of a page costs no request. Writes send ``If-Match`` with the change key read (a
concurrent edit in Outlook is a ConflictError, merged on the next cycle).

The value mapping per kind is in graph_pim.py.
"""
import datetime

from . import graph_pim as pim
from .errors import ConflictError, PermanentError, SyncStateInvalid
from .graph import GraphConnector
from .items import RemoteOccurrence, RemoteRecord
from .ews import SyncPage

WINDOW_PAST = datetime.timedelta(days=90)  # calendarView window of a delta round
WINDOW_FUTURE = datetime.timedelta(days=3 * 365)


class GraphItemsConnector(GraphConnector):
    """The 'act' channel of a Microsoft 365 mailbox."""

    def __init__(self, settings, credentials, channel='act', invitations='microsoft'):
        super(GraphItemsConnector, self).__init__(settings, credentials, channel=channel)
        self.invitations = invitations  # who sends meeting messages: 'microsoft' or 'odoo'
        self._pages = {}  # item id -> RemoteRecord read with the last delta page
        self._series = {}  # item id -> Graph JSON of a series master of the last delta page
        self._round_series = {}  # master id -> change key, of the series read this delta round
        self._task_list = None
        self._foreign_state = False

    # ------------------------------------------------------------------ where each kind lives
    def _default_list(self):
        """The id of the user's default To Do list ('Tasks')."""
        if self._task_list is None:
            lists = self._request('GET', self._user_path('todo', 'lists')).get('value') or ()
            default = [entry for entry in lists if entry.get('wellknownListName') == 'defaultList']
            if not default:
                raise PermanentError('item_missing', 'the mailbox has no default Microsoft To Do list')
            self._task_list = default[0]['id']
        return self._task_list

    def _collection(self, kind):
        """The path of the kind's items (create, read, write, delete)."""
        if kind == 'contact':
            return self._user_path('contacts')
        if kind == 'task':
            return self._user_path('todo', 'lists', self._default_list(), 'tasks')
        if kind == 'appointment':
            return self._user_path('events')
        raise ValueError(kind)

    def subscribe_kind(self, kind, notification_url, client_state, expiry, lifecycle_url=None):
        """Subscribe to the kind's items created, updated or deleted (events, contacts, the
        default To Do list's tasks); returns (id, expiry text)."""
        return self._subscribe(self._collection(kind), 'created,updated,deleted', notification_url,
                               client_state, expiry, lifecycle_url)

    def check(self):
        """Connection test of the channel: contacts, To Do and the calendar are readable."""
        self._request('GET', self._user_path('contactFolders', 'contacts'))
        self._default_list()
        now = datetime.datetime.utcnow().replace(microsecond=0)
        self._request('GET', self._user_path('calendarView', 'delta'), headers={'Prefer': 'odata.maxpagesize=1'},
                      params={'startDateTime': now.isoformat() + 'Z', 'endDateTime': now.isoformat() + 'Z'})
        return {}  # nothing to count: the mailbox says "Connected and authenticated."

    # ------------------------------------------------------------------ reading
    def item_changes(self, kind, sync_state=None, max_changes=100):
        """One delta page of the kind after ``sync_state`` (a next or delta link): changed
        items as RemoteRecord stubs, removed ids, the link to save. Raises SyncStateInvalid
        when Graph no longer knows the state (410) or the link is for another server."""
        headers = {'Prefer': 'odata.maxpagesize=%d, outlook.timezone="UTC"' % max_changes}
        if sync_state:
            if not sync_state.startswith(self.settings.base_url + '/'):
                self._foreign_state = True  # e.g. an EWS sync state: the profile moved to Graph
                raise SyncStateInvalid('sync_state_invalid', 'the saved link is for another server')
            payload = self._request('GET', sync_state, headers=headers)
        elif kind == 'contact':
            payload = self._request('GET', self._user_path('contactFolders', 'contacts', 'contacts', 'delta'),
                                    headers=headers)
        elif kind == 'task':
            payload = self._request('GET', self._user_path('todo', 'lists', self._default_list(), 'tasks', 'delta'),
                                    headers=headers)
        else:
            today = datetime.datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
            payload = self._request('GET', self._user_path('calendarView', 'delta'), headers=headers, params={
                'startDateTime': (today - WINDOW_PAST).isoformat() + 'Z',
                'endDateTime': (today + WINDOW_FUTURE).isoformat() + 'Z'})
        changed, removed, series = [], [], []
        for entry in payload.get('value') or ():
            if '@removed' in entry:
                removed.append(entry['id'])
                self._pages.pop(entry['id'], None)
                continue
            if kind == 'appointment' and entry.get('seriesMasterId'):
                # An occurrence or exception: the item synced is its series.
                if entry['seriesMasterId'] not in series:
                    series.append(entry['seriesMasterId'])
                continue
            record = self._record(kind, entry)
            if record is None:
                continue
            self._pages[record.item_id] = record
            changed.append(RemoteRecord(kind, record.item_id, record.change_key))
        # A series spans pages: its master is read once a round (a later change comes in the
        # next round); a later page names it again with the key read.
        for master in self._masters([i for i in series if i not in self._round_series]):
            self._round_series[master['id']] = pim.change_key(master)
        changed += [RemoteRecord(kind, i, self._round_series[i]) for i in series if i in self._round_series]
        next_link, delta_link = payload.get('@odata.nextLink'), payload.get('@odata.deltaLink')
        if not next_link:
            self._round_series = {}
        return SyncPage(changed, [], removed, next_link or delta_link, bool(next_link))

    def _masters(self, master_ids):
        """The Graph JSON of the series masters ``master_ids`` (kept for get_records);
        those deleted meanwhile are left out (their instances' ``@removed`` follow)."""
        found = []
        for master_id in master_ids:
            try:
                entry = self._request('GET', '%s/%s' % (self._collection('appointment'), master_id),
                                      headers={'Prefer': 'outlook.timezone="UTC"'})
            except PermanentError as exc:
                if exc.code == 'item_missing':
                    self._series.pop(master_id, None)
                    continue
                raise
            self._series[master_id] = entry
            found.append(entry)
        return found

    def series_removed(self, kind, page, series_ids):
        """Graph reports a deleted series, or a cancelled occurrence, only as ``@removed``
        of instances, which name no series. After a page with such removals (ids no link
        holds), each linked series (``series_ids``) is looked up: one deleted is added to
        the page's deleted ids, one still there to its updated stubs with its change key
        (the cycle reads it only when that key is not the one it keeps)."""
        if kind != 'appointment':
            return page
        known = {stub.item_id for stub in page.created + page.updated}
        wanted = [i for i in series_ids if i not in known]
        present = {entry['id']: entry for entry in self._masters(wanted)}
        page.updated = list(page.updated) + [RemoteRecord(kind, i, pim.change_key(present[i]))
                                             for i in wanted if i in present]
        page.deleted = list(page.deleted) + [i for i in wanted if i not in present]
        return page

    def get_records(self, kind, item_ids):
        """RemoteRecords of ``item_ids`` in that order (those of the last delta page without
        a request); items gone meanwhile are left out."""
        records = []
        for item_id in item_ids:
            record = self._pages.get(item_id)
            if kind == 'appointment' and item_id in self._series:
                entry = self._series.pop(item_id)
                record = self._record(kind, entry)
                record.exceptions = self._exceptions(entry, record)
            if record is None or record.kind != kind:
                record = self._get(kind, item_id)
            if record is not None:
                records.append(record)
        return records

    def _get(self, kind, item_id):
        try:
            entry = self._request('GET', '%s/%s' % (self._collection(kind), item_id),
                                  headers={'Prefer': 'outlook.timezone="UTC"'})
        except PermanentError as exc:
            if exc.code == 'item_missing':
                return None
            raise
        record = self._record(kind, entry)
        if kind == 'appointment' and record.values.get('recurrence'):
            record.exceptions = self._exceptions(entry, record)
        return record

    def _exceptions(self, master, record):
        """The series' moved or edited occurrences (``/instances`` of type exception) and
        cancelled ones (``cancelledOccurrences``), as RemoteOccurrences by original start."""
        rule = record.values['recurrence']
        first = datetime.datetime.combine(rule['start'], datetime.time(0)) - datetime.timedelta(days=1)
        last = datetime.datetime.combine(rule['until'], datetime.time(0)) + datetime.timedelta(days=2) \
            if rule.get('until') else datetime.datetime.utcnow() + WINDOW_FUTURE
        headers = {'Prefer': 'outlook.timezone="UTC", odata.maxpagesize=100'}
        page = self._request('GET', '%s/%s/instances' % (self._collection('appointment'), master['id']),
                             headers=headers, params={'startDateTime': first.isoformat() + 'Z',
                                                      'endDateTime': last.isoformat() + 'Z'})
        entries = list(page.get('value') or ())
        while page.get('@odata.nextLink'):
            page = self._request('GET', page['@odata.nextLink'], headers=headers)
            entries += page.get('value') or ()
        found = []
        for entry in entries:
            if entry.get('type') == 'exception' and entry.get('originalStart'):
                values = pim.record('appointment', dict(entry, type='singleInstance')).values
                values.pop('recurrence', None)
                found.append(RemoteOccurrence(pim.parse_instant(entry['originalStart']), False, entry['id'],
                                              pim.change_key(entry), values))
        for occurrence_id in master.get('cancelledOccurrences') or ():
            found.append(RemoteOccurrence(pim.occurrence_start(master, occurrence_id), cancelled=True))
        return sorted(found, key=lambda occurrence: occurrence.original_start)

    def _record(self, kind, entry):
        """The RemoteRecord of an entry; when Odoo sends the invitations, the meetings this
        mailbox organizes carry no attendees in Outlook (never written there, so never read)."""
        record = pim.record(kind, entry)
        if record is not None and kind == 'appointment' and self.invitations == 'odoo' \
                and entry.get('isOrganizer', True):
            record.values.pop('attendees', None)
        return record

    def _writable(self, kind, values):
        if kind == 'appointment' and self.invitations == 'odoo':
            return {key: value for key, value in values.items() if key != 'attendees'}
        return values

    def _copy_of(self, uid):
        """The id of the event of iCalendar UID ``uid`` in this calendar (a meeting Microsoft
        365 delivered to this attendee), or None."""
        quoted = uid.replace("'", "''")
        found = self._request('GET', self._user_path('events'), headers={'Prefer': 'outlook.timezone="UTC"'},
                              params={'$filter': "iCalUId eq '%s'" % quoted})
        entries = found.get('value') or ()
        return self._record('appointment', entries[0]) if entries else None

    def translate_ids(self, item_ids):
        """{EWS id: Graph id} of links made through EWS, after a sync state that was not
        Graph's (a profile moved from Exchange to Microsoft 365); {} otherwise."""
        if not self._foreign_state:
            return {}
        found = {}
        item_ids = list(item_ids)
        for start in range(0, len(item_ids), 1000):
            answer = self._request('POST', self._user_path('translateExchangeIds'), json={
                'inputIds': item_ids[start:start + 1000], 'sourceIdType': 'ewsId', 'targetIdType': 'restId'})
            found.update((row['sourceId'], row['targetId']) for row in answer.get('value') or ()
                         if row.get('targetId'))
        return found

    # ------------------------------------------------------------------ writing
    def create_record(self, kind, values, categories=()):
        """Create an item from canonical values; returns (item_id, change_key). A meeting
        whose ``uid`` is already in this calendar (Microsoft 365 delivered it to this
        attendee) is that event, not a second one; a retried creation (same ``uid`` as
        ``transactionId``) returns the first."""
        if kind == 'appointment' and values.get('uid'):
            copy = self._copy_of(values['uid'])
            if copy is not None:
                self._pages[copy.item_id] = copy
                return copy.item_id, copy.change_key
        body = pim.graph_values(kind, self._writable(kind, values), create=True)
        if categories:
            body['categories'] = list(categories)
        entry = self._request('POST', self._collection(kind), expect=(201,), json=body,
                              headers={'Prefer': 'outlook.timezone="UTC"'})
        record = self._record(kind, entry)
        self._pages[record.item_id] = record
        return record.item_id, record.change_key

    def update_record(self, kind, item_id, change_key, values):
        """Write only the canonical fields in ``values`` and return the new change key.
        ConflictError when the item changed since ``change_key``; PermanentError
        'item_missing' when it is gone."""
        current = None
        if pim.needs_current(kind, values):
            current = self._get(kind, item_id)
            if current is None:
                raise PermanentError('item_missing', item_id)
            if current.change_key != change_key:
                raise ConflictError('change_key_mismatch', item_id)
        body = pim.graph_values(kind, self._writable(kind, values), create=False, current=current)
        if not body:
            return change_key
        headers = {'If-Match': 'W/"%s"' % change_key} if change_key else {}
        entry = self._request('PATCH', '%s/%s' % (self._collection(kind), item_id), json=body,
                              headers=dict(headers, Prefer='outlook.timezone="UTC"'))
        record = self._record(kind, entry)
        self._pages[item_id] = record
        return record.change_key

    def delete_record(self, kind, item_id):
        """Delete an item; False when it was gone already."""
        try:
            self._request('DELETE', '%s/%s' % (self._collection(kind), item_id), expect=(204,))
        except PermanentError as exc:
            if exc.code == 'item_missing':
                return False
            raise
        self._pages.pop(item_id, None)
        return True
