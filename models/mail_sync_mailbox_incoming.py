"""Incoming email for one mailbox: read what is new on the server, decide by the
user's tracking rule, import through Odoo's mail gateway, remember it in the ledger.

Exactly once: a message's ledger row and the records it produces are written in
the same transaction, and what is "new" is computed from the ledger (never from
the server's flags), so an interrupted cycle resumes where its last commit left.
"""
import base64
import contextlib
import datetime
import logging
import threading
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..sync.errors import SyncError
from ..sync.imap import ImapConnector
from ..sync.schedule import next_interval

_logger = logging.getLogger(__name__)

BATCH = 50
LOCK_CLASS = 7291  # advisory lock namespace of "incoming sync of mailbox <id>"
CRON_BUDGET = 50  # seconds per cron run: the cron runs every minute
RAW_KEEP_BYTES = 10 * 1024 * 1024  # quarantined originals kept for managers, capped


class MailSyncMailboxIncoming(models.Model):
    _inherit = 'mail.sync.mailbox'

    last_sync = fields.Datetime(string='Last Sync', readonly=True, copy=False)
    last_sync_count = fields.Integer(string='Items in Last Cycle', readonly=True, copy=False)
    ledger_ids = fields.One2many('mail.sync.ledger', 'mailbox_id', string='Remote Messages')
    next_sync = fields.Datetime(string='Next Sync', readonly=True, copy=False, index=True)
    sync_interval = fields.Integer(string='Current Interval (min)', readonly=True, copy=False,
                                   help='Adapts between the profile\'s minimum and maximum: shorter '
                                        'after cycles that brought mail, longer when idle.')
    incoming_failures = fields.Integer(string='Consecutive Failures', readonly=True, copy=False)

    # ------------------------------------------------------------------ scheduling
    @api.model
    def _cron_sync_incoming(self, budget=CRON_BUDGET):
        """Sync the mailboxes that are due, one at a time, each claimed with a PostgreSQL
        advisory lock so two workers (threads, processes, hosts) never sync the same mailbox;
        stops starting new mailboxes once the time budget is spent."""
        deadline = time.monotonic() + budget
        tried = set()
        while time.monotonic() < deadline:
            mailbox = self._claim_due(tried)
            if not mailbox:
                break
            tried.add(mailbox.id)
            try:
                mailbox._run_incoming_cycle()
            finally:
                self._unlock(mailbox.id)
        return len(tried)

    @api.model
    def _claim_due(self, exclude):
        self.env.cr.execute("""
            SELECT id FROM mail_sync_mailbox
            WHERE state = 'enabled' AND incoming_enabled AND (next_sync IS NULL OR next_sync <= %s)
            ORDER BY next_sync NULLS FIRST, id
        """, [fields.Datetime.now()])
        for (mailbox_id,) in self.env.cr.fetchall():
            if mailbox_id in exclude:
                continue
            if self._try_lock(mailbox_id):
                mailbox = self.sudo().browse(mailbox_id)
                if not mailbox._blocked_reason():
                    return mailbox
                self._unlock(mailbox_id)
        return self.browse()

    @api.model
    def _try_lock(self, mailbox_id):
        # Session-level: survives the commits of a cycle, released by unlock or when the
        # worker's connection dies (a killed worker never leaves a mailbox locked).
        self.env.cr.execute('SELECT pg_try_advisory_lock(%s, %s)', [LOCK_CLASS, mailbox_id])
        return self.env.cr.fetchone()[0]

    @api.model
    def _unlock(self, mailbox_id):
        self.env.cr.execute('SELECT pg_advisory_unlock(%s, %s)', [LOCK_CLASS, mailbox_id])

    def _run_incoming_cycle(self):
        """One cycle with its consequences: next schedule on success, back-off or suspension
        on failure. Never raises: a broken mailbox must not stop the others."""
        self.ensure_one()
        server = self.server_id
        try:
            with self._cycle_guard():
                stats = self._sync_incoming()
        except Exception as exc:  # classified and logged below
            self._incoming_failed(exc)
            self._commit()
            return None
        interval = next_interval(self.sync_interval or None, sum(stats.values()), server.interval_min,
                                 server.interval_default, server.interval_max)
        self.sudo().write({'sync_interval': interval, 'incoming_failures': 0,
                           'next_sync': _in_minutes(interval)})
        self.env['mail.sync.log'].resolve(self, 'incoming')
        self._commit()
        return stats

    @contextlib.contextmanager
    def _cycle_guard(self):
        """Undo the uncommitted part of a failed cycle (what was committed stays valid)."""
        if getattr(threading.currentThread(), 'testing', False):
            with self.env.cr.savepoint():
                yield
            return
        try:
            yield
        except Exception:
            self.env.cr.rollback()
            raise

    def _incoming_failed(self, exc):
        log = self.env['mail.sync.log']
        error = exc if isinstance(exc, SyncError) else SyncError(
            'unexpected', '%s: %s' % (type(exc).__name__, exc))
        if not isinstance(exc, SyncError):
            _logger.exception('mail_sync: unexpected error in mailbox %s', self.id)
        text = log.record_error(error, mailbox=self, channel='incoming')
        server = self.server_id
        if error.transient or error.code == 'unexpected':
            failures = self.incoming_failures + 1
            minutes = min(server.interval_max, server.interval_min * 2 ** (failures - 1))
            if error.retry_after:
                minutes = max(minutes, error.retry_after / 60.0)
            self.sudo().write({'incoming_failures': failures, 'next_sync': _in_minutes(minutes)})
            return
        self.sudo().write({'state': 'suspended', 'incoming_failures': self.incoming_failures + 1,
                           'next_sync': False})
        self.sudo().message_post(
            body=_('Incoming email sync is suspended: %s Once fixed, a manager runs Test & Enable '
                   'and sync resumes where it stopped.') % text,
            subject=_('Your mailbox needs attention'), partner_ids=[self.user_id.partner_id.id],
            message_type='notification', subtype='mail.mt_comment')

    def action_sync_now(self):
        """Sync at once (owner or manager); refused while another worker syncs it."""
        self.ensure_one()
        if self.user_id != self.env.user and \
                not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only the owner of a mailbox or a manager can sync it.'))
        mailbox = self.sudo()
        reason = mailbox._blocked_reason()
        if reason:
            raise UserError(_('This mailbox does not sync now: %s') % reason)
        if not self._try_lock(self.id):
            raise UserError(_('This mailbox is being synchronized right now. Try again in a moment.'))
        try:
            mailbox._run_incoming_cycle()
        finally:
            self._unlock(self.id)
        return True

    # ------------------------------------------------------------------ one cycle
    def _sync_incoming(self):
        """Run one incoming cycle; return counts per outcome."""
        self.ensure_one()
        stats = dict.fromkeys(('imported', 'linked', 'indexed', 'quarantined'), 0)
        connector = self.sudo()._connector('incoming')
        try:
            if isinstance(connector, ImapConnector):
                self._sync_imap(connector, stats)
            else:
                self._sync_pop3(connector, stats)
        finally:
            connector.close()
        self.sudo().write({'last_sync': fields.Datetime.now(), 'last_sync_count': sum(stats.values())})
        self._commit()
        return stats

    def _incoming_folders(self):
        return ['INBOX']

    def _sync_imap(self, connector, stats):
        Ledger = self.env['mail.sync.ledger'].sudo()
        for folder in self._incoming_folders():
            state = connector.select_folder(folder)
            last = Ledger.last_uid(self, folder, state.uidvalidity)
            since = None if last else self._first_sync_since()
            uids = connector.search_uids(last, since=since)
            for start in range(0, len(uids), BATCH):
                for message in connector.fetch(uids[start:start + BATCH], folder=folder):
                    self._ingest(message, {'folder': folder, 'uidvalidity': state.uidvalidity,
                                           'uid': message.uid}, stats)
                self._commit()

    def _sync_pop3(self, connector, stats):
        Ledger = self.env['mail.sync.ledger'].sudo()
        uidls = connector.list_uidls()
        known = set(Ledger.search([('mailbox_id', '=', self.id), ('uidl', 'in', list(uidls))]).mapped('uidl'))
        since = self._first_sync_since() if not known else None
        todo = sorted((number, uidl) for uidl, number in uidls.items() if uidl not in known)
        for count, (number, uidl) in enumerate(todo, 1):
            message = connector.retrieve(number, uidl)
            if since and _utc(message.date) and _utc(message.date) < since:
                continue  # older than "process email received after": never imported
            self._ingest(message, {'uidl': uidl}, stats)
            if count % BATCH == 0:
                self._commit()
        self._commit()

    def _first_sync_since(self):
        process_after = self.server_id.process_after
        return fields.Datetime.from_string(process_after) if process_after else None

    # ------------------------------------------------------------------ one message
    def _ingest(self, message, location, stats):
        """Record one remote message in the ledger, importing it when the rules say so."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        values = dict(location, mailbox_id=self.id, message_id=message.message_id,
                      subject=(message.subject or '')[:500], email_from=message.header('From')[:500],
                      recipients=', '.join(message.recipients)[:500], size=message.size,
                      date=_naive(message.date), preview=message.preview())
        try:
            with self.env.cr.savepoint():
                values.update(self._track(message))
                Ledger.create(values)
                stats[values['state']] += 1
        except Exception as exc:  # bad input never stops the mailbox: quarantine it
            _logger.info('mail_sync: quarantined %s in mailbox %s: %s', message.message_id, self.id, exc)
            values.update(state='quarantined', error='%s: %s' % (type(exc).__name__, exc),
                          track_reason=False, mail_message_id=False, model=False, res_id=False)
            values['raw_attachment_id'] = self.env['ir.attachment'].sudo().create({
                'name': 'quarantined-%s.eml' % (message.uid or message.uidl),
                'datas': base64.b64encode(message.raw[:RAW_KEEP_BYTES]),
                'datas_fname': 'message.eml', 'res_model': 'mail.sync.mailbox', 'res_id': self.id,
            }).id
            Ledger.create(values)
            stats['quarantined'] += 1
            self.env['mail.sync.log'].record(
                'message_quarantined', _('A message could not be imported and was set aside: '
                                         '"%s" from %s (%s).') % (values['subject'], values['email_from'],
                                                                  values['error']),
                mailbox=self, channel='incoming', severity='warning', error_class='permanent')

    def _track(self, message):
        """Ledger values saying what became of ``message`` (import, link or index only)."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        Message = self.env['mail.message'].sudo()
        seen = Ledger.search([('mailbox_id', '=', self.id), ('message_id', '=', message.message_id),
                              ('state', '!=', 'quarantined')], limit=1)
        if seen:
            # Same message at a new place (UIDVALIDITY change, recreated folder, copy):
            # remember the place, import nothing.
            return {'state': seen.state if seen.state == 'indexed' else 'linked',
                    'track_reason': seen.track_reason, 'mail_message_id': seen.mail_message_id.id,
                    'model': seen.model, 'res_id': seen.res_id}
        existing = Message.search([('message_id', '=', message.message_id)], limit=1)
        if existing:
            # Sent from Odoo, or already imported through another mapped user's mailbox.
            return {'state': 'linked', 'mail_message_id': existing.id, 'model': existing.model,
                    'res_id': existing.res_id}
        route = self._tracking_route(message)
        if not route:
            return {'state': 'indexed'}
        reason, model, res_id = route
        posted = self._import(message, model, res_id)
        return {'state': 'imported', 'track_reason': reason, 'mail_message_id': posted.id,
                'model': posted.model, 'res_id': posted.res_id}

    def _tracking_route(self, message, rule=None):
        """(reason, fallback model, fallback id) by the owner's rule, or None to only index."""
        rule = rule or self.user_id.mail_sync_track
        if rule == 'none':
            return None
        if message.references and self.env['mail.message'].sudo().search_count(
                [('message_id', 'in', message.references)]):
            return ('reply', None, None)
        if rule == 'odoo_replies':
            return None
        if self._alias_recipient(message):
            return ('alias', None, None)
        address = message.sender[1]
        partner = address and self.env['res.partner'].sudo().search(
            [('email', '=ilike', address)], limit=1)
        if partner:
            return ('known_sender', 'res.partner', partner.id)
        if rule == 'all' and address and self.server_id.create_unknown_contacts:
            partner = self.env['res.partner'].sudo().create(
                {'name': message.sender[0] or address, 'email': address})
            return ('all_email', 'res.partner', partner.id)
        return None

    def _alias_recipient(self, message):
        domain = self.env['ir.config_parameter'].sudo().get_param('mail.catchall.domain')
        if not domain:
            return False
        names = [addr.split('@')[0] for addr in message.recipients
                 if addr.endswith('@' + domain.lower())]
        return bool(names) and bool(self.env['mail.alias'].sudo().search_count(
            [('alias_name', 'in', names)]))

    def _import(self, message, model, res_id):
        """Post through Odoo's mail gateway; return the mail.message it created."""
        raw = message.raw
        if not message.header('Message-ID'):
            # Give the gateway the same stable Message-ID the ledger knows.
            raw = b'Message-ID: ' + message.message_id.encode('ascii') + b'\r\n' + raw
        self.env['mail.thread'].sudo().with_context(mail_sync_mailbox_id=self.id).message_process(
            model, raw, thread_id=res_id)
        posted = self.env['mail.message'].sudo().search([('message_id', '=', message.message_id)],
                                                         limit=1)
        if not posted:
            raise SyncError('not_imported', _('the mail gateway did not post the message'))
        return posted

    def _fetch_one(self, row):
        """Fetch one indexed message from the server right now (for Track)."""
        connector = self.sudo()._connector('incoming')
        try:
            if isinstance(connector, ImapConnector):
                state = connector.select_folder(row.folder)
                if state.uidvalidity != row.uidvalidity:
                    raise UserError(_('This email moved on the server since it was listed; it will '
                                      'appear again at the next sync.'))
                found = list(connector.fetch([row.uid], folder=row.folder))
            else:
                number = connector.list_uidls().get(row.uidl)
                found = [connector.retrieve(number, row.uidl)] if number else []
        finally:
            connector.close()
        if not found:
            raise UserError(_('This email is no longer on the server.'))
        return found[0]

    def _commit(self):
        """Commit point of a cycle; inside tests the transaction is kept for rollback."""
        if not getattr(threading.currentThread(), 'testing', False):
            self.env.cr.commit()


def _in_minutes(minutes):
    return fields.Datetime.to_string(datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes))


def _utc(value):
    """An aware datetime as a naive UTC datetime (Odoo's convention), None when unusable."""
    if value is None:
        return None
    try:
        if value.tzinfo is not None:
            value = (value - value.utcoffset()).replace(tzinfo=None)
        return value
    except (OverflowError, ValueError, TypeError):
        return None


def _naive(value):
    value = _utc(value)
    return fields.Datetime.to_string(value) if value else False
