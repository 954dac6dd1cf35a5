"""A TCP proxy on loopback between the addon and a real server, to inject network
faults: refuse connections, cut a connection or stall it after a number of bytes
from the server, cut it while the client uploads, slow every answer down. It also counts connections, and the most
open at once (what connection throttling must bound)."""
import socket
import threading
import time

from .procs import free_port


class FaultProxy(object):

    def __init__(self, target_port, target_host='127.0.0.1'):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.drop_after = None   # server bytes after which the connection is cut
        self.stall_after = None  # server bytes after which nothing is forwarded any more
        self.delay = 0.0         # seconds before each chunk from the server
        self.cut_upload_after = None  # client bytes after which the connection is cut
        self.connections = 0
        self.open = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._listener = None
        self._sockets = set()

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
        with self._lock:
            self.connections = 0
            self.peak = self.open

    def stop(self):
        self.refuse()
        for sock in list(self._sockets):
            _close(sock)

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
        with self._lock:
            self.connections += 1
            self.open += 1
            self.peak = max(self.peak, self.open)
        self._sockets.update((client, server))
        done = threading.Event()
        threading.Thread(target=self._pump, args=(client, server, False, done), daemon=True).start()
        self._pump(server, client, True, done)
        done.wait(5)
        with self._lock:
            self.open -= 1
        self._sockets.difference_update((client, server))

    def _pump(self, source, sink, from_server, done):
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
                        if self.drop_after is not None:
                            break
                        while self.stall_after is not None:  # hold the line, say nothing
                            time.sleep(0.05)
                        data = data[max(0, limit - sent):]
                    sent += len(data)
                elif self.cut_upload_after is not None and sent + len(data) > self.cut_upload_after:
                    sink.sendall(data[:max(0, self.cut_upload_after - sent)])
                    break
                else:
                    sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)
            if from_server:
                done.set()


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
