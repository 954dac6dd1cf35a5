"""The incoming cron: claiming, adaptive schedule, failures, Sync Now."""
import datetime

from odoo.exceptions import AccessError

from odoo.addons.mail_sync.sync.errors import TransientError

from devstack.procs import free_port

from ..models.mail_sync_mailbox_scheduler import CLAIM_CLASS
from .common import MailSyncCase
from .test_incoming import raw_mail


class TestIncomingCron(MailSyncCase):

    def setUp(self):
        super(TestIncomingCron, self).setUp()
        self.server = self.make_server('imap', 'none', interval_min=2, interval_default=5, interval_max=12)
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        # Only this test's mailbox is due.
        self.Mailbox.search([('id', '!=', self.box.id)]).write({'next_sync': '2999-01-01 00:00:00'})

    def deliver(self, n=1):
        for i in range(n):
            self.servers.dovecot.append(self.box.login, raw_mail('X <x@unknown.test>', 'Hi %d' % i))

    def assertNextIn(self, minutes, since, box=None):
        self.assertScheduledIn((box or self.box).next_sync, minutes, since)

    def test_cron_syncs_due_mailbox_and_adapts_its_interval(self):
        self.deliver(2)
        since = datetime.datetime.utcnow()
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 1)
        self.assertEqual(len(self.box.ledger_ids), 2)
        self.assertEqual(self.box.sync_interval, self.server.interval_min)
        self.assertNextIn(2, since)
        # Not due any more: the next run leaves it alone.
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 0)
        # Idle cycles back off towards the maximum.
        intervals = []
        for _ in range(5):
            self.box.sudo().next_sync = False
            self.Mailbox._cron_sync_incoming()
            intervals.append(self.box.sync_interval)
        self.assertEqual(intervals, [3, 4, 6, 9, 12])

    def test_mailbox_locked_by_another_worker_is_skipped(self):
        self.deliver()
        with self.registry.cursor() as other:
            other.execute('SELECT pg_try_advisory_lock(%s, %s)', [CLAIM_CLASS['incoming'], self.box.id])
            self.assertTrue(other.fetchone()[0])
            self.assertEqual(self.Mailbox._cron_sync_incoming(), 0)
            self.assertFalse(self.box.ledger_ids)
            other.execute('SELECT pg_advisory_unlock(%s, %s)', [CLAIM_CLASS['incoming'], self.box.id])
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 1)
        self.assertEqual(len(self.box.ledger_ids), 1)

    def test_unapproved_or_disabled_mailboxes_are_not_synced(self):
        self.deliver()
        self.box.approved = False
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 0)
        self.box.approved = True
        self.box.sudo(self.manager).action_disable()
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 0)
        self.assertFalse(self.box.ledger_ids)

    def test_wrong_password_suspends_and_tells_the_user(self):
        # The stored password stops working (as when it changes on the server): no manager
        # edit, which would put the mailbox back to "needs testing".
        self.box.sudo(self.manager).with_context(mail_sync_keep_state=True).password = 'changed-on-the-server'
        self.Mailbox._cron_sync_incoming()
        self.assertEqual((self.box.state, self.box.incoming_status), ('enabled', 'suspended'))
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'auth_failed')])
        self.assertEqual(log.error_class, 'permanent')
        note = self.box.message_ids.filtered(lambda m: self.rep.partner_id in m.partner_ids)
        self.assertEqual(len(note), 1)
        self.assertIn('suspended', note.body)
        self.assertEqual(self.Mailbox._cron_sync_incoming(), 0)

    def test_dead_server_backs_off_and_resumes(self):
        self.deliver()
        port = self.server.incoming_port
        self.server.incoming_port = free_port()
        since = datetime.datetime.utcnow()
        self.Mailbox._cron_sync_incoming()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('retrying', 1))
        self.assertNextIn(2, since)
        self.box.sudo().next_sync = False
        since = datetime.datetime.utcnow()
        self.Mailbox._cron_sync_incoming()
        self.assertEqual(self.box.incoming_failures, 2)
        self.assertNextIn(4, since)
        self.server.incoming_port = port
        self.box.sudo().next_sync = False
        self.Mailbox._cron_sync_incoming()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures, len(self.box.ledger_ids)),
                         ('ok', 0, 1))
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'connection_refused')])
        self.assertEqual((log.count, log.resolved), (2, True))

    def test_sync_now_for_owner_and_manager_only(self):
        self.deliver()
        self.box.sudo(self.rep).action_sync_now()
        self.assertFalse(self.box.ledger_ids, 'a job syncs, not the request')
        self.assertIn('synced', self.box._job_cycle('incoming'))
        self.assertEqual(len(self.box.ledger_ids), 1)
        stranger = self.make_user('stranger')
        with self.assertRaises(AccessError):
            self.box.sudo(stranger).action_sync_now()

    def test_default_intervals_poll_a_quiet_mailbox_every_minute(self):
        server = self.make_server('imap', 'none')
        box = self.make_mailbox(self.make_user('quiet'), server)
        box.sudo(self.manager).action_test_enable()
        box.sudo(self.manager).action_approve()
        box.sudo().next_sync = False
        minutes = []
        for _ in range(3):
            self.Mailbox._cron_sync('incoming', mailbox_ids=box.ids)
            minutes.append(box.sync_interval)
            box.sudo().next_sync = False
        self.assertEqual(minutes, [1, 1, 1])
        # A failing server still backs off beyond the polling interval.
        for _ in range(4):
            since = datetime.datetime.utcnow()
            box._channel_failed('incoming', TransientError('timeout', 'no answer'))
        self.assertNextIn(8, since, box)

    def test_server_asked_delay_is_honoured(self):
        since = datetime.datetime.utcnow()
        self.box._channel_failed('incoming', TransientError('server_busy', 'busy', retry_after=1800))
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('retrying', 1))
        self.assertNextIn(30, since)
