"""Every sync cycle is an OCA queue_job job, on a job channel per sync channel.

A job syncs one channel of one mailbox: it claims the mailbox (the advisory lock of the
scheduler: never two workers, threads, processes or hosts on it), takes a connection slot
of its profile, runs ``_run_cycle`` and enqueues the next cycle of that mailbox with its
due time as ``eta``. Nothing waits inside a worker: a claimed mailbox or a profile
without a free connection is a ``RetryableJobError`` with a delay, a server back-off is
the next job's ``eta``. The identity key keeps at most one pending job per mailbox and
channel. The channel crons only schedule: they enqueue what is due and lost its job (after
a restore, a crash), requeue the jobs of workers that died, and delete old done jobs.

Capacities are the job runner's: ``[queue_job] channels`` in each Odoo host's
configuration (or ``ODOO_QUEUE_JOB_CHANNELS``), e.g.
``root:4,root.mail_sync.incoming:2,root.mail_sync.outgoing:1,...``.
"""
import datetime
import logging
import os

from odoo import api, fields, models, tools

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import job

from . import transaction
from .mail_sync_mailbox_scheduler import CLAIM_CLASS, DUE_FROM

_logger = logging.getLogger(__name__)

JOB_CHANNELS = {'incoming': 'root.mail_sync.incoming', 'outgoing': 'root.mail_sync.outgoing',
                'act': 'root.mail_sync.act', 'housekeeping': 'root.mail_sync.housekeeping',
                'test': 'root.mail_sync.test', 'track': 'root.mail_sync.track'}
DEFAULT_CAPACITIES = 'root:4,root.mail_sync.incoming:2,root.mail_sync.outgoing:1,' \
                     'root.mail_sync.act:1,root.mail_sync.housekeeping:1,root.mail_sync.test:2,' \
                     'root.mail_sync.track:2'
BUSY_RETRY = 10  # seconds: the mailbox is being synced by another worker
SLOT_RETRY = 15  # seconds: the profile's connections are all in use
DEAD_AFTER = 120  # seconds a started job may go without holding its mailbox's claim
DONE_KEPT = datetime.timedelta(hours=1)  # done sync jobs are kept this long (one per cycle)
FAILED_KEPT = datetime.timedelta(days=7)
DELETE_BATCH = 5000
JOB_STATES_ALIVE = ('pending', 'enqueued', 'started')
SCHEDULE_INLINE = 20  # due mailboxes without a job the cron enqueues itself; more: a job does it
ENQUEUE_BATCH = 200  # the scheduling job commits after each batch of enqueued cycles


def job_channels_setting():
    """The job channel capacities this Odoo host's job runner uses."""
    section = tools.config.misc.get('queue_job', {})
    return os.environ.get('ODOO_QUEUE_JOB_CHANNELS') or section.get('channels') or 'root:1'


def identity(channel, mailbox_id):
    return 'mail_sync.%s.%d' % (channel, mailbox_id)


class MailSyncMailboxJobs(models.Model):
    _inherit = 'mail.sync.mailbox'

    def init(self):
        """queue_job does not index identity keys: every enqueue looks its mailbox's live job
        up by key, among the done jobs of the last hour (one per cycle)."""
        super(MailSyncMailboxJobs, self).init()
        self.env.cr.execute("""CREATE INDEX IF NOT EXISTS mail_sync_queue_job_live_identity_key
                               ON queue_job (identity_key) WHERE state IN %s""", [JOB_STATES_ALIVE])

    # ------------------------------------------------------------------ the job
    @job(default_channel='root.mail_sync.incoming')
    def _job_cycle(self, channel):
        """One cycle of ``channel`` of this mailbox, then the next one enqueued."""
        mailbox = self.sudo().exists()
        if not mailbox or channel not in CLAIM_CLASS:
            return 'no such mailbox'
        if not self._try_lock(CLAIM_CLASS[channel], mailbox.id):
            raise RetryableJobError('mailbox %d is being synchronized by another worker' % mailbox.id,
                                    seconds=BUSY_RETRY, ignore_retry=True)
        try:
            self._new_snapshot()  # what other workers committed before the claim
            mailbox.invalidate_cache()
            if not mailbox._due_ids(channel, (), [mailbox.id], 1) or mailbox._blocked_reason():
                result = 'not due'
            else:
                with mailbox._connection_slot(channel) as slot:
                    if slot is None:
                        raise RetryableJobError('no free connection on profile %d' % mailbox.server_id.id,
                                                seconds=SLOT_RETRY, ignore_retry=True)
                    stats = mailbox._run_cycle(channel)
                result = 'synced: %s' % (stats or 'failed, see the sync log')
        finally:
            self._unlock(CLAIM_CLASS[channel], mailbox.id)
        mailbox.invalidate_cache()
        mailbox._enqueue_next_cycle(channel)
        mailbox._sync_now_done(channel)
        return result

    @job(default_channel='root.mail_sync.housekeeping')
    def _job_housekeeping(self):
        self.sudo()._cron_housekeeping()
        return 'done'

    # ------------------------------------------------------------------ enqueueing
    def _channel_next_sync(self, channel):
        """When ``channel`` of this mailbox is due next (None: it does not sync by itself,
        e.g. outgoing email with an empty outbox, or a suspended channel)."""
        self.ensure_one()
        box = self.sudo()
        if box._blocked_reason():  # the safety net enqueues it once it may sync again
            return None
        if self._due_ids(channel, (), [self.id], 1):
            return datetime.datetime.utcnow()
        state = box._channel_state(channel)
        enabled = {'incoming': box.incoming_enabled, 'outgoing': box.outgoing_enabled, 'act': box.act_enabled}
        if box.state != 'enabled' or not enabled[channel] or state.status == 'suspended':
            return None
        if channel == 'outgoing' and not box.env['mail.sync.outbox'].search_count(
                [('mailbox_id', '=', box.id), ('state', 'in', ('queued', 'submitting'))]):
            return None  # an outbox that fills enqueues its own cycle
        when = state.next_sync
        return fields.Datetime.from_string(when) if when else datetime.datetime.utcnow()

    def _enqueue_next_cycle(self, channel):
        """After a cycle: the next one at the channel's due time (none when it has none)."""
        when = self._channel_next_sync(channel)
        if when is not None:
            self._enqueue_cycle(channel, when)

    def _enqueue_cycle(self, channel, when=None):
        """Make sure a job runs ``channel`` of this mailbox at ``when`` (now by default) at the
        latest: a pending job due later is brought forward, none is added next to it."""
        self.ensure_one()
        when = max(when or datetime.datetime.utcnow(), datetime.datetime.utcnow())
        key = identity(channel, self.id)
        Job = self.env['queue.job'].sudo()
        pending = self._bring_pending_forward(key, when)
        if pending:
            return pending
        if Job.search_count([('identity_key', '=', key), ('state', '=', 'enqueued')]):
            return Job.browse()  # about to run
        self.sudo().with_delay(channel=JOB_CHANNELS[channel], eta=when, identity_key=key,
                               max_retries=0, description='Server-Side Sync: %s of %s' % (
                                   channel, self.sudo().email))._job_cycle(channel)
        return Job.search([('identity_key', '=', key), ('state', '=', 'pending')], limit=1)

    @api.model
    def _bring_pending_forward(self, key, when):
        """The pending job with identity ``key``, its eta brought forward to ``when`` if it
        was due later; an empty recordset when there is none."""
        pending = self.env['queue.job'].sudo().search([('identity_key', '=', key), ('state', '=', 'pending')],
                                                      limit=1)
        if pending and pending.eta and fields.Datetime.from_string(pending.eta) > when:
            pending.write({'eta': fields.Datetime.to_string(when)})
        return pending

    # ------------------------------------------------------------------ the crons: scheduling only
    @api.model
    def _cron_schedule(self, channel, inline=SCHEDULE_INLINE):
        """Safety net of ``channel``, one fast run: enqueue the due mailboxes without a job,
        requeue the jobs of dead workers, forget old done jobs. Returns how many mailboxes
        it found due without a job. More than ``inline`` of them (a restore, a first start
        of many mailboxes) are enqueued by a job, so the cron thread is back at once."""
        self._requeue_dead_jobs(channel)
        if channel == 'incoming':  # Track's safety net too: every minute, one query
            self._schedule_track()
        ids = self._due_without_job(channel)
        if len(ids) > inline:
            self.sudo().with_delay(channel=JOB_CHANNELS['housekeeping'],
                                   identity_key='mail_sync.schedule.%s' % channel,
                                   description='Server-Side Sync: enqueue the due %s cycles' % channel
                                   )._job_schedule(channel)
        else:
            for mailbox in self.sudo().browse(ids):
                mailbox._enqueue_cycle(channel)
        self._delete_old_jobs(channel)
        return len(ids)

    @job(default_channel='root.mail_sync.housekeeping')
    def _job_schedule(self, channel):
        """Enqueue the cycle of every due mailbox of ``channel`` that has no job, committing
        after each batch (what was enqueued can start while the rest is enqueued)."""
        ids = self._due_without_job(channel)
        for start in range(0, len(ids), ENQUEUE_BATCH):
            for mailbox in self.sudo().browse(ids[start:start + ENQUEUE_BATCH]):
                mailbox._enqueue_cycle(channel)
            transaction.commit(self.env.cr)
        return 'enqueued %d %s cycles' % (len(ids), channel)

    @api.model
    def _due_without_job(self, channel):
        """The ids of the mailboxes due on ``channel`` that have no live job for it."""
        where, params = self._due_domain_sql(channel)
        self.env.cr.execute("""
            SELECT mail_sync_mailbox.id FROM """ + DUE_FROM + """ WHERE """ + where + """
              AND NOT EXISTS (SELECT 1 FROM queue_job job WHERE job.identity_key = 'mail_sync.' || %s || '.' || mail_sync_mailbox.id
                              AND job.state IN %s)
            ORDER BY mail_sync_mailbox.id""", [channel] + params + [channel, JOB_STATES_ALIVE])
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _cron_schedule_housekeeping(self):
        self.sudo().with_delay(channel=JOB_CHANNELS['housekeeping'], identity_key='mail_sync.housekeeping',
                               description='Server-Side Sync: housekeeping')._job_housekeeping()
        self._delete_old_jobs('housekeeping')
        self._fail_dead_test_jobs()
        self._delete_old_jobs('test')
        self._delete_old_jobs('track')
        self.env['mail.sync.migration'].sudo()._requeue_dead_test_jobs()

    @api.model
    def _fail_dead_test_jobs(self):
        """A Test & Enable job whose worker died stays 'started' in queue_job's list (the test
        itself is cleared by its deadline): once its mailbox no longer shows it running, or
        after a day, it is marked failed with what happened."""
        self.env.cr.execute("""
            UPDATE queue_job job SET state = 'failed', exc_info = %s
            WHERE job.channel = %s AND job.state = 'started' AND job.date_started < %s
              AND job.identity_key LIKE 'mail_sync.test.%%'
              AND (job.date_started < %s OR NOT EXISTS (
                       SELECT 1 FROM mail_sync_mailbox box
                       WHERE box.id = substring(job.identity_key from '[0-9]+$')::integer AND box.test_running))""",
                            ['The worker running this test stopped before it ended (the test was shown '
                             'as not run once its deadline passed).', JOB_CHANNELS['test'],
                             fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(seconds=DEAD_AFTER)),
                             fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(days=1))])
        return self.env.cr.rowcount

    @api.model
    def _jobs_update_crons(self):
        """At install and update (data file): the channel crons schedule jobs; the copies
        of the incoming cron that were its parallel lanes go."""
        Cron = self.env['ir.cron'].sudo().with_context(active_test=False)
        for xml_id, code in (('ir_cron_sync_incoming', "model._cron_schedule('incoming')"),
                             ('ir_cron_sync_outgoing', "model._cron_schedule('outgoing')"),
                             ('ir_cron_sync_act', "model._cron_schedule('act')"),
                             ('ir_cron_housekeeping', 'model._cron_schedule_housekeeping()')):
            cron = self.env.ref('mail_sync.' + xml_id, raise_if_not_found=False)
            if cron and cron.code != code:
                cron.sudo().code = code
        lanes = Cron.search([('code', '=like', 'model._cron_sync(%')])  # the old lanes, every channel
        if lanes:  # ir.cron's unlink fails on an empty set (Odoo 11)
            lanes.unlink()

    @api.model
    def _requeue_dead_jobs(self, channel, claim_class=None, key=None):
        """A worker killed in a cycle leaves its job 'started' for ever (queue_job does not
        requeue started jobs): a started job of ``channel`` for a while whose mailbox nobody
        holds (the claim lock dies with the worker's connection) is set back to pending.
        Exactly once holds: the cycle resumes from what the dead one committed. Other jobs
        that hold a lock of their own (Track, a migration's Test & Enable) pass its class
        and their identity key's prefix (the record id ends the key)."""
        self.env.cr.execute("""
            SELECT job.id FROM queue_job job
            WHERE job.channel = %s AND job.state = 'started' AND job.date_started < %s
              AND job.identity_key LIKE %s
              AND NOT EXISTS (SELECT 1 FROM pg_locks lock
                              WHERE lock.locktype = 'advisory' AND lock.objsubid = 2
                                AND lock.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                                AND lock.classid = %s
                                AND lock.objid::bigint = substring(job.identity_key from '[0-9]+$')::bigint)""",
                            [JOB_CHANNELS[channel],
                             fields.Datetime.to_string(datetime.datetime.utcnow()
                                                       - datetime.timedelta(seconds=DEAD_AFTER)),
                             (key or 'mail_sync.%s.' % channel) + '%', claim_class or CLAIM_CLASS[channel]])
        dead = self.env['queue.job'].sudo().browse([row[0] for row in self.env.cr.fetchall()])
        if dead:
            _logger.warning('mail_sync: requeued %d %s jobs whose worker died', len(dead), channel)
            dead.requeue()
        return len(dead)

    @api.model
    def _delete_old_jobs(self, channel):
        """One done job per cycle: keep an hour of them (failed ones a week), in batches."""
        now = datetime.datetime.utcnow()
        self.env.cr.execute("""
            DELETE FROM queue_job WHERE id IN (
                SELECT id FROM queue_job WHERE channel = %s
                  AND ((state = 'done' AND date_done < %s) OR (state = 'failed' AND date_created < %s))
                LIMIT %s)""", [JOB_CHANNELS[channel], fields.Datetime.to_string(now - DONE_KEPT),
                               fields.Datetime.to_string(now - FAILED_KEPT), DELETE_BATCH])
        return self.env.cr.rowcount
