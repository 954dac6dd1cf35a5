"""A TCP proxy on loopback between the addon and a real server, to inject network
faults: refuse connections, cut a connection or stall it after a number of bytes
from the server, cut it while the client uploads, slow every answer down. It also counts
connections, and the most open at once (what connection throttling must bound), and keeps
what each client sent (so a test can tell which command a fault interrupted).

A connection counts as open from the moment the proxy has it until the first of its two
ends closes; a client's close is counted when it happens, not when a thread of the proxy
gets round to it: before counting a new connection, the proxy asks the kernel which of the
open ones their clients have already hung up (POLLRDHUP). On a loaded machine a pump thread
may wake late; a connection must not look open then, or a client that closes and reconnects
at once would show two open connections where there was never more than one."""
import select
import socket
import threading
import time

from .procs import free_port

UPLOAD_KEPT = 65536  # bytes of each client's upload kept for tests to look at
HUNG_UP = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


class _Link(object):
    """One proxied connection."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.open = True
        self.uploaded = bytearray()


class Meter(object):
    """Connection counts, of one proxy or shared by several (one server profile's
    IMAP and SMTP: what a limit on their connections together must bound)."""

    def __init__(self):
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.links = []


class FaultProxy(object):

    def __init__(self, target_port, target_host='127.0.0.1', meter=None):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.drop_after = None   # server bytes after which the connection is cut
        self.stall_after = None  # server bytes after which nothing is forwarded any more
        self.delay = 0.0         # seconds before each chunk from the server
        self.cut_upload_after = None  # client bytes after which the connection is cut
        self.meter = meter or Meter()
        self.uploads = []  # per connection, in order: the client's bytes (first UPLOAD_KEPT)
        self.cuts = []     # per cut or stall: the client's bytes forwarded before it
        self._listener = None
        self._links = []

    connections = property(lambda self: self.meter.connections, doc='connections so far')
    open = property(lambda self: self.meter.open, doc='connections open now')
    peak = property(lambda self: self.meter.peak, doc='most connections open at once')

    # ------------------------------------------------------------------ control
    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def refuse(self):
        """Stop listening: new connections are refused (as when the server is down)."""
        listener, self._listener = self._listener, None
        if listener:
            _close(listener)  # shutdown first: a bare close leaves a blocked accept() listening

    def heal(self):
        """Forward everything again, listening if needed."""
        self.drop_after = self.stall_after = self.cut_upload_after = None
        self.delay = 0.0
        if self._listener is None:
            self.start()

    def reset_counts(self):
        meter = self.meter
        with meter.lock:
            self._count_hangups()
            meter.connections = 0
            meter.peak = meter.open
            del self.uploads[:], self.cuts[:]

    def stop(self):
        self.refuse()
        for link in list(self._links):
            self._release(link)
            _close(link.client)
            _close(link.server)

    # ------------------------------------------------------------------ counting
    def _count_hangups(self):
        """Mark closed the open connections whose client has hung up (caller holds the lock)."""
        poller = select.poll()
        by_fd = {}
        for link in self.meter.links:
            fd = link.client.fileno()
            if link.open and fd >= 0:
                poller.register(fd, HUNG_UP)
                by_fd[fd] = link
        for fd, events in poller.poll(0):
            if events & HUNG_UP:
                self._closed(by_fd[fd])

    def _closed(self, link):
        if link.open:
            link.open = False
            self.meter.open -= 1
            self.meter.links.remove(link)

    def _release(self, link):
        with self.meter.lock:
            self._closed(link)

    # ------------------------------------------------------------------ plumbing
    def _accept(self, listener):
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _close(client)
            return
        link = _Link(client, server)
        meter = self.meter
        with meter.lock:
            self._count_hangups()
            meter.links.append(link)
            self._links.append(link)
            self.uploads.append(link.uploaded)
            meter.connections += 1
            meter.open += 1
            meter.peak = max(meter.peak, meter.open)
        threading.Thread(target=self._pump, args=(link, False), daemon=True).start()
        self._pump(link, True)

    def _cut(self, link):
        self.cuts.append(bytes(link.uploaded))

    def _pump(self, link, from_server):
        source, sink = (link.server, link.client) if from_server else (link.client, link.server)
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_server:
                    if self.delay:
                        time.sleep(self.delay)
                    limit = self.drop_after if self.drop_after is not None else self.stall_after
                    if limit is not None and sent + len(data) > limit:
                        sink.sendall(data[:max(0, limit - sent)])
                        self._cut(link)
                        if self.drop_after is not None:
                            break
                        while self.stall_after is not None and link.open:  # hold the line, say nothing
                            time.sleep(0.05)
                        data = data[max(0, limit - sent):]
                    sent += len(data)
                elif self.cut_upload_after is not None and sent + len(data) > self.cut_upload_after:
                    sink.sendall(data[:max(0, self.cut_upload_after - sent)])
                    link.uploaded += data[:max(0, min(self.cut_upload_after - sent,
                                                      UPLOAD_KEPT - len(link.uploaded)))]
                    self._cut(link)
                    break
                else:
                    if len(link.uploaded) < UPLOAD_KEPT:
                        link.uploaded += data[:UPLOAD_KEPT - len(link.uploaded)]
                    sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._release(link)  # counted closed before anything else happens
            _close(source)
            _close(sink)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
