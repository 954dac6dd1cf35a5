"""A round-robin HTTP load balancer on loopback, in front of several Odoo hosts (what
queue_job's job runner calls in a deployment with several hosts).

One request per connection: each request goes to the next host in turn with
``Connection: close``, its answer goes back, then both connections close. It notes every
request: the host, the path, when it arrived and when the host finished answering (the
host's answer is read to its end even when the client gave up earlier: queue_job's runner
waits one second only, while the host runs the job inside the request)."""
import itertools
import socket
import threading
import time

from .faultproxy import _close  # one way to close a socket in devstack
from .procs import free_port

HEAD_MAX = 65536


class Balancer(object):

    def __init__(self, ports):
        self.ports = list(ports)
        self.port = free_port()
        self.requests = []  # dicts: host (index in ports), path, start, end (time.time())
        self._turn = itertools.cycle(range(len(self.ports)))
        self._lock = threading.Lock()
        self._listener = None

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        listener, self._listener = self._listener, None
        if listener:
            _close(listener)

    def _accept(self):
        listener = self._listener
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        start = time.time()
        try:
            client.settimeout(30)
            head = _read_head(client)
            if head is None:
                return
            with self._lock:
                host = next(self._turn)
                record = {'host': host, 'path': head.split(b' ', 2)[1].decode('latin-1'), 'start': start,
                          'end': None}
                self.requests.append(record)
            upstream = socket.create_connection(('127.0.0.1', self.ports[host]), timeout=300)
            try:
                upstream.sendall(_close_after(head))
                client_gone = False
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if not client_gone:
                        try:
                            client.sendall(data)
                        except OSError:
                            client_gone = True  # keep reading: the host is still at work
                record['end'] = time.time()
            finally:
                _close(upstream)
        except OSError:
            pass
        finally:
            _close(client)


def _read_head(client):
    """The request line and headers (the requests here carry no body)."""
    head = b''
    while b'\r\n\r\n' not in head:
        data = client.recv(4096)
        if not data or len(head) > HEAD_MAX:
            return None
        head += data
    return head


def _close_after(head):
    """The request with ``Connection: close`` in place of the client's keep-alive."""
    lines, rest = head.split(b'\r\n\r\n', 1)
    kept = [line for line in lines.split(b'\r\n') if not line.lower().startswith(b'connection:')]
    return b'\r\n'.join(kept + [b'Connection: close']) + b'\r\n\r\n' + rest

