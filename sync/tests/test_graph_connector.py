"""Our Microsoft Graph connector (sync/graph.py) against the Graph test endpoint over
HTTPS: delta pages and links, MIME through $batch, categories, move, sendMail, Sent
Items look-up, subscriptions, the error mapping and the per-mailbox concurrency cap."""
import datetime
import http.server
import itertools
import socket
import threading
import time
import urllib.parse
import uuid

import pytest

from ..errors import AuthError, ConfigError, SyncStateInvalid, TransientError
from ..graph import GraphConnector, GraphSettings

pytest_plugins = ['devstack.graph.pytest_fixtures']
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]


def raw_email(n, to='someone@example.test', subject=None):
    return ('From: Alice <alice@sender.example.test>\r\nTo: %s\r\nSubject: %s\r\n'
            'Message-ID: <g%d-%s@sender.example.test>\r\nDate: Sun, 29 Nov 2026 05:00:00 +0000\r\n'
            '\r\nBody %d\r\n' % (to, subject or 'mail %d' % n, n, _RUN, n)).encode('utf-8')


@pytest.fixture
def mailbox(graph_server, graph_no_bugs):
    address = 'graph%d-%s@example.test' % (next(_numbers), _RUN)
    graph_server.add_mailbox(address)
    token = 'token-' + address
    graph_server.add_token(token, user=address, scopes=('Mail.ReadWrite', 'Mail.Send'))
    return address, token


def connector(server, address, token, **kwargs):
    kwargs.setdefault('cafile', server.certs['ca'])
    kwargs.setdefault('base_url', server.url)
    return GraphConnector(GraphSettings(address, timeout=10, **kwargs), lambda: token)


def wait_for(condition, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_delta_pages_links_and_rerun(graph_server, mailbox):
    address, token = mailbox
    for n in range(5):
        graph_server.deliver(address, raw_email(n))
    conn = connector(graph_server, address, token)
    try:
        mark = len(graph_server.requests)
        first = conn.delta('inbox', None, page_size=3)
        assert first.more and len(first.items) == 3 and not first.removed
        assert '$select=' in urllib.parse.unquote(graph_server.requests[mark].url)  # only what deciding needs
        assert first.items[0].subject == 'mail 0' and first.items[0].message_id.startswith('<g')
        assert first.items[0].size == len(raw_email(0))  # PidTagMessageSize
        second = conn.delta('inbox', first.state, page_size=3)
        assert not second.more and second.delta_link and len(second.items) == 2
        mark = len(graph_server.requests)
        idle = conn.delta('inbox', second.state)
        assert idle.items == [] and idle.delta_link and len(graph_server.requests) == mark + 1
        graph_server.set_categories(address, first.items[0].item_id, ['Tracked to Odoo'])
        gone = second.items[0].item_id
        graph_server.delete(address, gone)
        changed = conn.delta('inbox', idle.state)
        assert [i.categories for i in changed.items] == [['Tracked to Odoo']] and changed.removed == [gone]
    finally:
        conn.close()


def test_lost_delta_state_is_sync_state_invalid(graph_server, mailbox):
    address, token = mailbox
    graph_server.deliver(address, raw_email(0))
    conn = connector(graph_server, address, token)
    try:
        page = conn.delta('inbox')
        graph_server.expire_delta(address)
        with pytest.raises(SyncStateInvalid):
            conn.delta('inbox', page.state)
    finally:
        conn.close()


def test_mime_by_batch_and_missing_left_out(graph_server, mailbox):
    address, token = mailbox
    ids = [graph_server.deliver(address, raw_email(n)) for n in range(25)]
    graph_server.delete(address, ids[3])
    conn = connector(graph_server, address, token)
    try:
        mark = len(graph_server.requests)
        messages = list(conn.fetch_mime(ids, folder='inbox'))
        outer = [r for r in graph_server.requests[mark:] if not r.batch]
        assert len(outer) == 2 and all(r.url.endswith('$batch') for r in outer)  # 20 + 5
        assert [m.item_id for m in messages] == ids[:3] + ids[4:]
        assert messages[0].raw == raw_email(0) and messages[0].message_id.startswith('<g0-')
    finally:
        conn.close()


def test_at_most_four_requests_at_once_per_mailbox(graph_server, mailbox):
    address, token = mailbox
    ids = [graph_server.deliver(address, raw_email(n)) for n in range(16)]
    conn = connector(graph_server, address, token)
    graph_server.throttle.delay = 0.2  # slow answers: requests overlap, a fifth would get 429
    try:  # large messages are fetched one per request, in parallel
        messages = list(conn.fetch_mime(ids, sizes={i: 10 ** 8 for i in ids}))
        assert len(messages) == 16
        assert 1 < graph_server.throttle.peak[address.lower()] <= 4
    finally:
        graph_server.throttle.delay = 0
        conn.close()


def test_categories_move_send_and_find_sent(graph_server, mailbox):
    address, token = mailbox
    item = graph_server.deliver(address, raw_email(0), categories=['Red'])
    conn = connector(graph_server, address, token)
    try:
        assert conn.set_category(item, 'Tracked to Odoo', present=True)
        assert graph_server.contents(address)[0][2] == ['Red', 'Tracked to Odoo']
        assert conn.set_category(item, 'tracked to odoo', present=False)
        assert graph_server.contents(address)[0][2] == ['Red']
        moved = conn.move([item], 'inbox', 'Odoo Failed')
        assert graph_server.contents(address) == [] and \
            [row[0] for row in graph_server.contents(address, 'Odoo Failed')] == [moved[item]]
        assert conn.set_category(item, 'X') is False  # gone from its old id
        raw = raw_email(1, to='bob@elsewhere.example.test')
        conn.send(raw)
        assert graph_server.store.sent[-1][1] == raw and graph_server.store.sent[-1][2] == [
            'bob@elsewhere.example.test']
        assert conn.find_sent('<g1-%s@sender.example.test>' % _RUN)
        assert not conn.find_sent('<never-sent@example.test>')
    finally:
        conn.close()


def test_errors_mapped(graph_server, mailbox):
    address, token = mailbox
    conn = connector(graph_server, address, token)
    try:
        graph_server.inject(429, retry_after=42, match=address)
        with pytest.raises(TransientError) as busy:
            conn.delta('inbox')
        assert busy.value.code == 'server_busy' and busy.value.retry_after == 42
        graph_server.inject(503, code='ServiceUnavailable', retry_after=5, match=address)
        with pytest.raises(TransientError) as unavailable:
            conn.check()
        assert unavailable.value.retry_after == 5
    finally:
        conn.close()
    with pytest.raises(AuthError) as refused:
        connector(graph_server, address, 'not-a-token').check()
    assert refused.value.code == 'auth_failed'
    other = 'other-%s@example.test' % _RUN
    graph_server.add_mailbox(other)
    with pytest.raises(AuthError) as denied:  # a delegated token opens its own mailbox only
        connector(graph_server, other, token).check()
    assert denied.value.code == 'access_denied'
    with pytest.raises(ConfigError) as untrusted:  # TLS verified by default
        connector(graph_server, address, token, cafile=None).check()
    assert untrusted.value.code == 'tls_untrusted'


def test_timeout_is_transient():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(5)
    try:
        settings = GraphSettings('a@example.test', base_url='http://127.0.0.1:%d/v1.0' % sock.getsockname()[1],
                                 timeout=1)
        with pytest.raises(TransientError) as timeout:
            GraphConnector(settings, lambda: 't').check()
        assert timeout.value.code == 'timeout'
    finally:
        sock.close()


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A notification URL: answers the validation handshake, keeps notifications."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        token = query.get('validationToken', '').encode('utf-8')
        if not token:
            self.server.received.append(body)
        self.send_response(200 if token else 202)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(token)))
        self.end_headers()
        self.wfile.write(token)


def test_subscription_validated_notified_renewed_deleted(graph_server, mailbox):
    address, token = mailbox
    receiver = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Receiver)
    receiver.received = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d/mail_sync/graph/notify' % receiver.server_address[1]
    conn = connector(graph_server, address, token)
    expiry = (datetime.datetime.utcnow() + datetime.timedelta(days=2)).strftime('%Y-%m-%dT%H:%M:%SZ')
    try:
        sub_id, expires = conn.subscribe('inbox', url, 'secret-state', expiry, lifecycle_url=url)
        assert expires == expiry
        graph_server.deliver(address, raw_email(0))
        assert wait_for(lambda: receiver.received)
        assert b'secret-state' in receiver.received[0] and sub_id.encode() in receiver.received[0]
        later = (datetime.datetime.utcnow() + datetime.timedelta(days=3)).strftime('%Y-%m-%dT%H:%M:%SZ')
        assert conn.renew(sub_id, later) == later
        conn.unsubscribe(sub_id)
        conn.unsubscribe(sub_id)  # already gone: no error
        assert sub_id not in graph_server.subscriptions.items
        with pytest.raises(Exception):  # a URL that does not answer the handshake is refused
            conn.subscribe('inbox', 'http://127.0.0.1:1/nothing', 's', expiry)
    finally:
        conn.close()
        receiver.shutdown()
        receiver.server_close()
