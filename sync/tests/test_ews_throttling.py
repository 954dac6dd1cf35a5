"""Our Exchange connector against an endpoint that throttles as Exchange does, from its
budgets (devstack/ews/throttle.py), not from injected faults: every refusal reaches the
Odoo layer as TransientError('server_busy') with the server's own back-off, never as
a broken mailbox. A request is held in flight by the endpoint's ``throttle.hold()`` (admitted requests
wait until the block ends), so that concurrency is exact, not timed."""
import base64
import contextlib
import itertools
import threading
import time
import urllib.request
import uuid

import pytest

from ..endpoint import Credentials
from ..errors import TransientError
from ..ews import EwsConnector, EwsSettings

pytest_plugins = ['devstack.ews.pytest_fixtures']
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]


def raw_email(n, size=0):
    return ('From: Alice <alice@sender.example.test>\r\nTo: someone@example.test\r\n'
            'Subject: mail %d\r\nMessage-ID: <t%d-%s@sender.example.test>\r\n'
            'Date: Sun, 29 Nov 2026 05:00:00 +0000\r\n\r\nBody %d %s\r\n'
            % (n, n, _RUN, n, 'x' * size)).encode('utf-8')


@pytest.fixture
def throttled(ews_server):
    """(address, password) of a new account; the endpoint's budgets put back after."""
    n = next(_numbers)
    address, password = 'thr%d-%s@example.test' % (n, _RUN), 'pw-%d-%s' % (n, _RUN)
    ews_server.add_account(address, password)
    yield address, password
    ews_server.throttle.reset()


def connector(server, address, password):
    return EwsConnector(EwsSettings(address, timeout=30, ews_url=server.url, cafile=server.certs['ca']),
                        Credentials(address, password))


def _wait_until(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@contextlib.contextmanager
def one_request_in_flight(server, address, call):
    """``call()`` runs in a thread and is admitted by the endpoint, which holds it; inside
    the block it is in flight. Yields a list holding its result (or error)."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as exc:  # reported to the test through ``outcome``
            outcome.append(exc)
    with server.throttle.hold():
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        _wait_until(lambda: server.throttle.in_flight(address) == 1, 'the first request was never admitted')
        yield outcome
    worker.join(60)
    assert not worker.is_alive()


_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
    ' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Body>%s'
    '</soap:Body></soap:Envelope>')
GET_INBOX = ('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
             '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>')
SYNC_INBOX = ('<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
              '<m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId>'
              '<m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>')


def _raw_call(server, address, password, operation):
    """The HTTP status of ``operation`` sent for ``address`` by another client than the
    connector (exchangelib shares one protocol object, and its session pool, between
    connectors of the same login: a held request would hold the other one's session)."""
    request = urllib.request.Request(server.http_url, data=(_ENVELOPE % operation).encode(), headers={
        'Content-Type': 'text/xml; charset=utf-8',
        'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (address, password)).encode()).decode()})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return response.status


def test_more_concurrent_requests_than_the_policy_allows_are_refused_as_busy(ews_server, throttled):
    """EWSMaxConcurrency: one more request than the policy allows gets
    ErrorExceededConnectionCount, which is busy (retry later), not broken."""
    address, password = throttled
    ews_server.throttle.reset(max_concurrency=1)
    conn = connector(ews_server, address, password)
    try:
        state = conn.sync_changes('inbox').state  # connected before: one request per call now
        with one_request_in_flight(ews_server, address, lambda: _raw_call(ews_server, address, password, GET_INBOX)) \
                as outcome:
            with pytest.raises(TransientError) as info:
                conn.sync_changes('inbox', state)
        assert info.value.code == 'server_busy'
        assert ews_server.throttle.refusals == [(address, 'ErrorExceededConnectionCount', None)]
        assert outcome == [200]
        assert not conn.sync_changes('inbox', state).created  # the other one done: admitted again
    finally:
        conn.close()


def test_a_second_sync_of_a_mailbox_meanwhile_is_told_to_back_off(ews_server, throttled):
    """One SyncFolderItems per mailbox at a time: another one meanwhile gets ErrorServerBusy
    with BackOffMilliseconds, which becomes the error's retry_after."""
    address, password = throttled
    ews_server.throttle.reset(sync_back_off_ms=7000)
    conn = connector(ews_server, address, password)
    try:
        state = conn.sync_changes('inbox').state
        with one_request_in_flight(ews_server, address, lambda: _raw_call(ews_server, address, password,
                                                                          SYNC_INBOX)) as outcome:
            with pytest.raises(TransientError) as info:
                conn.sync_changes('inbox', state)
        assert (info.value.code, info.value.retry_after) == ('server_busy', 7)
        assert ews_server.throttle.refusals == [(address, 'ErrorServerBusy', 7000)]
        assert outcome == [200]
        assert conn.sync_changes('inbox', state).state  # alone again: served
    finally:
        conn.close()


def test_a_spent_budget_answers_busy_with_the_time_it_needs_to_recharge(ews_server, throttled):
    """EWSMaxBurst/EWSRechargeRate: MIME costs time in proportion to its size; once the
    budget is below zero the server answers ErrorServerBusy with BackOffMilliseconds, the
    time the budget needs to recharge, until it has."""
    address, password = throttled
    ids = [ews_server.store.deliver(address, raw_email(n, size=100000)) for n in range(4)]
    conn = connector(ews_server, address, password)
    try:
        page = conn.sync_changes('inbox')
        # 30 ms of work, recharged at 36 ms an hour (0.01 ms a second); a request costs 10 ms
        # and 1 MB of MIME 100 ms: one GetItem of 4 x 100 KB (~48 ms) spends it all.
        ews_server.throttle.reset(max_burst_ms=30, recharge_ms_per_hour=36, request_ms=10, mime_ms_per_mb=100)
        assert len(list(conn.fetch_mime(ids))) == 4  # admitted while the budget was positive
        balance = ews_server.throttle.balance_ms(address)
        assert balance < -10
        with pytest.raises(TransientError) as info:
            conn.sync_changes('inbox', page.state)
        assert info.value.code == 'server_busy'
        # The back-off is the time -balance takes to recharge at 0.01 ms a second.
        assert abs(info.value.retry_after - (-balance) / 0.01) <= 5, (info.value.retry_after, balance)
        ews_server.throttle.reset()
        assert not conn.sync_changes('inbox', page.state).created
    finally:
        conn.close()


def test_an_overloaded_server_answers_503_and_its_retry_after_is_kept(ews_server, throttled):
    """HTTP 503 with Retry-After: exchangelib's FailFast would put its own fixed wait in
    place of the server's; the connector keeps the server's."""
    address, password = throttled
    ews_server.throttle.reset(max_requests=1, retry_after_s=42)
    conn = connector(ews_server, address, password)
    try:
        state = conn.sync_changes('inbox').state
        with one_request_in_flight(ews_server, address, lambda: _raw_call(ews_server, address, password,
                                                                          GET_INBOX)) as outcome:
            with pytest.raises(TransientError) as info:
                conn.sync_changes('inbox', state)
        assert (info.value.code, info.value.retry_after) == ('server_busy', 42)
        assert ews_server.throttle.refusals == [(None, 'http_503', 42000)]
        assert outcome == [200]
    finally:
        conn.close()
