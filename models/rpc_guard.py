"""Guards of model methods that Odoo's API must expose but no RPC client may call."""
from odoo import SUPERUSER_ID, _
from odoo.exceptions import AccessError


def superuser_only(env):
    """Refuse anyone but the superuser: Odoo itself calls ``init`` (schema: indexes and
    columns, which take table locks) as the superuser when it installs or updates."""
    if env.uid != SUPERUSER_ID:
        raise AccessError(_('Only Odoo itself may run this.'))
