"""Sync Now: the button brings the mailbox's next cycle of each channel it concerns
forward to now, as a job; the request itself never talks to a mail server. The form says
the sync is requested, and the user who asked is told over the bus when the cycle ran."""
from odoo import _, fields, models
from odoo.exceptions import AccessError, UserError

from .mail_sync_mailbox import CHANNEL_FIELDS
from .mail_sync_mailbox_jobs import identity


class MailSyncMailboxSyncNow(models.Model):
    _inherit = 'mail.sync.mailbox'

    def _sync_now(self, channels):
        """Enqueue a cycle of each of ``channels`` that is turned on, at once (owner or
        manager). A mailbox or channel that does not sync says why instead."""
        self.ensure_one()
        if self.user_id != self.env.user and \
                not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only the owner of a mailbox or a manager can sync it.'))
        mailbox = self.sudo()
        reason = mailbox._blocked_reason()
        if reason:
            raise UserError(_('This mailbox does not sync now: %s') % reason)
        channels = [channel for channel in channels if mailbox[CHANNEL_FIELDS[channel]]]
        if not channels:
            raise UserError(_('This mailbox does not sync now: the channel is turned off.'))
        states = mailbox._channel_states()
        suspended = [channel for channel in channels if states[channel].status == 'suspended']
        if len(suspended) == len(channels):  # only some: the others sync, the status line says why
            raise UserError(_('This mailbox does not sync now: %s is suspended. Once the cause is '
                              'fixed, a manager runs Test & Enable and sync resumes where it stopped.')
                            % mailbox._channel_label(suspended[0]))
        for channel in [channel for channel in channels if channel not in suspended]:
            states[channel]._sync_requested(self.env.user)
            mailbox._enqueue_cycle(channel)
        return True

    def _sync_now_done(self, channel):
        """After a job's cycle of ``channel``: tell whoever asked for it with Sync Now, unless
        a cycle is due at once after it (the click came while this one ran, or a backlog is
        left): that one tells them."""
        self.ensure_one()
        row = self.sudo()._channel_state(channel)
        user = row.sync_requested_by
        if not user:
            return False
        if self.env['queue.job'].sudo().search_count([
                ('identity_key', '=', identity(channel, self.id)), ('state', 'in', ('pending', 'enqueued')),
                '|', ('eta', '=', False), ('eta', '<=', fields.Datetime.now())]):
            row._sync_requested(user)  # this cycle set its next time: the requested one runs anyway
            return False
        row._sync_request_done()
        mailbox = self.sudo().with_context(lang=user.lang)
        mailbox.invalidate_cache()
        self.env['bus.bus'].sendone((self.env.cr.dbname, 'res.partner', user.partner_id.id), {
            'type': 'mail_sync_sync', 'mailbox_id': self.id, 'channel': channel, 'done': True,
            'failed': row.status != 'ok',
            'title': _('Server-Side Sync: Sync Now'),
            'text': _('%(email)s: %(channel)s synchronized. %(status)s') % {
                'email': mailbox.email, 'channel': mailbox._channel_label(channel),
                'status': mailbox._sync_status()[1]}})
        return True
