"""Encryption of stored secrets (passwords, tokens) with a key kept outside the database.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256) read from a file that only
the Odoo service account can read. A database dump or a copied database alone
reveals no password; a database moved to another server without its key file
cannot decrypt, and says so instead of syncing with garbage.

>>> import tempfile, os
>>> box = SecretBox.from_key_file(os.path.join(tempfile.mkdtemp(), 'k'))
>>> token = box.encrypt('s3cret')
>>> 's3cret' in token, box.decrypt(token)
(False, 's3cret')
"""
import os

from cryptography.fernet import Fernet, InvalidToken

from .errors import ConfigError

PREFIX = 'fernet:'


class SecretBox(object):

    def __init__(self, key):
        self._fernet = Fernet(key)

    @classmethod
    def from_key_file(cls, path, create=True):
        """Load the key, creating it (mode 0600) on first use."""
        if not os.path.exists(path):
            if not create:
                raise ConfigError('secret_key_missing', path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(Fernet.generate_key())
        with open(path, 'rb') as handle:
            return cls(handle.read().strip())

    def encrypt(self, plaintext):
        if not plaintext:
            return False
        return PREFIX + self._fernet.encrypt(plaintext.encode('utf-8')).decode('ascii')

    def decrypt(self, token):
        if not token:
            return None
        if not token.startswith(PREFIX):
            raise ConfigError('secret_unreadable', 'not an encrypted value')
        try:
            return self._fernet.decrypt(token[len(PREFIX):].encode('ascii')).decode('utf-8')
        except InvalidToken:
            raise ConfigError('secret_unreadable', 'the key file does not match this database')
