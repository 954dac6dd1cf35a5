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

import psycopg2
from psycopg2.errorcodes import LOCK_NOT_AVAILABLE

from odoo import _, fields, models
from odoo.exceptions import AccessError

from ..sync.errors import AuthError, ConfigError, TransientError
from ..sync.oauth import BearerToken

_logger = logging.getLogger(__name__)


class MailSyncMailbox(models.Model):
    _inherit = 'mail.sync.mailbox'

    oauth_connected = fields.Boolean(compute='_compute_oauth_state', string='Mailbox Connected')
    oauth_email = fields.Char(compute='_compute_oauth_state', string='Connected Address')
    auth_method = fields.Selection(related='server_id.auth_method', readonly=True)
    oauth_token_mode = fields.Selection(related='server_id.oauth_token_mode', readonly=True)
    oauth_connect_link = fields.Char(
        compute='_compute_oauth_connect_link', string='Link to Send the User',
        help='The user opens it signed in to Odoo and connects their mailbox at the provider.')

    def _compute_oauth_connect_link(self):
        base = (self.env['ir.config_parameter'].sudo().get_param('web.base.url') or '').rstrip('/')
        for mailbox in self:
            mailbox.oauth_connect_link = isinstance(mailbox.id, int) and \
                '%s/mail_sync/oauth/start?mailbox=%d' % (base, mailbox.id)

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
            # Odoo's transactions are REPEATABLE READ: the row lock must be taken in READ
            # COMMITTED, so that after waiting for it we read what the other worker stored.
            cr.commit()
            cr.execute('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
            cr.execute("SET LOCAL lock_timeout = %s", ['%ds' % (2 * server.timeout + 5)])
            try:
                token = Token._valid_access(cr, row_id, refused, lock=True)
            except psycopg2.OperationalError as exc:
                if exc.pgcode != LOCK_NOT_AVAILABLE:
                    raise
                raise TransientError('oauth_lock_timeout', server.name, retry_after=60)
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

    def _oauth_after_connect(self):
        """After the user connected (or reconnected) the mailbox: log it and resume what a dead
        grant had suspended, through Test & Enable with a real token on each channel. A mailbox a
        manager never enabled in this database (or a copied one) waits for them. Returns what to
        tell the user."""
        self.ensure_one()
        box = self.sudo()
        self.env['mail.sync.log']._record(
            'oauth_connected', _('Mailbox connected to the OAuth provider as %s by %s.') % (
                box.oauth_email or box.email, self.env.user.name), mailbox=box, severity='info')
        enabled_here = box.state in ('enabled', 'suspended') and box.db_uuid == box._current_db_uuid()
        if not (enabled_here or (box.state == 'draft' and box.approved)):
            return _('Your mailbox %s is connected. Synchronization starts once an administrator '
                     'has enabled it.') % box.email
        if box._test_and_enable():
            return _('Your mailbox %s is connected and synchronizing.') % box.email
        failed = [row.test_message for row in box._channel_states().values()
                  if row.test_state == 'failure']
        return _('Your mailbox %s is connected, but a test failed: %s') % (box.email, ' '.join(failed))

    def action_oauth_disconnect(self):
        """Forget this mailbox's OAuth grant (the user's own, or a manager's action)."""
        self._oauth_check_owner()
        Token = self.env['mail.sync.oauth.token'].sudo()
        for mailbox in self:
            with self.pool.cursor() as cr:
                Token._forget(cr, mailbox.server_id.id, mailbox.id)
            self.env['mail.sync.log']._record(
                'oauth_disconnected', _('Mailbox disconnected from the OAuth provider by %s.')
                % self.env.user.name, mailbox=mailbox, severity='info')
        self.invalidate_cache(['oauth_connected', 'oauth_email'])
        return True

    def action_oauth_connect(self):
        """Start "Connect my mailbox" (the user's own mailbox only)."""
        self.ensure_one()
        if self.user_id != self.env.user:
            raise AccessError(_('Only %s can connect this mailbox: send them the link "Connect my '
                              'mailbox" from the mailbox form.') % self.user_id.name)
        return {'type': 'ir.actions.act_url', 'target': 'self',
                'url': '/mail_sync/oauth/start?mailbox=%d' % self.id}

    def _oauth_check_owner(self):
        manager = self.env.user.has_group('mail_sync.group_mail_sync_manager')
        for mailbox in self:
            if not manager and mailbox.user_id != self.env.user:
                raise AccessError(_('You can only change your own mailbox.'))

    def unlink(self):
        keys = [(m.server_id.id, m.id) for m in self]
        result = super(MailSyncMailbox, self).unlink()
        for server_id, mailbox_id in keys:
            self.env.cr.execute('DELETE FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = %s',
                                [server_id, mailbox_id])
        return result
