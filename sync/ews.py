"""Exchange connector (exchangelib over EWS), fail-fast: it never sleeps for a server.

The certificate choice of a profile (a CA file, the system store, or none) reaches
exchangelib through its documented extension point for TLS validation only
(``BaseProtocol.HTTP_ADAPTER_CLS``, see ``_ConnectorAdapter``); no exchangelib class,
object or private method is changed.

Incoming email uses SyncFolderItems one page at a time (``sync_changes``), so the
caller saves each page's sync state together with what that page produced.

Appointments, contacts and tasks (``item_changes``, ``get_records``, ``create_record``,
``update_record``, ``delete_record``) are read and written as the canonical values of
``items.py``. Writes never send meeting invitations or cancellations, and updates are
sent with the change key the caller read and NeverOverwrite: a change made in Outlook
meanwhile fails the update (ConflictError) instead of being merged silently, as
exchangelib's default AutoResolve would.
"""
import datetime
import decimal
import email.header
import email.utils
import functools
import inspect
import threading
import weakref

import requests

from . import items as canon
from .kinds import KINDS
from .connector import Connector
from .errors import (AuthError, ConfigError, ConflictError, PermanentError, SyncStateInvalid,
                     TransientError)
from .items import RemoteOccurrence, RemoteRecord
from .message import RemoteMessage
from .oauth import BearerToken

try:  # exchangelib is a hard dependency of the addon, but keep import errors readable
    import exchangelib
    from exchangelib import errors as ews_errors
    from exchangelib.fields import FieldPath
    from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
    from exchangelib.items import (ALL_OCCURRENCES, ID_ONLY, MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE,
                                   SAVE_ONLY, SEND_TO_NONE, CalendarItem, Contact, Message, Task)
    from exchangelib.properties import Attendee, DistinguishedFolderId, HTMLBody, Mailbox
    from exchangelib.recurrence import BOUNDARY_CLASSES, PATTERN_CLASSES, Recurrence
    from exchangelib.services import DeleteItem, GetItem, SyncFolderItems
except ImportError:  # pragma: no cover
    exchangelib = None

# Item fields a sync page asks for: enough to decide without fetching the content.
SYNC_FIELDS = ('categories', 'size', 'datetime_received', 'subject', 'sender', 'message_id')
# Appointments, contacts and tasks (folders: kinds.py): the exchangelib fields read.
_COMMON_READ = ('categories', 'last_modified_time')
_READ = {
    'appointment': ('subject', 'start', 'end', 'is_all_day', '_start_timezone', '_end_timezone',
                    'location', 'body', 'required_attendees', 'optional_attendees', 'organizer',
                    'legacy_free_busy_status', 'importance', 'uid', 'recurrence',
                    'modified_occurrences', 'deleted_occurrences'),
    'occurrence': ('subject', 'start', 'end', 'is_all_day', '_start_timezone', '_end_timezone',
                   'location', 'body', 'required_attendees', 'optional_attendees', 'organizer',
                   'legacy_free_busy_status', 'importance'),
    'contact': ('given_name', 'surname', 'display_name', 'company_name', 'job_title',
                'email_addresses', 'phone_numbers', 'physical_addresses'),
    'task': ('subject', 'due_date', 'start_date', 'status', 'percent_complete', 'body'),
}
UTC_NAMES = ('Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu')  # Windows "UTC" comes back so
SHOW_AS = {'free': 'Free', 'tentative': 'Tentative', 'busy': 'Busy', 'oof': 'OOF',
           'workingelsewhere': 'WorkingElsewhere'}
# canonical contact field -> (exchangelib indexed field, label, subfield)
CONTACT_INDEXED = {
    'email': ('email_addresses', 'EmailAddress1', 'email'),
    'email2': ('email_addresses', 'EmailAddress2', 'email'),
    'email3': ('email_addresses', 'EmailAddress3', 'email'),
    'phone': ('phone_numbers', 'BusinessPhone', 'phone_number'),
    'mobile': ('phone_numbers', 'MobilePhone', 'phone_number'),
    'home_phone': ('phone_numbers', 'HomePhone', 'phone_number'),
    'street': ('physical_addresses', 'Business', 'street'),
    'city': ('physical_addresses', 'Business', 'city'),
    'state': ('physical_addresses', 'Business', 'state'),
    'zip': ('physical_addresses', 'Business', 'zipcode'),
    'country': ('physical_addresses', 'Business', 'country'),
}
INDEXED_GROUPS = ('email_addresses', 'phone_numbers', 'physical_addresses')  # contacts'
CONTACT_PLAIN = {'first_name': 'given_name', 'last_name': 'surname', 'display_name': 'display_name',
                 'company': 'company_name', 'job_title': 'job_title'}
_thread = threading.local()
_lock = threading.Lock()
_UNKNOWN = object()
_protocol_verify = weakref.WeakKeyDictionary()  # exchangelib's cached protocol -> setting it serves


class _ConnectorAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter while this module is loaded.

    exchangelib offers one documented way to choose how TLS is verified: the adapter class
    ``BaseProtocol.HTTP_ADAPTER_CLS`` ("Proxies and custom TLS validation" in its docs),
    read whenever it makes a session (also later, when it replaces a broken one). It has
    no per-account setting: ``Configuration`` takes no adapter, and ``Account`` builds
    and caches its ``Protocol`` itself (one per URL and login for the whole process), so
    a Protocol subclass cannot be passed in. Hence one process-wide class, which changes
    nothing for anyone else: a session made while one of our connectors works in this
    thread (``_as_connector``) verifies with that connector's setting, whatever
    REQUESTS_CA_BUNDLE says; every other session verifies exactly as requests would.
    Each session has its own adapter and connection pool, so a setting never leaks into
    another connector's sessions, except between two profiles with the same URL and login,
    which share exchangelib's protocol (``EwsConnector.connect`` closes its sessions when
    the setting changes)."""

    def __init__(self, *args, **kwargs):
        self._verify = getattr(_thread, 'verify', None)
        super(_ConnectorAdapter, self).__init__(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        chosen = self._verify
        super(_ConnectorAdapter, self).cert_verify(conn, url, verify if chosen is None else chosen, cert)


def _fail_fast():
    return _FailFastRetryAfter()


if exchangelib is not None:
    class _FailFastRetryAfter(exchangelib.FailFast):
        """exchangelib's FailFast (never sleeps in a call) that keeps the Retry-After of an
        HTTP 503, as its FaultTolerance does: the server's back-off becomes our retry_after
        instead of exchangelib's fixed guess (Protocol.RETRY_WAIT)."""

        def raise_response_errors(self, response):
            try:
                return super(_FailFastRetryAfter, self).raise_response_errors(response)
            except (ews_errors.ErrorInternalServerTransientError, ews_errors.ErrorServerBusy) as exc:
                retry_after = _retry_after(response)
                if retry_after:
                    raise ews_errors.ErrorServerBusy(exc.args[0], back_off=retry_after)
                raise


def _retry_after(response):
    """The Retry-After header in seconds (the delay form), or None."""
    try:
        seconds = int(response.headers.get('Retry-After', '0'))
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def _install_adapter():
    """Make exchangelib's sessions use ``_ConnectorAdapter``, on top of an adapter another
    user of exchangelib in this process may have set (proxies...): theirs still applies."""
    base = exchangelib.protocol.BaseProtocol
    current = base.HTTP_ADAPTER_CLS
    if not issubclass(current, _ConnectorAdapter):
        with _lock:
            current = base.HTTP_ADAPTER_CLS
            if not issubclass(current, _ConnectorAdapter):
                base.HTTP_ADAPTER_CLS = _ConnectorAdapter if current is requests.adapters.HTTPAdapter \
                    else type('MailSync' + current.__name__, (_ConnectorAdapter, current), {})


def _as_connector(method):
    """Run ``method`` of a connector (a generator too, step by step) with the connector's
    certificate setting in force for the sessions exchangelib makes meanwhile in this thread."""
    def step(self, call):
        previous = getattr(_thread, 'verify', None)
        _thread.verify = self.settings.verify
        try:
            return call()
        finally:
            _thread.verify = previous

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            steps = method(self, *args, **kwargs)
            while True:
                try:
                    value = step(self, lambda: next(steps))
                except StopIteration:
                    return
                yield value
        return generator

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return step(self, lambda: method(self, *args, **kwargs))
    return wrapper


class RemoteItem(object):
    """One item of a SyncFolderItems page: its id and what the page says about it."""

    def __init__(self, item_id, change_key=None, categories=(), size=0, received=None, subject='',
                 sender='', message_id=None, is_message=True):
        self.item_id = item_id
        self.change_key = change_key
        self.categories = list(categories or ())
        self.size = size or 0
        self.received = received  # aware datetime (DateTimeReceived)
        self.subject = subject or ''
        self.sender = sender or ''
        self.message_id = message_id
        self.is_message = is_message

    def header_block(self):
        """RFC 822 headers rebuilt from the item's properties (for an item too large to fetch)."""
        lines = []
        for name, value in (('Message-ID', self.message_id), ('From', self.sender),
                            ('Subject', self.subject),
                            ('Date', self.received and email.utils.format_datetime(self.received))):
            value = ' '.join((value or '').split())  # no line breaks inside a header
            if value:
                lines.append('%s: %s' % (name, email.header.Header(value, 'utf-8').encode()
                                         if any(ord(c) > 127 for c in value) else value))
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('ascii')


class SyncPage(object):
    """One SyncFolderItems answer: created and updated items, deleted ids, the new state
    (to save once the page is handled) and whether more changes wait."""

    def __init__(self, created, updated, deleted, state, more):
        self.created = created
        self.updated = updated
        self.deleted = deleted
        self.state = state
        self.more = more


class _BearerCredentials(exchangelib.OAuth2AuthorizationCodeCredentials):
    """exchangelib's documented way to use tokens the application obtains itself: an access
    token without client secret, and ``refresh()`` overridden to ask our token source."""

    def __init__(self, bearer):
        super(_BearerCredentials, self).__init__(access_token=_token_dict(bearer.token))
        self.bearer = bearer

    def refresh(self, session):
        self.bearer.renewed = False  # each expiry during a long session may renew once
        self.bearer.renew()
        self.access_token = _token_dict(self.bearer.token)

    def __repr__(self):
        return '<BearerCredentials %s>' % self.bearer.login


def _token_dict(token):
    # exchangelib (requests-oauthlib) needs a lifetime; ours is managed by the token source,
    # which refreshes ahead of expiry, so the session may use it for its own lifetime.
    return {'access_token': token, 'token_type': 'Bearer', 'expires_in': 3000}


class EwsSettings(object):
    """Where the EWS endpoint is and how to reach it."""

    def __init__(self, email, ews_url=None, autodiscover=False, auth_type='basic',
                 timeout=60, verify_tls=True, cafile=None, impersonate=False):
        if not autodiscover and not ews_url:
            raise ConfigError('missing_ews_url')
        self.email = email
        self.ews_url = ews_url
        self.autodiscover = autodiscover
        self.auth_type = auth_type
        self.timeout = timeout
        self.verify = (cafile or True) if verify_tls else False
        self.impersonate = impersonate


class EwsConnector(Connector):
    protocol = 'ews'

    def __init__(self, settings, credentials):
        super(EwsConnector, self).__init__(settings, credentials)
        self.settings = settings
        self.account = None

    @_as_connector
    def connect(self):
        st = self.settings
        if isinstance(self.credentials, BearerToken):
            creds = _BearerCredentials(self.credentials)
        else:
            creds = exchangelib.Credentials(self.credentials.login, self.credentials.password)
        auth = {'basic': exchangelib.BASIC, 'ntlm': exchangelib.NTLM,
                'oauth': exchangelib.OAUTH2}[st.auth_type]
        access = exchangelib.IMPERSONATION if st.impersonate else exchangelib.DELEGATE
        _install_adapter()
        try:
            if st.autodiscover:
                config = exchangelib.Configuration(credentials=creds, auth_type=auth,
                                                   retry_policy=_fail_fast())
                account = exchangelib.Account(st.email, credentials=creds, autodiscover=True,
                                              access_type=access, config=config)
            else:
                config = exchangelib.Configuration(
                    service_endpoint=st.ews_url, credentials=creds, auth_type=auth,
                    retry_policy=_fail_fast())
                account = exchangelib.Account(st.email, config=config, autodiscover=False,
                                              access_type=access)
            protocol = account.protocol
            with _lock:
                served = _protocol_verify.get(protocol, _UNKNOWN)
                _protocol_verify[protocol] = st.verify
            if (served is _UNKNOWN and st.autodiscover) or (served is not _UNKNOWN and served != st.verify):
                # Sessions made with another profile's certificate setting (same URL and login)
                # or with Autodiscover's guessed auth type go; new ones are made with ours.
                protocol.close()
            protocol.TIMEOUT = st.timeout
            self.account = account
            return account
        except Exception as exc:
            raise self._map(exc)

    @_as_connector
    def check(self):
        """Connection test: the endpoint answers and the inbox can be read."""
        account = self.account or self.connect()
        try:
            inbox = account.inbox
            return {'messages': inbox.total_count, 'url': account.protocol.service_endpoint}
        except Exception as exc:
            error = self._map(exc)
            if getattr(error, 'code', None) == 'oauth_token_refused' and self.credentials.renew():
                self.account = None  # a new session with the new token
                return self.check()
            raise error

    # ------------------------------------------------------------------ incoming email
    @_as_connector
    def sync_changes(self, folder, sync_state=None, max_changes=50):
        """One SyncFolderItems page of the distinguished folder ``folder`` ('inbox',
        'sentitems') after ``sync_state`` (None: from the start). Raises SyncStateInvalid
        when the server no longer knows the state."""
        fields = {FieldPath(field=Message.get_field_by_fieldname(name)) for name in SYNC_FIELDS}
        return self._sync_page(folder, sync_state, max_changes, fields, _remote_item)

    def _sync_page(self, folder, sync_state, max_changes, fields, convert):
        """One SyncFolderItems page of the distinguished folder ``folder``: created and
        updated items as ``convert(item)`` (None leaves an item out), deleted ids, the new
        state and whether more changes wait."""
        account = self.account or self.connect()
        folder_id = DistinguishedFolderId(id=folder, mailbox=Mailbox(
            email_address=account.primary_smtp_address))
        service = SyncFolderItems(account=account)
        try:
            changes = list(service.call(
                folder=folder_id, shape=ID_ONLY, additional_fields=fields, sync_state=sync_state,
                ignore=None, max_changes_returned=max_changes, sync_scope=None))
        except Exception as exc:
            raise self._map(exc)
        created, updated, deleted = [], [], []
        for change, item in changes:
            if change == SyncFolderItems.DELETE:
                deleted.append(item.id)
            elif change in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                remote = convert(item)
                if remote is not None:
                    (created if change == SyncFolderItems.CREATE else updated).append(remote)
        more = not service.includes_last_item_in_range and service.sync_state != sync_state
        return SyncPage(created, updated, deleted, service.sync_state, more)

    @_as_connector
    def fetch_mime(self, item_ids, folder=None):
        """Yield RemoteMessages (``item_id`` set) with the items' MimeContent; items deleted
        meanwhile are left out."""
        item_ids = list(item_ids)
        if not item_ids:
            return
        account = self.account or self.connect()
        fields = {FieldPath(field=Message.get_field_by_fieldname(name))
                  for name in ('mime_content', 'size', 'datetime_received')}
        try:
            results = list(GetItem(account=account).call(
                items=[(item_id, None) for item_id in item_ids], additional_fields=fields, shape=ID_ONLY))
        except Exception as exc:
            raise self._map(exc)
        for result in results:
            if isinstance(result, ews_errors.ErrorItemNotFound):
                continue
            if isinstance(result, Exception):
                raise self._map(result)
            raw = result.mime_content or b''
            yield RemoteMessage(raw if isinstance(raw, bytes) else raw.encode('utf-8'), item_id=result.id,
                                folder=folder, size=getattr(result, 'size', None),
                                internal_date=getattr(result, 'datetime_received', None))

    @_as_connector
    def set_category(self, item_id, name, present=True):
        """Add or remove the category ``name`` on an item, keeping the others. Returns
        False when the item is gone. A change key that went stale between the read and the
        write (the item edited meanwhile) is retried once, after reading the item again."""
        account = self.account or self.connect()
        fields = {FieldPath(field=Message.get_field_by_fieldname('categories'))}
        for attempt in (1, 2):
            try:
                [item] = list(GetItem(account=account).call(items=[(item_id, None)], additional_fields=fields,
                                                            shape=ID_ONLY))
                if isinstance(item, ews_errors.ErrorItemNotFound):
                    return False
                if isinstance(item, Exception):
                    raise item
                categories = [c for c in (item.categories or []) if c.lower() != name.lower()]
                if present:
                    categories.append(name)
                if categories == list(item.categories or []):
                    return True
                item.categories = categories or None
                item.save(update_fields=['categories'])
                return True
            except Exception as exc:
                mapped = self._map(exc)
                if isinstance(mapped, ConflictError) and attempt == 1:
                    continue  # changed meanwhile (Outlook, a rule): read it again and retry, once
                raise mapped

    # ------------------------------------------------------------------ outgoing email
    @_as_connector
    def send(self, raw, sender=None, recipients=None, before_data=None):
        """Send a message (its MIME bytes) and keep its copy in Sent Items with one CreateItem
        (SendAndSaveCopy): Exchange sends and saves together, or does neither. Recipients
        come from the MIME headers; ``before_data`` is called just before the request."""
        account = self.account or self.connect()
        if before_data:
            before_data()
        try:
            Message(account=account, folder=account.sent, mime_content=raw).send_and_save()
        except Exception as exc:
            raise self._map(exc)
        return {}

    @_as_connector
    def find_sent(self, message_id):
        """Whether Sent Items holds a message with this Message-ID (the proof of a sending)."""
        account = self.account or self.connect()
        try:
            return account.sent.filter(message_id=message_id).only('id').count() > 0
        except Exception as exc:
            raise self._map(exc)

    # ------------------------------------------------------------------ appointments, contacts, tasks
    @_as_connector
    def item_changes(self, kind, sync_state=None, max_changes=100):
        """One SyncFolderItems page of the kind's folder (calendar, contacts, tasks) after
        ``sync_state``: created and updated items as RemoteRecord stubs (id and change key
        only; other classes, e.g. distribution lists, left out), deleted ids, the new state.
        A change to an occurrence of a series comes as an update of its master."""
        cls = _item_class(kind)
        return self._sync_page(KINDS[kind].folder, sync_state, max_changes, set(),
                               lambda item: RemoteRecord(kind, item.id, item.changekey)
                               if isinstance(item, cls) else None)

    @_as_connector
    def get_records(self, kind, item_ids):
        """RemoteRecords with every canonical field of ``kind``, in the order asked; ids of
        items gone meanwhile (or of another class) are left out. Recurring appointments
        come with their exceptions, the values of the modified occurrences included."""
        item_ids = list(item_ids)
        if not item_ids:
            return []
        found = self._get_items(_item_class(kind), kind, item_ids)
        records = [_record(kind, item) for item in found]
        if KINDS[kind].series:
            modified = [occ.id for item in found for occ in (item.modified_occurrences or ())]
            fetched = {item.id: item for item in self._get_items(CalendarItem, 'occurrence', modified)}
            for record, item in zip(records, found):
                record.exceptions = _exceptions(item, fetched)
        return records

    @_as_connector
    def create_record(self, kind, values, categories=()):
        """Create an item from canonical values (an appointment's ``uid`` may be given in
        ``values``); returns (item_id, change_key). Nothing is sent to attendees."""
        account = self.account or self.connect()
        cls = _item_class(kind)
        attrs = _ews_values(kind, values, create=True)
        if KINDS[kind].shared_uid and values.get('uid'):
            attrs['uid'] = values['uid']
        item = cls(account=account, folder=getattr(account, KINDS[kind].folder), **attrs)
        item.categories = list(categories) or None
        try:
            item.save(send_meeting_invitations=SEND_TO_NONE)
        except Exception as exc:
            raise self._map(exc)
        return item.id, item.changekey

    @_as_connector
    def update_record(self, kind, item_id, change_key, values):
        """Write only the canonical fields in ``values`` ('' or None deletes a field) and
        return the new change key. Raises ConflictError when the item changed since
        ``change_key`` was read, PermanentError 'item_missing' when it is gone. Appointment
        times (start, end, all_day, timezone) are written together: all four or none;
        ``organizer`` is read-only (ignored), and a contact's display name is never deleted."""
        account = self.account or self.connect()
        attrs = _ews_values(kind, values, create=False)
        if not attrs:
            return change_key
        if any(group in attrs for group in INDEXED_GROUPS):
            attrs = self._whole_indexed_groups(kind, item_id, change_key, attrs)
        item = _item_class(kind)(account=account, id=item_id, changekey=change_key, **attrs)
        try:
            [result] = account.bulk_update(
                items=[(item, list(attrs))], conflict_resolution=NEVER_OVERWRITE,
                message_disposition=SAVE_ONLY, send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                suppress_read_receipts=True)
        except Exception as exc:
            raise self._map(exc)
        if isinstance(result, Exception):
            raise self._map(result)
        return result[1]

    def _whole_indexed_groups(self, kind, item_id, change_key, attrs):
        """``attrs`` with each indexed group (email addresses, phones, addresses) complete.

        exchangelib writes an indexed group as a whole: it deletes the labels missing from
        the list and the empty subfields of the ones given. Our canonical values name a few
        labels and subfields (None leaves a subfield alone, '' deletes it), so the list
        written is the item's current one with ours laid over it. The item is read first;
        when its change key is no longer the caller's, the update would be refused anyway."""
        [current] = self._get_items(_item_class(kind), kind, [item_id]) or [None]
        if current is None:
            raise PermanentError('item_missing', item_id)
        if current.changekey != change_key:
            raise ConflictError('change_key_mismatch', item_id)
        merged = dict(attrs)
        for group in INDEXED_GROUPS:
            if group not in attrs:
                continue
            entries = {entry.label: entry for entry in getattr(current, group) or ()}
            for ours in attrs[group]:
                names = [field.name for field in type(ours).FIELDS if field.name != 'label']
                base = entries.get(ours.label)
                subs = {name: getattr(base, name, None) for name in names}
                for name in names:
                    value = getattr(ours, name)
                    if value is not None:
                        subs[name] = value or None
                entries[ours.label] = type(ours)(label=ours.label, **subs)
            kept = [entry for entry in entries.values()
                    if any(getattr(entry, field.name) for field in type(entry).FIELDS if field.name != 'label')]
            merged[group] = kept or None
        return merged

    @_as_connector
    def delete_record(self, kind, item_id):
        """Move an item (a series with its occurrences, or one occurrence) to Deleted Items
        without cancellations. Returns False when it was gone already."""
        account = self.account or self.connect()
        try:
            [result] = list(DeleteItem(account=account).call(
                items=[(item_id, None)], delete_type=MOVE_TO_DELETED_ITEMS,
                send_meeting_cancellations=SEND_TO_NONE, affected_task_occurrences=ALL_OCCURRENCES,
                suppress_read_receipts=True))
        except Exception as exc:
            raise self._map(exc)
        if isinstance(result, ews_errors.ErrorItemNotFound):
            return False
        if isinstance(result, Exception):
            raise self._map(result)
        return True

    def _get_items(self, cls, fields_key, item_ids):
        """GetItem of ``item_ids`` with the fields of ``fields_key``: the items of class ``cls``."""
        if not item_ids:
            return []
        account = self.account or self.connect()
        fields = {FieldPath(field=cls.get_field_by_fieldname(name))
                  for name in _READ[fields_key] + _COMMON_READ}
        try:
            results = list(GetItem(account=account).call(
                items=[(item_id, None) for item_id in item_ids], additional_fields=fields, shape=ID_ONLY))
        except Exception as exc:
            raise self._map(exc)
        found = []
        for result in results:
            if isinstance(result, ews_errors.ErrorItemNotFound):
                continue
            if isinstance(result, Exception):
                raise self._map(result)
            if isinstance(result, cls):
                found.append(result)
        return found

    @_as_connector
    def close(self):
        if self.account is not None:
            self.account.protocol.close()
            self.account = None

    def _map(self, exc):
        """exchangelib's errors into ours; the order matters (subclasses first)."""
        if isinstance(exc, (AuthError, ConfigError, PermanentError, TransientError)):
            return exc
        detail = str(exc)
        # The item changed since its change key was read, or the key was missing: with
        # NeverOverwrite Exchange says ErrorIrresolvableConflict, and it also answers
        # ErrorStaleObject (UpdateItem, SendItem) and ErrorChangeKeyRequired(ForWriteOperations).
        # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
        # These are ResponseMessageErrors (TransportErrors for exchangelib): matched before those.
        if isinstance(exc, (ews_errors.ErrorIrresolvableConflict, ews_errors.ErrorStaleObject,
                            ews_errors.ErrorChangeKeyRequired,
                            ews_errors.ErrorChangeKeyRequiredForWriteOperations)):
            return ConflictError('change_key_mismatch', detail)
        if isinstance(exc, ews_errors.ErrorItemNotFound):
            return PermanentError('item_missing', detail)
        if isinstance(exc, ews_errors.ErrorInvalidSyncStateData):
            return SyncStateInvalid('sync_state_invalid', detail)
        if isinstance(exc, ews_errors.ErrorServerBusy):
            return TransientError('server_busy', detail, retry_after=exc.back_off)
        if isinstance(exc, ews_errors.ErrorExceededConnectionCount):
            # More concurrent requests than the user's throttling policy allows: busy, not broken.
            # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
            return TransientError('server_busy', detail)
        if isinstance(exc, ews_errors.RateLimitError):
            return TransientError('server_busy', detail, retry_after=exc.wait)
        if isinstance(exc, ews_errors.UnauthorizedError):
            if isinstance(self.credentials, BearerToken):
                return AuthError('oauth_token_refused', detail)
            return AuthError('auth_failed', detail)
        if isinstance(exc, ews_errors.ErrorImpersonateUserDenied):
            return AuthError('impersonation_denied', detail)
        if isinstance(exc, (ews_errors.ErrorAccessDenied,)):
            return AuthError('access_denied', detail)
        if isinstance(exc, (ews_errors.ErrorNonExistentMailbox,)):
            return PermanentError('mailbox_missing', detail)
        if isinstance(exc, ews_errors.AutoDiscoverFailed):
            return ConfigError('autodiscover_failed', detail)
        # exchangelib re-raises TLS errors as TransportError(str(e)) inside the handler
        if isinstance(exc, requests.exceptions.SSLError) or isinstance(
                exc.__context__, requests.exceptions.SSLError):
            return ConfigError('tls_untrusted', detail)
        if isinstance(exc, (requests.exceptions.Timeout,)):
            return TransientError('timeout', detail)
        if isinstance(exc, requests.exceptions.ConnectionError):
            if 'Name or service not known' in detail or 'nodename nor servname' in detail:
                return ConfigError('unknown_host', detail)
            return TransientError('connection_refused', detail)
        if isinstance(exc, ews_errors.TransportError):
            return TransientError('network', detail)
        if isinstance(exc, ews_errors.EWSError):
            return PermanentError('protocol', detail)
        return exc


def _remote_item(item):
    sender = getattr(item, 'sender', None)
    if sender is not None:
        sender = email.utils.formataddr((sender.name or '', sender.email_address or ''))
    return RemoteItem(item.id, getattr(item, 'changekey', None), getattr(item, 'categories', None),
                      getattr(item, 'size', 0), getattr(item, 'datetime_received', None),
                      getattr(item, 'subject', ''), sender, getattr(item, 'message_id', None),
                      is_message=isinstance(item, Message))


# -------------------------------------------------------------- appointments, contacts, tasks
def _item_class(kind):
    return {'appointment': CalendarItem, 'contact': Contact, 'task': Task}[kind]


def _body_text(value):
    return canon.plain_text(value, is_html=isinstance(value, HTMLBody))


def _record(kind, item):
    reader = {'appointment': _appointment_values, 'contact': _contact_values, 'task': _task_values}[kind]
    return RemoteRecord(kind, item.id, item.changekey,
                        uid=(item.uid or None) if KINDS[kind].shared_uid else None,
                        categories=item.categories or (),
                        last_modified=canon.as_utc(item.last_modified_time), values=reader(item))


def _appointment_values(item, recurrence=True):
    zone = item._start_timezone
    tzname = getattr(zone, 'key', None) or 'UTC'
    if tzname in UTC_NAMES:
        tzname = 'UTC'
    start, end = item.start, item.end
    if item.is_all_day:
        if isinstance(start, datetime.datetime):
            start, end = canon.all_day_dates(start, end, tzname)
        else:  # exchangelib made dates of them in the start time zone, the end inclusive
            start, end = canon.as_date(start), canon.as_date(end) + datetime.timedelta(days=1)
            end = max(end, start + datetime.timedelta(days=1))
    else:
        start, end = canon.as_utc(start), canon.as_utc(end)
    attendees = [(a.mailbox.email_address, a.mailbox.name, role)
                 for role, group in (('required', item.required_attendees),
                                     ('optional', item.optional_attendees))
                 for a in group or () if a.mailbox is not None]
    organizer = item.organizer.email_address if item.organizer is not None else None
    show_as = {ews: name for name, ews in SHOW_AS.items()}
    values = {
        'subject': item.subject or '', 'start': start, 'end': end, 'all_day': bool(item.is_all_day),
        'timezone': tzname, 'location': item.location or '', 'body': _body_text(item.body),
        'attendees': canon.attendees_value(attendees), 'organizer': (organizer or '').lower(),
        'show_as': show_as.get(item.legacy_free_busy_status, 'busy'),
        'importance': (item.importance or 'Normal').lower(),
    }
    if recurrence:
        values['recurrence'] = _recurrence_value(item.recurrence)
    return values


def _recurrence_value(recurrence):
    if recurrence is None or recurrence.pattern is None or recurrence.boundary is None:
        return None
    pattern, boundary = recurrence.pattern, recurrence.boundary
    return canon.recurrence_from_ews(
        pattern.ELEMENT_NAME, {f.name: getattr(pattern, f.name) for f in pattern.FIELDS},
        boundary.ELEMENT_NAME, {f.name: getattr(boundary, f.name) for f in boundary.FIELDS})


def _exceptions(master, fetched):
    """The master's modified occurrences (with the values of those fetched) and cancelled
    ones, by original start."""
    out = []
    for occ in master.modified_occurrences or ():
        item = fetched.get(occ.id)
        if item is not None:  # deleted meanwhile: the next sync sees it cancelled
            out.append(RemoteOccurrence(canon.as_utc(occ.original_start), False, item.id,
                                        item.changekey, _appointment_values(item, recurrence=False)))
    for occ in master.deleted_occurrences or ():
        out.append(RemoteOccurrence(canon.as_utc(occ.start), cancelled=True))
    return sorted(out, key=lambda occ: occ.original_start)


def _contact_values(item):
    values = {name: getattr(item, attr) or '' for name, attr in CONTACT_PLAIN.items()}
    entries = {}
    for group in ('email_addresses', 'phone_numbers', 'physical_addresses'):
        for entry in getattr(item, group) or ():
            entries[group, entry.label] = entry
    for name, (group, label, sub) in CONTACT_INDEXED.items():
        values[name] = (getattr(entries.get((group, label)), sub, None) or '').strip()
    return values


def _task_values(item):
    return {'subject': item.subject or '', 'due': canon.as_date(item.due_date),
            'start': canon.as_date(item.start_date), 'status': item.status or 'NotStarted',
            'percent': float(item.percent_complete or 0), 'notes': _body_text(item.body)}


def _ews_values(kind, values, create):
    """The exchangelib attributes to write for canonical ``values``; an empty value
    becomes None (the field is deleted)."""
    extra = {'uid'} if create and KINDS[kind].shared_uid else set()
    unknown = set(values) - set(canon.FIELDS[kind]) - extra
    if unknown:
        raise ValueError('unknown %s fields: %s' % (kind, ', '.join(sorted(unknown))))
    writer = {'appointment': _appointment_attrs, 'contact': _contact_attrs, 'task': _task_attrs}[kind]
    return writer(values, create)


def _ews_zone(name):
    try:
        return exchangelib.EWSTimeZone(name or 'UTC')
    except Exception:  # unknown to exchangelib's IANA -> Windows map
        return exchangelib.EWSTimeZone('UTC')


def _ews_instant(value, zone):
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        raise ValueError('appointment times must be aware datetimes (or dates when all day): %r'
                         % (value,))
    return exchangelib.EWSDateTime.from_datetime(value).astimezone(zone)


def _appointment_attrs(values, create):
    attrs = {}
    for name, attr in (('subject', 'subject'), ('location', 'location'), ('body', 'body')):
        if name in values:
            attrs[attr] = values[name] or None
    if 'attendees' in values:
        for role in ('required', 'optional'):
            attrs[role + '_attendees'] = [
                Attendee(mailbox=Mailbox(email_address=email, name=name or None), response_type='Unknown')
                for email, name, kind in values['attendees'] or () if kind == role] or None
    if 'show_as' in values:
        attrs['legacy_free_busy_status'] = SHOW_AS[values['show_as'] or 'busy']
    if 'importance' in values:
        attrs['importance'] = (values['importance'] or 'normal').capitalize()
    if create or any(name in values for name in canon.TIME_FIELDS):
        missing = [name for name in ('start', 'end') if values.get(name) is None]
        if not create:
            missing += [name for name in ('all_day', 'timezone') if name not in values]
        if missing:
            raise ValueError('appointment times are written together; missing: %s' % ', '.join(missing))
        zone = _ews_zone(values.get('timezone'))
        start, end = values['start'], values['end']
        if values.get('all_day'):
            start, end = canon.all_day_bounds(canon.as_date(start), canon.as_date(end), zone.key)
        attrs.update(start=_ews_instant(start, zone), end=_ews_instant(end, zone),
                     is_all_day=bool(values.get('all_day')), _start_timezone=zone, _end_timezone=zone)
    if 'recurrence' in values:
        rule = values['recurrence']
        if rule and not rule.get('start'):
            if 'start' not in attrs:
                raise ValueError('a recurrence without its start date needs the appointment times')
            rule = dict(rule, start=attrs['start'].date())  # the local date of the first occurrence
        attrs['recurrence'] = _ews_recurrence(rule) if rule else None
    return attrs


def _ews_recurrence(rule):
    pattern, pattern_attrs, boundary, boundary_attrs = canon.recurrence_to_ews(rule)
    patterns = {cls.ELEMENT_NAME: cls for cls in PATTERN_CLASSES}
    boundaries = {cls.ELEMENT_NAME: cls for cls in BOUNDARY_CLASSES}
    return Recurrence(pattern=patterns[pattern](**pattern_attrs),
                      boundary=boundaries[boundary](**boundary_attrs))


def _contact_attrs(values, create):
    attrs = {attr: values[name] or None for name, attr in CONTACT_PLAIN.items() if name in values}
    if not attrs.get('display_name') and (create or 'display_name' in attrs):
        # required by Exchange: never deleted, made up from the other fields when empty
        fallback = ' '.join(filter(None, (values.get('first_name'), values.get('last_name')))) or (
            values.get('company') or values.get('email'))
        if fallback:
            attrs['display_name'] = fallback
        elif create:
            raise ValueError('a contact needs a name, a company or an email address')
        else:
            attrs.pop('display_name')
    classes = {'email_addresses': EmailAddress, 'phone_numbers': PhoneNumber,
               'physical_addresses': PhysicalAddress}
    entries = {}
    for name, (group, label, sub) in CONTACT_INDEXED.items():
        if name in values and (values[name] or not create):
            entries.setdefault((group, label), {})[sub] = (values[name] or '').strip()
    for (group, label), subs in entries.items():
        attrs.setdefault(group, []).append(classes[group](label=label, **subs))
    return attrs


def _task_attrs(values, create):
    attrs = {}
    simple = {'subject': 'subject', 'due': 'due_date', 'start': 'start_date', 'notes': 'body'}
    for name, attr in simple.items():
        if name in values:
            value = values[name]
            attrs[attr] = (canon.as_date(value) if name in ('due', 'start') else value) or None
    if 'status' in values:
        attrs['status'] = values['status'] or 'NotStarted'
    if 'percent' in values:
        percent = float(values['percent'] or 0)
        attrs['percent_complete'] = decimal.Decimal(int(percent) if percent.is_integer() else str(percent))
    return attrs
