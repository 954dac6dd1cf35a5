"""An in-memory mail server for fast tests of the code that drives a connector.

``FakeSource`` answers the calls the Odoo layer makes on a connector (the
EWS-shaped ones: pages of changes after a saved state, bodies, the sent copy,
and appointments/contacts/tasks) with the same return types and errors as the
real connectors, without a network. Tests put mail in with ``deliver`` and
change items with ``remote_update``/``remote_delete`` as a user on the server
would; ``fail_next`` makes the next call of a method raise a given error.

>>> source = FakeSource()
>>> item_id = source.deliver('inbox', b'Message-ID: <a@x>\\r\\nSubject: hi\\r\\n\\r\\nbody')
>>> page = source.sync_changes('inbox')
>>> [m.item_id for m in page.created] == [item_id], page.more
(True, False)
>>> source.sync_changes('inbox', page.state).created
[]
"""
import itertools

from .errors import ConflictError, PermanentError, SyncStateInvalid
from .ews import SyncPage
from .items import RemoteRecord
from .kinds import NAMES as KINDS
from .message import RemoteMessage


class _Log(object):
    """One folder's items and the ordered changes a sync state points into."""

    def __init__(self):
        self.items = {}  # id -> raw bytes (mail) or RemoteRecord (items)
        self.changes = []  # (change, id) with change in 'create', 'update', 'delete'
        self.epoch = 1  # a new epoch makes every state handed out before invalid


class FakeSource(object):
    protocol = 'fake'

    def __init__(self, email='user@example.test'):
        self.email = email
        self.folders = {}
        self.sent = []  # raw bytes of every message sent, in order
        self.calls = []  # method names, in order
        self.connected = False
        self._failures = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ test controls
    def deliver(self, folder, raw):
        """Put a message in ``folder`` as the server would; returns its id."""
        return self._add(folder, raw)

    def fail_next(self, method, error):
        """The next call of ``method`` raises ``error`` (a SyncError)."""
        self._failures.setdefault(method, []).append(error)

    def forget_states(self, folder):
        """The server drops its sync states (as Exchange does after a while)."""
        self._log(folder).epoch += 1

    def remote_update(self, kind, item_id, **values):
        """Change an item as a user on the server would: a new change key."""
        record = self._record(kind, item_id)
        record.values.update(values)
        record.change_key = self._new_key()
        self._log(kind).changes.append(('update', item_id))

    def remote_delete(self, kind, item_id):
        log = self._log(kind)
        del log.items[item_id]
        log.changes.append(('delete', item_id))

    # ------------------------------------------------------------------ connector
    def connect(self):
        self._call('connect')
        self.connected = True
        return self

    def check(self):
        self._call('check')
        return {'messages': len(self._log('inbox').items)}

    def close(self):
        self.connected = False

    # ------------------------------------------------------------------ email
    def sync_changes(self, folder, sync_state=None, max_changes=50):
        self._call('sync_changes')
        return self._page(folder, sync_state, max_changes,
                          lambda item_id, raw: RemoteMessage(raw, item_id=item_id, folder=folder))

    def fetch_mime(self, item_ids, folder=None):
        """RemoteMessages of the ids still present, like GetItem (gone ones are left out)."""
        self._call('fetch_mime')
        for item_id in item_ids:
            for log in self.folders.values():
                raw = log.items.get(item_id)
                if isinstance(raw, bytes):
                    yield RemoteMessage(raw, item_id=item_id, folder=folder)
                    break

    def send(self, raw, sender=None, recipients=None, before_data=None):
        """Send and keep the copy in Sent Items together, as EWS's SendAndSaveCopy."""
        self._call('send')
        if before_data:
            before_data()
        self.sent.append(raw)
        self._add('sentitems', raw)
        return {}

    def find_sent(self, message_id):
        self._call('find_sent')
        return any(RemoteMessage(raw).message_id == message_id
                   for raw in self._log('sentitems').items.values())

    def append(self, folder, raw):
        self._call('append')
        self._add(folder, raw)

    def move(self, item_ids, source, target):
        self._call('move')
        source_log = self._log(source)
        for item_id in item_ids:
            raw = source_log.items.pop(item_id, None)
            if raw is not None:
                source_log.changes.append(('delete', item_id))
                self._add(target, raw, item_id)

    # ------------------------------------------------------------------ appointments, contacts, tasks
    def item_changes(self, kind, sync_state=None, max_changes=100):
        self._call('item_changes')
        return self._page(kind, sync_state, max_changes,
                          lambda item_id, record: RemoteRecord(kind, item_id, record.change_key))

    def get_records(self, kind, item_ids):
        self._call('get_records')
        log = self._log(kind)
        return [_copy(log.items[item_id]) for item_id in item_ids if item_id in log.items]

    def create_record(self, kind, values, categories=()):
        self._call('create_record')
        if kind not in KINDS:
            raise PermanentError('unknown_kind', kind)
        item_id = 'item-%d' % next(self._ids)
        record = RemoteRecord(kind, item_id, self._new_key(), uid=values.get('uid'),
                              categories=categories, values=values)
        self._add(kind, record, item_id)
        return item_id, record.change_key

    def update_record(self, kind, item_id, change_key, values):
        self._call('update_record')
        record = self._record(kind, item_id)
        if record.change_key != change_key:
            raise ConflictError('change_key_mismatch', item_id)
        record.values.update(values)
        record.change_key = self._new_key()
        self._log(kind).changes.append(('update', item_id))
        return record.change_key

    def delete_record(self, kind, item_id):
        self._call('delete_record')
        if item_id not in self._log(kind).items:
            return False
        self.remote_delete(kind, item_id)
        return True

    # ------------------------------------------------------------------ internals
    def _call(self, method):
        self.calls.append(method)
        waiting = self._failures.get(method)
        if waiting:
            raise waiting.pop(0)

    def _log(self, folder):
        return self.folders.setdefault(folder, _Log())

    def _add(self, folder, item, item_id=None):
        item_id = item_id or 'item-%d' % next(self._ids)
        log = self._log(folder)
        log.items[item_id] = item
        log.changes.append(('create', item_id))
        return item_id

    def _record(self, kind, item_id):
        record = self._log(kind).items.get(item_id)
        if record is None:
            raise PermanentError('item_missing', item_id)
        return record

    def _new_key(self):
        return 'ck-%d' % next(self._ids)

    def _page(self, folder, sync_state, max_changes, convert):
        """The changes after ``sync_state`` ('epoch:position'), at most ``max_changes``,
        an item's several changes folded into one as SyncFolderItems does."""
        log = self._log(folder)
        start = 0
        if sync_state is not None:
            epoch, _, position = sync_state.partition(':')
            if epoch != str(log.epoch) or not position.isdigit() or int(position) > len(log.changes):
                raise SyncStateInvalid('sync_state_invalid', sync_state)
            start = int(position)
        end = min(start + max_changes, len(log.changes))
        created, updated, deleted, seen = [], [], [], {}
        for change, item_id in log.changes[start:end]:
            seen.setdefault(item_id, []).append(change)
        for item_id, changes in seen.items():
            present = item_id in log.items
            if not present:
                if changes[0] != 'create':
                    deleted.append(item_id)
            elif changes[0] == 'create':
                created.append(convert(item_id, log.items[item_id]))
            else:
                updated.append(convert(item_id, log.items[item_id]))
        return SyncPage(created, updated, deleted, '%d:%d' % (log.epoch, end), end < len(log.changes))


def _copy(record):
    return RemoteRecord(record.kind, record.item_id, record.change_key, uid=record.uid,
                        categories=record.categories, values=record.values)
