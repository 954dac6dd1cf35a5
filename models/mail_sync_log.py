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
    message = fields.Text(required=True)
    count = fields.Integer(string='Occurrences', default=1)
    first_seen = fields.Datetime(default=fields.Datetime.now, required=True)
    last_seen = fields.Datetime(default=fields.Datetime.now, required=True, index=True)
    resolved = fields.Boolean(help='Set when a later success on the same channel cleared the problem.')

    @api.model
    def record(self, code, message, mailbox=None, server=None, channel='general',
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
    def record_error(self, error, mailbox=None, server=None, channel='general'):
        """Log a SyncError with its translated explanation; return that explanation."""
        text = self.describe(error, mailbox=mailbox)
        self.record(error.code, text, mailbox=mailbox, server=server, channel=channel,
                    severity='warning' if error.transient else 'error',
                    error_class='transient' if error.transient else 'permanent')
        return text

    @api.model
    def resolve(self, mailbox, channel):
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
    def describe(self, error, mailbox=None):
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
            # Microsoft 365 (Graph)
            'permission_missing': _('The OAuth 2.0 grant lacks the %(detail)s permission: an '
                                    'administrator must grant it to the application and consent again.'),
            'oauth_required': _('Microsoft 365 (Graph) accepts OAuth 2.0 only (%(detail)s): set the '
                                'profile\'s authentication to OAuth 2.0.'),
            'server_error': _('The server failed to answer (%(detail)s). Sync retries later by itself.'),
            'sync_state_invalid': _('The server no longer knows where the last sync stopped '
                                    '(%(detail)s): the folder is read again, nothing is imported twice.'),
            'unknown_server_type': _('This kind of server is not available (%(detail)s).'),
        }
        template = messages.get(error.code, _('Unexpected error (%(code)s): %(detail)s'))
        return template % {'detail': detail, 'login': login, 'code': error.code}

    @api.model
    def describe_exception(self, exc, mailbox=None):
        if isinstance(exc, SyncError):
            return self.describe(exc, mailbox=mailbox)
        _logger.exception('Unexpected error in server-side sync')
        return self.describe(SyncError('unexpected', '%s: %s' % (type(exc).__name__, exc)))
