"""FakeSource, the in-memory stand-in for a connector: it must answer like the real
ones (same signatures, return types and errors), or fast tests built on it lie."""
import doctest
import inspect

import pytest

from .. import fake as fake_module
from ..errors import ConflictError, PermanentError, SyncStateInvalid, TransientError
from ..ews import EwsConnector
from ..fake import FakeSource


def _mail(n):
    return ('Message-ID: <m%d@example.test>\r\nSubject: %d\r\n\r\nbody %d\r\n' % (n, n, n)).encode()


def test_doctests():
    assert doctest.testmod(fake_module).failed == 0


def test_same_signatures_as_the_ews_connector():
    shared = ['connect', 'check', 'close', 'sync_changes', 'fetch_mime', 'send', 'find_sent',
              'item_changes', 'get_records', 'create_record', 'update_record', 'delete_record']
    for name in shared:
        real = list(inspect.signature(getattr(EwsConnector, name)).parameters)
        assert list(inspect.signature(getattr(FakeSource, name)).parameters) == real, name


def test_changes_come_in_capped_pages_and_resume_from_the_saved_state():
    source = FakeSource()
    delivered = [source.deliver('inbox', _mail(n)) for n in range(5)]
    seen, state, pages = [], None, 0
    while True:
        page = source.sync_changes('inbox', state, max_changes=2)
        assert len(page.created) <= 2
        seen += [message.item_id for message in page.created]
        state, pages = page.state, pages + 1
        if not page.more:
            break
    assert seen == delivered and pages == 3
    later = source.deliver('inbox', _mail(9))
    page = source.sync_changes('inbox', state)
    assert [m.item_id for m in page.created] == [later]
    assert [m.header('Subject') for m in source.fetch_mime([later])] == ['9']


def test_a_forgotten_state_is_invalid_and_none_starts_over():
    source = FakeSource()
    source.deliver('inbox', _mail(1))
    state = source.sync_changes('inbox').state
    source.forget_states('inbox')
    with pytest.raises(SyncStateInvalid):
        source.sync_changes('inbox', state)
    assert len(source.sync_changes('inbox', None).created) == 1


def test_moved_mail_leaves_as_a_deletion_and_arrives_in_the_target():
    source = FakeSource()
    item_id = source.deliver('inbox', _mail(1))
    state = source.sync_changes('inbox').state
    source.move([item_id], 'inbox', 'archive')
    assert source.sync_changes('inbox', state).deleted == [item_id]
    assert [m.item_id for m in source.sync_changes('archive').created] == [item_id]


def test_send_keeps_the_sent_copy_that_find_sent_proves():
    source, order = FakeSource(), []
    source.send(_mail(3), before_data=lambda: order.append('before_data'))
    assert order == ['before_data'] and source.sent == [_mail(3)]
    assert source.find_sent('<m3@example.test>')
    assert not source.find_sent('<other@example.test>')
    assert len(source.sync_changes('sentitems').created) == 1


def test_items_round_trip_with_change_keys():
    source = FakeSource()
    item_id, key = source.create_record('contact', {'name': 'Ann'})
    state = source.item_changes('contact').state
    source.remote_update('contact', item_id, phone='+1 555')
    page = source.item_changes('contact', state)
    assert [r.item_id for r in page.updated] == [item_id] and page.updated[0].change_key != key
    with pytest.raises(ConflictError) as info:
        source.update_record('contact', item_id, key, {'name': 'Bea'})
    assert info.value.code == 'change_key_mismatch'
    [record] = source.get_records('contact', [item_id, 'gone'])
    assert record.values == {'name': 'Ann', 'phone': '+1 555'}
    new_key = source.update_record('contact', item_id, record.change_key, {'name': 'Bea'})
    assert source.get_records('contact', [item_id])[0].change_key == new_key
    assert source.delete_record('contact', item_id) is True
    assert source.delete_record('contact', item_id) is False
    with pytest.raises(PermanentError) as info:
        source.update_record('contact', item_id, new_key, {'name': 'Cy'})
    assert info.value.code == 'item_missing'
    assert source.item_changes('contact', page.state).deleted == [item_id]


def test_fail_next_raises_once_then_answers():
    source = FakeSource()
    source.fail_next('check', TransientError('timeout', 'no answer'))
    with pytest.raises(TransientError):
        source.check()
    assert source.check() == {'messages': 0}
    assert source.calls == ['check', 'check']
