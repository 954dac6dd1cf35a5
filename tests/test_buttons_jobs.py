"""Sync Now and Test & Enable (from the form) enqueue a job and return: the request never
talks to the mail server (a proxy in front of it counts the connections), a second click
adds no job, the job (run here through queue_job's own Job.load/perform, as the runner's
worker does) does the work as the user who clicked and tells them over the bus. Rights and
refusals as before."""
import datetime

from odoo import fields
from odoo.exceptions import AccessError, UserError

from odoo.addons.queue_job.job import Job

from devstack.faultproxy import FaultProxy

from .common import MailSyncCase
from .test_incoming import raw_mail


class ButtonJobsCase(MailSyncCase):

    def setUp(self):
        super(ButtonJobsCase, self).setUp()
        self.imap = FaultProxy(self.servers.dovecot.ports['imap']).start()
        self.smtp = FaultProxy(self.servers.smtp.port).start()
        self.addCleanup(self.imap.stop)
        self.addCleanup(self.smtp.stop)
        self.server = self.make_server('imap', 'none', incoming_port=self.imap.port,
                                       outgoing_port=self.smtp.port)
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.Job = self.env['queue.job'].sudo()
        self.Mailbox.search([('id', '!=', self.box.id)]).write({'next_sync': '2999-01-01 00:00:00'})

    def connections(self):
        return self.imap.connections + self.smtp.connections

    def jobs(self, key, states=('pending',)):
        return self.Job.search([('identity_key', '=', key), ('state', 'in', list(states))])

    def perform(self, job):
        """Run ``job`` as the runner's worker does (queue_job loads it as its user)."""
        loaded = Job.load(self.env, job.uuid)
        loaded.set_started()
        loaded.store()
        result = loaded.perform()
        loaded.set_done(result=result)
        loaded.store()
        self.box.invalidate_cache()
        return result


class TestSyncNowIsAJob(ButtonJobsCase):

    def setUp(self):
        super(TestSyncNowIsAJob, self).setUp()
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        self.key = 'mail_sync.incoming.%d' % self.box.id
        for job in self.jobs(self.key):  # the first cycle Test & Enable enqueued has run
            self.perform(job)
        self.assertEqual(self.box.incoming_status, 'ok')

    def test_sync_now_returns_without_talking_to_the_server_and_the_job_syncs(self):
        self.servers.dovecot.append(self.box.login, raw_mail('X <x@unknown.test>', 'Hi'))
        [later] = self.jobs(self.key)
        self.assertGreater(later.eta, fields.Datetime.now(), 'the next cycle waits for its time')
        before = self.connections()
        self.assertTrue(self.box.sudo(self.rep).action_sync_now())
        self.assertEqual(self.connections(), before, 'the request made no connection to the mail server')
        self.assertFalse(self.box.ledger_ids)
        [job] = self.jobs(self.key)
        self.assertEqual(job, later, 'the pending job is brought forward, none added')
        self.assertLessEqual(job.eta, fields.Datetime.now())
        self.assertIn('Sync Now requested', self.box.sudo(self.rep).status_message)
        # A second click while it waits adds nothing.
        self.box.sudo(self.rep).action_sync_now()
        self.assertEqual(self.jobs(self.key, ('pending', 'enqueued', 'started')), job)

        self.assertIn('synced', self.perform(job))
        self.assertGreater(self.connections(), before)
        self.assertEqual(len(self.box.ledger_ids), 1)
        [told] = self.bus(self.rep, 'mail_sync_sync')
        self.assertEqual((told['mailbox_id'], told['channel'], told['done'], told['failed']),
                         (self.box.id, 'incoming', True, False))
        self.assertIn('synchronized', told['text'])
        self.assertNotIn('Sync Now requested', self.box.sudo(self.rep).status_message)
        self.assertEqual(len(self.jobs(self.key)), 1, 'the next cycle waits at its due time')

    def test_a_click_while_a_cycle_runs_is_told_after_the_next_cycle(self):
        [running] = self.jobs(self.key)
        running.write({'state': 'started'})  # a worker runs the mailbox's cycle right now
        self.box.sudo(self.rep).action_sync_now()
        [requested] = self.jobs(self.key)
        self.assertNotEqual(requested, running, 'the running cycle may have missed what the user expects')
        self.servers.dovecot.append(self.box.login, raw_mail('X <x@unknown.test>', 'Late'))
        self.perform(running)
        self.assertFalse(self.bus(self.rep, 'mail_sync_sync'), 'not told before the requested cycle ran')
        self.assertIn('Sync Now requested', self.box.sudo(self.rep).status_message)
        self.assertIn('synced', self.perform(requested), 'the requested cycle runs, whatever the last one set')
        self.assertEqual(len(self.bus(self.rep, 'mail_sync_sync')), 1)
        self.assertEqual(len(self.box.ledger_ids), 1)

    def test_sync_now_cuts_a_back_off_short_and_tells_a_failure(self):
        self.imap.refuse()
        self.box._channel_state('incoming')._retry_at('2999-01-01 00:00:00')
        self.box.sudo(self.rep).action_sync_now()
        [job] = self.jobs(self.key)
        self.perform(job)
        self.assertEqual(self.box.incoming_status, 'retrying')
        [told] = self.bus(self.rep, 'mail_sync_sync')
        self.assertTrue(told['failed'])

    def test_only_the_owner_or_a_manager_syncs_now(self):
        stranger = self.make_user('stranger')
        with self.assertRaises(AccessError):
            self.box.sudo(stranger).action_sync_now()
        with self.assertRaises(AccessError):
            self.box.sudo(stranger).action_sync_outgoing_now()
        self.box.sudo(self.manager).action_sync_now()
        self.assertEqual(self.box._channel_state('incoming').sync_requested_by, self.manager)

    def test_a_mailbox_that_does_not_sync_says_why_and_queues_nothing(self):
        self.jobs(self.key).unlink()
        self.box._channel_state('incoming')._suspend()
        with self.assertRaisesRegex(UserError, 'Incoming email is suspended'):
            self.box.sudo(self.rep).action_sync_now()
        self.box._channel_state('incoming')._reset()
        self.env['ir.config_parameter'].sudo().set_param('mail_sync.approved_only', 'True')
        self.box.sudo().approved = False
        with self.assertRaisesRegex(UserError, 'approve the email address'):
            self.box.sudo(self.rep).action_sync_now()
        self.box.sudo().approved = True
        self.box.sudo(self.manager).action_disable()
        with self.assertRaisesRegex(UserError, 'does not sync now'):
            self.box.sudo(self.rep).action_sync_now()
        self.assertFalse(self.jobs(self.key))
        self.assertFalse(self.box._channel_state('incoming').sync_requested_by)

    def test_sync_now_of_outgoing_email_enqueues_its_channel(self):
        self.box.sudo(self.rep).action_sync_outgoing_now()
        [job] = self.jobs('mail_sync.outgoing.%d' % self.box.id)
        self.assertEqual(job.channel, 'root.mail_sync.outgoing')
        self.assertEqual(self.perform(job), 'not due', 'nothing queued to send')
        [told] = self.bus(self.rep, 'mail_sync_sync')
        self.assertEqual(told['channel'], 'outgoing')


class TestTestEnableIsAJob(ButtonJobsCase):

    def click(self, user=None):
        return self.box.sudo(user or self.manager).with_context(mail_sync_background=True).action_test_enable()

    def test_the_click_enqueues_a_job_that_tests_as_the_user_who_clicked(self):
        key = 'mail_sync.test.%d' % self.box.id
        self.box.sudo(self.manager).action_approve()
        self.assertTrue(self.click())
        self.assertEqual(self.connections(), 0, 'the request made no connection to the mail server')
        [job] = self.jobs(key)
        self.assertEqual((job.channel, job.method_name, job.user_id), ('root.mail_sync.test', '_job_test', self.manager))
        self.assertEqual(self.box.incoming_test_state, 'running')
        # A second click while it runs adds nothing.
        self.click()
        self.assertEqual(self.jobs(key, ('pending', 'enqueued', 'started', 'done')), job)

        self.assertEqual(self.perform(job), 'passed')
        self.assertGreater(self.imap.connections, 0)
        self.assertGreater(self.smtp.connections, 0)
        self.assertEqual((self.box.state, self.box.test_running, self.box.incoming_test_state,
                          self.box.outgoing_test_state), ('enabled', False, 'success', 'success'))
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'enabled')])
        self.assertIn('by Manager', log.message, 'the job ran as the user who clicked')
        told = self.bus(self.manager, 'mail_sync_test')
        self.assertEqual([(m['channel'], m['done']) for m in told],
                         [('incoming', False), ('outgoing', False), (None, True)])
        self.assertTrue(told[-1]['passed'])
        self.assertTrue(self.jobs('mail_sync.incoming.%d' % self.box.id), 'the first cycle is enqueued')

    def test_a_failing_test_clears_the_running_flag_and_says_so(self):
        self.imap.refuse()
        self.click()
        [job] = self.jobs('mail_sync.test.%d' % self.box.id)
        self.assertEqual(self.perform(job), 'failed')
        self.assertEqual((self.box.state, self.box.test_running, self.box.incoming_test_state),
                         ('draft', False, 'failure'))
        self.assertFalse(self.bus(self.manager, 'mail_sync_test')[-1]['passed'])

    def test_a_test_whose_worker_died_is_cleared_by_its_deadline_and_can_run_again(self):
        self.click()
        [job] = self.jobs('mail_sync.test.%d' % self.box.id)
        # Its worker was killed: queue_job leaves it started.
        job.write({'state': 'started', 'date_started': fields.Datetime.to_string(
            datetime.datetime.utcnow() - datetime.timedelta(minutes=10))})
        self.box.sudo().write({'test_started': '2000-01-01 00:00:00'})
        self.assertNotIn('Testing the connection', self.box.sudo()._sync_status()[1])
        self.assertTrue(self.click())
        [again] = self.jobs('mail_sync.test.%d' % self.box.id)
        self.assertNotEqual(again, job)
        Mailbox = self.env['mail.sync.mailbox']
        self.assertEqual(Mailbox._fail_dead_test_jobs(), 0, 'not while its mailbox shows a test running')
        self.assertEqual(self.perform(again), 'passed')
        # The housekeeping cron then says in queue_job's list what became of the dead one.
        self.assertEqual(Mailbox._fail_dead_test_jobs(), 1)
        job.invalidate_cache()
        self.assertEqual(job.state, 'failed')
        self.assertIn('stopped before it ended', job.exc_info)
        self.assertEqual(Mailbox._fail_dead_test_jobs(), 0)

    def test_only_those_who_may_edit_the_mailbox_start_a_test(self):
        with self.assertRaises(AccessError):
            self.click(self.make_user('stranger'))
        self.assertFalse(self.jobs('mail_sync.test.%d' % self.box.id))
