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


# Scopes our test mail servers require: Dovecot (IMAP and POP3), SMTP submission, EWS.
ACCESS_SCOPE, SEND_SCOPE, EWS_SCOPE = 'mail.access', 'mail.send', 'mail.ews'


def dovecot_oauth(oauth):
    """Dovecot's oauth2 passdb settings for ``oauth`` (a registered resource-server client)."""
    oauth.authority.add_client('dovecot', 'rs-dovecot-secret')
    return {'introspection_url': 'http://dovecot:rs-dovecot-secret@127.0.0.1:%d/introspect'
                                 % oauth.http_port,
            'scope': ACCESS_SCOPE}


@pytest.fixture(scope='session')
def oauth_server():
    server = OAuthServer(os.path.join(TEST_DIR, 'tls')).start()
    try:
        yield server
    finally:
        server.stop()
