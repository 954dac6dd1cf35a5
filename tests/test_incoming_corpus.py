"""A hostile corpus delivered to the real Dovecot and synced by one cycle: every message
is imported, linked or quarantined, and the cycle itself never fails."""
from odoo.addons.mail_sync.sync.message import RemoteMessage
from odoo.addons.mail_sync.sync.tests.test_message import CORPUS

from .common import MailSyncCase

HUGE_MB = 30


def _as_reply(raw, thread_id, number):
    """Make a corpus message a reply to an Odoo thread, so that it is tracked if readable."""
    return b'In-Reply-To: ' + thread_id.encode() + b'\r\nX-Corpus: ' + str(number).encode() + b'\r\n' + raw


class TestIncomingCorpus(MailSyncCase):

    def test_hostile_corpus_never_stops_the_cycle(self):
        server = self.make_server('imap', 'none')
        rep = self.make_user('rep')
        rep.mail_sync_track = 'all'
        box = self.make_mailbox(rep, server)
        box.sudo(self.manager).action_test_enable()
        thread = self.env['res.partner'].create({'name': 'Corpus'}).message_post(body='Hello')
        names = sorted(CORPUS, key=CORPUS.get)
        raws = [_as_reply(CORPUS[name], thread.message_id, n) for n, name in enumerate(names)]
        twins = [b'Message-ID: <twin@corpus.test>\r\nIn-Reply-To: %s\r\nSubject: twin %d\r\n\r\nbody %d\r\n'
                 % (thread.message_id.encode(), n, n) for n in range(2)]
        huge = (b'Message-ID: <huge@corpus.test>\r\nIn-Reply-To: ' + thread.message_id.encode() +
                b'\r\nSubject: plans\r\nContent-Type: application/octet-stream\r\n'
                b'Content-Transfer-Encoding: base64\r\n\r\n' +
                (b'QUJD' * 19 + b'\r\n') * (HUGE_MB * 1024 * 1024 // 78))
        self.servers.dovecot.append_many(box.login, raws + twins + [huge])
        box._run_incoming_cycle()
        self.assertEqual((box.incoming_status, box.incoming_failures), ('ok', 0))
        rows = box.ledger_ids
        self.assertEqual(len(rows), len(raws) + 3)
        twin_rows = rows.filtered(lambda r: r.message_id == '<twin@corpus.test>').sorted('uid')
        self.assertEqual(twin_rows.mapped('state'), ['imported', 'linked'], twin_rows.mapped('error'))
        self.assertEqual(self.env['mail.message'].search_count([('message_id', '=', '<twin@corpus.test>')]), 1)
        big = rows.filtered(lambda r: r.message_id == '<huge@corpus.test>')
        self.assertEqual(big.state, 'quarantined')
        self.assertIn('maximum email size', big.error)
        # Each hostile message is readable enough to be tracked as the reply it is, once.
        by_name = {name: rows.filtered(lambda r, raw=raw: r.message_id == RemoteMessage(raw).message_id)
                   for name, raw in zip(names, raws)}
        self.assertEqual({name: row.mapped('state') for name, row in by_name.items()},
                         dict.fromkeys(names, ['imported']), rows.mapped('error'))
        for name, row in by_name.items():
            self.assertEqual((row.track_reason, row.mail_message_id.message_id, row.mail_message_id.res_id),
                             ('reply', row.message_id, thread.res_id), name)
        self.assertEqual(sum(box._sync_incoming().values()), 0, 'nothing is fetched twice')
