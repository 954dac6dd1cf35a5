from psycopg2 import sql

from odoo import api, models

from .secret_store import secret_box
from .rpc_guard import superuser_only


class MailSyncSecretMixin(models.AbstractModel):
    """Write-only secrets: encrypted columns that are not ORM fields.

    No read(), search or export can return them, not even the superuser's or an
    RPC client's; only ``_secret_get`` (server-side code) decrypts them. The key
    lives outside the database (see ``secret_store``).
    """

    _name = 'mail.sync.secret.mixin'
    _description = 'Server-Side Sync: write-only secrets'
    _secret_columns = ()

    @api.model_cr
    def init(self):
        superuser_only(self.env)
        if self._abstract:
            return
        for column in self._secret_columns:
            self.env.cr.execute(sql.SQL('ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} VARCHAR').format(
                sql.Identifier(self._table), sql.Identifier(column)))

    def _secret_query(self, query, params):
        self.env.cr.execute(sql.SQL(query).format(table=sql.Identifier(self._table),
                                                  column=sql.Identifier(params.pop(0))), params)

    def _secret_set(self, column, plaintext):
        """Encrypt and store ``plaintext`` (empty clears the secret)."""
        token = secret_box().encrypt(plaintext) if plaintext else None
        self._secret_query('UPDATE {table} SET {column} = %s WHERE id IN %s',
                           [column, token, tuple(self.ids)])

    def _secret_get(self, column):
        self.ensure_one()
        self._secret_query('SELECT {column} FROM {table} WHERE id = %s', [column, self.id])
        row = self.env.cr.fetchone()
        return secret_box().decrypt(row[0]) if row and row[0] else None

    def _secret_is_set(self, column):
        """ids among these records that have the secret stored."""
        if not self.ids:
            return set()
        self._secret_query('SELECT id FROM {table} WHERE id IN %s AND {column} IS NOT NULL',
                           [column, tuple(self.ids)])
        return {row[0] for row in self.env.cr.fetchall()}

    def _compute_secret_fields(self, column, value_field, set_field):
        """For a write-only field pair: the value always reads empty, the flag says if stored."""
        stored = self.filtered(lambda r: isinstance(r.id, int))._secret_is_set(column)
        for record in self:
            record[value_field] = False
            record[set_field] = record.id in stored

    def _inverse_secret_field(self, column, value_field):
        for record in self:
            if record[value_field]:
                record._secret_set(column, record[value_field])
