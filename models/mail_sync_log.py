import logging

from odoo import _, api, fields, models

from ..sync.errors import SyncError
from .batch_delete import delete_older

_logger = logging.getLogger(__name__)

CHANNELS = [
    ('incoming', 'Incoming email'),
    ('outgoing', 'Outgoing email'),
    ('act', 'Appointments, contacts and tasks'),
    ('general', 'General'),
]

# What each code means, in a few words, for lists and graphs (the code itself is for admins).
CODE_LABELS = {
    'access_denied': 'Access denied', 'auth_failed': 'Wrong login or password',
    'autodiscover_failed': 'Exchange server not found (Autodiscover)',
    'bad_encryption': 'Wrong encryption setting', 'connection_lost': 'Connection lost',
    'connection_refused': 'Server unreachable', 'folder_missing': 'Folder missing',
    'impersonation_denied': 'Impersonation refused', 'item_missing': 'Item missing on the server',
    'mailbox_missing': 'Mailbox missing on the server', 'missing_ews_url': 'EWS URL missing',
    'missing_host': 'Server host missing', 'missing_login': 'Login missing',
    'missing_password': 'Password missing', 'network': 'Network error',
    'no_free_connection': 'No free connection', 'not_imported': 'Email not imported',
    'not_supported': 'Not supported by this server', 'protocol': 'Unexpected server answer',
    'recipients_refused': 'Recipients refused', 'secret_key_missing': 'Encryption key missing',
    'secret_unreadable': 'Stored password unreadable', 'sender_refused': 'Sender refused',
    'server_busy': 'Server busy (throttled)', 'smtp_auth_unsupported': 'SMTP login not offered',
    'starttls_unsupported': 'STARTTLS not offered', 'sync_state_invalid': 'Sync state reset',
    'timeout': 'Server did not answer in time', 'tls_failed': 'Secure connection failed',
    'tls_untrusted': 'Untrusted certificate', 'too_large': 'Email too large',
    'unexpected': 'Unexpected error', 'unknown_host': 'Unknown server name',
    'approved': 'Address approved', 'auto_disabled': 'Disabled automatically',
    'category_track_failed': 'Outlook category not tracked', 'disabled': 'Mailbox disabled',
    'enabled': 'Mailbox enabled', 'mapped': 'Mailbox mapped',
    'message_quarantined': 'Email quarantined', 'profile_failing': 'Profile failing',
    'remapped': 'Address moved', 'sent_folder_missing': 'Sent folder missing',
    'sync_state_reset': 'Sync state reset', 'appointment': 'Appointment', 'contact': 'Contact',
    'task': 'Task',
    'reply_track_failed': 'Reply not tracked',
}
PROBLEMS = sorted(CODE_LABELS.items(), key=lambda item: item[1]) + [('other', 'Other')]


class MailSyncLog(models.Model):
    """Errors and notable events of server-side sync, one row per recurring problem.

    The same problem on the same mailbox and channel is counted on one row
    (occurrences, first and last seen) instead of filling the table, as the
    Dynamics "alerts" do.
    """

    _name = 'mail.sync.log'
    _description = 'Server-Side Sync Log'
    _order = 'last_seen desc, id desc'
    _rec_name = 'code'

    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox', ondelete='cascade', index=True)
    server_id = fields.Many2one('mail.sync.server', string='Email Server Profile', ondelete='cascade',
                                index=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', string='User', store=True, readonly=True)
    channel = fields.Selection(CHANNELS, default='general', required=True)
    severity = fields.Selection([('info', 'Information'), ('warning', 'Warning'), ('error', 'Error')],
                                default='error', required=True)
    error_class = fields.Selection(
        [('transient', 'Transient (retried)'), ('permanent', 'Permanent (needs action)'),
         ('event', 'Event')],
        string='Kind', default='event', required=True,
        help='Transient errors are retried automatically; permanent ones need someone to act.')
    code = fields.Char(required=True, help='Stable code of the problem, e.g. auth_failed.')
    problem = fields.Selection(PROBLEMS, compute='_compute_problem', store=True, string='Problem',
                               help='What the code means, in words.')
    details = fields.Text(string='Technical Details', readonly=True,
                          groups='mail_sync.group_mail_sync_manager',
                          help='For administrators: the code and what the server or library said.')
    message = fields.Text(required=True)
    count = fields.Integer(string='Occurrences', default=1)
    first_seen = fields.Datetime(default=fields.Datetime.now, required=True)
    last_seen = fields.Datetime(default=fields.Datetime.now, required=True, index=True)
    resolved = fields.Boolean(help='Set when a later success on the same channel cleared the problem.')

    @api.depends('code')
    def _compute_problem(self):
        for log in self:
            log.problem = log.code if log.code in CODE_LABELS else 'other'

    @api.model
    def _record(self, code, message, mailbox=None, server=None, channel='general',
               severity='error', error_class='event'):
        """Add an occurrence, merging with an unresolved row of the same problem."""
        mailbox = mailbox or self.env['mail.sync.mailbox']
        server = server or mailbox.server_id
        message = self._scrub(message, mailbox, server)
        existing = self.sudo().search([
            ('mailbox_id', '=', mailbox.id or False), ('server_id', '=', server.id or False),
            ('channel', '=', channel), ('code', '=', code), ('resolved', '=', False),
        ], limit=1)
        now = fields.Datetime.now()
        if existing:
            existing.write({'count': existing.count + 1, 'last_seen': now, 'message': message,
                            'severity': severity, 'error_class': error_class})
            return existing
        return self.sudo().create({
            'mailbox_id': mailbox.id or False, 'server_id': server.id or False,
            'channel': channel, 'code': code, 'message': message, 'severity': severity,
            'error_class': error_class, 'first_seen': now, 'last_seen': now,
        })

    @api.model
    def _record_error(self, error, mailbox=None, server=None, channel='general'):
        """Log a SyncError with its translated explanation; return that explanation."""
        text = self._describe(error, mailbox=mailbox)
        row = self._record(error.code, text, mailbox=mailbox, server=server, channel=channel,
                           severity='warning' if error.transient else 'error',
                           error_class='transient' if error.transient else 'permanent')
        row.sudo().write({'details': self._scrub(str(error), mailbox or self.env['mail.sync.mailbox'],
                                                 server or (mailbox and mailbox.server_id)
                                                 or self.env['mail.sync.server'])})
        return text

    @api.model
    def _resolve(self, mailbox, channel):
        self.sudo().search([('mailbox_id', '=', mailbox.id), ('channel', '=', channel),
                            ('resolved', '=', False), ('error_class', '!=', 'event')]).write(
            {'resolved': True})

    @api.model
    def _gc(self, days, batch, commit):
        """Delete entries not seen for ``days`` days, ``batch`` rows per transaction."""
        deleted = delete_older(self.env.cr, self._table, 'last_seen', days, batch, commit)
        self.invalidate_cache()
        return deleted

    @api.model
    def _scrub(self, message, mailbox, server):
        """Never let a password reach the log, whatever a server echoed back."""
        secrets = []
        for record, method in ((mailbox, '_plain_password'), (server, '_plain_service_password')):
            if record:
                try:
                    secrets.append(getattr(record.sudo(), method)())
                except SyncError:  # unreadable secret: nothing to hide
                    pass
        for secret in secrets:
            if secret and len(secret) >= 3:
                message = message.replace(secret, '********')
        return message

    @api.model
    def _describe(self, error, mailbox=None):
        """A translated sentence that says what went wrong and what to fix."""
        detail = error.detail or ''
        login = mailbox and mailbox.sudo()._effective_login() or ''
        messages = {
            'auth_failed': _('The server refused the login or password of %(login)s. '
                             'Check both on the mailbox (or the service account on the profile) '
                             'and that the account is not locked. Server said: %(detail)s'),
            'impersonation_denied': _('The service account may not act as this mailbox: grant it '
                                      'the ApplicationImpersonation role in Exchange. (%(detail)s)'),
            'access_denied': _('The server denied access to this mailbox: check the account\'s '
                               'permissions on it. (%(detail)s)'),
            'unknown_host': _('The server name "%(detail)s" cannot be found. Check the host name '
                              'on the email server profile.'),
            'connection_refused': _('Nothing accepts connections at %(detail)s: the server is down '
                                    'or the port is wrong. Check the port and encryption on the '
                                    'profile; if they are right, sync retries later by itself.'),
            'timeout': _('The server did not answer in time (%(detail)s). Check the host and port, '
                         'that a firewall lets Odoo reach the server, or raise the connection '
                         'timeout on the profile.'),
            'tls_untrusted': _('The server\'s certificate is not trusted (%(detail)s). Install a '
                               'certificate from a trusted authority on the mail server, or give '
                               'Odoo your company\'s CA with the mail_sync_ca_file option. Turning '
                               'off certificate verification on the profile works but is unsafe.'),
            'tls_failed': _('The secure connection failed (%(detail)s). Check that the encryption '
                            '(SSL/TLS, STARTTLS or none) matches the port on the profile.'),
            'starttls_unsupported': _('The server at %(detail)s does not offer STARTTLS. Use SSL/TLS '
                                      'with the server\'s secure port, or ask the mail administrator '
                                      'to enable STARTTLS.'),
            'smtp_auth_unsupported': _('The SMTP server at %(detail)s does not offer authentication '
                                       'on this connection. Use STARTTLS or SSL/TLS, or the '
                                       'submission port (587 or 465).'),
            'connection_lost': _('The connection was lost (%(detail)s). Sync retries later by itself.'),
            'network': _('A network error occurred (%(detail)s). Sync retries later by itself.'),
            'server_busy': _('The server is busy and asked us to slow down (%(detail)s). Sync '
                             'retries later by itself.'),
            'folder_missing': _('The mailbox has no usable Inbox (%(detail)s).'),
            'mailbox_missing': _('The mailbox does not exist on the server (%(detail)s). Check the '
                                 'email address.'),
            'missing_login': _('No login is set. Enter it on the mailbox, or on the profile when '
                               'the profile uses a service account.'),
            'missing_password': _('No password is set. Enter it on the mailbox, or on the profile '
                                  'when the profile uses a service account.'),
            'missing_host': _('No server host is set on the email server profile.'),
            'missing_ews_url': _('No EWS URL is set on the profile: enter it or use Autodiscover.'),
            'autodiscover_failed': _('Autodiscover could not find the Exchange server for this '
                                     'address (%(detail)s). Enter the EWS URL on the profile.'),
            'secret_unreadable': _('The stored password cannot be decrypted (%(detail)s). This '
                                   'happens when a database is moved without its key file: enter '
                                   'the password again.'),
            'not_supported': _('This channel is not available for this kind of server (%(detail)s).'),
            'protocol': _('The server answered something unexpected: %(detail)s'),
            'recipients_refused': _('The mail server refused the recipients: %(detail)s. Check the '
                                    'addresses.'),
            'sender_refused': _('The mail server refused to send from this address (%(detail)s): '
                                'the login may not be allowed to send as the mailbox\'s address.'),
            'too_large': _('The email is larger than this profile allows (%(detail)s).'),
            'bad_encryption': _('The encryption "%(detail)s" is not one of SSL/TLS, STARTTLS or '
                                'none: choose one on the email server profile.'),
            'change_key_mismatch': _('The item changed in Exchange while it was being synchronized '
                                     '(%(detail)s). Both versions are compared again at the next '
                                     'sync; nothing is lost.'),
            'item_missing': _('The item no longer exists on the server (%(detail)s): it was deleted '
                              'there, and sync treats it as deleted.'),
            'no_free_connection': _('All connections the profile allows to this server are in use '
                                    '(%(detail)s). Sync retries in a moment; if this lasts, raise '
                                    '"Maximum Concurrent Connections" on the profile.'),
            'not_imported': _('The email could not be imported into Odoo (%(detail)s). It is kept '
                              'aside in My Mailbox with this reason; the rest of the mailbox goes on.'),
            'secret_key_missing': _('The key that encrypts stored passwords and tokens cannot be read '
                                    '(%(detail)s). Restore the key file named by the mail_sync_key_file '
                                    'option, or enter the passwords again.'),
            'sync_state_invalid': _('The server no longer knows where the last sync stopped '
                                    '(%(detail)s). Sync starts over and matches what it already has, '
                                    'so nothing is imported twice.'),
            'unknown_kind': _('This kind of item is not synchronized (%(detail)s).'),
            'refused': _('The server refused to send this email (%(detail)s). It is kept aside in '
                         'My Mailbox with this reason; the rest of the mailbox goes on.'),
            'bad_graph_url': _('The Microsoft Graph address "%(detail)s" is not an http(s) URL: '
                               'correct it on the email server profile.'),
            # Microsoft 365 (Graph)
            'permission_missing': _('The OAuth 2.0 grant lacks the %(detail)s permission: an '
                                    'administrator must grant it to the application and consent again.'),
            'oauth_required': _('Microsoft 365 (Graph) accepts OAuth 2.0 only (%(detail)s): set the '
                                'profile\'s authentication to OAuth 2.0.'),
            'server_error': _('The server failed to answer (%(detail)s). Sync retries later by itself.'),
            'unknown_server_type': _('This kind of server is not available (%(detail)s).'),
        }
        template = messages.get(error.code)
        if not template:
            # No class names nor library text for users: the details are in the Sync Log,
            # for administrators.
            return _('Something unexpected went wrong while synchronizing with the mail server. '
                     'Sync retries by itself; if this keeps happening, ask your administrator '
                     'to look at the technical details in the Sync Log.')
        return template % {'detail': detail, 'login': login, 'code': error.code}

    @api.model
    def _describe_exception(self, exc, mailbox=None):
        if isinstance(exc, SyncError):
            return self._describe(exc, mailbox=mailbox)
        _logger.exception('Unexpected error in server-side sync')
        return self._describe(SyncError('unexpected', '%s: %s' % (type(exc).__name__, exc)))
