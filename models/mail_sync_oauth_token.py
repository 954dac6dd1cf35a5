"""OAuth tokens held for profiles (app-only) and mailboxes (delegated), encrypted.

Rows are read and written only through ``_locked_token`` and ``_store`` in a cursor
of their own, committed at once: a refresh token rotated by the provider must
survive a rollback of the sync that asked for it (the old one no longer works).
That is also why ``server_key``/``mailbox_key`` are plain integers, not foreign
keys: the caller's mailbox may not be committed yet (cleanup is done by
``mail.sync.mailbox.unlink`` and the profile's).
"""
import time

from odoo import api, fields, models

from ..sync.oauth import refresh_due
from .rpc_guard import superuser_only


class MailSyncOauthToken(models.Model):
    _name = 'mail.sync.oauth.token'
    _inherit = ['mail.sync.secret.mixin']
    _secret_columns = ('access_token_crypt', 'refresh_token_crypt')
    _description = 'Server-Side Sync: OAuth token'

    server_key = fields.Integer(required=True, index=True, readonly=True)
    mailbox_key = fields.Integer(required=True, default=0, index=True, readonly=True,
                                 help='0 for the profile\'s app-only token.')
    expires_at = fields.Float(readonly=True, help='Expiry of the access token (epoch, our clock).')
    lifetime = fields.Integer(readonly=True)
    scope = fields.Char(readonly=True)
    email = fields.Char(readonly=True, help='Address the user connected (delegated).')
    refreshed_count = fields.Integer(readonly=True)

    @api.model_cr
    def init(self):
        superuser_only(self.env)
        super(MailSyncOauthToken, self).init()
        self.env.cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_oauth_token_key_uniq
                               ON mail_sync_oauth_token (server_key, mailbox_key)""")

    @api.model
    def _row(self, cr, server_id, mailbox_id):
        """The id of the row of (profile, mailbox), created when missing (committed)."""
        cr.execute("""INSERT INTO mail_sync_oauth_token (server_key, mailbox_key, create_date, write_date)
                      VALUES (%s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                      ON CONFLICT (server_key, mailbox_key) DO NOTHING""",
                   [server_id, mailbox_id or 0])
        cr.execute('SELECT id FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = %s',
                   [server_id, mailbox_id or 0])
        row_id = cr.fetchone()[0]
        cr.commit()
        return row_id

    @api.model
    def _valid_access(self, cr, row_id, refused=None, lock=False):
        """The stored access token when it is not due for refresh (and is not ``refused``)."""
        cr.execute('SELECT expires_at, lifetime FROM mail_sync_oauth_token WHERE id = %s%s'
                   % ('%s', ' FOR UPDATE' if lock else ''), [row_id])
        expires_at, lifetime = cr.fetchone()
        if not expires_at or refresh_due(expires_at, lifetime):
            return None
        token = self.with_env(self.env(cr=cr)).browse(row_id)._secret_get('access_token_crypt')
        return None if token is None or token == refused else token

    @api.model
    def _store(self, cr, row_id, response, email=None):
        """Save a TokenResponse in the row (encrypted); commit."""
        row = self.with_env(self.env(cr=cr)).browse(row_id)
        row._secret_set('access_token_crypt', response.access_token)
        if response.refresh_token:
            row._secret_set('refresh_token_crypt', response.refresh_token)
        cr.execute("""UPDATE mail_sync_oauth_token SET expires_at = %s, lifetime = %s, scope = %s,
                      email = COALESCE(%s, email), refreshed_count = COALESCE(refreshed_count, 0) + 1,
                      write_date = now() at time zone 'UTC' WHERE id = %s""",
                   [response.expires_at, response.expires_in, response.scope, email, row_id])
        cr.commit()

    @api.model
    def _forget(self, cr, server_id, mailbox_id=None):
        """Drop the tokens of a profile (all its rows) or of one mailbox; commit."""
        if mailbox_id is None:
            cr.execute('DELETE FROM mail_sync_oauth_token WHERE server_key = %s', [server_id])
        else:
            cr.execute('DELETE FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = %s',
                       [server_id, mailbox_id])
        cr.commit()

    @api.model
    def _now(self):
        return time.time()
