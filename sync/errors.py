"""The error family every connector maps its library's errors into.

An error carries its retry meaning, so the caller decides what to do from the
class alone: a ``TransientError`` is retried later (after ``retry_after``
seconds when the server asked for a delay), anything else needs a person.

Each error has a stable ``code`` (used for translated messages and for grouping
log entries) and a technical ``detail`` (the server's words, never a secret).

>>> err = TransientError('timeout', 'no answer in 60 s', retry_after=120)
>>> err.transient, err.retry_after, str(err)
(True, 120, 'timeout: no answer in 60 s')
>>> AuthError('auth_failed').transient
False
"""


class SyncError(Exception):
    """Base of all sync errors."""

    transient = False

    def __init__(self, code, detail='', retry_after=None):
        super(SyncError, self).__init__(code, detail)
        self.code = code
        self.detail = detail or ''
        self.retry_after = retry_after

    def __str__(self):
        return '%s: %s' % (self.code, self.detail) if self.detail else self.code


class TransientError(SyncError):
    """Temporary failure (timeout, refused connection, busy server): retry later."""

    transient = True


class AuthError(SyncError):
    """The server refused the credentials: a person must fix them."""


class ConfigError(SyncError):
    """The configuration is wrong (unknown host, TLS mismatch, missing URL...)."""


class PermanentError(SyncError):
    """Any other failure that retrying will not fix (mailbox gone, access denied)."""


class SyncStateInvalid(SyncError):
    """The remote says our sync token is no longer valid: resync from scratch."""


class ConflictError(SyncError):
    """The remote item changed since we read it (stale change key): read it again and
    decide before writing (code ``change_key_mismatch``)."""
