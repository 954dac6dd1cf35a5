"""Change notification subscriptions of the Graph endpoint.

POST /subscriptions validates the notification URL (and the lifecycle URL) the way
Graph does: a POST to it with a ``validationToken`` query parameter, which must be
answered with 200 and the token as ``text/plain`` within 10 seconds. Changes in a
subscribed folder are then POSTed to the notification URL (one notification per
change, ``clientState`` included) by a delivery thread; ``lifecycle`` sends a
lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed).
Besides a mail folder's messages, a subscription may watch a user's ``events``,
``contacts`` or ``todo/lists/{id}/tasks`` (changes in the PIM store).
Plain-HTTP notification URLs are accepted on loopback only (Graph wants HTTPS).
"""
import datetime
import json
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .api import MAX_SUBSCRIPTION_MINUTES, GraphError, Reply, json_reply, parse_resource, parse_time
from .store import iso, utc_now

VALIDATION_TIMEOUT = 10
NOTIFY_TIMEOUT = 10
LOOPBACK = ('127.0.0.1', 'localhost', '::1', '[::1]')
TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
PIM_RESOURCE = re.compile(r'^/?(?:users/([^/]+)|me)/(events|contacts|todo/lists/([^/]+)/tasks)$', re.I)
PIM_TYPES = {'event': ('Events', '#Microsoft.Graph.Event'), 'contact': ('Contacts', '#Microsoft.Graph.Contact'),
             'task': ('Tasks', '#Microsoft.Graph.TodoTask')}


def _post(url, body, content_type, timeout):
    """(status, text) of a POST, never raising (0 when unreachable)."""
    request = urllib.request.Request(url, data=body, headers={'Content-Type': content_type})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as exc:
        return exc.code, ''
    except Exception:
        return 0, ''


class Subscriptions(object):
    def __init__(self, graph):
        self.graph = graph
        self.items = {}
        self.deliveries = []  # (url, payload dict, HTTP status) of every notification POSTed
        self.paused = False
        self._queue = queue.Queue()
        self._pending = 0
        self._thread = None
        self._lock = threading.Lock()

    def start(self):
        self._thread = threading.Thread(target=self._deliver_forever, name='graph-notify', daemon=True)
        self._thread.start()
        self.graph.store.listeners.append(self.on_change)
        self.graph.pim.listeners.append(self.on_pim_change)

    def stop(self):
        self._queue.put(None)

    # ------------------------------------------------------------------ REST
    def handle(self, method, rest, grant, body):
        if method == 'POST' and not rest:
            return self._create(grant, body)
        if len(rest) != 1:
            raise GraphError(400, 'BadRequest', 'Unsupported request.')
        sub = self.items.get(rest[0])
        if sub is None:
            raise GraphError(404, 'ResourceNotFound', 'The object was not found.')
        if grant.user and grant.user != sub['user']:
            raise GraphError(403, 'ExtensionError', 'Operation: Read; Exception: [Status Code: '
                                                    'Forbidden; Reason: Access is denied.]')
        if method == 'GET':
            return json_reply(200, self._json(sub))
        if method == 'DELETE':
            with self._lock:
                self.items.pop(sub['id'], None)
            return Reply(204, {}, b'')
        if method == 'PATCH':
            values = self._read(body)
            expiry = self._expiry(values.get('expirationDateTime'))
            sub['expirationDateTime'] = expiry
            sub['reauthorize'] = False
            return json_reply(200, self._json(sub))
        raise GraphError(405, 'BadRequest', 'Method not allowed.')

    @staticmethod
    def _read(body):
        try:
            values = json.loads((body or b'{}').decode('utf-8'))
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise GraphError(400, 'BadRequest', 'Unable to read JSON request payload.')
        return values

    @staticmethod
    def _expiry(value):
        when = parse_time(value)
        now = utc_now()
        if when is None or when <= now:
            raise GraphError(400, 'ExtensionError', 'Subscription expiration must be in the future.')
        if when > now + datetime.timedelta(minutes=MAX_SUBSCRIPTION_MINUTES):
            raise GraphError(400, 'ExtensionError', 'Subscription expiration can only be %d minutes '
                                                    'in the future.' % MAX_SUBSCRIPTION_MINUTES)
        return when

    def _create(self, grant, body):
        values = self._read(body)
        for name in ('changeType', 'notificationUrl', 'resource', 'expirationDateTime'):
            if not values.get(name):
                raise GraphError(400, 'BadRequest', '%s is required.' % name)
        target = parse_resource(values['resource'])
        pim = PIM_RESOURCE.match(values['resource'])
        if target is None and pim is None:
            raise GraphError(400, 'ExtensionError', 'Resource is not supported.')
        user, folder_ref = target or (pim.group(1), None)
        user = urllib.parse.unquote(user or grant.user)
        box = self.graph.store.mailbox(user)
        if grant.user and grant.user not in (box.address.lower(), box.id):
            raise GraphError(403, 'ExtensionError', 'Access is denied.')
        if pim:
            kind = {'events': 'event', 'contacts': 'contact'}.get(pim.group(2).lower(), 'task')
            folder = {'id': self.graph.pim.collection(box.address, kind, pim.group(3)).id}
        else:
            folder = box.folder(folder_ref)
        expiry = self._expiry(values['expirationDateTime'])
        urls = [values['notificationUrl']] + ([values['lifecycleNotificationUrl']]
                                              if values.get('lifecycleNotificationUrl') else [])
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != 'https' and not (parts.scheme == 'http' and parts.hostname in LOOPBACK):
                raise GraphError(400, 'ValidationError', 'The Notification Url must be HTTPS.')
            token = 'Validation: Testing client application reachability for subscription Request-Id: ' \
                    + str(uuid.uuid4())
            sep = '&' if '?' in url else '?'
            status, text = _post(url + sep + 'validationToken=' + urllib.parse.quote(token), b'',
                                 'text/plain; charset=utf-8', VALIDATION_TIMEOUT)
            if status != 200 or text != token:
                raise GraphError(400, 'ValidationError', 'Subscription validation request failed. '
                                                         'Notification endpoint must respond with 200 '
                                                         'OK to validation request.')
        sub = {'id': str(uuid.uuid4()), 'resource': values['resource'], 'changeType': values['changeType'],
               'notificationUrl': values['notificationUrl'],
               'lifecycleNotificationUrl': values.get('lifecycleNotificationUrl'),
               'clientState': values.get('clientState'), 'expirationDateTime': expiry,
               'user': box.address.lower(), 'userId': box.id, 'folder': folder['id'], 'reauthorize': False}
        with self._lock:
            self.items[sub['id']] = sub
        return json_reply(201, self._json(sub))

    @staticmethod
    def _json(sub):
        return {'@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity',
                'id': sub['id'], 'resource': sub['resource'], 'changeType': sub['changeType'],
                'clientState': sub['clientState'], 'notificationUrl': sub['notificationUrl'],
                'lifecycleNotificationUrl': sub['lifecycleNotificationUrl'],
                'expirationDateTime': iso(sub['expirationDateTime']), 'applicationId': TENANT,
                'creatorId': sub['userId'], 'includeResourceData': False,
                'latestSupportedTlsVersion': 'v1_2', 'notificationUrlAppId': None}

    # ------------------------------------------------------------------ notifications
    def on_change(self, box, folder_id, change, message_id):
        now = utc_now()
        for sub in list(self.items.values()):
            if sub['userId'] != box.id or sub['folder'] != folder_id or sub['reauthorize']:
                continue
            if change not in sub['changeType'].split(',') or sub['expirationDateTime'] <= now:
                continue
            payload = {'value': [{
                'subscriptionId': sub['id'], 'subscriptionExpirationDateTime': iso(sub['expirationDateTime']),
                'changeType': change, 'resource': 'Users/%s/Messages/%s' % (box.id, message_id),
                'resourceData': {'@odata.type': '#Microsoft.Graph.Message',
                                 '@odata.id': 'Users/%s/Messages/%s' % (box.id, message_id),
                                 '@odata.etag': 'W/"%s"' % message_id[-12:], 'id': message_id},
                'clientState': sub['clientState'], 'tenantId': TENANT}]}
            self._put(sub['notificationUrl'], payload)

    def on_pim_change(self, address, collection, change, item_id):
        """A contact, task or event changed: notify the subscriptions of its collection."""
        now = utc_now()
        name, odata_type = PIM_TYPES[collection.kind]
        for sub in list(self.items.values()):
            if sub['user'] != address or sub['folder'] != collection.id or sub['reauthorize']:
                continue
            if change not in sub['changeType'].split(',') or sub['expirationDateTime'] <= now:
                continue
            resource = 'Users/%s/%s/%s' % (sub['userId'], name, item_id)
            payload = {'value': [{
                'subscriptionId': sub['id'], 'subscriptionExpirationDateTime': iso(sub['expirationDateTime']),
                'changeType': change, 'resource': resource,
                'resourceData': {'@odata.type': odata_type, '@odata.id': resource, 'id': item_id},
                'clientState': sub['clientState'], 'tenantId': TENANT}]}
            self._put(sub['notificationUrl'], payload)

    def _put(self, url, payload):
        with self._lock:
            self._pending += 1
        self._queue.put((url, payload))

    def lifecycle(self, subscription_id, event):
        """Send a lifecycle notification for a subscription (``reauthorizationRequired``,
        ``subscriptionRemoved`` removes it first, ``missed``)."""
        sub = self.items.get(subscription_id)
        if sub is None:
            raise KeyError(subscription_id)
        if event == 'subscriptionRemoved':
            with self._lock:
                self.items.pop(subscription_id, None)
        elif event == 'reauthorizationRequired':
            sub['reauthorize'] = True
        payload = {'value': [{
            'subscriptionId': sub['id'], 'subscriptionExpirationDateTime': iso(sub['expirationDateTime']),
            'tenantId': TENANT, 'clientState': sub['clientState'], 'lifecycleEvent': event}]}
        url = sub['lifecycleNotificationUrl']
        if url:
            self._put(url, payload)
        return bool(url)

    def _deliver_forever(self):
        while True:
            job = self._queue.get()
            if job is None:
                return
            url, payload = job
            status = None
            if not self.paused:
                status, _text = _post(url, json.dumps(payload).encode('utf-8'), 'application/json',
                                      NOTIFY_TIMEOUT)
            self.deliveries.append((url, payload, status))
            with self._lock:
                self._pending -= 1

    def idle(self):
        """True when every notification queued so far was POSTed (tests poll this)."""
        with self._lock:
            return self._pending == 0
