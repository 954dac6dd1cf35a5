"""OAuth 2.0 tokens of a mailbox: the token API every connector uses, and connecting.

The API for connectors (IMAP, POP3, SMTP, EWS, Graph)::

    token = mailbox._oauth_access_token()            # a bearer access token string
    token = mailbox._oauth_access_token(refused=token)  # the resource server refused it

``_oauth_access_token`` returns a valid access token for the mailbox's profile:
app-only profiles share one token per profile (client credentials; a Google service
account gets one per mailbox, as the user it acts for); delegated profiles use the
refresh token the user connected. A token is refreshed ahead of expiry (see
``sync.oauth.refresh_due``), once per mailbox/profile however many workers ask at the
same time: the refresh runs under a row lock in a cursor of its own, and whoever
waited for the lock reads the token the first one stored. Tokens are stored encrypted
(``mail.sync.oauth.token``) and never logged. A refused, revoked or expired grant
raises ``sync.errors.AuthError`` whose ``detail`` holds the provider's error code
(``oauth_invalid_grant``: the user must reconnect; ``oauth_not_consented``: an admin
must consent; ``oauth_invalid_client``: the profile's secret is wrong); network
trouble raises ``TransientError``.
"""
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..sync.errors import AuthError, ConfigError, SyncError
from ..sync.oauth import BearerToken, missing_scopes

_logger = logging.getLogger(__name__)


class MailSyncMailbox(models.Model):
    _inherit = 'mail.sync.mailbox'

    oauth_connected = fields.Boolean(compute='_compute_oauth_state', string='Mailbox Connected')
    oauth_email = fields.Char(compute='_compute_oauth_state', string='Connected Address')
    auth_method = fields.Selection(related='server_id.auth_method', readonly=True)
    oauth_token_mode = fields.Selection(related='server_id.oauth_token_mode', readonly=True)

    def _compute_oauth_state(self):
        rows = {}
        ids = [m.id for m in self if isinstance(m.id, int)]
        if ids:  # token rows are committed by their own cursors: read them the same way
            with self.pool.cursor() as cr:
                cr.execute("""SELECT mailbox_key, email, refresh_token_crypt IS NOT NULL
                              FROM mail_sync_oauth_token WHERE mailbox_key IN %s""", [tuple(ids)])
                rows = {row[0]: row[1:] for row in cr.fetchall()}
        for mailbox in self:
            email, connected = rows.get(mailbox.id, (None, False))
            mailbox.oauth_connected = bool(connected)
            mailbox.oauth_email = email if connected else False

    # ------------------------------------------------------------------ connectors
    def _credentials(self):
        """OAuth profiles authenticate with a bearer token for the mailbox's address."""
        self.ensure_one()
        server = self.server_id.sudo()
        if server.auth_method != 'oauth':
            return super(MailSyncMailbox, self)._credentials()
        return BearerToken(self.email, lambda refused=None: self._oauth_access_token(refused),
                           server.oauth_mechanism)

    # ------------------------------------------------------------------ the token API
    def _oauth_access_token(self, refused=None):
        """A valid bearer access token (str) for this mailbox; see the module docstring.

        ``refused``: a token the server just refused (expired or revoked early): a new one is
        fetched unless another worker already replaced it."""
        self.ensure_one()
        server = self.server_id.sudo()
        if server.auth_method != 'oauth':
            raise ConfigError('oauth_not_configured', server.name)
        per_mailbox = server._oauth_token_per_mailbox()
        mailbox_key = self.id if per_mailbox else 0
        Token = self.env['mail.sync.oauth.token'].sudo()
        provider = None
        with self.pool.cursor() as cr:  # own transaction: see mail_sync_oauth_token.py
            row_id = Token._row(cr, server.id, mailbox_key)
            token = Token._valid_access(cr, row_id, refused)
            if token:
                return token
            provider = server._oauth_provider()
            cr.execute("SET LOCAL lock_timeout = %s", ['%ds' % (2 * server.timeout + 5)])
            token = Token._valid_access(cr, row_id, refused, lock=True)
            if token:  # another worker refreshed while we waited for the lock
                return token
            row = Token.with_env(Token.env(cr=cr)).browse(row_id)
            try:
                if server.oauth_token_mode == 'delegated':
                    refresh_token = row._secret_get('refresh_token_crypt')
                    if not refresh_token:
                        raise AuthError('oauth_not_connected', self.email or '')
                    response = provider.refresh(refresh_token)
                else:
                    response = provider.client_credentials(subject=self.email if per_mailbox else None)
            except AuthError as error:
                if error.code == 'oauth_invalid_grant' and server.oauth_token_mode == 'delegated':
                    # The refresh token is dead: keep the address, drop the secrets.
                    row._secret_set('refresh_token_crypt', None)
                    row._secret_set('access_token_crypt', None)
                    cr.execute('UPDATE mail_sync_oauth_token SET expires_at = NULL WHERE id = %s',
                               [row_id])
                    cr.commit()
                raise
            Token._store(cr, row_id, response)
            _logger.info('OAuth token refreshed for %s (profile %s)', 'mailbox %s' % self.id
                         if per_mailbox else 'app', server.id)
            return response.access_token

    def _oauth_scope_problem(self, token_scope, channel):
        """Scopes of the profile that the provider did not grant, for Test & Enable."""
        needed = (self.server_id.sudo().oauth_scopes or '').split()
        return missing_scopes(token_scope, needed)

    def _oauth_granted_scope(self):
        self.ensure_one()
        server = self.server_id.sudo()
        key = self.id if server._oauth_token_per_mailbox() else 0
        with self.pool.cursor() as cr:
            cr.execute('SELECT scope FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = %s',
                       [server.id, key])
            row = cr.fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ connecting (delegated)
    def _oauth_store_grant(self, response):
        """Keep what the authorization code flow returned (refresh token encrypted); commit."""
        self.ensure_one()
        if not response.refresh_token:
            raise AuthError('oauth_no_refresh_token', self.server_id.name)
        Token = self.env['mail.sync.oauth.token'].sudo()
        with self.pool.cursor() as cr:
            row_id = Token._row(cr, self.server_id.id, self.id)
            Token._store(cr, row_id, response, email=response.email)

    def action_oauth_disconnect(self):
        """Forget this mailbox's OAuth grant (the user's own, or a manager's action)."""
        self._oauth_check_owner()
        Token = self.env['mail.sync.oauth.token'].sudo()
        for mailbox in self:
            with self.pool.cursor() as cr:
                Token._forget(cr, mailbox.server_id.id, mailbox.id)
            self.env['mail.sync.log'].record(
                'oauth_disconnected', _('Mailbox disconnected from the OAuth provider by %s.')
                % self.env.user.name, mailbox=mailbox, severity='info')
        self.invalidate_cache(['oauth_connected', 'oauth_email'])
        return True

    def action_oauth_connect(self):
        """Start "Connect my mailbox" (the user's own mailbox only)."""
        self.ensure_one()
        if self.user_id != self.env.user:
            raise UserError(_('Only %s can connect this mailbox: send them the link "Connect my '
                              'mailbox" from the mailbox form.') % self.user_id.name)
        return {'type': 'ir.actions.act_url', 'target': 'self',
                'url': '/mail_sync/oauth/start?mailbox=%d' % self.id}

    def _oauth_check_owner(self):
        manager = self.env.user.has_group('mail_sync.group_mail_sync_manager')
        for mailbox in self:
            if not manager and mailbox.user_id != self.env.user:
                raise UserError(_('You can only change your own mailbox.'))

    def unlink(self):
        keys = [(m.server_id.id, m.id) for m in self]
        result = super(MailSyncMailbox, self).unlink()
        for server_id, mailbox_id in keys:
            self.env.cr.execute('DELETE FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = %s',
                                [server_id, mailbox_id])
        return result

    @api.model
    def _oauth_connect_link(self):
        base = self.env['ir.config_parameter'].sudo().get_param('web.base.url') or ''
        return base.rstrip('/') + '/mail_sync/oauth/start'
