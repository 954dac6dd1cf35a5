"""The error users get from mail_sync's own buttons: a UserError whose dialog the web
client titles "Server-Side Sync" (static/src/js/mail_sync_ui.js) instead of "Odoo"."""
from odoo.exceptions import UserError


class MailSyncUserError(UserError):
    """A UserError raised by mail_sync (same handling, our dialog title)."""
