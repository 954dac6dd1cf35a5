"""The ``oauth_server`` fixture: one in-process OAuth 2.0 / OIDC server for the session.

It yields a started ``OAuthServer``: ``.issuer`` (HTTPS, test CA in ``.cafile``),
``.http_url`` (plain twin for loopback resource servers), ``.authority`` (control
methods: ``add_client``, ``add_user``, ``grant_consent``, ``revoke_consent``,
``expire_tokens``, ``set_skew``, ``token_requests``...) and ``.errors`` (tracebacks
of the server's own bugs).
"""
import os

import pytest

from ..procs import TEST_DIR
from .server import OAuthServer


@pytest.fixture(scope='session')
def oauth_server():
    server = OAuthServer(os.path.join(TEST_DIR, 'tls')).start()
    try:
        yield server
    finally:
        server.stop()
