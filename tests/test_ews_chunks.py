"""MimeContent in small chunks: a page of Exchange email is fetched a few items (and a few
MB) per GetItem, a large item alone, and each chunk commits, so that a fetch that fails
in the middle of a page keeps what came before it and the next cycle fetches only the rest."""
from odoo.addons.mail_sync.models import mail_sync_mailbox_ews
from .test_ews_incoming import EwsCase, ews_on_class  # noqa: F401 (fixture)
from .test_incoming import raw_mail


class ChunkedEwsCase(EwsCase):
    """An enabled Exchange mailbox whose MIME is fetched in chunks of 3 items or 20 kB."""

    def setUp(self):
        super(ChunkedEwsCase, self).setUp()
        self.server = self.make_ews_server()
        self.box = self.make_ews_mailbox(self.make_user('rep'), self.server)
        self.box.sudo(self.manager).action_test_enable()
        for name, value in (('MIME_CHUNK_ITEMS', 3), ('MIME_CHUNK_BYTES', 20000)):
            self.addCleanup(setattr, mail_sync_mailbox_ews, name, getattr(mail_sync_mailbox_ews, name))
            setattr(mail_sync_mailbox_ews, name, value)


class TestEwsChunks(ChunkedEwsCase):

    def deliver(self, tag, number, size=5000):
        raw = raw_mail('Someone <someone@unknown.test>', 'Mail %d' % number, '<%s-%d@chunks.test>' % (tag, number))
        return self.ews.store.deliver(self.box.email, raw + b'x' * (size - len(raw)))

    def ledger(self, tag):
        rows = self.env['mail.sync.ledger'].search([('mailbox_id', '=', self.box.id)])
        return sorted(rows.mapped('message_id')), len(rows)

    def expected(self, tag, count):
        return sorted('<%s-%d@chunks.test>' % (tag, n) for n in range(count)), count

    def get_items_since(self, before):
        return self.calls(self.box.email)[before:].count('GetItem')

    def test_mime_is_fetched_a_few_items_at_a_time_and_a_large_item_alone(self):
        for number in range(8):
            self.deliver('c', number, size=30000 if number == 4 else 5000)
        before = len(self.calls(self.box.email))
        stats = self.box._run_incoming_cycle()
        self.assertEqual(stats['remaining'], 0)
        # 0-2 (three items), 3 (the large one follows: over 20 KB together), 4 (alone), 5-7.
        self.assertEqual(self.get_items_since(before), 4)
        self.assertEqual(self.ledger('c'), self.expected('c', 8))

    def test_a_fetch_that_fails_in_the_middle_of_a_page_keeps_the_chunks_before_it(self):
        for number in range(7):
            self.deliver('f', number)
        self.ews.inject('GetItem', 'ErrorServerBusy', back_off_ms=1000, after=1)  # the second chunk
        self.assertIsNone(self.box._run_incoming_cycle(), 'the cycle failed')
        self.assertEqual((self.box.incoming_status, self.ledger('f')[1]), ('retrying', 3))
        before = len(self.calls(self.box.email))
        self.box._run_incoming_cycle()
        self.assertEqual(self.box.incoming_status, 'ok')
        self.assertEqual(self.get_items_since(before), 2, 'only the 4 items left: 3 + 1')
        self.assertEqual(self.ledger('f'), self.expected('f', 7))

    def test_a_server_that_charges_by_mime_size_is_not_asked_for_too_much_at_once(self):
        """Exchange throttles a request by the work it causes: one GetItem for a whole page of
        MIME is refused (ErrorServerBusy) every cycle; chunks stay within its budget."""
        self.addCleanup(setattr, self.ews, 'mime_budget', None)
        self.ews.mime_budget = 3 * 5000 + 1000  # a chunk of three 5 KB items, not four
        for number in range(10):
            self.deliver('b', number)
        self.box._run_incoming_cycle()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('ok', 0))
        self.assertEqual(self.ledger('b'), self.expected('b', 10))
