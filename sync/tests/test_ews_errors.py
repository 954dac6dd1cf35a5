"""The Exchange connector's error mapping, through the real exchangelib over HTTP.

The full EWS test endpoint comes with the Exchange issue; here a plain HTTP
server answers 401 the way Exchange does for a wrong password.
"""
import http.server
import socket
import threading

import pytest

from ..endpoint import Credentials
from ..errors import AuthError, ConfigError, TransientError
from ..ews import EwsConnector, EwsSettings


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.send_response(401)
        self.send_header('WWW-Authenticate', 'Basic realm="ews"')
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def unauthorized_server():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/EWS/Exchange.asmx' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_401_is_an_auth_error(unauthorized_server):
    settings = EwsSettings('jane@example.test', ews_url=unauthorized_server, timeout=5)
    with pytest.raises(AuthError):
        EwsConnector(settings, Credentials('jane@example.test', 'wrong')).check()


def _closed_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_closed_port_is_transient():
    settings = EwsSettings('jane@example.test',
                           ews_url='http://127.0.0.1:%d/EWS/Exchange.asmx' % _closed_port(), timeout=5)
    with pytest.raises(TransientError):
        EwsConnector(settings, Credentials('jane@example.test', 'pw')).check()


def test_missing_url_without_autodiscover_is_a_config_error():
    with pytest.raises(ConfigError):
        EwsSettings('jane@example.test')
