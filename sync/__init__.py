"""Pure-Python core of mail_sync: protocol connectors, errors, secrets.

Nothing in this package imports ``odoo``: it is tested on its own against real
mail servers, and the Odoo models in ``models/`` adapt between it and the ORM.
"""
