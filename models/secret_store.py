"""Where the encryption key of stored passwords lives: outside the database.

``mail_sync_key_file`` in Odoo's configuration file names it; by default it is
``<data_dir>/mail_sync/secret.key``, created on first use, readable only by the
Odoo service account.
"""
import os

from odoo.tools import config

from ..sync.secretbox import SecretBox

_boxes = {}


def key_file_path():
    return config.get('mail_sync_key_file') or os.path.join(config['data_dir'], 'mail_sync', 'secret.key')


def secret_box():
    path = key_file_path()
    if path not in _boxes:
        _boxes[path] = SecretBox.from_key_file(path)
    return _boxes[path]


def ca_file():
    """Optional extra certificate authority trusted for mail servers (company CA)."""
    return config.get('mail_sync_ca_file') or None
