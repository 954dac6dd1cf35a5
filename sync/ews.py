"""Exchange connector (exchangelib over EWS), fail-fast: it never sleeps for a server.

exchangelib reads its HTTP adapter from the protocol *class* whenever it makes a
session (also later, when it replaces a broken one), and caches one protocol per
URL and login for the whole process. So the certificate choice of a profile is
carried by a Protocol subclass given to that protocol object (``_protocol_class``):
every session it ever makes verifies the same way. Autodiscover, which builds its
own protocols, verifies with the choice of the connector running in this thread.

Incoming email uses SyncFolderItems one page at a time (``sync_changes``), so the
caller saves each page's sync state together with what that page produced.
"""
import email.header
import email.utils
import threading

import requests

from .connector import Connector
from .errors import AuthError, ConfigError, PermanentError, SyncStateInvalid, TransientError
from .message import RemoteMessage

try:  # exchangelib is a hard dependency of the addon, but keep import errors readable
    import exchangelib
    from exchangelib import errors as ews_errors
    from exchangelib.fields import FieldPath
    from exchangelib.items import ID_ONLY, Message
    from exchangelib.properties import DistinguishedFolderId, Mailbox
    from exchangelib.services import GetItem, SyncFolderItems
except ImportError:  # pragma: no cover
    exchangelib = None

# Item fields a sync page asks for: enough to decide without fetching the content.
SYNC_FIELDS = ('categories', 'size', 'datetime_received', 'subject', 'sender', 'message_id')
_thread = threading.local()
_protocol_classes = {}
_lock = threading.Lock()


def _verify_adapter(verify):
    """An HTTP adapter that verifies with ``verify`` (False, True or a CA file), whatever
    REQUESTS_CA_BUNDLE or the caller say."""

    class _Adapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, _verify, cert):
            super(_Adapter, self).cert_verify(conn, url, verify, cert)

    return _Adapter


class _ThreadAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's default adapter while this module is loaded: a session made while a
    connector connects in this thread (Autodiscover, version discovery) keeps that
    connector's verification; other sessions verify as usual."""

    def __init__(self, *args, **kwargs):
        self._verify = getattr(_thread, 'verify', None)
        super(_ThreadAdapter, self).__init__(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        chosen = self._verify
        super(_ThreadAdapter, self).cert_verify(conn, url, verify if chosen is None else chosen, cert)


def _protocol_class(verify):
    """The Protocol subclass whose sessions verify with ``verify`` (one per setting)."""
    with _lock:
        cls = _protocol_classes.get(verify)
        if cls is None:
            base = exchangelib.protocol.Protocol
            cls = type(base)('MailSyncProtocol', (base,), {'HTTP_ADAPTER_CLS': _verify_adapter(verify)})
            _protocol_classes[verify] = cls
        return cls


def _install_thread_adapter():
    base = exchangelib.protocol.BaseProtocol
    if base.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
        base.HTTP_ADAPTER_CLS = _ThreadAdapter


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

    def connect(self):
        st = self.settings
        creds = exchangelib.Credentials(self.credentials.login, self.credentials.password)
        auth = {'basic': exchangelib.BASIC, 'ntlm': exchangelib.NTLM}[st.auth_type]
        access = exchangelib.IMPERSONATION if st.impersonate else exchangelib.DELEGATE
        _install_thread_adapter()
        _thread.verify = st.verify
        try:
            if st.autodiscover:
                config = exchangelib.Configuration(credentials=creds, auth_type=auth,
                                                   retry_policy=exchangelib.FailFast())
                account = exchangelib.Account(st.email, credentials=creds, autodiscover=True,
                                              access_type=access, config=config)
            else:
                config = exchangelib.Configuration(
                    service_endpoint=st.ews_url, credentials=creds, auth_type=auth,
                    retry_policy=exchangelib.FailFast())
                account = exchangelib.Account(st.email, config=config, autodiscover=False,
                                              access_type=access)
            protocol = account.protocol
            cls = _protocol_class(st.verify)
            if type(protocol) is not cls:
                if st.autodiscover or type(protocol) in _protocol_classes.values():
                    # Sessions of Autodiscover's guessed auth type, or made with another profile's
                    # certificate setting on this cached protocol, go.
                    protocol.close()
                # Sessions made from now on (also when exchangelib replaces one) use our adapter.
                protocol.__class__ = cls
            protocol.TIMEOUT = st.timeout
            self.account = account
            return account
        except Exception as exc:
            raise self._map(exc)
        finally:
            _thread.verify = None

    def check(self):
        """Connection test: the endpoint answers and the inbox can be read."""
        account = self.account or self.connect()
        try:
            inbox = account.inbox
            return {'messages': inbox.total_count, 'url': account.protocol.service_endpoint}
        except Exception as exc:
            raise self._map(exc)

    # ------------------------------------------------------------------ incoming email
    def sync_changes(self, folder, sync_state=None, max_changes=50):
        """One SyncFolderItems page of the distinguished folder ``folder`` ('inbox',
        'sentitems') after ``sync_state`` (None: from the start). Raises SyncStateInvalid
        when the server no longer knows the state."""
        account = self.account or self.connect()
        folder_id = DistinguishedFolderId(id=folder, mailbox=Mailbox(
            email_address=account.primary_smtp_address))
        fields = {FieldPath(field=Message.get_field_by_fieldname(name)) for name in SYNC_FIELDS}
        service = SyncFolderItems(account=account)
        try:
            changes = list(service.call(
                folder=folder_id, shape=ID_ONLY, additional_fields=fields, sync_state=sync_state,
                ignore=None, max_changes_returned=max_changes, sync_scope=None))
        except Exception as exc:
            raise self._map(exc)
        created, updated, deleted = [], [], []
        for kind, item in changes:
            if kind == SyncFolderItems.DELETE:
                deleted.append(item.id)
            elif kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                (created if kind == SyncFolderItems.CREATE else updated).append(_remote_item(item))
        more = not service.includes_last_item_in_range and service.sync_state != sync_state
        return SyncPage(created, updated, deleted, service.sync_state, more)

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

    def set_category(self, item_id, name, present=True):
        """Add or remove the category ``name`` on an item, keeping the others. Returns
        False when the item is gone."""
        account = self.account or self.connect()
        fields = {FieldPath(field=Message.get_field_by_fieldname('categories'))}
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
            raise self._map(exc)

    # ------------------------------------------------------------------ outgoing email
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

    def find_sent(self, message_id):
        """Whether Sent Items holds a message with this Message-ID (the proof of a sending)."""
        account = self.account or self.connect()
        try:
            return account.sent.filter(message_id=message_id).only('id').count() > 0
        except Exception as exc:
            raise self._map(exc)

    def close(self):
        if self.account is not None:
            self.account.protocol.close()
            self.account = None

    def _map(self, exc):
        """exchangelib's errors into ours; the order matters (subclasses first)."""
        if isinstance(exc, (AuthError, ConfigError, PermanentError, TransientError)):
            return exc
        detail = str(exc)
        if isinstance(exc, ews_errors.ErrorInvalidSyncStateData):
            return SyncStateInvalid('sync_state_invalid', detail)
        if isinstance(exc, ews_errors.ErrorServerBusy):
            return TransientError('server_busy', detail, retry_after=exc.back_off)
        if isinstance(exc, ews_errors.RateLimitError):
            return TransientError('server_busy', detail, retry_after=exc.wait)
        if isinstance(exc, ews_errors.UnauthorizedError):
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
