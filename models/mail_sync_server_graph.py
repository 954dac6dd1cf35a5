"""Microsoft 365 (Graph) settings of an email server profile: where Graph is, and the
public address of this Odoo that Microsoft posts change notifications to."""
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..sync.graph import GRAPH_URL

NOTIFY_PATH = '/mail_sync/graph/notify'
# Entra ID scopes of Microsoft Graph: application permissions come as the resource's .default.
GRAPH_SCOPES = {
    'app': 'https://graph.microsoft.com/.default',
    'delegated': 'https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send '
                 'offline_access',
}


class MailSyncServerGraph(models.Model):
    _inherit = 'mail.sync.server'

    graph_url = fields.Char(
        string='Microsoft Graph URL', default=GRAPH_URL,
        help='The Graph v1.0 root; change it only for a national cloud (e.g. '
             'https://graph.microsoft.us/v1.0).')
    graph_public_url = fields.Char(
        string='Public URL of Odoo for Notifications',
        help='The https:// address at which Microsoft reaches this Odoo (e.g. https://erp.example.com). '
             'With it, new email is announced by Microsoft within seconds; without it, mailboxes '
             'are polled only.')
    graph_subscribed_interval = fields.Integer(
        string='Polling Interval with Notifications (min)', default=15, required=True,
        help='Mailboxes that receive change notifications are still polled, as a safety net, at '
             'this longer interval.')
    graph_push_status = fields.Char(string='New Email Detection', compute='_compute_graph_push_status')
    graph_invitations = fields.Selection(
        [('microsoft', 'Microsoft 365'), ('odoo', 'Odoo')], string='Meeting Invitations Sent By',
        default='microsoft', required=True,
        help='Who sends the invitations, updates and cancellations of meetings organized by users of '
             'this profile. Microsoft 365: the meeting is written to Outlook with its attendees and '
             'Microsoft 365 sends them; Odoo sends none. Odoo: Odoo sends them as usual and the meeting '
             'is written to Outlook without attendees, so Microsoft 365 sends none. Each attendee '
             'receives each message once, never from both.')

    @api.depends('server_type', 'graph_public_url')
    def _compute_graph_push_status(self):
        for server in self:
            if server.server_type != 'graph':
                server.graph_push_status = False
            elif server.graph_public_url:
                server.graph_push_status = _('Change notifications to %s, polling every %d minutes as '
                                             'a safety net.') % (server._graph_notify_url(),
                                                                 server.graph_subscribed_interval)
            else:
                server.graph_push_status = _('Polling only: no public URL of Odoo is set, so Microsoft '
                                             'cannot send change notifications.')

    def _graph_notify_url(self):
        self.ensure_one()
        return (self.graph_public_url or '').rstrip('/') + NOTIFY_PATH if self.graph_public_url else False

    @api.onchange('server_type', 'oauth_provider', 'oauth_token_mode')
    def _onchange_graph_oauth(self):
        """Microsoft Graph takes OAuth 2.0 only; with Entra ID, its Graph scopes."""
        if self.server_type != 'graph':
            return
        self.auth_method = 'oauth'
        self.credential_mode = 'profile' if self.oauth_token_mode == 'app' else 'mailbox'
        if self.oauth_provider == 'entra':
            self.oauth_scopes = GRAPH_SCOPES['app' if self.oauth_token_mode == 'app' else 'delegated']

    @api.constrains('server_type', 'auth_method', 'graph_url', 'graph_public_url', 'graph_subscribed_interval')
    def _check_graph_settings(self):
        for server in self.filtered(lambda s: s.server_type == 'graph'):
            if server.auth_method != 'oauth':
                raise ValidationError(_('Microsoft 365 (Graph) accepts OAuth 2.0 only: choose OAuth 2.0 '
                                        'as the authentication.'))
            if not (server.graph_url or '').lower().startswith('https://'):
                raise ValidationError(_('The Microsoft Graph URL must start with https://'))
            public = (server.graph_public_url or '').lower()
            if public and not public.startswith(('https://', 'http://127.0.0.1', 'http://localhost')):
                raise ValidationError(_('Microsoft sends notifications only to an https:// address: '
                                        'enter the public https:// URL of this Odoo.'))
            if server.graph_subscribed_interval < 1:
                raise ValidationError(_('The polling interval with notifications must be at least '
                                        'one minute.'))
