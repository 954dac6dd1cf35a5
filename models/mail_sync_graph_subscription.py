"""A Microsoft Graph change-notification subscription of one mailbox folder.

Microsoft posts a notification to Odoo's controller when a message arrives or changes
(roles ``inbox``, ``sent``: the incoming channel) or an event, a contact or a To Do task
of the user changes (roles ``appointment``, ``contact``, ``task``: the act channel);
the controller checks its ``clientState`` (a secret per subscription, stored encrypted)
and only sets ``pending``: the mailbox's channel becomes due and its normal cycle reads
the delta.
Nothing in a notification is trusted beyond "something changed". ``pending`` is cleared
when a cycle starts, so a burst of notifications gives one cycle, and a notification
that arrives during a cycle gives one more.
"""
import datetime
import hmac
import logging
import secrets

from odoo import api, fields, models

from ..sync.errors import SyncError

_logger = logging.getLogger(__name__)

LIFETIME = datetime.timedelta(days=2)  # Graph allows under 7 days for messages
RENEW_BEFORE = datetime.timedelta(days=1)
GRAPH_FOLDERS = {'inbox': 'inbox', 'sent': 'sentitems'}
# The sync channel whose cycle a notification of each role makes due (act roles are kinds).
ROLE_CHANNEL = {'inbox': 'incoming', 'sent': 'incoming', 'appointment': 'act', 'contact': 'act', 'task': 'act'}


def roles_of(channel):
    return sorted(role for role, of in ROLE_CHANNEL.items() if of == channel)


class MailSyncGraphSubscription(models.Model):
    _name = 'mail.sync.graph.subscription'
    _inherit = ['mail.sync.secret.mixin']
    _secret_columns = ('client_state_crypt',)
    _description = 'Server-Side Sync: Microsoft Graph Subscription'
    _order = 'mailbox_id, role'

    mailbox_id = fields.Many2one('mail.sync.mailbox', required=True, ondelete='cascade', index=True)
    role = fields.Selection([('inbox', 'Inbox'), ('sent', 'Sent Items'), ('appointment', 'Calendar'),
                             ('contact', 'Contacts'), ('task', 'To Do Tasks')], required=True)
    remote_id = fields.Char(string='Subscription Id', required=True, index=True, readonly=True)
    expires = fields.Datetime(required=True, readonly=True)
    state = fields.Selection([('active', 'Active'), ('reauthorize', 'Reauthorization Required'),
                              ('removed', 'Removed by Microsoft')], default='active', required=True,
                             readonly=True)
    pending = fields.Boolean(readonly=True, index=True,
                             help='A notification arrived since the last cycle started.')
    notified_at = fields.Datetime(string='Last Notification', readonly=True)

    _sql_constraints = [
        ('remote_uniq', 'unique(remote_id)', 'A Graph subscription is recorded once.'),
        ('mailbox_role_uniq', 'unique(mailbox_id, role)', 'One subscription per mailbox folder.'),
    ]

    @api.model
    def _new_client_state(self):
        return secrets.token_urlsafe(32)

    def _client_state_matches(self, value):
        self.ensure_one()
        expected = self._secret_get('client_state_crypt') or ''
        return bool(expected) and hmac.compare_digest(expected.encode('utf-8'), (value or '').encode('utf-8'))

    @api.model
    def _cron_renew(self):
        """Renew the subscriptions that expire within a day (the cycles of subscribed
        mailboxes renew them too; this covers mailboxes that do not cycle meanwhile)."""
        soon = fields.Datetime.to_string(datetime.datetime.utcnow() + RENEW_BEFORE)
        due = sorted({(row.mailbox_id.id, ROLE_CHANNEL[row.role])
                      for row in self.sudo().search([('expires', '<', soon)])})
        for mailbox_id, channel in due:
            mailbox = self.env['mail.sync.mailbox'].sudo().browse(mailbox_id)
            if mailbox._blocked_reason():
                continue
            with mailbox._connection_slot(channel) as slot:
                if slot is None:
                    continue
                try:
                    connector = mailbox._connector(channel)
                except SyncError as exc:
                    self.env['mail.sync.log']._record_error(exc, mailbox=mailbox, channel=channel)
                    continue
                try:
                    mailbox._graph_maintain_subscriptions(connector, channel)
                finally:
                    connector.close()
            mailbox._commit()
        return True
