"""Incremental reading of IMAP folders and POP3 mailboxes from the real Dovecot."""
import datetime
import imaplib

import pytest

from ..endpoint import Credentials, Endpoint
from ..errors import AuthError
from ..imap import ImapConnector, size_batches, uid_set
from ..pop3 import Pop3Connector


def _raw(n):
    return (b'From: Customer %d <c%d@example.test>\r\nTo: rep@example.test\r\n'
            b'Subject: Message %d\r\nMessage-ID: <m%d@example.test>\r\n\r\n'
            b'..starts with a dot\r\nBody %d\r\n' % (n, n, n, n, n))


@pytest.fixture
def mailbox(mail_servers):
    login, password = mail_servers.new_account()
    for n in range(1, 4):
        mail_servers.dovecot.append(login, _raw(n))
    return login, Credentials(login, password)


def _imap(mail_servers, creds):
    return ImapConnector(Endpoint('127.0.0.1', mail_servers.dovecot.ports['imap'], 'none', 10), creds)


def test_imap_reads_new_uids_without_touching_flags(mail_servers, mailbox):
    login, creds = mailbox
    conn = _imap(mail_servers, creds)
    try:
        state = conn.select_folder('INBOX')
        assert state.exists == 3 and state.uidvalidity > 0 and state.uidnext == 4
        assert conn.search_uids(0) == [1, 2, 3]
        assert conn.search_uids(2) == [3]
        assert conn.search_uids(3) == []  # "4:*" matches UID 3 on the wire: filtered out
        messages = list(conn.fetch([1, 3], batch=1))
        assert [(m.uid, m.message_id, m.folder) for m in messages] == [
            (1, '<m1@example.test>', 'INBOX'), (3, '<m3@example.test>', 'INBOX')]
        assert messages[1].raw == _raw(3)
        assert messages[1].size == len(_raw(3))
        assert messages[1].internal_date
    finally:
        conn.close()
    check = mail_servers.dovecot.imap(login)
    try:
        check.select('INBOX', readonly=True)
        typ, data = check.fetch('1:3', '(FLAGS)')
        assert all(b'\\Seen' not in line for line in data), data
    finally:
        check.logout()


def test_imap_since_bounds_the_first_sync(mail_servers, mailbox):
    login, creds = mailbox
    client = mail_servers.dovecot.imap(login)
    old = imaplib.Time2Internaldate(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    client.append('INBOX', '', old, _raw(9))
    client.logout()
    conn = _imap(mail_servers, creds)
    try:
        conn.select_folder('INBOX')
        since = datetime.date.today() - datetime.timedelta(days=1)
        assert conn.search_uids(0, since=since) == [1, 2, 3]
        assert conn.search_uids(0) == [1, 2, 3, 4]
    finally:
        conn.close()


def test_recreated_folder_gets_a_new_uidvalidity(mail_servers, mailbox):
    login, creds = mailbox
    mail_servers.dovecot.append(login, _raw(5), folder='Projects')
    conn = _imap(mail_servers, creds)
    try:
        first = conn.select_folder('Projects').uidvalidity
    finally:
        conn.close()
    client = mail_servers.dovecot.imap(login)
    client.delete('Projects')
    client.logout()
    mail_servers.dovecot.append(login, _raw(5), folder='Projects')
    conn = _imap(mail_servers, creds)
    try:
        state = conn.select_folder('Projects')
        assert state.uidvalidity != first
        assert [m.message_id for m in conn.fetch(conn.search_uids(0), folder='Projects')] == [
            '<m5@example.test>']
    finally:
        conn.close()


def test_pop3_lists_uidls_and_retrieves_exact_bytes(mail_servers, mailbox):
    _login, creds = mailbox
    conn = Pop3Connector(Endpoint('127.0.0.1', mail_servers.dovecot.ports['pop3'], 'none', 10), creds)
    try:
        uidls = conn.list_uidls()
        assert len(uidls) == 3 and sorted(uidls.values()) == [1, 2, 3]
        uidl, number = sorted(uidls.items(), key=lambda item: item[1])[1]
        message = conn.retrieve(number, uidl)
        assert message.raw == _raw(2) and message.uidl == uidl
    finally:
        conn.close()
    # Mail stays on the server, UIDLs are stable across sessions.
    conn = Pop3Connector(Endpoint('127.0.0.1', mail_servers.dovecot.ports['pop3'], 'none', 10), creds)
    try:
        assert conn.list_uidls() == uidls
    finally:
        conn.close()


def test_login_and_status_travel_together(mail_servers, mailbox):
    login, creds = mailbox
    conn = _imap(mail_servers, creds)
    writes = []
    original = ImapConnector._login

    def spy(self, client, pipelined=()):
        client.send = _recording(client.send, writes)
        return original(self, client, pipelined)
    ImapConnector._login = spy
    try:
        states = conn.status(['INBOX', 'Sent', 'Nonexistent'])
    finally:
        ImapConnector._login = original
        conn.close()
    # One write for the login and the three STATUS (one round trip), then LOGOUT (not awaited).
    assert len(writes) == 2 and b'AUTHENTICATE PLAIN ' in writes[0] and writes[0].count(b'STATUS') == 3
    assert writes[1].endswith(b' LOGOUT\r\n')
    inbox = states['INBOX']
    assert (inbox.uidnext, inbox.uidvalidity > 0) == (4, True)
    assert states['Sent'].uidnext == 1
    assert states['Nonexistent'] is None


def _recording(send, writes):
    def send_and_record(data):
        writes.append(data)
        return send(data)
    return send_and_record


def test_pipelined_login_with_a_wrong_password_is_an_auth_error(mail_servers, mailbox):
    login, creds = mailbox
    conn = _imap(mail_servers, Credentials(login, 'not-the-password'))
    with pytest.raises(AuthError):
        conn.status(['INBOX'])
    assert conn.client is None


def test_sizes_are_listed_before_bodies_and_batches_are_bounded(mail_servers, mailbox):
    login, creds = mailbox
    conn = _imap(mail_servers, creds)
    try:
        conn.select_folder('INBOX')
        listed = conn.list_new(1)
        assert [(item.uid, item.size) for item in listed] == [(2, len(_raw(2))), (3, len(_raw(3)))]
        assert conn.list_new(3) == []
        header = conn.fetch_header(2)
        assert header.truncated and header.message_id == '<m2@example.test>'
        assert b'Body 2' not in header.raw and header.size == len(_raw(2))
        assert conn.find_sent_folder() == 'Sent'
    finally:
        conn.close()
    batches = list(size_batches(listed * 3, limit_bytes=len(_raw(2)) * 2 + 1, limit_count=50))
    assert [len(batch) for batch in batches] == [2, 2, 2]
    assert uid_set([5, 1, 2, 3, 9]) == '1:3,5,9'


def _long_line_raw():
    return (b'From: Wide <wide@example.test>\r\nTo: rep@example.test\r\nSubject: One long line\r\n'
            b'Message-ID: <wide@example.test>\r\n\r\n' + b'x' * (70 * 1024) + b'\r\n'
            b'..dot-stuffed line\r\n.\r\nlast line\r\n')


def _pop3(mail_servers, creds):
    return Pop3Connector(Endpoint('127.0.0.1', mail_servers.dovecot.ports['pop3'], 'none', 10), creds)


def test_pop3_reads_lines_over_64_kib_and_leaves_mail_unread(mail_servers):
    """poplib refuses lines over 2,048 bytes ("line too long"); RETR would also mark the
    message read in Dovecot. Our reader takes any line length and reads with TOP."""
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append(login, _long_line_raw())
    mail_servers.dovecot.append(login, _raw(1))
    conn = _pop3(mail_servers, Credentials(login, password))
    try:
        uidls = conn.list_uidls()
        sizes = conn.list_sizes()
        assert sorted(sizes) == [1, 2] and sizes[1] == len(_long_line_raw())
        by_number = {number: uidl for uidl, number in uidls.items()}
        wide = conn.retrieve(1, by_number[1], sizes[1])
        assert wide.raw == _long_line_raw() and wide.size == sizes[1] and not wide.truncated
        assert conn.retrieve(2, by_number[2]).raw == _raw(1)  # size looked up by LIST n
        header = conn.fetch_header(1, by_number[1], sizes[1])
        assert header.truncated and header.size == sizes[1]
        assert header.raw == _long_line_raw().split(b'\r\n\r\n')[0] + b'\r\n\r\n'
        assert header.message_id == '<wide@example.test>'
    finally:
        conn.close()  # QUIT: Dovecot applies \Seen of RETR'd messages here
    client = mail_servers.dovecot.imap(login)
    try:
        client.select('INBOX', readonly=True)
        typ, data = client.fetch('1:*', '(FLAGS)')
        assert typ == 'OK' and all(b'\\Seen' not in line for line in data), data
    finally:
        client.logout()
