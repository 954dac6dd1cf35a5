"""Who syncs which mailbox, when, over how many connections, and what a failure does.

Every channel (incoming email, outgoing email, appointments, contacts and tasks) runs
its cycles as OCA queue_job jobs on its own job channel (see mail_sync_mailbox_jobs), so
a backlog or a failure in one never delays another. A worker claims a due mailbox with a
PostgreSQL advisory lock (never two workers on one mailbox, whether threads, processes or
hosts) and then a connection slot of the mailbox's profile (never more than its maximum
concurrent connections against the server). Both are session locks: a worker that dies
releases them with its database connection. A worker that finds no free slot moves on;
it never waits.

Failures follow one policy: transient ones back off exponentially (at least as long as
the server asked), and count as permanent after too many in a row; a permanent one
suspends that channel of that mailbox at once and tells its owner and the profile
owner, who also gets one alert when more than half of a profile's mailboxes fail
within an hour.
"""
import contextlib
import datetime
import logging
import threading

from psycopg2.extensions import TransactionRollbackError

from odoo import _, api, fields, models

from odoo.addons.queue_job.exception import RetryableJobError

from ..sync import registry
from ..sync.errors import SyncError
from ..sync.schedule import next_interval
from . import transaction

_logger = logging.getLogger(__name__)
_thread = threading.local()  # per worker thread: the connection slot it used last, by profile

# Advisory lock namespaces (first key): mailbox claims per channel, then profile slots.
CLAIM_CLASS = {'incoming': 7291, 'outgoing': 7292, 'act': 7293}
# One slot namespace for all channels: a profile's maximum concurrent connections is one
# budget shared by incoming, outgoing (and its Sent copies) and appointments, as in Dynamics.
PROFILE_SLOT_CLASS = 7301
SLOT_CLASS = dict.fromkeys(CLAIM_CLASS, PROFILE_SLOT_CLASS)  # by channel: the same for all
SLOTS_PER_PROFILE = 1000  # second key of a slot: profile id * 1000 + slot number
BACKOFF_MAX_MINUTES = 60  # a failing server is retried at least hourly until it counts as permanent
MAX_TRANSIENT_FAILURES = 10
ALERT_WINDOW = datetime.timedelta(hours=1)
# The mailboxes with their state row of one channel (parameter: the channel), for the due SQL.
DUE_FROM = """mail_sync_mailbox JOIN mail_sync_channel ch
                  ON ch.mailbox_id = mail_sync_mailbox.id AND ch.channel = %s"""


class MailSyncMailboxScheduler(models.Model):
    _inherit = 'mail.sync.mailbox'

    # ------------------------------------------------------------------ inline runner
    @api.model
    def _cron_sync(self, channel, mailbox_ids=None):
        """Run the jobs of the mailboxes of ``channel`` that are due (among ``mailbox_ids``
        when given) here, one after another, as the job runner would; returns how many
        synced. The service runs each as its own job; this serves tests, benchmarks and
        scripts that drive cycles themselves. A mailbox another worker holds, or whose
        profile has no free connection, is left to its job's retry."""
        self._new_snapshot()
        synced = 0
        for mailbox in self.sudo().browse(self._due_ids(channel, (), mailbox_ids, None)):
            try:
                result = mailbox._job_cycle(channel)
            except RetryableJobError:
                continue
            self._commit()  # the next cycle's job: the job runner commits a job's end
            synced += result.startswith('synced')
        return synced

    @api.model
    def _due_domain_sql(self, channel, due=True):
        """SQL condition (and parameters) of the mailboxes due for ``channel`` (of those the
        channel serves at all, without ``due``), on ``DUE_FROM``: the mailbox joined to its
        state row of ``channel`` as ``ch`` (whose parameter is ``channel``, before these)."""
        now = datetime.datetime.utcnow().replace(microsecond=0)
        if channel == 'incoming':
            where = "state = 'enabled' AND incoming_enabled AND ch.status != 'suspended'"
            if not due:
                return where, []
            pushed = self._pushed_sql(channel)  # told by the server that something changed
            return where + " AND (ch.next_sync IS NULL OR ch.next_sync <= %s OR " + pushed + ")", [now]
        if channel == 'outgoing':  # mailboxes with email waiting in their outbox
            return """state = 'enabled' AND outgoing_enabled AND ch.status != 'suspended'
                      AND (ch.next_sync IS NULL OR ch.next_sync <= %s)
                      AND EXISTS (SELECT 1 FROM mail_sync_outbox outbox
                                  WHERE outbox.mailbox_id = mail_sync_mailbox.id
                                    AND outbox.state IN ('queued', 'submitting'))""", [now]
        if channel == 'act':  # appointments, contacts and tasks: Exchange mailboxes only
            pushed = self._pushed_sql(channel)
            return """state = 'enabled' AND act_enabled AND ch.status != 'suspended'
                      AND (ch.next_sync IS NULL OR ch.next_sync <= %s OR """ + pushed + ")", [now]
        raise ValueError(channel)

    @api.model
    def _pushed_sql(self, channel):
        """SQL condition on a mailbox whose server pushed a change of ``channel`` since its
        last cycle began (a server type with push notifications overrides it); never cuts a back-off short."""
        return 'FALSE'

    def _polling_bounds(self):
        """(minimum, default, maximum) polling interval of this mailbox, in minutes."""
        server = self.server_id
        return server.interval_min, server.interval_default, server.interval_max

    @api.model
    def _due_ids(self, channel, exclude, among, limit):
        where, params = self._due_domain_sql(channel)
        self.env.cr.execute("""
            SELECT mail_sync_mailbox.id FROM """ + DUE_FROM + """
            WHERE """ + where + """ AND (%s::int[] IS NULL OR mail_sync_mailbox.id = ANY(%s::int[]))
              AND NOT (mail_sync_mailbox.id = ANY(%s::int[]))
            ORDER BY ch.next_sync NULLS FIRST, mail_sync_mailbox.id LIMIT %s
        """, [channel] + params + [among and list(among), among and list(among), list(exclude), limit])
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _try_lock(self, namespace, key):
        # Session-level: survives the commits of a cycle, released by unlock or when the
        # worker's connection dies (a killed worker never leaves anything locked).
        self.env.cr.execute('SELECT pg_try_advisory_lock(%s, %s)', [namespace, key])
        return self.env.cr.fetchone()[0]

    @api.model
    def _unlock(self, namespace, key):
        self.env.cr.execute('SELECT pg_advisory_unlock(%s, %s)', [namespace, key])

    @contextlib.contextmanager
    def _connection_slot(self, channel):
        """Hold the profile's connection slots a cycle of ``channel`` needs (yields the first
        slot's number), or yield None at once when not enough are free. All channels draw
        on the same slots: the profile's limit is for all of them together."""
        self.ensure_one()
        server = self.server_id
        base = server.id * SLOTS_PER_PROFILE
        limit = min(server.max_connections, SLOTS_PER_PROFILE)
        needed = min(self._connections_needed(channel), limit)
        # First the slot this worker used last (free unless others took it meanwhile): one
        # query; else the free ones by what PostgreSQL says is held.
        last = _thread.__dict__.setdefault('slots', {})  # profile -> this thread's last slot
        guess = last.get(server.id, 0)
        slots = [guess] if guess < limit and self._try_lock(PROFILE_SLOT_CLASS, base + guess) else []
        if len(slots) < needed:
            self.env.cr.execute("""SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
                                   AND classid = %s AND objid >= %s AND objid < %s""",
                                [PROFILE_SLOT_CLASS, base, base + SLOTS_PER_PROFILE])
            held = {row[0] - base for row in self.env.cr.fetchall()} | {guess}
            for number in range(limit):
                if len(slots) == needed:
                    break
                if number not in held and self._try_lock(PROFILE_SLOT_CLASS, base + number):
                    slots.append(number)
        if len(slots) < needed:  # all or nothing: a half-served cycle would wait, or overrun
            for number in slots:
                self._unlock(PROFILE_SLOT_CLASS, base + number)
            slots = []
        if slots:
            last[server.id] = slots[0]
        try:
            yield slots[0] if slots else None
        finally:
            for number in slots:
                self._unlock(PROFILE_SLOT_CLASS, base + number)

    def _connections_needed(self, channel):
        """Connections a cycle of ``channel`` holds at once: an outgoing one that copies sent
        email into the IMAP Sent folder has its SMTP and its IMAP session open together (on a
        profile allowing a single connection, it still runs, over both)."""
        server = self.server_id
        if channel == 'outgoing' and server.append_sent and \
                registry.lookup(server.server_type).sent_copy == 'append':
            return 2
        return 1

    # ------------------------------------------------------------------ one cycle
    def _run_cycle(self, channel):
        """One cycle of ``channel`` with its consequences: next schedule on success, back-off
        or suspension on failure. Never raises: a broken mailbox must not stop the others."""
        self.ensure_one()
        try:
            with self._cycle_guard():
                stats = self._channel_cycles()[channel]()
                self._channel_succeeded(channel, stats)
        except TransactionRollbackError as exc:  # serialization failure or deadlock
            self._concurrent_update(channel, exc)
            return None
        except Exception as exc:  # classified and logged below
            self._channel_failed(channel, exc)
            self._commit()
            return None
        self._commit()
        return stats

    def _concurrent_update(self, channel, exc):
        """Another transaction (another channel's worker, a manager's edit) changed a row
        this cycle wrote. That is not a failure of the mailbox: what the cycle committed
        stands, the rest was rolled back, and the mailbox stays due, so it is simply synced
        again at the next turn (no failure counted, no log entry, no back-off)."""
        _logger.info('mail_sync: mailbox %s (%s) met a concurrent update, retried later: %s',
                     self.id, channel, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        self.env.clear()

    def _cycle_guard(self):
        """Undo the uncommitted part of a failed cycle (what was committed stays valid)."""
        return transaction.undo_on_failure(self.env)

    def _channel_cycles(self):
        """{channel: method running one cycle of it and returning its statistics}."""
        return {'incoming': self._sync_incoming, 'outgoing': self._sync_outgoing, 'act': self._sync_act}

    def _channel_schedules(self):
        """{channel: method(stats, items) -> when it is due after a successful cycle}: False
        is at once (outgoing email is due whenever its outbox has email waiting)."""
        return {'incoming': self._next_incoming_sync, 'outgoing': lambda stats, items: False,
                'act': self._next_act_sync}

    def _next_incoming_sync(self, stats, items):
        """Adapt the polling interval to the mail that came; a backlog left by the per-cycle
        cap is picked up by the next cron run."""
        interval = next_interval(self.sync_interval or None, items, *self._polling_bounds())
        self.sudo().write({'sync_interval': interval})
        return _in_minutes(0 if stats.get('remaining') else interval)

    def _next_act_sync(self, stats, items):
        """Two-way items follow the profile's polling interval."""
        return _in_minutes(0 if stats.get('remaining') else self.server_id.interval_max)

    def _channel_succeeded(self, channel, stats):
        items = sum(stats.get(key, 0) for key in ('imported', 'linked', 'indexed', 'quarantined', 'sent',
                                                  'failed', 'uncertain', 'created', 'updated', 'pushed',
                                                  'archived', 'deleted', 'unlinked'))
        next_sync = self._channel_schedules()[channel](stats, items)
        self._channel_state(channel)._succeeded(next_sync)
        self.env['mail.sync.log']._resolve(self, channel)
        self._count(channel, items=items)

    def _channel_failed(self, channel, exc):
        """Apply the error policy to a failed cycle of ``channel``."""
        log = self.env['mail.sync.log']
        error = exc if isinstance(exc, SyncError) else SyncError(
            'unexpected', '%s: %s' % (type(exc).__name__, exc))
        if not isinstance(exc, SyncError):
            _logger.exception('mail_sync: unexpected error in mailbox %s (%s)', self.id, channel)
        text = log._record_error(error, mailbox=self, channel=channel)
        server = self.server_id
        state = self._channel_state(channel)
        failures = state.failures + 1
        limit = int(self.env['ir.config_parameter'].sudo().get_param(
            'mail_sync.max_transient_failures', MAX_TRANSIENT_FAILURES) or MAX_TRANSIENT_FAILURES)
        self._count(channel, failures=1)
        # The server asking us to slow down (throttling) is no fault of the mailbox: it backs
        # off as asked, as often as asked, and is never suspended for that alone.
        throttled = error.code == 'server_busy'
        if (error.transient or error.code == 'unexpected') and (failures < limit or throttled):
            ceiling = max(server.interval_max, BACKOFF_MAX_MINUTES)
            minutes = min(ceiling, server.interval_min * 2 ** (failures - 1))
            if error.retry_after:
                minutes = max(minutes, error.retry_after / 60.0)
            state._retry_at(_in_minutes(minutes))
        else:
            if error.transient or error.code == 'unexpected':
                text = _('%(count)d attempts in a row failed; the last one said: %(text)s') % {
                    'count': failures, 'text': text}
            state._suspend()
            self._tell_suspended(channel, text)
            if channel == 'outgoing':
                self.sudo()._fail_queue(_('Not sent: outgoing email of your mailbox is suspended. %s')
                                        % text)
        server._alert_if_failing()

    def _count(self, channel, items=0, failures=0):
        """Add the cycle to the hourly statistics; a statistics problem never fails a sync."""
        self._write_counts({(self.server_id.id, channel): [items, 1, failures]})

    def _write_counts(self, counts):
        Stat = self.env['mail.sync.stat'].sudo()
        for (server_id, channel), (items, cycles, failures) in counts.items():
            try:
                with self.env.cr.savepoint():
                    Stat._record(server_id, channel, items=items, failures=failures, cycles=cycles)
            except Exception:  # counters are a nicety: log, go on
                _logger.exception('mail_sync: could not count the cycles of profile %s', server_id)

    def _tell_suspended(self, channel, text):
        """The owner gets a notification (Odoo inbox) with what to do; so does the profile owner."""
        label = self._channel_label(channel)
        body = _('%(channel)s of the mailbox %(email)s is suspended: %(text)s Once the cause is '
                 'fixed, a manager runs Test & Enable and sync resumes where it stopped.') % {
            'channel': label, 'email': self.email, 'text': text}
        partners = self.user_id.partner_id | self.server_id.owner_id.partner_id
        self.sudo().message_post(body=body, subject=_('Your mailbox needs attention'),
                                 partner_ids=partners.ids, message_type='notification',
                                 subtype='mail.mt_comment')

    def _channel_label(self, channel):
        return {'incoming': _('Incoming email'), 'outgoing': _('Outgoing email'),
                'act': _('Appointments, contacts and tasks')}.get(channel, channel)

    def _new_snapshot(self):
        """End the (empty) transaction between cycles, so the next query sees what other
        workers committed meanwhile (Odoo's transactions are repeatable read)."""
        transaction.fresh_snapshot(self.env.cr)

    def _commit(self):
        """Commit point of a cycle."""
        transaction.commit(self.env.cr)


def _in_minutes(minutes):
    return fields.Datetime.to_string(datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes))
