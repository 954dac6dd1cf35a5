"""The EWS endpoint over HTTP and HTTPS on 127.0.0.1, threaded, for tests.

``EwsServer(certs_dir).start()`` serves ``/EWS/Exchange.asmx`` (SOAP) and
``/autodiscover/autodiscover.svc`` (SOAP Autodiscover) on two free ports, one
plain and one TLS (certificate of ``devstack.certs``), plus a DNS server for
the Autodiscover domain (see autodiscover.py). Faults can be injected per
operation with ``inject``; every EWS call is recorded in ``calls``.
"""
import collections
import http.server
import ssl
import sys
import threading
import traceback

from lxml import etree

from ..certs import make_certs
from ..procs import free_port
from . import autodiscover, control, throttle
from .auth import Authenticator, Connection
from .dns_server import DnsServer
from .operations import HANDLERS, items, sync
from .operations.context import Context
from .soap import (Request, SoapFault, envelope, fault_envelope, local, mq, operation_response,
                   response_message)
from .store import Store, StoreError

EWS_PATH = '/ews/exchange.asmx'
# Codes Exchange sends as a SOAP Fault for the whole request; others are per item.
FAULT_CODES = {'ErrorServerBusy', 'ErrorExceededConnectionCount', 'ErrorImpersonateUserDenied', 'ErrorImpersonationFailed',
               'ErrorNonExistentMailbox', 'ErrorInvalidServerVersion', 'ErrorSchemaValidation'}
TEXTS = {
    'ErrorServerBusy': 'The server cannot service this request right now. Try again later.',
    'ErrorExceededConnectionCount': 'You have exceeded the available concurrent connections for your '
                                    'account. Try again once your other requests have completed.',
    'ErrorImpersonateUserDenied': 'The account does not have permission to impersonate the '
                                  'requested user.',
    'ErrorAccessDenied': 'Access is denied. Check credentials and try again.',
    'ErrorItemNotFound': 'The specified object was not found in the store.',
    'ErrorInvalidSyncStateData': 'Synchronization state data is corrupt or otherwise invalid.',
    'ErrorStaleObject': 'The change key of the item is missing or out of date.',
    'ErrorChangeKeyRequiredForWriteOperations': 'A current change key is required to write this item.',
}
# An injected per-item error on a write refuses it before anything is applied, as Exchange
# does (the element that names the items, to answer one message per item).
WRITE_ITEMS = {'CreateItem': 'Items', 'UpdateItem': 'ItemChanges', 'DeleteItem': 'ItemIds',
               'SendItem': 'ItemIds', 'MoveItem': 'ItemIds', 'CopyItem': 'ItemIds'}

Fault = collections.namedtuple('Fault', 'code text back_off_ms')
Call = collections.namedtuple('Call', 'operation user impersonate auth')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive: NTLM authenticates the connection
    server_version = 'Microsoft-IIS/10.0'
    sys_version = ''

    def setup(self):
        super(_Handler, self).setup()
        self.conn_auth = Connection()

    def log_message(self, *args):
        pass

    def _send(self, status, body=b'', headers=(), content_type='text/xml; charset=utf-8'):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _path(self):
        path = self.path.split('?', 1)[0].lower()
        return path if path in (EWS_PATH, autodiscover.SVC_PATH) else None

    def do_GET(self):
        if self.path.lower().startswith('http://'):  # as the web proxy: Autodiscover step 3
            target = self.server.ews.autodiscover.redirect_for(self.path)
            self._send(302 if target else 404, headers=[('Location', target)] if target else [])
        else:
            self._send(405 if self._path() else 404, headers=[('Allow', 'POST')])

    def do_HEAD(self):
        self._send(401 if self._path() else 404, headers=self.server.ews.auth.offers())

    def do_CONNECT(self):
        self._send(403)  # the web proxy opens no tunnels

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path == control.CONTROL_PATH and not isinstance(self.connection, ssl.SSLSocket):
            status, reply = control.dispatch(self.server.ews, body)
            self._send(status, reply, content_type='application/json')
            return
        path = self._path()
        if path is None:
            self._send(404)
            return
        ews = self.server.ews
        mailbox, headers = ews.auth.check(self.conn_auth, self.headers.get('Authorization'))
        if mailbox is None:
            self._send(401, headers=headers)
            return
        if path == autodiscover.SVC_PATH:
            status, reply = autodiscover.respond(ews, body)
        else:
            try:
                with ews.throttle.server_slot():
                    status, reply = ews.handle(mailbox, body, self.conn_auth.scheme)
            except throttle.Busy as exc:  # the server as a whole is overloaded
                self._send(503, headers=[('Retry-After', str(exc.back_off_ms // 1000))])
                return
        self._send(status, reply)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, ews, tls_context=None):
        http.server.ThreadingHTTPServer.__init__(self, ('127.0.0.1', port), _Handler)
        self.ews = ews
        if tls_context is not None:  # the handshake happens in the handler's thread
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        """Clients hanging up (even mid-TLS) are normal; anything else is a bug to report."""
        if not isinstance(sys.exc_info()[1], OSError):
            self.ews.errors.append(traceback.format_exc())


class EwsServer(object):
    """The endpoint. For tests: ``url`` (HTTPS), ``http_url``, ``certs`` (ca.pem...),
    ``store`` (see store.py), ``add_account``, ``inject``, ``calls``, ``errors``,
    ``autodiscover`` (an AutodiscoverInfo) and ``dns`` (its DNS server)."""

    def __init__(self, certs_dir, domain='example.test'):
        self.store = Store()
        self.auth = Authenticator(self.store)
        self.certs_dir = certs_dir
        self.certs = make_certs(certs_dir)
        self.http_port, self.https_port = free_port(), free_port()
        self.domain = domain
        self.dns = None
        self.autodiscover = None
        self.faults = collections.defaultdict(list)
        # MimeContent bytes one GetItem may ask for (None: no limit). Exchange charges a request
        # by the work it causes and answers ErrorServerBusy with BackOffMilliseconds once a
        # throttling budget is spent ("EWS throttling in Exchange":
        # https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange);
        # here the cost of a request is the size of the MIME it converts; one item alone passes.
        self.mime_budget = None
        self.mime_back_off_ms = 60000
        # Budgets per caller and mailbox, and the cost of MIME (see throttle.py).
        self.throttle = throttle.Throttle()
        self.calls = []
        self.errors = []  # tracebacks of bugs in this server, for tests to assert on
        self._lock = threading.Lock()
        self._servers = []

    @property
    def url(self):
        return 'https://127.0.0.1:%d/EWS/Exchange.asmx' % self.https_port

    @property
    def http_url(self):
        return 'http://127.0.0.1:%d/EWS/Exchange.asmx' % self.http_port

    def start(self):
        self.dns = DnsServer(autodiscover.dns_names(self.domain, self.https_port)).start()
        self.autodiscover = autodiscover.AutodiscoverInfo(
            self.domain, self.dns.port, 'http://127.0.0.1:%d' % self.http_port, self.https_port)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs['cert'], self.certs['key'])
        self._servers = [_HttpServer(self.http_port, self),
                         _HttpServer(self.https_port, self, context)]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, name='ews-%d' % server.server_address[1],
                             daemon=True).start()
        return self

    def stop(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self.dns is not None:
            self.dns.stop()

    def add_account(self, address, password, impersonation=False):
        self.store.add_account(address, password, impersonation)
        return address

    def inject(self, operation, code, back_off_ms=None, times=1, text=None, after=0):
        """Make the next ``times`` calls of ``operation`` fail with ``code`` (once ``after``
        calls of it have gone through)."""
        with self._lock:
            self.faults[operation].extend(
                [None] * after + [Fault(code, text or TEXTS.get(code, code), back_off_ms)] * times)

    def _take_fault(self, operation):
        with self._lock:
            return self.faults[operation].pop(0) if self.faults[operation] else None

    def handle(self, user, body, auth_scheme=None):
        """(HTTP status, SOAP bytes) for one authenticated EWS request."""
        try:
            request = Request(body)
            with self._lock:
                self.calls.append(Call(request.operation, user.address, request.impersonate,
                                       auth_scheme))
            mailbox = self._mailbox(user, request)
            with self.throttle.request(user.address, mailbox.address, request.operation) as charge:
                return self._serve(request, mailbox, charge)
        except throttle.Busy as exc:
            values = {'BackOffMilliseconds': exc.back_off_ms} if exc.back_off_ms is not None else None
            return 500, fault_envelope(SoapFault(exc.code, TEXTS[exc.code], values))
        except StoreError as exc:
            return 500, fault_envelope(SoapFault(exc.code, exc.text))
        except SoapFault as exc:
            return 500, fault_envelope(exc)
        except Exception:  # a bug here: answer like Exchange would, and keep the traceback
            self.errors.append(traceback.format_exc())
            return 500, fault_envelope(SoapFault('ErrorInternalServerError',
                                                 'An internal server error occurred.'))

    def _serve(self, request, mailbox, charge):
        """(HTTP status, SOAP bytes) for one admitted request; ``charge(ms)`` adds to its cost."""
        fault = self._take_fault(request.operation)
        if fault is not None and fault.code in FAULT_CODES:
            values = {'BackOffMilliseconds': fault.back_off_ms} if fault.back_off_ms else None
            raise SoapFault(fault.code, fault.text, values)
        if request.operation == 'GetItem':
            with self.store.lock:
                cost = items.mime_bytes(Context(self.store, mailbox), request.operation_elem)
            asked = request.operation_elem.find(mq('ItemIds'))
            if self.mime_budget is not None and cost > self.mime_budget and asked is not None \
                    and len(asked) > 1:  # one at a time passes
                raise SoapFault('ErrorServerBusy', TEXTS['ErrorServerBusy'],
                                {'BackOffMilliseconds': self.mime_back_off_ms})
            self.throttle.spend_mime(charge, cost)  # converting the MIME takes its time
        if fault is not None and request.operation in WRITE_ITEMS:
            return 200, envelope(_refused(request, fault))
        handler = HANDLERS.get(request.operation)
        if handler is None:
            raise SoapFault('ErrorInvalidOperation',
                            'The operation %s is not served by this endpoint.' % request.operation)
        with self.store.lock:
            response = handler(Context(self.store, mailbox), request.operation_elem)
        if fault is not None:
            _fail_messages(response, fault)
        return 200, envelope(response)

    def _mailbox(self, user, request):
        if not request.impersonate:
            return user
        if not user.impersonation:
            raise SoapFault('ErrorImpersonateUserDenied', TEXTS['ErrorImpersonateUserDenied'])
        try:
            return self.store.mailbox(request.impersonate)
        except StoreError as exc:
            raise SoapFault('ErrorNonExistentMailbox', exc.text)


def _refused(request, fault):
    """The answer to a write refused as a whole: one error message per item it names."""
    operation = request.operation
    named = request.operation_elem.find(mq(WRITE_ITEMS[operation]))
    count = len(named) if named is not None and len(named) else 1
    return operation_response(operation, [response_message(operation, fault.code, fault.text)
                                          for _number in range(count)])


def _fail_messages(response, fault):
    """Turn every response message of ``response`` into the injected error."""
    for message in response.find(mq('ResponseMessages')):
        for child in list(message):
            message.remove(child)
        message.set('ResponseClass', 'Error')
        etree.SubElement(message, mq('MessageText')).text = fault.text
        etree.SubElement(message, mq('ResponseCode')).text = fault.code
        etree.SubElement(message, mq('DescriptiveLinkKey')).text = '0'
        if local(response) == 'SyncFolderItemsResponse':
            message.extend(sync.error_tail())
