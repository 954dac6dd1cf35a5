"""The test EWS endpoint (devstack/ews) against the real exchangelib 5.0.3.

exchangelib is used as any application would: a Configuration with FailFast,
and our test CA trusted through its documented HTTP_ADAPTER_CLS hook. Nothing in
exchangelib is patched. The last tests run our own connector (sync/ews.py).
"""
import base64
import datetime
import itertools
import uuid

import exchangelib
import pytest
import requests
from exchangelib import (BASIC, DELEGATE, IMPERSONATION, NTLM, Account, CalendarItem, Configuration,
                         Contact, Credentials, EWSDateTime, FailFast, Folder, Mailbox, Message,
                         Task)
from exchangelib import errors as ews_errors
from exchangelib.folders import Calendar, Contacts, Tasks
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE, MeetingRequest

from ..endpoint import Credentials as OurCredentials
from ..errors import AuthError, ConfigError, TransientError
from ..ews import EwsConnector, EwsSettings

# The ews_server fixture also when pytest runs without devstack.pytest_plugin.
pytest_plugins = ['devstack.ews.pytest_fixtures']
pytestmark = pytest.mark.usefixtures('no_server_bugs')
_numbers = itertools.count()
# exchangelib caches Autodiscover results on disk by (domain, credentials): a password
# unique to this run keeps one run from finding the ports of an earlier one there.
_RUN = uuid.uuid4().hex[:8]


def raw_email(subject='Hello', to='someone@example.test', body='Body text', message_id=None):
    message_id = message_id or '<m%d@sender.example.test>' % next(_numbers)
    return ('From: Alice Sender <alice@sender.example.test>\r\nTo: %s\r\nSubject: %s\r\n'
            'Date: Sun, 29 Nov 2026 05:00:00 +0000\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n'
            'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n'
            % (to, subject, message_id, body)).encode('utf-8')


@pytest.fixture
def trust_test_ca(ews_server):
    """exchangelib's documented way to trust a private CA: a custom HTTP adapter class."""
    cafile = ews_server.certs['ca']

    class TestCaAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, verify, cert):
            super(TestCaAdapter, self).cert_verify(conn, url, cafile, cert)

    old = exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS
    exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS = TestCaAdapter
    try:
        yield
    finally:
        exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS = old


@pytest.fixture
def new_user(ews_server):
    """A function giving (address, password) of a fresh mailbox on the endpoint."""
    def make(impersonation=False):
        n = next(_numbers)
        address, password = 'user%d@example.test' % n, 'pw-%d-%s-s\u00e9cret' % (n, _RUN)
        ews_server.add_account(address, password, impersonation=impersonation)
        return address, password
    return make


def account_for(server, address, password, auth_type=BASIC, primary=None, access_type=DELEGATE,
                url=None):
    config = Configuration(service_endpoint=url or server.url,
                           credentials=Credentials(address, password),
                           auth_type=auth_type, retry_policy=FailFast())
    return Account(primary or address, config=config, autodiscover=False, access_type=access_type)


@pytest.fixture
def user(ews_server, new_user, trust_test_ca):
    address, password = new_user()
    return address, password, account_for(ews_server, address, password)


# -- account setup ------------------------------------------------------------

@pytest.mark.parametrize('auth_type', [BASIC, NTLM])
def test_account_setup_learns_exchange_2016_and_finds_distinguished_folders(
        ews_server, new_user, trust_test_ca, auth_type):
    address, password = new_user()
    account = account_for(ews_server, address, password, auth_type=auth_type)
    assert account.version.build.major_version == 15 and account.version.build.minor_version == 1
    assert account.version.api_version == 'Exchange2016'
    assert isinstance(account.calendar, Calendar) and isinstance(account.tasks, Tasks)
    assert isinstance(account.contacts, Contacts)
    assert (account.inbox.name, account.sent.name, account.trash.name) == (
        'Inbox', 'Sent Items', 'Deleted Items')
    calls = [c for c in ews_server.calls if c.user == address]
    assert calls and {c.auth for c in calls} == {'NTLM' if auth_type == NTLM else 'Basic'}


@pytest.mark.parametrize('auth_type', [BASIC, NTLM])
def test_wrong_password_is_unauthorized(ews_server, new_user, trust_test_ca, auth_type):
    address, _password = new_user()
    with pytest.raises(ews_errors.UnauthorizedError):
        account_for(ews_server, address, 'wrong', auth_type=auth_type).inbox


def test_plain_http_endpoint_works_too(ews_server, new_user):
    address, password = new_user()
    account = account_for(ews_server, address, password, url=ews_server.http_url)
    assert account.inbox.total_count == 0


def test_folder_listing_includes_user_folders(ews_server, user):
    address, _password, account = user
    ews_server.store.create_folder(address, 'Projects', parent='inbox')
    ews_server.store.create_folder(address, 'Archive 2026')
    names = {f.name for f in account.root.walk()}
    assert {'Top of Information Store', 'Inbox', 'Sent Items', 'Deleted Items', 'Calendar',
            'Contacts', 'Tasks', 'Projects', 'Archive 2026'} <= names
    assert [f.name for f in account.inbox.children] == ['Projects']
    projects = account.inbox / 'Projects'
    assert projects.parent.id == account.inbox.id and projects.total_count == 0
    failed = Folder(parent=account.inbox, name='Odoo Failed')
    failed.save()
    assert ews_server.store.contents(address, failed.id) == []
    with pytest.raises(ews_errors.ErrorFolderExists):
        Folder(parent=account.inbox, name='odoo failed').save()


# -- reading mail ---------------------------------------------------------------

def test_mime_content_is_the_delivered_bytes(ews_server, user):
    address, _password, account = user
    raw = raw_email(subject='Caf\u00e9 menu', to=address, body='R\u00e9sum\u00e9 attached?\r\nBye')
    ews_server.store.deliver(address, raw)
    [item] = account.inbox.all().only('mime_content', 'subject', 'message_id', 'sender',
                                      'to_recipients', 'datetime_received', 'size', 'categories')
    assert item.mime_content == raw
    assert item.subject == 'Caf\u00e9 menu'
    assert item.message_id.startswith('<m') and item.message_id in raw.decode('utf-8')
    assert item.sender.email_address == 'alice@sender.example.test'
    assert item.sender.name == 'Alice Sender'
    assert [r.email_address for r in item.to_recipients] == [address]
    assert item.size == len(raw) and item.categories is None
    stored = ews_server.store.find_item(item.id).fields['DateTimeReceived'].text
    assert item.datetime_received.strftime('%Y-%m-%dT%H:%M:%S%z') == stored.replace('Z', '+0000')


def test_find_item_restrictions_and_order(ews_server, user):
    address, _password, account = user
    for subject in ('b second', 'a first', 'c third'):
        ews_server.store.deliver(address, raw_email(subject=subject, message_id='<%s@x>' % subject[0]))
    assert [i.subject for i in account.inbox.filter(message_id='<a@x>')] == ['a first']
    assert [i.subject for i in account.inbox.all().order_by('-subject')] == [
        'c third', 'b second', 'a first']
    assert account.inbox.filter(subject__icontains='SECOND').count() == 1
    assert account.inbox.filter(subject__contains='SECOND').count() == 0
    assert account.inbox.filter(subject__startswith='c').count() == 1
    assert [i.subject for i in account.inbox.all().order_by('subject')[1:3]] == ['b second', 'c third']
    now = EWSDateTime.now(exchangelib.EWSTimeZone('UTC'))
    assert account.inbox.filter(datetime_received__gt=now - datetime.timedelta(hours=1)).count() == 3
    assert account.inbox.filter(datetime_received__gt=now + datetime.timedelta(hours=1)).count() == 0


def _sync(folder, **kwargs):
    changes = list(folder.sync_items(only_fields=['subject', 'categories'], **kwargs))
    return [(kind, getattr(item, 'subject', None) or item.id) for kind, item in changes]


def test_sync_items_reports_new_changed_and_deleted_items(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    first = store.deliver(address, raw_email(subject='first'))
    second = store.deliver(address, raw_email(subject='second'))
    inbox = account.inbox
    assert _sync(inbox) == [('create', 'second'), ('create', 'first')]  # newest first
    state = inbox.item_sync_state
    assert base64.b64decode(state)  # opaque, but base64 as Exchange's

    assert _sync(inbox) == []  # nothing new
    store.add_category(first, 'Odoo')
    store.delete(second)
    third = store.deliver(address, raw_email(subject='third'))
    gone = store.deliver(address, raw_email(subject='created then moved away'))
    store.move(gone, 'deleteditems')
    changes = list(inbox.sync_items(only_fields=['subject', 'categories']))
    assert [(kind, getattr(obj, 'subject', None)) for kind, obj in changes] == [
        ('create', 'third'), ('delete', None), ('update', 'first')]
    assert changes[2][1].categories == ['Odoo'] and changes[1][1].id == second
    assert changes[0][1].id == third

    store.set_fields(third, Subject='third, edited')
    assert _sync(inbox) == [('update', 'third, edited')]
    store.set_fields(first, IsRead='true')
    [(kind, (item_id, is_read))] = list(inbox.sync_items())
    assert (kind, item_id.id, is_read) == ('read_flag_change', first, True)
    store.remove_category(first, 'Odoo')
    [(kind, item)] = list(inbox.sync_items(only_fields=['categories']))
    assert (kind, item.id, item.categories) == ('update', first, None)
    assert _sync(account.trash) == [('create', 'created then moved away')]


def test_sync_items_pages_with_max_changes(ews_server, user):
    address, _password, account = user
    for n in range(5):
        ews_server.store.deliver(address, raw_email(subject='mail %d' % n))
    inbox = account.inbox
    assert _sync(inbox, max_changes_returned=2) == [('create', 'mail %d' % n) for n in (4, 3, 2, 1, 0)]
    calls = [c.operation for c in ews_server.calls if c.user == address]
    assert calls.count('SyncFolderItems') == 3
    assert _sync(inbox, max_changes_returned=2) == []


def test_sync_pages_stay_exact_when_items_change_between_pages(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    first, second, third = [store.deliver(address, raw_email(subject=s)) for s in ('a', 'b', 'c')]
    inbox = account.inbox
    page = inbox.sync_items(only_fields=['subject'], max_changes_returned=1)
    assert [(k, i.subject) for k, i in itertools.islice(page, 1)] == [('create', 'c')]  # newest first
    store.set_fields(second, Subject='b, edited before the client saw it')
    store.set_fields(first, Subject='a, edited before the client saw it')
    store.set_fields(third, Subject='c, edited')
    assert [(k, i.subject) for k, i in page] == [('update', 'c, edited'),
                                                 ('create', 'a, edited before the client saw it'),
                                                 ('create', 'b, edited before the client saw it')]
    store.delete(third)
    assert [(k, i.id) for k, i in inbox.sync_items()] == [('delete', third)]
    assert _sync(inbox) == []


def test_invalid_sync_state_is_error_invalid_sync_state_data(ews_server, user):
    address, _password, account = user
    inbox = account.inbox
    list(inbox.sync_items())
    sent_state = account.sent
    list(sent_state.sync_items())
    for state in ('garbage', base64.b64encode(b'inbox|1|0000').decode(), sent_state.item_sync_state):
        inbox.item_sync_state = state
        with pytest.raises(ews_errors.ErrorInvalidSyncStateData):
            list(inbox.sync_items())


# -- writing ---------------------------------------------------------------------

def test_send_and_save_reaches_the_recipient_and_sent_items(ews_server, user, new_user):
    address, _password, account = user
    bob, bob_password = new_user()
    message = Message(account=account, folder=account.sent, subject='Quote 42',
                      body='Here is the quote.', to_recipients=[Mailbox(email_address=bob)],
                      cc_recipients=['outside@elsewhere.test'])
    message.send_and_save()
    [sent] = ews_server.store.contents(address, 'sentitems')
    [received] = ews_server.store.contents(bob, 'inbox')
    assert sent['subject'] == received['subject'] == 'Quote 42'
    assert sent['message_id'] == received['message_id'] and sent['message_id'].startswith('<')
    assert b'Here is the quote.' in received['mime'] and b'To: ' + bob.encode() in received['mime']
    bob_account = account_for(ews_server, bob, bob_password)
    [seen] = bob_account.inbox.all()
    assert seen.sender.email_address == address and seen.message_id == sent['message_id']
    assert seen.mime_content == received['mime']
    [copy] = account.sent.all()
    assert copy.sender.email_address == address and copy.is_read and not copy.is_draft


def test_send_only_keeps_no_copy_and_save_only_makes_a_draft(ews_server, user, new_user):
    address, _password, account = user
    bob, _bob_password = new_user()
    Message(account=account, subject='no copy', body='x', to_recipients=[bob]).send(save_copy=False)
    draft = Message(account=account, folder=account.drafts, subject='draft', body='y',
                    to_recipients=[bob])
    draft.save()
    assert [i['subject'] for i in ews_server.store.contents(bob)] == ['no copy']
    assert ews_server.store.contents(address, 'sentitems') == []
    assert [i['subject'] for i in ews_server.store.contents(address, 'drafts')] == ['draft']
    draft.subject = 'draft v2'
    draft.save(update_fields=['subject'])
    [fetched] = account.fetch(ids=[draft], only_fields=['mime_content'])
    assert b'Subject: draft v2' in fetched.mime_content
    draft.send()
    assert [i['subject'] for i in ews_server.store.contents(bob)] == ['no copy', 'draft v2']
    assert [i['subject'] for i in ews_server.store.contents(address, 'sentitems')] == ['draft v2']
    assert ews_server.store.contents(address, 'drafts') == []


def test_update_categories_and_conflicts(ews_server, user):
    address, _password, account = user
    item_id = ews_server.store.deliver(address, raw_email(subject='tag me'))
    [item] = account.inbox.all()
    item.categories = ['Odoo', 'Customer']
    item.save(update_fields=['categories'])
    assert ews_server.store.item(item_id)['categories'] == ['Odoo', 'Customer']
    item.categories = None
    item.subject, item.is_read = 'tagged', True
    item.save(update_fields=['categories', 'subject', 'is_read'])
    stored = ews_server.store.item(item_id)
    assert (stored['categories'], stored['subject'], stored['fields']['IsRead']) == (
        [], 'tagged', 'true')

    ews_server.store.add_category(item_id, 'Set in Outlook')  # the change key moves on
    item.categories = ['Mine']
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        item.save(update_fields=['categories'], conflict_resolution='NeverOverwrite')
    item.save(update_fields=['categories'], conflict_resolution='AlwaysOverwrite')
    assert ews_server.store.item(item_id)['categories'] == ['Mine']
    ews_server.store.set_fields(item_id, Subject='edited in Outlook')
    item.categories = ['Merged']
    item.save(update_fields=['categories'])  # exchangelib's default, AutoResolve, merges
    stored = ews_server.store.item(item_id)
    assert (stored['categories'], stored['subject']) == (['Merged'], 'edited in Outlook')


def test_move_and_delete(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    store.create_folder(address, 'Done', parent='inbox')
    for subject in ('to move', 'to trash', 'to delete'):
        store.deliver(address, raw_email(subject=subject))
    items = {i.subject: i for i in account.inbox.all()}
    old_id = items['to move'].id
    items['to move'].move(account.inbox / 'Done')
    items['to trash'].move_to_trash()
    items['to delete'].delete()
    assert store.contents(address) == []
    [moved] = store.contents(address, 'Done')
    assert moved['subject'] == 'to move' and moved['id'] == items['to move'].id != old_id
    assert [i['subject'] for i in store.contents(address, 'deleteditems')] == ['to trash']
    [missing] = account.fetch(ids=[(old_id, None)])
    assert isinstance(missing, ews_errors.ErrorItemNotFound)


def test_calendar_items_contacts_and_tasks(ews_server, user, new_user):
    address, _password, account = user
    bob, _bob_password = new_user()
    tz = exchangelib.EWSTimeZone('UTC')
    start = EWSDateTime(2026, 12, 1, 9, 0, tzinfo=tz)
    quiet = CalendarItem(account=account, folder=account.calendar, subject='Alone', start=start,
                         end=start + datetime.timedelta(hours=1), required_attendees=[bob])
    quiet.save(send_meeting_invitations=SEND_TO_NONE)
    meeting = CalendarItem(account=account, folder=account.calendar, subject='Kick-off',
                           start=start, end=start + datetime.timedelta(hours=1),
                           location='Room 1', required_attendees=[bob])
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    Contact(account=account, folder=account.contacts, display_name='Ada Lovelace', given_name='Ada',
            surname='Lovelace',
            email_addresses=[EmailAddress(email='ada@example.test')]).save()
    Task(account=account, folder=account.tasks, subject='Call Ada').save()

    assert sorted(i.subject for i in account.calendar.all()) == ['Alone', 'Kick-off']
    assert [i.subject for i in account.calendar.view(start=start - datetime.timedelta(days=1),
                                                     end=start)] == []
    assert sorted(i.subject for i in account.calendar.view(
        start=start, end=start + datetime.timedelta(minutes=1))) == ['Alone', 'Kick-off']
    with pytest.raises(ews_errors.ErrorInvalidOperation):  # response objects are not served
        account.calendar.all()[0].accept()
    [invite] = ews_server.store.contents(bob)
    assert invite['kind'] == 'MeetingRequest' and invite['subject'] == 'Kick-off'
    assert [i['kind'] for i in ews_server.store.contents(address, 'sentitems')] == ['MeetingRequest']
    [contact] = account.contacts.all()
    assert (contact.given_name, contact.email_addresses[0].email) == ('Ada', 'ada@example.test')
    [task] = account.tasks.all()
    assert task.subject == 'Call Ada'
    bob_invite = account_for(ews_server, bob, _bob_password).inbox.all()[0]
    assert isinstance(bob_invite, MeetingRequest) and bob_invite.location == 'Room 1'


def test_items_created_through_the_store_are_seen_by_exchangelib(ews_server, user):
    address, _password, account = user
    store = ews_server.store
    store.create(address, 'calendar', 'CalendarItem', Subject='Dentist',
                 Start='2026-12-02T08:00:00Z', End='2026-12-02T09:00:00Z')
    store.create(address, 'contacts', 'Contact', GivenName='Grace', Surname='Hopper')
    store.create(address, 'tasks', 'Task', Subject='Renew passport')
    [event] = account.calendar.all()
    assert event.subject == 'Dentist' and event.start.hour == 8
    assert account.contacts.all()[0].given_name == 'Grace'
    assert account.tasks.all()[0].subject == 'Renew passport'


# -- autodiscover -----------------------------------------------------------------

def test_autodiscover_finds_the_ews_url(ews_server, new_user, trust_test_ca):
    address, password = new_user()
    ews_server.store.deliver(address, raw_email())
    with ews_server.autodiscover.client_settings():
        account = Account(address, credentials=Credentials(address, password), autodiscover=True,
                          access_type=DELEGATE)
        assert account.protocol.service_endpoint == ews_server.url
        assert account.ad_response.autodiscover_smtp_address == address
        assert account.inbox.total_count == 1
    asked = [name for name, _type in ews_server.dns.queries]
    assert asked.index('example.test') < asked.index('autodiscover.example.test')


def test_autodiscover_of_an_unknown_address(ews_server, new_user, trust_test_ca):
    address, password = new_user()
    with ews_server.autodiscover.client_settings():
        with pytest.raises(ews_errors.ErrorNonExistentMailbox):
            Account('nobody-%s@example.test' % _RUN, credentials=Credentials(address, password),
                    autodiscover=True, access_type=DELEGATE)


# -- errors ----------------------------------------------------------------------

def test_server_busy_carries_the_back_off(ews_server, user):
    address, _password, account = user
    inbox = account.inbox
    ews_server.inject('SyncFolderItems', 'ErrorServerBusy', back_off_ms=30000, times=1)
    with pytest.raises(ews_errors.ErrorServerBusy) as info:
        list(inbox.sync_items())
    assert info.value.back_off == 30
    assert list(inbox.sync_items()) == []  # injected once only


def test_injected_item_errors(ews_server, user):
    address, _password, account = user
    item_id = ews_server.store.deliver(address, raw_email())
    ews_server.inject('GetItem', 'ErrorItemNotFound')
    [result] = account.fetch(ids=[(item_id, None)])  # exchangelib returns this one per item
    assert isinstance(result, ews_errors.ErrorItemNotFound)
    ews_server.inject('GetItem', 'ErrorAccessDenied')
    with pytest.raises(ews_errors.ErrorAccessDenied):  # and raises that one
        list(account.fetch(ids=[(item_id, None)]))
    [again] = account.fetch(ids=[(item_id, None)])
    assert again.id == item_id


def test_another_users_mailbox_is_access_denied(ews_server, new_user, trust_test_ca):
    address, password = new_user()
    other, _other_password = new_user()
    account = account_for(ews_server, address, password, primary=other)
    with pytest.raises(ews_errors.ErrorAccessDenied):
        account.inbox


def test_impersonation_allowed_and_denied(ews_server, new_user, trust_test_ca):
    service, service_password = new_user(impersonation=True)
    plain, plain_password = new_user()
    target, _target_password = new_user()
    ews_server.store.deliver(target, raw_email(subject='for the target'))
    account = account_for(ews_server, service, service_password, primary=target,
                          access_type=IMPERSONATION)
    assert [i.subject for i in account.inbox.all()] == ['for the target']
    assert any(c.user == service and c.impersonate == target for c in ews_server.calls)
    denied = account_for(ews_server, plain, plain_password, primary=target,
                         access_type=IMPERSONATION)
    with pytest.raises(ews_errors.ErrorImpersonateUserDenied):
        denied.inbox


# -- the endpoint as a process of its own ----------------------------------------------

def test_endpoint_runs_as_a_subprocess(tmp_path, trust_test_ca, ews_server):
    from devstack.ews.control import RemoteEwsServer
    from devstack.procs import port_open
    remote = RemoteEwsServer.spawn(ews_server.certs_dir, str(tmp_path / 'ews.log'))
    try:
        remote.add_account('far@example.test', 'far-pw')
        raw = raw_email(subject='across processes')
        item_id = remote.store.deliver('far@example.test', raw)
        account = account_for(remote, 'far@example.test', 'far-pw', auth_type=NTLM)
        [item] = account.inbox.all().only('mime_content')
        assert item.mime_content == raw and item.id == item_id
        assert remote.store.item(item_id)['mime'] == raw
        assert ('GetItem', 'far@example.test', None, 'NTLM') in remote.calls
        with pytest.raises(RuntimeError):
            remote.store.deliver('nobody@example.test', raw)
    finally:
        remote.stop()
    assert remote.proc.returncode == 0
    assert not port_open(int(remote.url.split(':')[2].split('/')[0]))


# -- our connector (sync/ews.py) ---------------------------------------------------

def _connector(server, address, password, **kwargs):
    settings = EwsSettings(address, ews_url=server.url, timeout=10, cafile=server.certs['ca'],
                           **kwargs)
    return EwsConnector(settings, OurCredentials(address, password))


@pytest.mark.parametrize('auth_type', ['basic', 'ntlm'])
def test_connector_check_succeeds(ews_server, new_user, auth_type):
    address, password = new_user()
    ews_server.store.deliver(address, raw_email())
    connector = _connector(ews_server, address, password, auth_type=auth_type)
    try:
        assert connector.check() == {'messages': 1, 'url': ews_server.url}
    finally:
        connector.close()


def test_connector_check_with_autodiscover(ews_server, new_user):
    address, password = new_user()
    settings = EwsSettings(address, autodiscover=True, timeout=10, cafile=ews_server.certs['ca'])
    connector = EwsConnector(settings, OurCredentials(address, password))
    with ews_server.autodiscover.client_settings():
        try:
            assert connector.check() == {'messages': 0, 'url': ews_server.url}
        finally:
            connector.close()


def test_connector_maps_errors(ews_server, new_user):
    address, password = new_user()
    target, _target_password = new_user()
    with pytest.raises(AuthError) as info:
        _connector(ews_server, address, 'wrong').check()
    assert info.value.code == 'auth_failed'
    with pytest.raises(AuthError) as info:
        _connector(ews_server, address, password, impersonate=True).check()
    assert info.value.code == 'impersonation_denied'
    ews_server.inject('GetFolder', 'ErrorServerBusy', back_off_ms=45000)
    with pytest.raises(TransientError) as info:
        _connector(ews_server, address, password).check()
    assert info.value.retry_after == 45
    with pytest.raises(AuthError) as info:
        settings = EwsSettings(target, ews_url=ews_server.url, timeout=10,
                               cafile=ews_server.certs['ca'])
        EwsConnector(settings, OurCredentials(address, password)).check()
    assert info.value.code == 'access_denied'
    other, other_password = new_user()  # exchangelib caches a protocol per URL and login
    with pytest.raises(ConfigError) as info:  # the system CAs do not know our test CA
        settings = EwsSettings(other, ews_url=ews_server.url, timeout=10)
        EwsConnector(settings, OurCredentials(other, other_password)).check()
    assert info.value.code == 'tls_untrusted'


def test_sync_items_come_newest_first_and_paging_stays_exact_across_a_run(ews_server, user):
    """Exchange 2010 SP2 and later send SyncFolderItems changes newest first (see
    devstack/ews/operations/sync.py); every change still comes exactly once: an item sent in
    an earlier page of the same run and changed since comes again as an update, one not yet
    sent comes once as a create, and nothing already sent repeats."""
    address, _password, account = user
    store = ews_server.store
    ids = [store.deliver(address, raw_email(subject='mail %d' % n)) for n in range(4)]
    inbox = account.inbox
    page = inbox.sync_items(only_fields=['subject'], max_changes_returned=2)
    assert [(k, i.subject) for k, i in itertools.islice(page, 2)] == [('create', 'mail 3'), ('create', 'mail 2')]
    store.set_fields(ids[3], Subject='mail 3, edited')
    store.set_fields(ids[0], Subject='mail 0, edited')
    assert [(k, i.subject) for k, i in page] == [
        ('create', 'mail 0, edited'), ('update', 'mail 3, edited'), ('create', 'mail 1')]
    store.set_fields(ids[1], Subject='mail 1, edited')
    store.set_fields(ids[2], Subject='mail 2, edited')
    assert _sync(inbox, max_changes_returned=1) == [('update', 'mail 2, edited'), ('update', 'mail 1, edited')]
    assert _sync(inbox, max_changes_returned=1) == []
