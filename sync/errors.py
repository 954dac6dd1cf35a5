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


# Every code an error carries, in sync/ and in the Odoo layer, with a default user
# text in English. The Odoo layer shows its own translated text for a code
# (mail.sync.log's describe); these are the fallback and the list to translate.
# sync/tests/test_error_codes.py fails when a code is raised that is not here.
ACCESS_DENIED = 'access_denied'
AUTH_FAILED = 'auth_failed'
AUTODISCOVER_FAILED = 'autodiscover_failed'
BAD_ENCRYPTION = 'bad_encryption'
CHANGE_KEY_MISMATCH = 'change_key_mismatch'
CONNECTION_LOST = 'connection_lost'
CONNECTION_REFUSED = 'connection_refused'
FOLDER_MISSING = 'folder_missing'
IMPERSONATION_DENIED = 'impersonation_denied'
ITEM_MISSING = 'item_missing'
MAILBOX_MISSING = 'mailbox_missing'
MISSING_EWS_URL = 'missing_ews_url'
MISSING_HOST = 'missing_host'
MISSING_LOGIN = 'missing_login'
MISSING_PASSWORD = 'missing_password'
NETWORK = 'network'
NO_FREE_CONNECTION = 'no_free_connection'
NOT_IMPORTED = 'not_imported'
NOT_SUPPORTED = 'not_supported'
PROTOCOL = 'protocol'
RECIPIENTS_REFUSED = 'recipients_refused'
SECRET_KEY_MISSING = 'secret_key_missing'
SECRET_UNREADABLE = 'secret_unreadable'
SENDER_REFUSED = 'sender_refused'
SERVER_BUSY = 'server_busy'
SMTP_AUTH_UNSUPPORTED = 'smtp_auth_unsupported'
STARTTLS_UNSUPPORTED = 'starttls_unsupported'
SYNC_STATE_INVALID = 'sync_state_invalid'
TIMEOUT = 'timeout'
TLS_FAILED = 'tls_failed'
TLS_UNTRUSTED = 'tls_untrusted'
TOO_LARGE = 'too_large'
UNEXPECTED = 'unexpected'
UNKNOWN_HOST = 'unknown_host'
UNKNOWN_KIND = 'unknown_kind'

BAD_GRAPH_URL = 'bad_graph_url'
OAUTH_ACCESS_DENIED = 'oauth_access_denied'
OAUTH_BAD_KEY = 'oauth_bad_key'
OAUTH_DISCOVERY_FAILED = 'oauth_discovery_failed'
OAUTH_INVALID_CLIENT = 'oauth_invalid_client'
OAUTH_INVALID_GRANT = 'oauth_invalid_grant'
OAUTH_ISSUER_NOT_HTTPS = 'oauth_issuer_not_https'
OAUTH_LOCK_TIMEOUT = 'oauth_lock_timeout'
OAUTH_MECHANISM_UNSUPPORTED = 'oauth_mechanism_unsupported'
OAUTH_MISSING_CLIENT_ID = 'oauth_missing_client_id'
OAUTH_MISSING_SECRET = 'oauth_missing_secret'
OAUTH_NOT_CONFIGURED = 'oauth_not_configured'
OAUTH_NOT_CONNECTED = 'oauth_not_connected'
OAUTH_NOT_CONSENTED = 'oauth_not_consented'
OAUTH_NO_REFRESH_TOKEN = 'oauth_no_refresh_token'
OAUTH_REFUSED = 'oauth_refused'
OAUTH_REQUIRED = 'oauth_required'
OAUTH_SCOPE_MISSING = 'oauth_scope_missing'
OAUTH_TOKEN_REFUSED = 'oauth_token_refused'
OAUTH_UNAVAILABLE = 'oauth_unavailable'
OAUTH_WRONG_ADDRESS = 'oauth_wrong_address'
PERMISSION_MISSING = 'permission_missing'
REFUSED = 'refused'
SERVER_ERROR = 'server_error'
UNKNOWN_SERVER_TYPE = 'unknown_server_type'

DEFAULT_TEXTS = {
    ACCESS_DENIED: 'The server denied access to this mailbox.',
    AUTH_FAILED: 'The server refused the login or password.',
    AUTODISCOVER_FAILED: 'Autodiscover could not find the Exchange server for this address.',
    BAD_ENCRYPTION: 'The encryption setting is not one of SSL/TLS, STARTTLS or none.',
    CHANGE_KEY_MISMATCH: 'The item changed on the server since it was read.',
    CONNECTION_LOST: 'The connection was lost; sync retries later.',
    CONNECTION_REFUSED: 'Nothing accepts connections at this host and port.',
    FOLDER_MISSING: 'The folder does not exist on the server.',
    IMPERSONATION_DENIED: 'The service account may not act as this mailbox.',
    ITEM_MISSING: 'The item no longer exists on the server.',
    MAILBOX_MISSING: 'The mailbox does not exist on the server.',
    MISSING_EWS_URL: 'No EWS URL is set and Autodiscover is off.',
    MISSING_HOST: 'No server host is set.',
    MISSING_LOGIN: 'No login is set.',
    MISSING_PASSWORD: 'No password is set.',
    NETWORK: 'A network error occurred; sync retries later.',
    NO_FREE_CONNECTION: 'All connections to the server are in use; sync retries later.',
    NOT_IMPORTED: 'The email could not be imported.',
    NOT_SUPPORTED: 'This server type does not offer this channel.',
    PROTOCOL: 'The server answered something unexpected.',
    RECIPIENTS_REFUSED: 'The mail server refused the recipients.',
    SECRET_KEY_MISSING: 'The key that encrypts stored passwords is missing.',
    SECRET_UNREADABLE: 'A stored password cannot be decrypted; enter it again.',
    SENDER_REFUSED: 'The mail server refused to send from this address.',
    SERVER_BUSY: 'The server is busy and asked to slow down; sync retries later.',
    SMTP_AUTH_UNSUPPORTED: 'The SMTP server does not offer authentication on this connection.',
    STARTTLS_UNSUPPORTED: 'The server does not offer STARTTLS.',
    SYNC_STATE_INVALID: 'The server no longer knows the saved sync state; sync starts over.',
    TIMEOUT: 'The server did not answer in time.',
    TLS_FAILED: 'The secure connection failed.',
    TLS_UNTRUSTED: 'The server\'s certificate is not trusted.',
    TOO_LARGE: 'The email is larger than allowed.',
    UNEXPECTED: 'An unexpected error occurred.',
    UNKNOWN_HOST: 'The server name cannot be found.',
    UNKNOWN_KIND: 'This kind of item is not synchronized.',
    BAD_GRAPH_URL: 'The Microsoft Graph address is not an http(s) URL.',
    OAUTH_ACCESS_DENIED: 'The user or the provider refused the authorization.',
    OAUTH_BAD_KEY: 'The certificate or private key of the application cannot be used.',
    OAUTH_DISCOVERY_FAILED: "The provider's OpenID Connect discovery document could not be read.",
    OAUTH_INVALID_CLIENT: 'The provider refused the application: check its client id and secret.',
    OAUTH_INVALID_GRANT: 'The connection to the provider expired or was revoked: connect the mailbox again.',
    OAUTH_ISSUER_NOT_HTTPS: 'The issuer URL of an OpenID Connect provider must use https.',
    OAUTH_LOCK_TIMEOUT: 'Another worker is renewing the token; sync retries in a moment.',
    OAUTH_MECHANISM_UNSUPPORTED: 'The server does not offer the OAuth login mechanism of the profile.',
    OAUTH_MISSING_CLIENT_ID: 'No client id is set on the profile.',
    OAUTH_MISSING_SECRET: 'No client secret or certificate is set on the profile.',
    OAUTH_NOT_CONFIGURED: 'The profile does not use OAuth 2.0.',
    OAUTH_NOT_CONNECTED: 'The mailbox is not connected to its provider yet.',
    OAUTH_NOT_CONSENTED: 'An administrator has not consented to the application.',
    OAUTH_NO_REFRESH_TOKEN: 'The provider gave no refresh token: connect the mailbox again.',
    OAUTH_REFUSED: 'The provider refused the token request.',
    OAUTH_REQUIRED: 'This server type accepts OAuth 2.0 only.',
    OAUTH_SCOPE_MISSING: 'The token lacks a permission (scope) this channel needs.',
    OAUTH_TOKEN_REFUSED: 'The mail server refused the access token.',
    OAUTH_UNAVAILABLE: 'The provider could not be reached; sync retries later.',
    OAUTH_WRONG_ADDRESS: 'The account connected is not the address of the mailbox.',
    PERMISSION_MISSING: 'The application lacks a permission this channel needs.',
    REFUSED: 'The server refused to send this email.',
    SERVER_ERROR: 'The server failed to answer; sync retries later.',
    UNKNOWN_SERVER_TYPE: 'This kind of server is not available.',
}


def default_text(code):
    """The English user text of ``code``; a code not listed gets the generic one."""
    return DEFAULT_TEXTS.get(code, DEFAULT_TEXTS[UNEXPECTED])
