"""The Microsoft Graph v1.0 test endpoint over HTTP and HTTPS on 127.0.0.1, threaded.

``GraphServer(certs_dir).start()`` serves ``/v1.0/...`` (see api.py) on a TLS port
(``url``, certificate of ``devstack.certs``) and a plain one (``http_url``), which
also answers ``POST /devstack/control`` (JSON ``{"method", "args", "kwargs"}``) for
a test driving the endpoint from another process. Every request is recorded in
``requests`` (method, URL, mailbox address, inside a $batch or not), every sent
mail in ``store.sent``. Microsoft's limits are modelled per mailbox: at most 4
requests at once (429 MailboxConcurrency), an optional request budget per time
window (429 with Retry-After) and injected 429/503 answers (``inject``).
"""
import collections
import contextlib
import http.server
import json
import ssl
import sys
import threading
import time
import traceback

from ..certs import make_certs
from ..procs import free_port
from . import api
from .auth import Authenticator
from .pim import PimStore
from .pim_api import PimDelta
from .store import Store
from .subscriptions import Subscriptions

CONTROL_PATH = '/devstack/control'
MAILBOX_CONCURRENCY = 4
Recorded = collections.namedtuple('Recorded', 'method url mailbox batch')
Fault = collections.namedtuple('Fault', 'status code retry_after match')


class Throttle(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.active = collections.Counter()
        self.faults = []
        self.budgets = {}  # address -> [requests allowed, window s, window start, used]
        self.peak = collections.Counter()  # highest concurrency seen per mailbox
        self.delay = 0  # seconds each admitted request takes at least (makes overlap certain)

    @contextlib.contextmanager
    def slot(self, address, path):
        """Yields None to go on, or the Reply that refuses the request."""
        key = address.lower()
        with self.lock:
            refused = self._refusal(key, path)
            if refused is None:
                self.active[key] += 1
                self.peak[key] = max(self.peak[key], self.active[key])
        try:
            if refused is None and self.delay:
                time.sleep(self.delay)
            yield refused
        finally:
            if refused is None:
                with self.lock:
                    self.active[key] -= 1

    def _refusal(self, key, path):
        for index, fault in enumerate(self.faults):
            if fault.match is None or fault.match.lower() in path.lower() or fault.match.lower() == key:
                del self.faults[index]
                return api.error_reply(fault.status, fault.code, 'Injected by the test.',
                                       {'Retry-After': str(fault.retry_after)} if fault.retry_after else {})
        if self.active[key] >= MAILBOX_CONCURRENCY:
            return api.error_reply(429, 'ApplicationThrottled', 'Application is over its '
                                   'MailboxConcurrency limit.', {'Retry-After': '1'})
        budget = self.budgets.get(key)
        if budget:
            now = time.time()
            if now - budget[2] >= budget[1]:
                budget[2], budget[3] = now, 0
            if budget[3] >= budget[0]:
                wait = max(1, int(budget[1] - (now - budget[2]) + 0.999))
                return api.error_reply(429, 'ApplicationThrottled', 'Application is over its '
                                       'request limit.', {'Retry-After': str(wait)})
            budget[3] += 1
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'Microsoft-IIS/10.0'
    sys_version = ''

    def log_message(self, *args):
        pass

    def _answer(self, reply):
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _handle(self, method):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        graph = self.server.graph
        if self.path == CONTROL_PATH and method == 'POST' and not isinstance(self.connection, ssl.SSLSocket):
            self._answer(graph.control(body))
            return
        if not self.path.startswith('/v1.0/'):
            self._answer(api.error_reply(404, 'NotFound', 'Not found.'))
            return
        headers = {name: self.headers.get(name) for name in
                   ('Authorization', 'Content-Type', 'Prefer', 'Accept', 'If-Match')}
        try:
            reply = api.dispatch(graph, method, self.path, headers, body)
        except Exception:  # a bug in this endpoint: answer 500 and keep the traceback
            graph.errors.append(traceback.format_exc())
            reply = api.error_reply(500, 'InternalServerError', 'An internal server error occurred.')
        self._answer(reply)

    def do_GET(self):
        self._handle('GET')

    def do_POST(self):
        self._handle('POST')

    def do_PATCH(self):
        self._handle('PATCH')

    def do_DELETE(self):
        self._handle('DELETE')


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, graph, tls_context=None):
        http.server.ThreadingHTTPServer.__init__(self, ('127.0.0.1', port), _Handler)
        self.graph = graph
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            self.graph.errors.append(traceback.format_exc())


class GraphServer(object):
    """For tests: ``url`` (HTTPS base, test CA in ``certs['ca']``), ``http_url``, ``store``,
    ``auth`` (``add_token``), ``add_mailbox``, ``inject``, ``set_budget``, ``requests``,
    ``delta.expire``, ``subscriptions`` (``items``, ``deliveries``, ``lifecycle``), ``errors``."""

    CONTROL = ('add_mailbox', 'add_token', 'revoke_token', 'deliver', 'set_categories', 'move',
               'delete', 'contents', 'inject', 'set_budget', 'expire_delta', 'lifecycle',
               'request_count', 'sent', 'set_introspection', 'invitations', 'pim_items', 'pim_create',
               'pim_update', 'pim_delete', 'pim_modify_occurrence', 'pim_cancel_occurrence',
               'map_exchange_id')

    def __init__(self, certs_dir):
        self.store = Store()
        self.auth = Authenticator()
        self.throttle = Throttle()
        self.delta = api.Delta(self)
        self.pim = PimStore()  # contacts, To Do tasks, events (pim.py)
        self.pim_delta = PimDelta(self)
        self.subscriptions = Subscriptions(self)
        self.certs = make_certs(certs_dir)
        self.http_port, self.https_port = free_port(), free_port()
        self.requests = []
        self.errors = []
        self._lock = threading.Lock()
        self._servers = []

    @property
    def url_base(self):
        return 'https://127.0.0.1:%d' % self.https_port

    @property
    def url(self):
        return self.url_base + '/v1.0'

    @property
    def http_url(self):
        return 'http://127.0.0.1:%d/v1.0' % self.http_port

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs['cert'], self.certs['key'])
        self._servers = [_HttpServer(self.http_port, self), _HttpServer(self.https_port, self, context)]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True,
                             name='graph-%d' % server.server_address[1]).start()
        self.subscriptions.start()
        return self

    def stop(self):
        self.subscriptions.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    # ------------------------------------------------------------------ test API
    def record(self, method, url, mailbox, batch):
        with self._lock:
            self.requests.append(Recorded(method, url, mailbox and mailbox.lower(), batch))

    def request_count(self, mailbox=None, since=0):
        """Requests recorded from index ``since`` on (of one mailbox), $batch calls included."""
        rows = self.requests[since:]
        return len([r for r in rows if mailbox is None or r.mailbox == mailbox.lower()])

    def add_mailbox(self, address):
        self.pim.box(address)
        return self.store.add_mailbox(address)

    def add_token(self, token, user=None, scopes=('Mail.ReadWrite', 'Mail.Send')):
        self.auth.add_token(token, user, scopes)

    def revoke_token(self, token):
        self.auth.revoke(token)

    def set_introspection(self, url, client_id=None, secret=None, cafile=None):
        self.auth.introspection_url = url
        self.auth.introspection_auth = (client_id, secret) if client_id else None
        self.auth.cafile = cafile

    def deliver(self, address, raw, folder='inbox', categories=()):
        return self.store.deliver(address, raw, folder, categories)

    def set_categories(self, address, message_id, categories):
        self.store.set_categories(address, message_id, categories)

    def move(self, address, message_id, destination):
        return self.store.move(address, message_id, destination).id

    def delete(self, address, message_id):
        self.store.delete(address, message_id)

    def contents(self, address, folder='inbox'):
        return self.store.contents(address, folder)

    def sent(self):
        return [(sender, raw, rcpts) for sender, raw, rcpts in self.store.sent]

    def inject(self, status=429, code='ApplicationThrottled', retry_after=30, times=1, match=None):
        """The next ``times`` requests (whose path contains ``match``, or of the mailbox
        ``match``) get ``status`` with ``Retry-After``."""
        with self.throttle.lock:
            self.throttle.faults.extend([Fault(status, code, retry_after, match)] * times)

    def set_budget(self, address, requests, window):
        with self.throttle.lock:
            self.throttle.budgets[address.lower()] = [requests, window, time.time(), 0]

    def expire_delta(self, address=None):
        self.delta.expire(address)
        self.pim_delta.expire(address)

    # ------------------------------------------------------------------ contacts, tasks, events
    def invitations(self, sender=None):
        """(attendee, 'invitation'|'update'|'cancellation', subject) Exchange would have sent."""
        return self.pim.invitations(sender)

    def pim_items(self, address, kind):
        """Graph JSON of a mailbox's contacts ('contact'), default-list tasks ('task') or events."""
        return self.pim.items_of(address, kind)

    def pim_create(self, address, kind, props):
        """As the user in Outlook: a new item; returns its id."""
        if kind == 'event':
            return self.pim.create_event(address, props)[0].id
        ref = 'defaultList' if kind == 'task' else None
        return self.pim.create(address, self.pim.collection(address, kind, ref), props).id

    def pim_update(self, address, kind, item_id, props):
        if kind == 'event':
            return self.pim.update_event(address, item_id, props).change_key
        ref = 'defaultList' if kind == 'task' else None
        return self.pim.update(address, self.pim.collection(address, kind, ref), item_id, props).change_key

    def pim_modify_occurrence(self, address, master_id, day, props):
        """As in Outlook: the occurrence of local date ``day`` ('YYYY-MM-DD') of a series changed."""
        return self.pim.modify_occurrence(address, master_id, day, props)

    def pim_cancel_occurrence(self, address, master_id, day):
        self.pim.cancel_occurrence(address, master_id, day)

    def map_exchange_id(self, address, ews_id, rest_id):
        """The same item seen through EWS (``ews_id``) and Graph: what translateExchangeIds answers."""
        with self.pim.lock:
            self.pim.box(address).setdefault('exchange_ids', {})[ews_id] = rest_id

    def pim_delete(self, address, kind, item_id):
        if kind == 'event':
            self.pim.delete_event(address, item_id)
        else:
            ref = 'defaultList' if kind == 'task' else None
            self.pim.delete(address, self.pim.collection(address, kind, ref), item_id)

    def lifecycle(self, subscription_id, event):
        return self.subscriptions.lifecycle(subscription_id, event)

    def control(self, body):
        try:
            request = json.loads(body.decode('utf-8'))
            if request.get('method') not in self.CONTROL:
                return api.json_reply(404, {'error': 'unknown method %r' % request.get('method')})
            args = [a.encode('latin-1') if isinstance(a, str) and request.get('bytes') == i else a
                    for i, a in enumerate(request.get('args', []))]
            result = getattr(self, request['method'])(*args, **request.get('kwargs', {}))
            if isinstance(result, list):
                result = [[x.decode('latin-1') if isinstance(x, bytes) else x for x in row]
                          if isinstance(row, (list, tuple)) else row for row in result]
            return api.json_reply(200, {'result': result})
        except Exception as exc:
            return api.json_reply(500, {'error': '%s: %s' % (type(exc).__name__, exc)})
