"""Our Exchange connector (sync/ews.py) for incoming email, against the EWS test endpoint
through the real exchangelib: sync pages, MIME content, categories, error mapping, and
the certificate and authentication settings of a profile surviving exchangelib's
session handling and Autodiscover."""
import itertools
import uuid

import exchangelib
import pytest
import requests

from ..endpoint import Credentials
from ..errors import ConfigError, ConflictError, SyncStateInvalid, TransientError
from .. import ews as ews_module
from ..ews import EwsConnector, EwsSettings

pytest_plugins = ['devstack.ews.pytest_fixtures']
_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]  # exchangelib caches Autodiscover results on disk by credentials


def raw_email(n, subject=None):
    return ('From: Alice <alice@sender.example.test>\r\nTo: someone@example.test\r\n'
            'Subject: %s\r\nMessage-ID: <c%d-%s@sender.example.test>\r\n'
            'Date: Sun, 29 Nov 2026 05:00:00 +0000\r\n\r\nBody %d\r\n'
            % (subject or 'mail %d' % n, n, _RUN, n)).encode('utf-8')


@pytest.fixture
def account(ews_server):
    n = next(_numbers)
    address, password = 'conn%d-%s@example.test' % (n, _RUN), 'pw-%d-%s' % (n, _RUN)
    ews_server.add_account(address, password)
    return address, password


def connector(server, address, password, **kwargs):
    kwargs.setdefault('ews_url', server.url)
    kwargs.setdefault('cafile', server.certs['ca'])
    return EwsConnector(EwsSettings(address, timeout=10, **kwargs), Credentials(address, password))


def test_sync_pages_mime_and_state(ews_server, account):
    address, password = account
    ids = [ews_server.store.deliver(address, raw_email(n)) for n in range(5)]
    conn = connector(ews_server, address, password)
    try:
        first = conn.sync_changes('inbox', None, 3)  # newest first, as Exchange 2010 SP2 and later
        assert [item.item_id for item in first.created] == [ids[4], ids[3], ids[2]] and first.more
        assert [item.subject for item in first.created] == ['mail 4', 'mail 3', 'mail 2']
        assert first.created[0].size == len(raw_email(4))
        stored = ews_server.store.find_item(ids[4]).fields['DateTimeReceived'].text
        assert first.created[0].received.strftime('%Y-%m-%dT%H:%M:%S%z') == stored.replace('Z', '+0000')
        second = conn.sync_changes('inbox', first.state, 3)
        assert [item.item_id for item in second.created] == [ids[1], ids[0]] and not second.more
        messages = list(conn.fetch_mime(ids[:2], folder='inbox'))
        assert [(m.item_id, m.raw, m.folder) for m in messages] == [
            (ids[0], raw_email(0), 'inbox'), (ids[1], raw_email(1), 'inbox')]
        ews_server.store.delete(ids[1])  # gone meanwhile: left out
        assert [m.item_id for m in conn.fetch_mime(ids[:2])] == [ids[0]]
        again = conn.sync_changes('inbox', second.state)
        assert (again.created, again.updated, again.deleted) == ([], [], [ids[1]])
        header = first.created[2].header_block()
        assert b'Subject: mail 2\r\n' in header and header.endswith(b'\r\n\r\n')
    finally:
        conn.close()


def test_categories_are_added_and_removed_keeping_the_others(ews_server, account):
    address, password = account
    item_id = ews_server.store.deliver(address, raw_email(10))
    ews_server.store.add_category(item_id, 'Customer')
    conn = connector(ews_server, address, password)
    try:
        state = conn.sync_changes('inbox').state
        assert conn.set_category(item_id, 'Tracked to Odoo', present=True)
        assert ews_server.store.item(item_id)['categories'] == ['Customer', 'Tracked to Odoo']
        [updated] = conn.sync_changes('inbox', state).updated
        assert updated.categories == ['Customer', 'Tracked to Odoo']
        assert conn.set_category(item_id, 'tracked to odoo', present=False)
        assert ews_server.store.item(item_id)['categories'] == ['Customer']
        ews_server.store.delete(item_id)
        assert conn.set_category(item_id, 'Tracked to Odoo') is False
    finally:
        conn.close()


def test_invalid_state_and_busy_server_are_mapped(ews_server, account):
    address, password = account
    conn = connector(ews_server, address, password)
    try:
        state = conn.sync_changes('inbox').state
        with pytest.raises(SyncStateInvalid):
            conn.sync_changes('inbox', ('BBBB' if state.startswith('AAAA') else 'AAAA') + state[4:])
        ews_server.inject('SyncFolderItems', 'ErrorServerBusy', back_off_ms=90000)
        with pytest.raises(TransientError) as info:
            conn.sync_changes('inbox', state)
        assert (info.value.code, info.value.retry_after) == ('server_busy', 90)
    finally:
        conn.close()


def test_sessions_made_later_keep_the_profile_certificate_setting(ews_server, account):
    """exchangelib makes new sessions whenever it likes (after an error, or when its pool
    was closed) from its protocol class: they must still trust the profile's CA."""
    address, password = account
    conn = connector(ews_server, address, password)
    untrusting = None
    try:
        state = conn.sync_changes('inbox').state
        assert issubclass(exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS, ews_module._ConnectorAdapter)
        # Another profile on the same server that trusts only the system CAs fails...
        n = next(_numbers)
        other, other_password = 'conn%d-%s@example.test' % (n, _RUN), 'pw-%d' % n
        ews_server.add_account(other, other_password)
        untrusting = connector(ews_server, other, other_password, cafile=None)
        with pytest.raises(ConfigError) as info:
            untrusting.check()
        assert info.value.code == 'tls_untrusted'
        # ...and the first one, with fresh sessions, still works.
        conn.account.protocol.close()
        assert conn.sync_changes('inbox', state).created == []
        assert conn.check()['messages'] == 0
    finally:
        conn.close()
        if untrusting is not None:
            untrusting.close()


def test_two_accounts_in_one_process_keep_their_own_certificate_setting(ews_server, account):
    """One profile trusts the server's CA file, another only the system store, both in use
    in one process and one thread, turn by turn: each keeps its own choice, and exchangelib
    is used only through its documented points (its cached protocol keeps its class, and
    sessions made outside our connectors verify as requests does by default)."""
    address, password = account
    n = next(_numbers)
    other, other_password = 'conn%d-%s@example.test' % (n, _RUN), 'pw-%d' % n
    ews_server.add_account(other, other_password)
    trusting = connector(ews_server, address, password)
    untrusting = connector(ews_server, other, other_password, cafile=None)
    try:
        for _turn in range(2):
            assert trusting.check()['messages'] == 0
            with pytest.raises(ConfigError) as info:
                untrusting.check()
            assert info.value.code == 'tls_untrusted'
            trusting.account.protocol.close()  # fresh sessions on the next turn
        assert type(trusting.account.protocol) is exchangelib.protocol.Protocol
        # A session exchangelib makes for anyone else takes requests' own verification.
        session = exchangelib.protocol.Protocol.raw_session(ews_server.url)
        session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE aside: the system store
        try:
            with pytest.raises(requests.exceptions.SSLError):
                session.post(ews_server.url, data=b'', timeout=10, verify=True)
            assert session.post(ews_server.url, data=b'', timeout=10, verify=ews_server.certs['ca']) is not None
        finally:
            session.close()
    finally:
        trusting.close()
        untrusting.close()


@pytest.mark.parametrize('auth_type', ['basic', 'ntlm'])
def test_autodiscover_applies_the_profile_auth_type_and_fail_fast(ews_server, account, auth_type):
    address, password = account
    ews_server.store.deliver(address, raw_email(20))
    conn = connector(ews_server, address, password, ews_url=None, autodiscover=True,
                     auth_type=auth_type)
    with ews_server.autodiscover.client_settings():
        try:
            start = len(ews_server.calls)
            page = conn.sync_changes('inbox')
            assert len(page.created) == 1
            config = conn.account.protocol.config
            assert isinstance(config.retry_policy, exchangelib.FailFast)
            assert config.auth_type == {'basic': exchangelib.BASIC, 'ntlm': exchangelib.NTLM}[auth_type]
            syncs = [call for call in ews_server.calls[start:] if call.operation == 'SyncFolderItems']
            assert [call.auth for call in syncs] == [{'basic': 'Basic', 'ntlm': 'NTLM'}[auth_type]]
        finally:
            conn.close()


def test_a_stale_or_missing_change_key_is_a_conflict(ews_server, account):
    """Besides ErrorIrresolvableConflict, Exchange answers a stale or missing change key
    with ErrorStaleObject or ErrorChangeKeyRequiredForWriteOperations: the same conflict
    for the caller (re-read, then write), never a network error.
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode"""
    address, password = account
    conn = connector(ews_server, address, password)
    try:
        item_id, change_key = conn.create_record('contact', {'first_name': 'Stale', 'last_name': 'Key'})
        for code in ('ErrorStaleObject', 'ErrorChangeKeyRequiredForWriteOperations', 'ErrorIrresolvableConflict'):
            ews_server.inject('UpdateItem', code)
            with pytest.raises(ConflictError) as info:
                conn.update_record('contact', item_id, change_key, {'last_name': 'Renamed'})
            assert info.value.code == 'change_key_mismatch'
    finally:
        conn.close()


def test_the_category_write_is_retried_once_after_reading_the_item_again(ews_server, account):
    address, password = account
    item_id = ews_server.store.deliver(address, raw_email(30))
    conn = connector(ews_server, address, password)
    try:
        ews_server.inject('UpdateItem', 'ErrorStaleObject')  # edited in Outlook between read and write
        assert conn.set_category(item_id, 'Tracked to Odoo') is True
        assert ews_server.store.item(item_id)['categories'] == ['Tracked to Odoo']
        ews_server.inject('UpdateItem', 'ErrorStaleObject', times=2)  # and again: given up, reported
        with pytest.raises(ConflictError):
            conn.set_category(item_id, 'Tracked to Odoo', present=False)
        assert ews_server.store.item(item_id)['categories'] == ['Tracked to Odoo']
    finally:
        conn.close()


def test_too_many_concurrent_requests_is_a_busy_server(ews_server, account):
    """ErrorExceededConnectionCount (more concurrent requests than the throttling policy
    allows) is the server being busy: retried later, and said so, not a network fault."""
    address, password = account
    item_id = ews_server.store.deliver(address, raw_email(31))
    conn = connector(ews_server, address, password)
    try:
        ews_server.inject('GetItem', 'ErrorExceededConnectionCount')
        with pytest.raises(TransientError) as info:
            list(conn.fetch_mime([item_id]))
        assert info.value.code == 'server_busy'
        assert [m.item_id for m in conn.fetch_mime([item_id])] == [item_id]
    finally:
        conn.close()
