"""Driving an endpoint that runs in another process (``python -m devstack.ews``).

The plain HTTP port also answers ``POST /devstack/control`` with JSON
``{"method": ..., "args": [...], "kwargs": {...}}`` for the test API of the
server and its store (bytes travel as ``{"$bytes": base64}``). ``RemoteEwsServer``
is the client side and looks like an in-process ``EwsServer`` to a test:
``.url``, ``.store.deliver(...)``, ``.inject(...)``, ``.add_account(...)``.
"""
import base64
import json
import os
import select
import subprocess
import sys
import urllib.error
import urllib.request

from ..certs import make_certs
from ..procs import ROOT, stop_pid
from .autodiscover import AutodiscoverInfo

CONTROL_PATH = '/devstack/control'
STORE_METHODS = ('deliver', 'add_category', 'remove_category', 'set_fields', 'move', 'delete',
                 'create', 'create_folder', 'contents', 'item', 'modify_occurrence',
                 'delete_occurrence', 'occurrences', 'meeting_log', 'touch')
SERVER_METHODS = ('add_account', 'inject')


def _encode(value):
    if isinstance(value, bytes):
        return {'$bytes': base64.b64encode(value).decode('ascii')}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        if set(value) == {'$bytes'}:
            return base64.b64decode(value['$bytes'])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def dispatch(ews, body):
    """(HTTP status, JSON bytes) for one control request."""
    request = _decode(json.loads(body.decode('utf-8')))
    method = request.get('method')
    if method in STORE_METHODS:
        target = getattr(ews.store, method)
    elif method in SERVER_METHODS:
        target = getattr(ews, method)
    elif method == 'calls':
        return 200, json.dumps([list(call) for call in ews.calls]).encode('utf-8')
    else:
        return 404, json.dumps({'error': 'unknown method %r' % method}).encode('utf-8')
    try:
        result = target(*request.get('args', []), **request.get('kwargs', {}))
    except Exception as exc:  # reported to the caller, which raises it again
        return 500, json.dumps({'error': '%s: %s' % (type(exc).__name__, exc)}).encode('utf-8')
    return 200, json.dumps(_encode(result)).encode('utf-8')


class _Methods(object):
    def __init__(self, remote, names):
        for name in names:
            setattr(self, name, remote.method(name))


class RemoteEwsServer(object):
    """An endpoint in a child process, started with ``spawn``; ``stop`` ends it by PID."""

    def __init__(self, proc, info, certs):
        self.proc = proc
        self.url = info['url']
        self.http_url = info['http_url']
        self.certs = certs
        self.autodiscover = AutodiscoverInfo(info['domain'], info['dns_port'], info['proxy_url'],
                                             info['https_port'])
        self._control = info['control_url']
        self.store = _Methods(self, STORE_METHODS)
        self.add_account = self.method('add_account')
        self.inject = self.method('inject')

    @classmethod
    def spawn(cls, certs_dir, log_path, timeout=20):
        log = open(log_path, 'ab')
        proc = subprocess.Popen([sys.executable, '-m', 'devstack.ews', '--certs', certs_dir],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                                env=dict(os.environ, PYTHONPATH=ROOT))
        log.close()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b''
        if not line:
            stop_pid(proc)
            raise RuntimeError('the EWS endpoint did not start; see %s' % log_path)
        return cls(proc, json.loads(line.decode('utf-8')), make_certs(certs_dir))

    def method(self, name):
        def call(*args, **kwargs):
            payload = json.dumps(_encode({'method': name, 'args': args, 'kwargs': kwargs}))
            request = urllib.request.Request(self._control, data=payload.encode('utf-8'),
                                             headers={'Content-Type': 'application/json'})
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(request, timeout=10) as response:
                    return _decode(json.loads(response.read().decode('utf-8')))
            except urllib.error.HTTPError as exc:
                raise RuntimeError(json.loads(exc.read().decode('utf-8'))['error'])
        call.__name__ = name
        return call

    @property
    def calls(self):
        return [tuple(call) for call in self.method('calls')()]

    def stop(self):
        stop_pid(self.proc)
        self.proc.stdout.close()
