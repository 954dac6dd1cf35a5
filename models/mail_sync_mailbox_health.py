"""The health of a mailbox in one word and one sentence, for its owner (Preferences) and
for managers (Monitoring > Mailbox Health), plus the sync lag the managers sort on."""
import datetime

from odoo import _, api, fields, models

from .mail_sync_mailbox import CHANNEL_FIELDS

HEALTH = [('ok', 'OK'), ('warning', 'Warning'), ('error', 'Error')]
RECENT_PROBLEMS = datetime.timedelta(hours=24)
ALERTS_SHOWN = 30


class MailSyncMailboxHealth(models.Model):
    _inherit = 'mail.sync.mailbox'

    health = fields.Selection(HEALTH, compute='_compute_health')
    health_message = fields.Text(string='Health Details', compute='_compute_health')
    sync_lag_since = fields.Datetime(
        string='Synchronized Up To', compute='_compute_sync_lag_since', store=True, readonly=True,
        help='The last successful incoming sync, or when the mailbox was enabled if none succeeded '
             'yet. Empty when the mailbox does not sync incoming email. Sorting on it ascending '
             'lists the mailboxes that lag most first.')
    sync_lag_hours = fields.Float(string='Sync Lag (h)', compute='_compute_sync_lag_hours',
                                  digits=(16, 1),
                                  help='Hours since the last successful incoming sync (or since the '
                                       'mailbox was enabled when none succeeded yet).')
    alert_ids = fields.One2many('mail.sync.log', compute='_compute_alert_ids', string='Alerts',
                                help='The latest errors, warnings and events of this mailbox, '
                                     'newest first.')

    def _compute_alert_ids(self):
        """The wall of alerts, as Dynamics shows on a mailbox: read with the reader's
        rights (owners and managers only, by the log's record rules)."""
        Log = self.env['mail.sync.log']
        for mailbox in self:
            mailbox.alert_ids = Log.search([('mailbox_id', '=', mailbox.id)], limit=ALERTS_SHOWN,
                                           order='last_seen desc, id desc') if mailbox.id else Log

    # ------------------------------------------------------------------ lag
    @api.depends('state', 'incoming_enabled', 'channel_ids.channel', 'channel_ids.last_success',
                 'channel_ids.test_date')
    def _compute_sync_lag_since(self):
        for mailbox in self:
            if mailbox.incoming_enabled and mailbox.state in ('enabled', 'suspended'):
                incoming = mailbox.sudo().channel_ids.filtered(lambda row: row.channel == 'incoming')
                mailbox.sync_lag_since = (incoming.last_success or incoming.test_date
                                          or mailbox.create_date or fields.Datetime.now())
            else:
                mailbox.sync_lag_since = False

    def _compute_sync_lag_hours(self):
        now = datetime.datetime.utcnow()
        for mailbox in self:
            since = mailbox.sync_lag_since
            mailbox.sync_lag_hours = (
                max(0.0, (now - fields.Datetime.from_string(since)).total_seconds() / 3600.0)
                if since else 0.0)

    # ------------------------------------------------------------------ health
    def _compute_health(self):
        problems = self._unresolved_problems()
        recent = fields.Datetime.to_string(datetime.datetime.utcnow() - RECENT_PROBLEMS)
        for mailbox in self:
            level, _headline, details = mailbox._sync_status(problems.get(mailbox.id, []), recent)
            mailbox.health, mailbox.health_message = level, details

    def _unresolved_problems(self):
        """Unresolved error and warning log rows of these mailboxes, newest first, by mailbox.

        Events (mapping changes, automatic disabling) are never "resolved", so only
        transient and permanent errors count as problems.
        """
        logs = self.env['mail.sync.log'].sudo().search([
            ('mailbox_id', 'in', self.ids), ('resolved', '=', False),
            ('severity', 'in', ('warning', 'error')), ('error_class', '!=', 'event'),
        ], order='last_seen desc, id desc')
        by_mailbox = {}
        for log in logs:
            by_mailbox.setdefault(log.mailbox_id.id, []).append(log)
        return by_mailbox

    def _health(self, logs, recent):
        """(health, message) of one mailbox, given its unresolved problems newest first."""
        level, _headline, details = self._sync_status(logs, recent)
        return level, details

    def _sync_status(self, logs=None, recent=None):
        """The one status of this mailbox: (health, headline, details).

        Every place that says how a mailbox is doing (the form's status line and health
        box, the managers' health list, the user's Preferences) reads it from here, from
        the mailbox state and the state of each active channel, so they never disagree.
        ``logs`` are its unresolved problems newest first (read when None)."""
        self.ensure_one()
        mailbox = self.sudo()
        if logs is None:
            logs = mailbox._unresolved_problems().get(mailbox.id, [])
        if recent is None:
            recent = fields.Datetime.to_string(datetime.datetime.utcnow() - RECENT_PROBLEMS)
        channels = [channel for channel, flag in CHANNEL_FIELDS.items() if mailbox[flag]]
        states = mailbox._channel_states()
        suspended = [c for c in channels if states[c].status == 'suspended']
        retrying = [c for c in channels if states[c].status == 'retrying']
        failed_tests = [c for c in channels if states[c].test_state == 'failure']

        def latest(channels=None):
            for log in logs:
                if channels is None or log.channel in channels or log.channel == 'general':
                    return log.message
            return None

        def names(channels):
            return ', '.join(mailbox._channel_label(c) for c in channels)

        if mailbox.test_running and mailbox.test_started and \
                mailbox.test_started >= mailbox._test_deadline():
            return 'warning', _('Testing the connection...'), _(
                'Test & Enable is checking each channel; the result appears at the top of the '
                'mailbox form.')
        if mailbox.state == 'draft':
            if failed_tests:
                channel = failed_tests[0]
                return 'error', _('Not synchronizing: the connection test failed (%s).') % names(
                    failed_tests), _('%(channel)s: %(cause)s What to do: fix the cause, then run Test '
                                     '& Enable again.') % {
                    'channel': mailbox._channel_label(channel),
                    'cause': states[channel].test_message or ''}
            reason = mailbox.needs_test_reason or _(
                'A manager runs Test & Enable to check the connection and start synchronizing.')
            return 'warning', _('Not synchronizing yet: needs Test & Enable.'), reason
        if mailbox.state == 'disabled':
            return 'warning', _('Not synchronizing: disabled by an administrator.'), _(
                'Not synchronizing: the mailbox was disabled by an administrator. A manager runs '
                'Test & Enable to start it again.')
        if mailbox.state == 'suspended' or suspended:
            cause = latest(suspended or None) or _('the last connection test or sync failed.')
            headline = (_('Suspended: %s.') % names(suspended) if suspended
                        else _('Suspended by errors.'))
            return 'error', headline, _(
                'Suspended%(channels)s: %(cause)s What to do: fix the cause above (or ask your '
                'administrator to), then a manager runs Test & Enable on the mailbox; sync resumes '
                'where it stopped.') % {'channels': ' (%s)' % names(suspended) if suspended else '',
                                        'cause': cause}
        blocked = mailbox._blocked_reason()
        if blocked:
            return 'warning', blocked, blocked
        requested = [c for c in channels if states[c].sync_requested_by]
        if requested:
            return 'ok', _('Sync Now requested (%s): it runs in a moment.') % names(requested), _(
                'The sync runs as soon as a worker is free; you are told when it is done.')
        if retrying:
            channel = retrying[0]
            failures = states[channel].failures
            cause = latest(retrying) or _('no details were logged.')
            return 'warning', _('Synchronizing; retrying after errors (%s).') % names(retrying), _(
                'Retrying after %(count)d failures (%(channel)s): %(cause)s') % {
                'channel': mailbox._channel_label(channel), 'count': failures, 'cause': cause}
        fresh = [log for log in logs if log.last_seen >= recent]
        if fresh:
            return 'warning', _('Synchronizing, with recent problems.'), _(
                '%(count)d problem(s) in the last 24 hours, the latest: %(cause)s') % {
                'count': len(fresh), 'cause': fresh[0].message}
        return 'ok', _('Synchronizing.'), mailbox._ok_message()

    def _ok_message(self):
        last, upcoming = self.incoming_last_success or self.last_sync, self.next_sync
        if not self.incoming_enabled:
            return _('Synchronizing.')
        if last and upcoming:
            return _('Last synchronized at %s, next sync at %s.') % (
                self._format_datetime(last), self._format_datetime(upcoming))
        if last:
            return _('Last synchronized at %s.') % self._format_datetime(last)
        if upcoming:
            return _('Enabled; the first sync is due at %s.') % self._format_datetime(upcoming)
        return _('Enabled; the first sync is due now.')

    def _format_datetime(self, value):
        """A UTC datetime string in the reader's time zone and language formats."""
        lang = self.env['res.lang']._lang_get(self.env.lang or 'en_US')
        pattern = '%s %s' % (lang.date_format or '%m/%d/%Y', '%H:%M')
        local = fields.Datetime.context_timestamp(self, fields.Datetime.from_string(value))
        return local.strftime(pattern)
