from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from .mail_sync_ledger import INDEX_RETENTION_DAYS
from .mail_sync_mailbox_housekeeping import DISABLE_AFTER_DAYS, LOG_RETENTION_DAYS
from .mail_sync_mailbox_jobs import job_channels_setting
from .mail_sync_mailbox_scheduler import MAX_TRANSIENT_FAILURES
from ..wizards.mail_sync_track import DEFAULT_TRACK_MODELS, TRACK_MODELS_PARAM


def _int(params, key, default):
    try:
        return int(params.get_param(key, default))
    except (TypeError, ValueError):
        return default


class ResConfigSettings(models.TransientModel):
    """Server-Side Sync options, kept as system parameters (Odoo 11 settings need
    explicit get_values/set_values for that)."""

    _inherit = 'res.config.settings'

    mail_sync_approved_only = fields.Boolean(
        string='Process Email Only for Approved Mailboxes',
        help='A mailbox syncs only once a manager has approved its email address.')
    mail_sync_job_channels = fields.Char(
        string='Parallel Workers (job channel capacities)', readonly=True,
        help='Job runner capacities of this Odoo host, from its configuration ([queue_job] channels '
             'or ODOO_QUEUE_JOB_CHANNELS), e.g. root.mail_sync.incoming:2 syncs two mailboxes at once.')
    mail_sync_max_transient_failures = fields.Integer(
        string='Failures Before Suspension',
        help='Consecutive temporary failures (timeouts, refused connections) after which a '
             'channel is suspended as if the failure were permanent.')
    mail_sync_disable_after_days = fields.Integer(
        string='Disable Mailboxes Not Synced For (days)',
        help='Enabled mailboxes without a successful sync for this long are disabled, with a log entry.')
    mail_sync_log_retention_days = fields.Integer(string='Keep Sync Logs (days)')
    mail_sync_index_retention_days = fields.Integer(
        string='Keep Untracked Email in "My Mailbox" (days)',
        help='After this, the sender, subject and preview of untracked email are forgotten.')
    mail_sync_track_models = fields.Char(
        string='Documents to Track Email On',
        help='Models offered by "Track On...", most useful first, separated by commas (e.g. '
             'res.partner,crm.lead). Business documents with a chatter only.')

    @api.model
    def get_values(self):
        values = super(ResConfigSettings, self).get_values()
        params = self.env['ir.config_parameter'].sudo()
        values.update(
            mail_sync_approved_only=params.get_param('mail_sync.approved_only') in ('True', '1'),
            mail_sync_index_retention_days=_int(params, 'mail_sync.index_retention_days',
                                                INDEX_RETENTION_DAYS),
            mail_sync_max_transient_failures=_int(params, 'mail_sync.max_transient_failures',
                                                  MAX_TRANSIENT_FAILURES),
            mail_sync_disable_after_days=_int(params, 'mail_sync.disable_after_days', DISABLE_AFTER_DAYS),
            mail_sync_log_retention_days=_int(params, 'mail_sync.log_retention_days', LOG_RETENTION_DAYS),
            mail_sync_track_models=params.get_param(TRACK_MODELS_PARAM) or DEFAULT_TRACK_MODELS,
            mail_sync_job_channels=job_channels_setting(),
        )
        return values

    def set_values(self):
        # Settings are a transient model (no access rights in Odoo 11): only Odoo's ``execute``
        # checks the caller, and this method is reachable over RPC on its own.
        if not self.env.user._is_admin():
            raise AccessError(_('Only an administrator can change the settings.'))
        super(ResConfigSettings, self).set_values()
        params = self.env['ir.config_parameter'].sudo()
        params.set_param('mail_sync.approved_only', repr(bool(self.mail_sync_approved_only)))
        for key, value, default in (
                ('mail_sync.index_retention_days', self.mail_sync_index_retention_days, INDEX_RETENTION_DAYS),
                ('mail_sync.max_transient_failures', self.mail_sync_max_transient_failures,
                 MAX_TRANSIENT_FAILURES),
                ('mail_sync.disable_after_days', self.mail_sync_disable_after_days, DISABLE_AFTER_DAYS),
                ('mail_sync.log_retention_days', self.mail_sync_log_retention_days, LOG_RETENTION_DAYS)):
            params.set_param(key, str(max(1, value or default)))
        self._set_track_models(params)

    def _set_track_models(self, params):
        """Keep the Track On list, refusing what is not a business document with a chatter."""
        text = (self.mail_sync_track_models or '').strip() or DEFAULT_TRACK_MODELS
        refused = self.env['mail.sync.track']._track_model_names(text)[1]
        if refused:
            raise UserError(_('Email cannot be tracked on %s: list business documents with a chatter '
                              '(such as res.partner, crm.lead), not technical models.') % ', '.join(refused))
        kept = [name.strip() for name in text.split(',') if name.strip()]
        params.set_param(TRACK_MODELS_PARAM, ','.join(sorted(set(kept), key=kept.index)))
