"""An Exchange that throttles from its budget (devstack/ews/throttle.py: MIME costs time
in proportion to its size and is charged to the caller's budget; a spent budget answers
ErrorServerBusy with BackOffMilliseconds): the mailbox waits as long as it was asked,
keeps every chunk fetched before the refusal, is never suspended for throttling alone,
and once the budget is back fetches only what is left, never the whole page again."""
import datetime

from .test_ews_chunks import ChunkedEwsCase
from .test_ews_incoming import ews_on_class  # noqa: F401 (fixture)
from .test_incoming import raw_mail


class TestEwsBudget(ChunkedEwsCase):

    def setUp(self):
        super(TestEwsBudget, self).setUp()
        self.addCleanup(self.ews.throttle.reset)

    def deliver(self, number, size=5000):
        raw = raw_mail('Someone <someone@unknown.test>', 'Mail %d' % number, '<budget-%d@chunks.test>' % number)
        return self.ews.store.deliver(self.box.email, raw + b'x' * (size - len(raw)))

    def ledger(self):
        return len(self.env['mail.sync.ledger'].search([('mailbox_id', '=', self.box.id)]))

    def get_items_since(self, before):
        return self.calls(self.box.email)[before:].count('GetItem')

    def test_a_spent_budget_is_waited_out_as_asked_keeping_each_chunk_and_never_suspending(self):
        for number in range(7):
            self.deliver(number)
        # Only MIME costs here: 2 s per MB, so the first chunk (3 x 5 KB, ~29 ms) spends the
        # 20 ms budget, which recharges at 36 ms an hour: the next request is told to wait
        # the best part of an hour.
        self.ews.throttle.reset(max_burst_ms=20, recharge_ms_per_hour=36, request_ms=0, mime_ms_per_mb=2000)
        since = datetime.datetime.utcnow()
        self.assertIsNone(self.box._run_incoming_cycle(), 'the cycle was refused')
        [(caller, code, back_off_ms)] = self.ews.throttle.refusals
        self.assertEqual((caller, code), (self.box.email, 'ErrorServerBusy'))
        self.assertGreater(back_off_ms, 10 * 60 * 1000)
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures, self.ledger()), ('retrying', 1, 3),
                         'the first chunk is kept')
        self.assertScheduledIn(self.box.next_sync, back_off_ms / 60000.0, since - datetime.timedelta(seconds=1))
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'server_busy')])
        self.assertEqual(len(log), 1)
        # Throttled again and again, past the number of failures that suspends a mailbox:
        # still only waiting, as asked.
        self.env['ir.config_parameter'].sudo().set_param('mail_sync.max_transient_failures', 2)
        for _cycle in range(3):
            self.assertIsNone(self.box._run_incoming_cycle())
        self.assertEqual([code for _caller, code, _ms in self.ews.throttle.refusals], ['ErrorServerBusy'] * 4)
        self.assertEqual((self.box.state, self.box.incoming_status, self.box.incoming_failures),
                         ('enabled', 'retrying', 4))
        # The budget is back: only the 4 items left are fetched (a chunk of 3, then 1).
        self.ews.throttle.reset()
        before = len(self.calls(self.box.email))
        stats = self.box._run_incoming_cycle()
        self.assertEqual((sum(stats[key] for key in ('imported', 'linked', 'indexed', 'quarantined')),
                          stats['remaining']), (4, 0))
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('ok', 0))
        self.assertEqual(self.get_items_since(before), 2)
        self.assertEqual(self.ledger(), 7)
