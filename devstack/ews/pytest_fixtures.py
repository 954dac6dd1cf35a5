"""The ``ews_server`` fixture: one in-process EWS endpoint for the test session.

It yields a started ``EwsServer``: ``.url`` (HTTPS, test CA in ``.certs['ca']``),
``.http_url``, ``.store``, ``.add_account(email, password, impersonation=False)``,
``.inject(operation, code, back_off_ms=None, times=1)``, ``.calls``, ``.errors``
and ``.autodiscover`` (domain, DNS port, proxy, ``client_settings()``).
"""
import os

import pytest

from ..procs import TEST_DIR
from .server import EwsServer


@pytest.fixture(scope='session')
def ews_server():
    server = EwsServer(os.path.join(TEST_DIR, 'tls')).start()
    try:
        yield server
    finally:
        server.stop()
