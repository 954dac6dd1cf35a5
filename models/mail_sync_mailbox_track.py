"""Track is a job: the button marks the emails "Being Tracked" and returns; a job of the
mailbox, run as its owner, fetches each one from the server and posts it (where the rules
say, on the record the user picked, or on the lead Track as New Lead made), one commit per
email, then tells the owner over the bus, and the list on screen reloads.

Nothing waits inside the worker: a mailbox whose Track job already runs elsewhere, or a
profile without a free connection, is a retry with a delay. A server that does not answer
is tried again for an hour (the emails stay "Being Tracked", the row says why), then the
emails go back to Not Tracked with the reason. A worker killed mid-way leaves what it
committed tracked; the incoming safety net requeues its job and the rest is tracked once
(an email already in Odoo is linked, never posted twice)."""
import datetime
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import job

from ..sync.errors import SyncError
from . import transaction
from .mail_sync_mailbox_jobs import BUSY_RETRY, JOB_CHANNELS, JOB_STATES_ALIVE, SLOT_RETRY

_logger = logging.getLogger(__name__)

TRACK_CLAIM_CLASS = 7294  # advisory lock of a running Track job (one per mailbox at a time)
TRACK_GIVE_UP = datetime.timedelta(hours=1)  # an unreachable server is retried this long
TRACK_RETRY = 60  # seconds between tries while the server does not answer


def track_identity(mailbox_id):
    return 'mail_sync.track.%d' % mailbox_id


class MailSyncMailboxTrack(models.Model):
    _inherit = 'mail.sync.mailbox'

    def _enqueue_track(self, when=None):
        """Make sure a Track job of this mailbox runs at ``when`` (now by default), as the
        user of this environment (the owner who clicked); returns the pending job (none when
        one is about to start)."""
        self.ensure_one()
        when = max(when or datetime.datetime.utcnow(), datetime.datetime.utcnow())
        key = track_identity(self.id)
        pending = self._bring_pending_forward(key, when)
        if pending:
            return pending
        # An enqueued job (about to start) makes queue_job add nothing: it tracks what this
        # request marked once it commits (the job looks again before it ends).
        self.with_delay(channel=JOB_CHANNELS['track'], eta=when, identity_key=key, max_retries=0,
                        description='Server-Side Sync: Track in %s' % self.sudo().email)._job_track()
        return self.env['queue.job'].sudo().search([('identity_key', '=', key), ('state', '=', 'pending')],
                                                    limit=1)

    def _track_blocked_reason(self):
        """Why Track may not reach this mailbox's server now (False: it may): an admin
        disabled the mailbox, or this database is a copy (a copy never talks to the mail
        servers, not even for pending Track jobs restored with it)."""
        box = self.sudo()
        if box.state == 'disabled':
            return _('An administrator disabled this mailbox.')
        if box.db_uuid and box.db_uuid != box._current_db_uuid():
            return box._blocked_reason()
        return False

    @job(default_channel='root.mail_sync.track')
    def _job_track(self):
        """Track every email of this mailbox that is marked Being Tracked."""
        mailbox = self.sudo().exists()
        if not mailbox:
            return 'no such mailbox'
        mailbox = mailbox.with_context(lang=mailbox.user_id.lang)  # what the rows and the owner are told
        blocked = mailbox._track_blocked_reason()
        if blocked:
            rows = mailbox._rows_to_track()
            for row in rows:
                row._track_failed(blocked)
            if rows:
                mailbox._notify_track(rows.browse(), rows)
            transaction.commit(self.env.cr)
            return 'not tracked: %s' % blocked
        if not self._try_lock(TRACK_CLAIM_CLASS, mailbox.id):
            raise RetryableJobError('Track of mailbox %d runs in another worker' % mailbox.id,
                                    seconds=BUSY_RETRY, ignore_retry=True)
        outcome = {'tracked': self.env['mail.sync.ledger'], 'failed': self.env['mail.sync.ledger'],
                   'waiting': False}
        seen = set()
        try:
            while True:  # until no email is left (a click during the job is tracked by it)
                self._new_snapshot()
                mailbox.invalidate_cache()
                rows = mailbox._rows_to_track().filtered(lambda r: r.id not in seen)
                if not rows or outcome['waiting']:
                    break
                seen.update(rows.ids)
                with mailbox._connection_slot('incoming') as slot:
                    if slot is None:
                        raise RetryableJobError('no free connection on profile %d' % mailbox.server_id.id,
                                                seconds=SLOT_RETRY, ignore_retry=True)
                    mailbox._track_rows(rows, outcome)
        finally:
            self._unlock(TRACK_CLAIM_CLASS, mailbox.id)
        for row in outcome['tracked']:  # the Outlook category: with a connection of its own
            mailbox._mark_remote(row, tracked=True)
        if outcome['tracked'] or outcome['failed']:
            mailbox._notify_track(outcome['tracked'], outcome['failed'])
        transaction.commit(self.env.cr)
        return 'tracked %d, failed %d%s' % (len(outcome['tracked']), len(outcome['failed']),
                                             ', the server did not answer: tried again later'
                                             if outcome['waiting'] else '')

    def _rows_to_track(self):
        return self.env['mail.sync.ledger'].sudo().search(
            [('mailbox_id', '=', self.id), ('state', '=', 'tracking')], order='id')

    def _track_rows(self, rows, outcome):
        """Fetch and post ``rows`` over one connection, committing after each email. A
        failure of one email is written on its row; a server failure stops the batch."""
        try:
            connector = self._connector('incoming')
        except SyncError as exc:  # e.g. a password or a sign-in that cannot be read
            self._track_server_failed(rows, exc, outcome)
            return
        fetch = self._fetchers()[connector.protocol]
        try:
            for row in rows:
                try:
                    found = fetch(connector, row)
                except SyncError as exc:  # the server: no use going on with the others now
                    self._track_server_failed(rows.filtered(lambda r: r.id >= row.id).exists(), exc, outcome)
                    return
                except UserError as exc:  # this email moved on the server
                    found, reason = None, exc.name
                else:
                    reason = _('This email is no longer on the server.')
                if found:
                    reason = self._track_one(row, found[0])
                if reason:
                    row = row.exists()
                    row._track_failed(reason)
                    outcome['failed'] |= row
                else:
                    outcome['tracked'] |= row
                transaction.commit(self.env.cr)
        finally:
            connector.close()

    def _track_one(self, row, message):
        """Post ``message`` for ``row``; None when done, else why it was not (all it wrote
        undone)."""
        try:
            with transaction.undo_on_failure(self.env):
                row._track_message(message, row._track_target())
        except UserError as exc:
            return exc.name
        except SyncError as exc:
            return self.env['mail.sync.log']._describe(exc, mailbox=self)
        except Exception:
            _logger.exception('mail_sync: Track of ledger row %s failed', row.id)
            return _('An unexpected error stopped it; it is in the server log for your administrator.')
        return None

    def _track_server_failed(self, rows, exc, outcome):
        """The server failed: a transient failure leaves the emails waiting and tries again
        in a minute, for an hour from the click; anything else (or after that hour) gives
        them back as Not Tracked, with the reason."""
        text = self.env['mail.sync.log']._describe(exc, mailbox=self)
        limit = fields.Datetime.to_string(datetime.datetime.utcnow() - TRACK_GIVE_UP)
        waiting = rows.filtered(lambda r: exc.transient and (r.track_requested or '') >= limit)
        for row in rows - waiting:
            row._track_failed(text)
        outcome['failed'] |= rows - waiting
        if waiting:
            waiting.write({'track_error': _('%s Trying again in a minute.') % text})
            outcome['waiting'] = True
            self.sudo(self.user_id.id)._enqueue_track(datetime.datetime.utcnow() + datetime.timedelta(
                seconds=max(TRACK_RETRY, exc.retry_after or 0)))
        transaction.commit(self.env.cr)

    def _notify_track(self, tracked, failed):
        """Tell the owner what became of their emails; the list or the document on their
        screen reloads."""
        user = self.sudo().user_id
        if failed:
            first = failed[0]
            text = _('"%(subject)s" could not be tracked: %(reason)s') % {
                'subject': first.subject or _('(no subject)'), 'reason': first.track_error}
            if len(failed) > 1:
                text += ' ' + _('(%d emails could not be tracked; My Mailbox shows why.)') % len(failed)
            if len(tracked) == 1:
                text += ' ' + _('The other email was tracked.')
            elif tracked:
                text += ' ' + _('%d other emails were tracked.') % len(tracked)
        elif len(tracked) == 1:
            text = _('"%s" is tracked.') % (tracked.subject or _('(no subject)'))
        else:
            text = _('%d emails are tracked.') % len(tracked)
        documents = [[row.model, row.res_id] for row in tracked if row.model and row.res_id]
        self.env['bus.bus'].sendone((self.env.cr.dbname, 'res.partner', user.partner_id.id), {
            'type': 'mail_sync_track', 'mailbox_id': self.id, 'done': True, 'failed': bool(failed),
            'title': _('Server-Side Sync: Track'), 'text': text, 'documents': documents})

    # ------------------------------------------------------------------ safety net
    @api.model
    def _schedule_track(self):
        """Mailboxes with emails Being Tracked and no live Track job (a restore, a lost
        job) get one; a started job whose worker died is requeued."""
        self._requeue_dead_jobs('track', claim_class=TRACK_CLAIM_CLASS)
        self.env.cr.execute("""
            SELECT DISTINCT row.mailbox_id, box.user_id FROM mail_sync_ledger row
              JOIN mail_sync_mailbox box ON box.id = row.mailbox_id
            WHERE row.state = 'tracking'
              AND NOT EXISTS (SELECT 1 FROM queue_job job WHERE job.identity_key = 'mail_sync.track.' || row.mailbox_id
                              AND job.state IN %s)""", [JOB_STATES_ALIVE])
        found = self.env.cr.fetchall()
        for mailbox_id, user_id in found:
            self.sudo(user_id).browse(mailbox_id)._enqueue_track()
        return len(found)
