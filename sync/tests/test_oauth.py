"""The pure parts of OAuth (no database): SASL strings, refresh timing, error mapping,
bearer credentials; the providers against the devstack authorization server."""
import base64
import doctest

import pytest

from .. import oauth
from ..errors import AuthError, TransientError
from ..oauth import BearerToken, OAuthProvider, error_from_answer, pkce_pair, refresh_due


def test_doctests():
    failures, tried = doctest.testmod(oauth)
    assert tried and not failures


def test_oauthbearer_escapes_the_authzid():
    raw = base64.b64decode(oauth.oauthbearer('a=b,c@x.test', 'T', 'h', 1)).decode()
    assert raw.startswith('n,a=a=3Db=2Cc@x.test,\x01')


def test_refresh_is_due_ahead_of_expiry_whatever_the_lifetime():
    assert not refresh_due(10000 + 3600, 3600, now=10000)
    assert refresh_due(10000 + 299, 3600, now=10000)  # 5 minutes before
    assert refresh_due(10000 + 8000, 86400, now=10000)  # 10% of a long lifetime


def test_provider_errors_keep_their_code_and_meaning():
    error = error_from_answer(400, {'error': 'invalid_grant', 'error_description': 'AADSTS70000'}, 'idp')
    assert isinstance(error, AuthError) and error.code == 'oauth_invalid_grant'
    assert 'invalid_grant' in error.detail and 'AADSTS70000' in error.detail
    assert error_from_answer(401, {'error': 'invalid_client'}, 'idp').code == 'oauth_invalid_client'
    assert error_from_answer(400, {'error': 'unauthorized_client'}, 'idp').code == 'oauth_not_consented'
    busy = error_from_answer(503, {}, 'idp')
    assert isinstance(busy, TransientError) and busy.retry_after


def test_bearer_token_hides_the_token_and_renews_once():
    asked = []

    def source(refused=None):
        asked.append(refused)
        return 'tok-%d' % len(asked)
    creds = BearerToken('jane@example.test', source)
    assert 'tok' not in repr(creds) and 'tok' not in str(creds)
    assert creds.token == 'tok-1'
    assert creds.renew() and creds.token == 'tok-2'
    assert asked == [None, 'tok-1']
    assert not creds.renew(), 'a second refusal is final'


def test_pkce_pair_is_s256():
    import hashlib
    verifier, challenge = pkce_pair()
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b'=').decode()
    assert challenge == digest and 43 <= len(verifier) <= 128


def test_discovery_requires_https_and_reads_the_document(oauth_server):
    with pytest.raises(Exception) as info:
        OAuthProvider.discover('http://127.0.0.1:1', timeout=5)
    assert getattr(info.value, 'code', '') == 'oauth_issuer_not_https'
    document = OAuthProvider.discover(oauth_server.issuer, timeout=10, verify=oauth_server.cafile)
    assert document['token_endpoint'] == oauth_server.issuer + '/token'
    assert 'S256' in document['code_challenge_methods_supported']


def test_untrusted_provider_certificate_is_refused(oauth_server):
    with pytest.raises(Exception) as info:
        OAuthProvider.discover(oauth_server.issuer, timeout=10, verify=True)
    assert getattr(info.value, 'code', '') == 'tls_untrusted'
