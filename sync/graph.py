"""Microsoft 365 through Microsoft Graph v1.0 (REST over ``requests``), fail-fast.

The connector takes the mailbox's bearer token (``sync.oauth.BearerToken``: ``token``,
and ``renew()`` once when Graph refuses it; or a plain callable returning a token) and
leaves refreshing and revocation to the OAuth layer; it never sleeps for the server: 429
and 503 become ``TransientError('server_busy', retry_after=Retry-After)`` for the
caller to store. Every request has a timeout and an explicit ``verify``.

Incoming email reads a folder's delta one page at a time (``delta``): the caller
saves the page's ``@odata.nextLink`` or ``@odata.deltaLink`` with what the page
produced. Pages carry only what deciding needs (``$select``: internetMessageId,
categories, receivedDateTime, subject, from; the size as the PidTagMessageSize
extended property, since a Graph message has no size property). Message bodies are
read as MIME (``$value``), many per ``$batch`` request; at most ``MAX_CONCURRENT``
requests run at once per mailbox in this process (Exchange Online refuses a fifth).
"""
import base64
import concurrent.futures
import json
import threading
import urllib.parse

import requests

from .connector import Connector
from .errors import (AuthError, ConfigError, ConflictError, PermanentError, SyncError, SyncStateInvalid,
                     TransientError)
from .message import RemoteMessage

GRAPH_URL = 'https://graph.microsoft.com/v1.0'
MAX_CONCURRENT = 4
BATCH = 20  # requests per $batch (Graph's maximum)
BATCH_MAX_BYTES = 4 * 1024 * 1024  # larger messages are fetched alone (base64 in a batch)
SIZE_PROP = 'Integer 0x0E08'  # PidTagMessageSize
DELTA_SELECT = 'internetMessageId,categories,receivedDateTime,subject,from'
WELL_KNOWN = {'inbox': 'inbox', 'sent': 'sentitems'}

_slots = {}
_slots_lock = threading.Lock()


def _mailbox_slots(user):
    """The process-wide semaphore that caps concurrent requests to one mailbox."""
    with _slots_lock:
        return _slots.setdefault(user.lower(), threading.BoundedSemaphore(MAX_CONCURRENT))


class GraphSettings(object):
    """Where Graph is and whose mailbox (``user``: address or id)."""

    def __init__(self, user, base_url=GRAPH_URL, timeout=60, verify_tls=True, cafile=None):
        if not user:
            raise ConfigError('missing_login')
        self.user = user
        self.base_url = (base_url or GRAPH_URL).rstrip('/')
        if not self.base_url.lower().startswith(('https://', 'http://')):
            raise ConfigError('bad_graph_url', self.base_url)
        self.timeout = timeout
        self.verify = (cafile or True) if verify_tls else False


class GraphItem(object):
    """One message of a delta page: its id and what the page says about it."""

    def __init__(self, entry):
        self.item_id = entry['id']
        self.message_id = entry.get('internetMessageId') or None
        self.categories = list(entry.get('categories') or ())
        self.subject = entry.get('subject') or ''
        sender = (entry.get('from') or {}).get('emailAddress') or {}
        self.sender = sender.get('address') or ''
        self.received = entry.get('receivedDateTime')  # ISO 8601 UTC text
        size = [p.get('value') for p in entry.get('singleValueExtendedProperties') or ()
                if (p.get('id') or '').lower().replace('0x0e', '0xe') == 'integer 0xe08']
        try:
            self.size = int(size[0]) if size else 0
        except (TypeError, ValueError):
            self.size = 0

    def header_block(self):
        """RFC 822 headers rebuilt from the item's properties (for an item too large to fetch)."""
        import email.header
        lines = []
        for name, value in (('Message-ID', self.message_id), ('From', self.sender),
                            ('Subject', self.subject)):
            value = ' '.join((value or '').split())
            if value:
                lines.append('%s: %s' % (name, email.header.Header(value, 'utf-8').encode()
                                         if any(ord(c) > 127 for c in value) else value))
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('ascii')


class DeltaPage(object):
    """One delta answer: changed messages, removed ids, and the link to save: ``next_link``
    while the round goes on (``more``), else ``delta_link`` for the next round."""

    def __init__(self, items, removed, next_link, delta_link):
        self.items = items
        self.removed = removed
        self.next_link = next_link
        self.delta_link = delta_link

    @property
    def more(self):
        return bool(self.next_link)

    @property
    def state(self):
        return self.next_link or self.delta_link


class GraphConnector(Connector):
    protocol = 'graph'

    def __init__(self, settings, credentials, channel='incoming'):
        super(GraphConnector, self).__init__(settings, credentials)
        self.settings = settings
        self.channel = channel
        self.slots = _mailbox_slots(settings.user)
        self.owner = threading.get_ident()  # the token source may only be asked from here

    def token(self):
        """The bearer token to send now."""
        credentials = self.credentials
        return credentials.token if hasattr(credentials, 'renew') else credentials()

    # ------------------------------------------------------------------ plumbing
    def connect(self):
        if self.client is None:
            session = requests.Session()
            session.headers['Accept'] = 'application/json'
            self.client = session
        return self.client

    def _goodbye(self, client):
        client.close()

    _drop = _goodbye

    def _user_path(self, *parts):
        return '/'.join(['users', urllib.parse.quote(self.settings.user, safe='@')] + list(parts))

    def _request(self, method, path, expect=(200,), raw=False, **kwargs):
        """One HTTP request (``path`` relative to the base URL, or an absolute link); a
        refused token is renewed once."""
        try:
            return self._request_once(method, path, expect, raw, dict(kwargs))
        except AuthError as exc:
            if exc.code != 'auth_failed' or not hasattr(self.credentials, 'renew') \
                    or threading.get_ident() != self.owner or not self.credentials.renew():
                raise
        return self._request_once(method, path, expect, raw, kwargs)

    def _request_once(self, method, path, expect, raw, kwargs):
        session = self.connect()
        url = path if path.startswith(('https://', 'http://')) else '%s/%s' % (self.settings.base_url, path)
        headers = dict(kwargs.pop('headers', {}), Authorization='Bearer %s' % self.token())
        with self.slots:
            try:
                response = session.request(method, url, headers=headers, timeout=self.settings.timeout,
                                           verify=self.settings.verify, allow_redirects=False, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise ConfigError('tls_untrusted', '%s: %s' % (url, exc))
            except requests.exceptions.Timeout:
                raise TransientError('timeout', '%s (%s s)' % (self.settings.base_url, self.settings.timeout))
            except requests.exceptions.ConnectionError as exc:
                if 'Name or service not known' in str(exc) or 'nodename nor servname' in str(exc):
                    raise ConfigError('unknown_host', self.settings.base_url)
                raise TransientError('connection_refused', '%s: %s' % (self.settings.base_url, exc))
            except requests.exceptions.RequestException as exc:
                raise TransientError('network', str(exc))
        if response.status_code not in expect:
            raise map_status(response.status_code, response.headers, _error_body(response))
        if raw:
            return response.content
        return response.json() if response.content else {}

    # ------------------------------------------------------------------ checks
    def check(self):
        """Connection test of the channel: the Inbox is readable (incoming), and the token
        grants sending (outgoing, when the token says its permissions)."""
        folder = self._request('GET', self._user_path('mailFolders', 'inbox'),
                               params={'$select': 'totalItemCount'})
        if self.channel == 'outgoing':
            missing = missing_permission(self.token(), ('Mail.Send',))
            if missing:
                raise AuthError('permission_missing', missing)
        return {'messages': folder.get('totalItemCount', 0), 'url': self.settings.base_url}

    # ------------------------------------------------------------------ incoming email
    def delta(self, folder, link=None, page_size=50):
        """One delta page of the well-known folder ``folder`` ('inbox', 'sentitems'): from
        the start without ``link``, else from the saved next or delta link. Raises
        SyncStateInvalid when Graph no longer knows the state (410)."""
        headers = {'Prefer': 'odata.maxpagesize=%d' % page_size}
        if link:
            if not link.startswith(self.settings.base_url + '/'):
                raise SyncStateInvalid('sync_state_invalid', 'the saved link is for another server')
            payload = self._request('GET', link, headers=headers)
        else:
            payload = self._request('GET', self._user_path('mailFolders', folder, 'messages', 'delta'),
                                    headers=headers, params={
                                        '$select': DELTA_SELECT,
                                        '$expand': "singleValueExtendedProperties($filter=id eq '%s')"
                                                   % SIZE_PROP})
        items, removed = [], []
        for entry in payload.get('value') or ():
            if '@removed' in entry:
                removed.append(entry['id'])
            else:
                items.append(GraphItem(entry))
        return DeltaPage(items, removed, payload.get('@odata.nextLink'), payload.get('@odata.deltaLink'))

    def fetch_mime(self, item_ids, folder=None, sizes=None):
        """Yield RemoteMessages (``item_id`` set) with the messages' MIME; messages gone
        meanwhile are left out. Small ones come 20 per $batch, large ones alone, at most
        ``MAX_CONCURRENT`` requests at once."""
        sizes = sizes or {}
        item_ids = list(item_ids)
        alone = [i for i in item_ids if sizes.get(i, 0) > BATCH_MAX_BYTES]
        grouped = [i for i in item_ids if i not in set(alone)]
        jobs = [('batch', grouped[n:n + BATCH]) for n in range(0, len(grouped), BATCH)]
        jobs += [('one', [i]) for i in alone]
        if not jobs:
            return
        found = {}
        if len(jobs) == 1:
            kind, ids = jobs[0]
            found.update(self._fetch_batch(ids) if kind == 'batch' else self._fetch_one(ids))
        else:
            self.token()  # read in this thread: the token source may not run in the pool's
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT, len(jobs))) as pool:
                futures = [pool.submit(self._fetch_batch if kind == 'batch' else self._fetch_one, ids)
                           for kind, ids in jobs]
                for future in futures:
                    found.update(future.result())
        for item_id in item_ids:
            if item_id in found:
                yield RemoteMessage(found[item_id], item_id=item_id, folder=folder)

    def _fetch_one(self, ids):
        try:
            return {ids[0]: self._request('GET', self._user_path('messages', ids[0], '$value'), raw=True)}
        except PermanentError as exc:
            if exc.code == 'item_missing':
                return {}
            raise

    def _fetch_batch(self, ids):
        if len(ids) == 1:
            return self._fetch_one(ids)
        requests_ = [{'id': str(n), 'method': 'GET', 'url': '/' + self._user_path('messages', item_id, '$value')}
                     for n, item_id in enumerate(ids)]
        payload = self._request('POST', '$batch', json={'requests': requests_})
        found, busy = {}, []
        for response in payload.get('responses') or ():
            item_id = ids[int(response['id'])]
            status = response.get('status')
            if status == 200:
                body = response.get('body')
                found[item_id] = base64.b64decode(body) if isinstance(body, str) else \
                    json.dumps(body).encode('utf-8')
            elif status == 404:
                continue
            else:
                error = map_status(status, response.get('headers') or {}, response.get('body') or {})
                if not error.transient:
                    raise error
                busy.append(error)
        if busy:  # some parts were throttled: the caller retries after the longest wait
            raise max(busy, key=lambda e: e.retry_after or 0)
        return found

    def set_category(self, item_id, name, present=True):
        """Add or remove the category ``name`` on a message, keeping the others. Returns
        False when the message is gone."""
        try:
            message = self._request('GET', self._user_path('messages', item_id),
                                    params={'$select': 'categories'})
        except PermanentError as exc:
            if exc.code == 'item_missing':
                return False
            raise
        current = list(message.get('categories') or [])
        categories = [c for c in current if c.lower() != name.lower()] + ([name] if present else [])
        if categories != current:
            self._request('PATCH', self._user_path('messages', item_id), json={'categories': categories})
        return True

    def folder_id(self, display_name, create=True):
        """The id of the top-level folder named ``display_name`` (created when missing)."""
        quoted = display_name.replace("'", "''")
        found = self._request('GET', self._user_path('mailFolders'),
                              params={'$filter': "displayName eq '%s'" % quoted, '$select': 'id'})
        if found.get('value'):
            return found['value'][0]['id']
        if not create:
            return None
        return self._request('POST', self._user_path('mailFolders'), expect=(201,),
                             json={'displayName': display_name})['id']

    def move(self, item_ids, folder=None, destination=None):
        """Move messages to the folder named ``destination``; returns their new ids."""
        target = self.folder_id(destination)
        moved = {}
        for item_id in item_ids:
            answer = self._request('POST', self._user_path('messages', item_id, 'move'), expect=(201,),
                                   json={'destinationId': target})
            moved[item_id] = answer.get('id')
        return moved

    def find_message_ids(self, folder, message_id):
        """Ids of the messages of ``folder`` with this internetMessageId."""
        quoted = message_id.replace("'", "''")
        found = self._request('GET', self._user_path('mailFolders', folder, 'messages'), params={
            '$filter': "internetMessageId eq '%s'" % quoted, '$select': 'id'})
        return [entry['id'] for entry in found.get('value') or ()]

    # ------------------------------------------------------------------ outgoing email
    def send(self, raw, sender=None, recipients=None, before_data=None):
        """Send the MIME message as is (its Message-ID kept) through the mailbox; Exchange
        saves the copy in Sent Items with the sending. ``before_data`` is called just
        before the request (the point of no return)."""
        if before_data:
            before_data()
        self._request('POST', self._user_path('sendMail'), expect=(202,),
                      data=base64.b64encode(raw), headers={'Content-Type': 'text/plain'})
        return []

    def find_sent(self, message_id):
        """Whether Sent Items holds a message with this Message-ID (settles an interrupted send)."""
        return bool(self.find_message_ids('sentitems', message_id))

    # ------------------------------------------------------------------ change notifications
    def subscribe(self, folder, notification_url, client_state, expiry, lifecycle_url=None):
        """Subscribe to messages created or updated in ``folder``; returns (id, expiry text)."""
        return self._subscribe("%s/mailFolders('%s')/messages" % (self._user_path(), folder),
                               'created,updated', notification_url, client_state, expiry, lifecycle_url)

    def _subscribe(self, resource, change_type, notification_url, client_state, expiry, lifecycle_url):
        body = {'changeType': change_type, 'notificationUrl': notification_url, 'resource': resource,
                'expirationDateTime': expiry, 'clientState': client_state}
        if lifecycle_url:
            body['lifecycleNotificationUrl'] = lifecycle_url
        answer = self._request('POST', 'subscriptions', expect=(201,), json=body)
        return answer['id'], answer.get('expirationDateTime')

    def renew(self, subscription_id, expiry):
        answer = self._request('PATCH', 'subscriptions/%s' % urllib.parse.quote(subscription_id),
                               json={'expirationDateTime': expiry})
        return answer.get('expirationDateTime')

    def unsubscribe(self, subscription_id):
        """Delete a subscription; one already gone is no error."""
        try:
            self._request('DELETE', 'subscriptions/%s' % urllib.parse.quote(subscription_id),
                          expect=(204,))
        except PermanentError as exc:
            if exc.code != 'item_missing':
                raise


def _error_body(response):
    try:
        return response.json()
    except ValueError:
        return {}


def map_status(status, headers, body):
    """A Graph error answer as a sync error.

    >>> map_status(429, {'Retry-After': '7'}, {}).retry_after
    7
    >>> map_status(410, {}, {'error': {'code': 'syncStateNotFound'}}).code
    'sync_state_invalid'
    """
    error = (body or {}).get('error') if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    detail = ('%s: %s' % (error.get('code') or status, error.get('message') or '')).strip(': ')
    if status in (429, 503):
        retry = {k.lower(): v for k, v in (headers or {}).items()}.get('retry-after')
        try:
            retry = max(1, int(float(retry)))
        except (TypeError, ValueError):
            retry = None
        return TransientError('server_busy', detail, retry_after=retry)
    if status == 401:
        return AuthError('auth_failed', detail)
    if status == 403:
        return AuthError('access_denied', detail)
    if status == 404:
        if error.get('code') in ('ErrorInvalidUser', 'MailboxNotEnabledForRESTAPI', 'ResourceNotFound'):
            code = 'item_missing' if error.get('code') == 'ResourceNotFound' else 'mailbox_missing'
            return PermanentError(code, detail)
        return PermanentError('item_missing', detail)
    if status == 410:
        return SyncStateInvalid('sync_state_invalid', detail)
    if status == 412:  # If-Match: the item changed since its change key was read
        return ConflictError('change_key_mismatch', detail)
    if status >= 500:
        return TransientError('server_error', detail)
    return PermanentError('protocol', detail)


def missing_permission(token, needed):
    """The first of ``needed`` that a JWT access token does not grant (its ``scp`` or
    ``roles`` claim), or None; None too when the token is opaque (nothing to read)."""
    parts = (token or '').split('.')
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + '=' * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    granted = set((claims.get('scp') or '').split()) | set(claims.get('roles') or ())
    if not granted:
        return None
    for permission in needed:
        if permission not in granted and permission + '.All' not in granted:
            return permission
    return None


__all__ = ['GraphConnector', 'GraphSettings', 'DeltaPage', 'GraphItem', 'map_status', 'SyncError']
