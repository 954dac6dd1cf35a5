"""Housekeeping, on its own cron so it never delays a sync: disable mailboxes that can no
longer sync, apply the retention of logs, sync conflicts and the "My Mailbox" index."""
import datetime
import logging

from odoo import _, api, fields, models

from . import transaction
from .batch_delete import delete_older

_logger = logging.getLogger(__name__)

DISABLE_AFTER_DAYS = 14
LOG_RETENTION_DAYS = 30
DELETE_BATCH = 5000


class MailSyncMailboxHousekeeping(models.Model):
    _inherit = 'mail.sync.mailbox'

    @api.model
    def _cron_housekeeping(self):
        self._disable_unusable()
        self._commit_housekeeping()
        days = self._param_days('mail_sync.log_retention_days', LOG_RETENTION_DAYS)
        self.env['mail.sync.log']._gc(days, DELETE_BATCH, self._commit_housekeeping)
        # Conflicts the user has had time to see go with the log entries of the same age.
        delete_older(self.env.cr, 'mail_sync_conflict', 'date', days, DELETE_BATCH, self._commit_housekeeping)
        self.env['mail.sync.conflict'].invalidate_cache()
        self.env['mail.sync.ledger']._cron_expire_index()
        self.env['mail.sync.stat']._gc()
        self._commit_housekeeping()
        return True

    @api.model
    def _param_days(self, key, default):
        value = self.env['ir.config_parameter'].sudo().get_param(key, default)
        try:
            return max(1, int(value))
        except (TypeError, ValueError):
            return default

    @api.model
    def _disable_unusable(self):
        """Disable the mailboxes of archived users, and enabled mailboxes whose incoming
        email has not synced for the configured number of days; each gets a log entry."""
        days = self._param_days('mail_sync.disable_after_days', DISABLE_AFTER_DAYS)
        cutoff = fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(days=days))
        enabled = self.sudo().with_context(active_test=False).search([('state', '=', 'enabled')])
        archived = enabled.filtered(lambda m: not m.user_id.active)
        stale = (enabled - archived).filtered(
            lambda m: m.incoming_enabled and (m.incoming_last_success or m.incoming_test_date or
                                              m.create_date) < cutoff)
        for mailbox, reason in [(m, _('its user is archived')) for m in archived] + \
                               [(m, _('no successful sync for %d days') % days) for m in stale]:
            mailbox.write({'state': 'disabled'})
            self.env['mail.sync.log']._record(
                'auto_disabled', _('Mailbox disabled automatically: %s.') % reason,
                mailbox=mailbox, severity='warning', error_class='event')
        return archived | stale

    def _commit_housekeeping(self):
        """Commit point between housekeeping batches (a killed run keeps what it did)."""
        transaction.commit(self.env.cr)
