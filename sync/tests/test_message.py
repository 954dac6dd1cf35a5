"""RemoteMessage on a corpus of malformed and hostile messages: best effort, never raises."""
import doctest

from .. import message as message_module
from ..message import RemoteMessage

CORPUS = {
    'no_message_id': b'From: a@example.test\r\nSubject: none\r\n\r\nbody\r\n',
    'eight_bit_headers': b'From: J\xfcrgen <j@example.test>\r\nSubject: Gr\xfc\xdfe \xe2\x82\xac\r\n\r\nx\r\n',
    'bad_encoded_word': b'Subject: =?x-unknown?q?abc?= =?utf-8?b?!!!?=\r\nFrom: <a@b>\r\n\r\nx\r\n',
    'no_headers_at_all': b'just some bytes without any header\r\n',
    'broken_mime': (b'Content-Type: multipart/mixed; boundary="never-closed"\r\n'
                    b'Subject: broken\r\n\r\n--never-closed\r\nContent-Type: text/plain; '
                    b'charset=no-such-charset\r\n\r\nhello\r\n'),
    'nested': (b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n'
               b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
               b'Content-Type: text/plain\r\n\r\ninner text\r\n--b--\r\n--a--\r\n'),
    'lf_only': b'Subject: unix\nMessage-ID: <lf@example.test>\n\nbody\n',
    'bad_date': b'Date: the day after tomorrow\r\nSubject: x\r\n\r\nx\r\n',
}


def test_doctests():
    failures, tried = doctest.testmod(message_module)
    assert tried and not failures


def test_corpus_never_raises():
    for name, raw in CORPUS.items():
        msg = RemoteMessage(raw)
        assert msg.message_id.startswith('<') and msg.message_id.endswith('>'), name
        assert all(isinstance(ref, str) for ref in msg.references), name
        assert [type(part) for part in msg.sender] == [str, str], name
        assert all(isinstance(address, str) for address in msg.recipients), name
        assert isinstance(msg.subject, str) and isinstance(msg.preview(), str), name
        assert msg.date is None or msg.date.tzinfo is not None, name


def test_missing_message_id_is_stable_and_distinct():
    a = RemoteMessage(CORPUS['no_message_id'])
    again = RemoteMessage(bytes(CORPUS['no_message_id']))
    other = RemoteMessage(CORPUS['no_message_id'] + b'more\r\n')
    assert a.message_id == again.message_id != other.message_id


def test_specific_values():
    assert RemoteMessage(CORPUS['eight_bit_headers']).sender[1] == 'j@example.test'
    assert RemoteMessage(CORPUS['lf_only']).message_id == '<lf@example.test>'
    assert RemoteMessage(CORPUS['lf_only']).subject == 'unix'
    assert RemoteMessage(CORPUS['bad_date']).date is None
    assert RemoteMessage(CORPUS['nested']).preview() == 'inner text'
    assert RemoteMessage(CORPUS['broken_mime']).preview() == 'hello'


def test_references_order_and_dedup():
    raw = (b'In-Reply-To: <c@x>\r\nReferences: <a@x> <b@x>\r\n <c@x>\r\n\r\n')
    assert RemoteMessage(raw).references == ['<c@x>', '<b@x>', '<a@x>']


def test_headers_of_a_huge_message_read_only_the_header_block():
    raw = b'Subject: big\r\nMessage-ID: <big@x>\r\n\r\n' + b'A' * (30 * 1024 * 1024)
    msg = RemoteMessage(raw)
    assert (msg.subject, msg.message_id, msg.size) == ('big', '<big@x>', len(raw))
