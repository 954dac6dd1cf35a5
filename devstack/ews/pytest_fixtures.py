"""The ``ews_server`` fixture: one in-process EWS endpoint for the test session.

It yields a started ``EwsServer``: ``.url`` (HTTPS, test CA in ``.certs['ca']``),
``.http_url``, ``.store``, ``.add_account(email, password, impersonation=False)``,
``.inject(operation, code, back_off_ms=None, times=1)``, ``.calls``, ``.errors``
and ``.autodiscover`` (domain, DNS port, proxy, ``client_settings()``); and
``no_server_bugs``, which fails a test during which the endpoint itself broke (an
exception in its code, not an EWS error it answered on purpose).
"""
import os

import pytest

from ..oauth.introspect import Introspector
from ..procs import TEST_DIR
from .server import EwsServer


@pytest.fixture(scope='session')
def ews_server(oauth_server):
    server = EwsServer(os.path.join(TEST_DIR, 'tls')).start()
    server.auth.introspector = Introspector.for_server(oauth_server, 'ews')  # Bearer tokens
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_server_bugs(ews_server):
    yield
    errors, ews_server.errors[:] = list(ews_server.errors), []
    assert not errors, 'the EWS endpoint failed:\n' + '\n'.join(errors)
