"""Sync cycles as OCA queue_job jobs, in the test transaction (no job runner): what is
enqueued, when, on which channel, at most once; a busy mailbox or a full profile is a
retry with a delay; the crons only schedule, requeue dead workers' jobs and clean up."""
import datetime
import os

import odoo
from odoo import fields

from odoo.addons.queue_job.exception import RetryableJobError

from ..models.mail_sync_mailbox_jobs import BUSY_RETRY, DEAD_AFTER, SLOT_RETRY
from ..models.mail_sync_mailbox_scheduler import CLAIM_CLASS, PROFILE_SLOT_CLASS, SLOTS_PER_PROFILE
from .common import MailSyncCase
from .test_incoming import raw_mail


class TestJobs(MailSyncCase):

    def setUp(self):
        super(TestJobs, self).setUp()
        self.server = self.make_server('imap', 'none', interval_min=2, interval_default=5, interval_max=12)
        self.box = self.make_mailbox(self.make_user('rep'), self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        self.Job = self.env['queue.job'].sudo()
        # Only this test's mailbox is due (other modules' committed mailboxes are left alone).
        self.Mailbox.search([('id', '!=', self.box.id)]).write({'next_sync': '2999-01-01 00:00:00'})

    def jobs(self, channel='incoming', box=None, states=('pending',)):
        return self.Job.search([('identity_key', '=', 'mail_sync.%s.%d' % (channel, (box or self.box).id)),
                                ('state', 'in', list(states))])

    def other_connection_holds(self, namespace, key):
        """A lock held by another database session (another worker): a new cursor."""
        cr = odoo.registry(os.environ['MAIL_SYNC_TEST_DB']).cursor()
        self.addCleanup(cr.close)
        cr.execute('SELECT pg_advisory_lock(%s, %s)', [namespace, key])
        self.addCleanup(cr.execute, 'SELECT pg_advisory_unlock(%s, %s)', [namespace, key])

    def test_test_and_enable_then_approval_enqueue_the_first_cycle_at_once_on_its_channel(self):
        [job] = self.jobs(states=('pending', 'enqueued', 'started', 'done'))
        self.assertEqual((job.channel, job.method_name, job.model_name, job.record_ids),
                         ('root.mail_sync.incoming', '_job_cycle', 'mail.sync.mailbox', [self.box.id]))
        self.assertLessEqual(job.eta, fields.Datetime.now())
        self.assertFalse(self.jobs('outgoing'), 'outgoing email runs when the outbox fills')

    def test_at_most_one_pending_job_per_mailbox_and_channel(self):
        self.box._enqueue_cycle('incoming')
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 0, 'it has its job')
        self.assertEqual(len(self.jobs()), 1)
        self.jobs().unlink()  # lost, e.g. a restore of an older copy
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 1)
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 0)
        self.assertEqual(len(self.jobs()), 1)

    def test_a_push_or_sync_request_brings_the_pending_job_forward(self):
        later = datetime.datetime.utcnow() + datetime.timedelta(minutes=10)
        self.jobs().write({'eta': fields.Datetime.to_string(later)})
        self.box._enqueue_cycle('incoming')
        [job] = self.jobs()
        self.assertLessEqual(job.eta, fields.Datetime.now())

    def test_the_job_syncs_and_enqueues_the_next_cycle_at_its_due_time(self):
        self.servers.dovecot.append(self.box.login, raw_mail('X <x@unknown.test>', 'Hi'))
        self.jobs().unlink()
        result = self.box._job_cycle('incoming')
        self.assertIn('synced', result)
        self.assertEqual((self.box.incoming_status, len(self.box.ledger_ids)), ('ok', 1))
        [job] = self.jobs()
        self.assertEqual(job.eta, self.box.next_sync)
        self.assertGreater(job.eta, fields.Datetime.now())
        # Run before it is due (e.g. by hand): nothing synced, the same next job stays.
        self.assertEqual(self.box._job_cycle('incoming'), 'not due')
        self.assertEqual(self.jobs(), job)

    def test_a_failing_server_backs_off_through_the_next_jobs_eta(self):
        self.jobs().unlink()
        self.server.incoming_port = self.silent_port  # no answer: a transient failure
        self.server.timeout = 1
        self.box._job_cycle('incoming')
        self.assertEqual(self.box.incoming_status, 'retrying')
        [job] = self.jobs()
        self.assertEqual(job.eta, self.box.next_sync)
        self.assertGreater(job.eta, fields.Datetime.now())

    def test_a_mailbox_claimed_elsewhere_is_a_retry_with_a_delay(self):
        self.other_connection_holds(CLAIM_CLASS['incoming'], self.box.id)
        with self.assertRaises(RetryableJobError) as caught:
            self.box._job_cycle('incoming')
        self.assertEqual((caught.exception.seconds, caught.exception.ignore_retry), (BUSY_RETRY, True))

    def test_no_free_connection_on_the_profile_is_a_retry_with_a_delay(self):
        self.server.max_connections = 1
        self.other_connection_holds(PROFILE_SLOT_CLASS, self.server.id * SLOTS_PER_PROFILE)
        with self.assertRaises(RetryableJobError) as caught:
            self.box._job_cycle('incoming')
        self.assertEqual((caught.exception.seconds, caught.exception.ignore_retry), (SLOT_RETRY, True))
        self.assertFalse(self.box.ledger_ids)

    def test_queued_email_enqueues_an_outgoing_job_at_once(self):
        rep = self.env['res.users'].browse(self.box.user_id.id)
        rep.groups_id |= self.env.ref('base.group_partner_manager')
        self.box.outgoing_enabled = True
        self.box.sudo(self.manager).action_test_enable()
        self.assertFalse(self.jobs('outgoing'), 'nothing to send yet')
        login, _password = self.servers.new_account()
        customer = self.env['res.partner'].create({'name': 'Customer', 'email': login})
        customer.sudo(rep).message_post(body='Hello', subject='Offer', partner_ids=[customer.id],
                                        message_type='comment', subtype='mail.mt_comment')
        [job] = self.jobs('outgoing')
        self.assertEqual(job.channel, 'root.mail_sync.outgoing')
        self.assertLessEqual(job.eta, fields.Datetime.now())
        job.write({'state': 'started'})  # as the runner does before calling the job
        self.assertIn('synced', self.box._job_cycle('outgoing'))
        self.assertEqual(self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)]).state, 'sent')
        self.assertFalse(self.jobs('outgoing'), 'an empty outbox has no next cycle')

    def test_a_started_job_whose_worker_died_is_requeued(self):
        [job] = self.jobs()
        old = fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(seconds=DEAD_AFTER + 5))
        job.write({'state': 'started', 'date_started': old})
        self.other_connection_holds(CLAIM_CLASS['incoming'], self.box.id)  # still running elsewhere
        self.assertEqual(self.Mailbox._requeue_dead_jobs('incoming'), 0)
        self.assertEqual(job.state, 'started')

    def test_a_started_job_without_its_claim_is_requeued(self):
        [job] = self.jobs()
        old = fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(seconds=DEAD_AFTER + 5))
        job.write({'state': 'started', 'date_started': old})
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 0, 'requeued, not doubled')
        self.assertEqual(job.state, 'pending')
        self.assertEqual(len(self.jobs(states=('pending', 'started'))), 1)

    def test_done_jobs_are_kept_an_hour(self):
        [job] = self.jobs()
        recent = self.Job.create({'uuid': 'recent-%d' % job.id, 'user_id': self.env.uid, 'model_name': job.model_name,
                                  'method_name': job.method_name, 'record_ids': job.record_ids,
                                  'args': ['incoming'], 'kwargs': {}, 'channel': 'root.mail_sync.incoming',
                                  'state': 'done', 'date_done': fields.Datetime.now()})
        job.write({'state': 'done', 'date_done': fields.Datetime.to_string(
            datetime.datetime.utcnow() - datetime.timedelta(hours=2))})
        self.assertEqual(self.Mailbox._delete_old_jobs('incoming'), 1)
        self.assertFalse(job.exists())
        self.assertTrue(recent.exists())

    def test_the_scheduler_cron_is_fast_with_nothing_to_do(self):
        """Its work is a few indexed queries, however many mailboxes (the timing is in bench/):
        here, that it enqueues nothing for a mailbox that is not due."""
        self.box.sudo().next_sync = fields.Datetime.to_string(datetime.datetime.utcnow() + datetime.timedelta(hours=1))
        self.jobs().unlink()
        self.env['mail.sync.mailbox'].sudo().search([('id', '!=', self.box.id)]).write(
            {'next_sync': '2999-01-01 00:00:00'})
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 0)
        self.assertFalse(self.jobs())

    def test_many_due_mailboxes_are_enqueued_by_a_job_not_by_the_cron_thread(self):
        """After a restore, thousands of mailboxes may be due without a job: the cron hands
        them to one scheduling job (enqueueing each takes time) and returns."""
        boxes = self.box
        for name in ('rep2', 'rep3', 'rep4'):
            box = self.make_mailbox(self.make_user(name), self.server)
            box.sudo(self.manager).action_test_enable()
            box.sudo(self.manager).action_approve()
            boxes |= box
        for box in boxes:
            self.jobs(box=box).unlink()
        schedule = [('identity_key', '=', 'mail_sync.schedule.incoming'), ('state', '=', 'pending')]
        self.assertEqual(self.Mailbox._cron_schedule('incoming', inline=2), 4)
        self.assertFalse(any(self.jobs(box=box) for box in boxes), 'the cron enqueued no cycle itself')
        [scheduler] = self.Job.search(schedule)
        self.assertEqual((scheduler.channel, scheduler.method_name), ('root.mail_sync.housekeeping', '_job_schedule'))
        self.assertEqual(self.Mailbox._cron_schedule('incoming', inline=2), 4)
        self.assertEqual(self.Job.search(schedule), scheduler, 'one scheduling job, not one per cron run')
        self.Mailbox._job_schedule('incoming')
        for box in boxes:
            self.assertEqual(len(self.jobs(box=box)), 1)
        self.assertEqual(self.Mailbox._cron_schedule('incoming', inline=2), 0)
        self.assertEqual(self.Mailbox._cron_schedule('incoming'), 0)

    def test_live_jobs_are_found_by_an_index_on_their_identity_key(self):
        self.env.cr.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'queue_job' "
                            "AND indexname = 'mail_sync_queue_job_live_identity_key'")
        [(definition,)] = self.env.cr.fetchall()
        self.assertIn('(identity_key)', definition)
        self.assertIn('started', definition)
