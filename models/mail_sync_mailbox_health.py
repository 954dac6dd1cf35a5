"""The health of a mailbox in one word and one sentence, for its owner (Preferences) and
for managers (Monitoring > Mailbox Health), plus the sync lag the managers sort on."""
import datetime

from odoo import _, api, fields, models

from .mail_sync_mailbox import CHANNEL_FIELDS

HEALTH = [('ok', 'OK'), ('warning', 'Warning'), ('error', 'Error')]
RECENT_PROBLEMS = datetime.timedelta(hours=24)


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

    # ------------------------------------------------------------------ lag
    @api.depends('state', 'incoming_enabled', 'incoming_last_success', 'incoming_test_date')
    def _compute_sync_lag_since(self):
        for mailbox in self:
            if mailbox.incoming_enabled and mailbox.state in ('enabled', 'suspended'):
                mailbox.sync_lag_since = (mailbox.incoming_last_success or mailbox.incoming_test_date
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
            logs = problems.get(mailbox.id, [])
            mailbox.health, mailbox.health_message = mailbox._health(logs, recent)

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
        self.ensure_one()
        mailbox = self.sudo()
        channels = [channel for channel, flag in CHANNEL_FIELDS.items() if mailbox[flag]]
        suspended = [c for c in channels if mailbox[c + '_status'] == 'suspended']
        retrying = [c for c in channels if mailbox[c + '_status'] == 'retrying']

        def latest(channels=None):
            for log in logs:
                if channels is None or log.channel in channels or log.channel == 'general':
                    return log.message
            return None

        if mailbox.state in ('draft', 'disabled'):
            # Nothing syncs, by choice rather than by fault: say so, without alarm.
            return 'warning', _('Not synchronizing: %s.') % dict(
                self._fields['state']._description_selection(self.env))[mailbox.state]
        if mailbox.state == 'suspended' or suspended:
            cause = latest(suspended or None) or _('the last connection test or sync failed.')
            names = ', '.join(mailbox._channel_label(c) for c in suspended)
            return 'error', _(
                'Suspended%(channels)s: %(cause)s What to do: fix the cause above (or ask your '
                'administrator to), then a manager runs Test & Enable on the mailbox; sync resumes '
                'where it stopped.') % {'channels': ' (%s)' % names if names else '', 'cause': cause}
        blocked = mailbox._blocked_reason()
        if blocked:
            return 'warning', blocked
        if retrying:
            channel = retrying[0]
            failures = mailbox[channel + '_failures'] if (channel + '_failures') in mailbox._fields \
                else 0
            cause = latest(retrying) or _('no details were logged.')
            return 'warning', _('Retrying after %(count)d failures (%(channel)s): %(cause)s') % {
                'channel': mailbox._channel_label(channel), 'count': failures, 'cause': cause}
        fresh = [log for log in logs if log.last_seen >= recent]
        if fresh:
            return 'warning', _('%(count)d problem(s) in the last 24 hours, the latest: %(cause)s') % {
                'count': len(fresh), 'cause': fresh[0].message}
        return 'ok', mailbox._ok_message()

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
