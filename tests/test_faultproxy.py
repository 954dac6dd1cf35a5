"""The measuring proxy itself (devstack/faultproxy.py), against a real echo server on
loopback: what it counts is what the throttling tests rely on."""
import socket
import socketserver
import threading

import pytest

from devstack.faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


@pytest.fixture
def echo():
    server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo):
    proxy = FaultProxy(echo).start()
    yield proxy
    proxy.stop()


def _ask(port, data):
    """One short session: send ``data``, read it back, close."""
    with socket.create_connection(('127.0.0.1', port), timeout=30) as client:
        client.sendall(data)
        got = b''
        while len(got) < len(data):
            chunk = client.recv(65536)
            assert chunk, 'the proxy closed early'
            got += chunk
        return got


def test_a_client_that_reconnects_at_once_never_has_two_open(proxy):
    """A slow answer (the reply thread sleeps) and an immediate reconnect: counted closed
    when the client closed, so one connection at a time is a peak of 1."""
    proxy.delay = 0.02
    for number in range(40):
        assert _ask(proxy.port, b'ping %d' % number) == b'ping %d' % number
    assert (proxy.connections, proxy.peak) == (40, 1)


def test_connections_open_together_are_counted_together(proxy):
    first = socket.create_connection(('127.0.0.1', proxy.port), timeout=30)
    second = socket.create_connection(('127.0.0.1', proxy.port), timeout=30)
    try:
        for client in (first, second):  # both forwarded: both counted by now
            client.sendall(b'hello')
            assert client.recv(65536) == b'hello'
        assert (proxy.connections, proxy.open, proxy.peak) == (2, 2, 2)
    finally:
        first.close()
        second.close()
    assert _ask(proxy.port, b'again') == b'again'  # both closed before it: still a peak of 2
    assert (proxy.connections, proxy.peak) == (3, 2)


def test_a_cut_records_what_the_client_had_sent(proxy):
    proxy.drop_after = 4
    with socket.create_connection(('127.0.0.1', proxy.port), timeout=30) as client:
        client.sendall(b'LOGIN x')
        assert client.recv(65536) == b'LOGI'
        assert client.recv(65536) == b'', 'cut after 4 bytes from the server'
    assert proxy.cuts == [b'LOGIN x'] and proxy.uploads == [b'LOGIN x']


def test_proxies_sharing_a_meter_count_together(echo):
    first = FaultProxy(echo).start()
    second = FaultProxy(echo, meter=first.meter).start()
    try:
        with socket.create_connection(('127.0.0.1', first.port), timeout=30) as one:
            one.sendall(b'one')
            assert one.recv(65536) == b'one'
            assert _ask(second.port, b'two') == b'two'
        assert _ask(second.port, b'three') == b'three'
        assert (first.connections, second.connections, first.peak, second.peak) == (3, 3, 2, 2)
        assert (len(first.uploads), len(second.uploads)) == (1, 2)
    finally:
        first.stop()
        second.stop()
