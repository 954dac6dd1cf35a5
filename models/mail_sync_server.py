import datetime

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..sync import registry
from .mail_sync_conflict import CONFLICT_RULES


ACT_FILTER_HELP = (
    'A literal Odoo domain, without calculations; "user" is the mailbox\'s user (uid, user.id, '
    'user.partner_id.id, user.company_id.id...). Each user may set their own in Preferences.')
DEFAULT_ACT_FILTERS = {
    'act_filter_appointment': "['|', ('user_id', '=', user.id), ('partner_ids', 'in', [user.partner_id.id])]",
    'act_filter_contact': "[('user_id', '=', user.id)]",
    'act_filter_task': "[('user_id', '=', user.id)]",
}

# From the registry of server types (sync/registry.py): a new type needs no change here.
SERVER_TYPES = registry.server_types()
ENCRYPTIONS = [('ssl', 'SSL/TLS'), ('starttls', 'STARTTLS'), ('none', 'None (unencrypted)')]

# Default ports by protocol and encryption, as mail clients propose them.
DEFAULT_PORTS = {
    'imap': {'ssl': 993, 'starttls': 143, 'none': 143},
    'pop3': {'ssl': 995, 'starttls': 110, 'none': 110},
    'smtp': {'ssl': 465, 'starttls': 587, 'none': 25},
}


class MailSyncServer(models.Model):  # OAuth 2.0 fields and methods: mail_sync_server_oauth.py
    """An email server profile: how Odoo reaches one mail server, shared by many mailboxes."""

    _name = 'mail.sync.server'
    _inherit = ['mail.thread', 'mail.sync.secret.mixin']
    _secret_columns = ('service_password_crypt', 'oauth_secret_crypt', 'oauth_certificate_crypt')
    _description = 'Email Server Profile'
    _order = 'name'

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    server_type = fields.Selection(SERVER_TYPES, string='Server Type', required=True, default='imap')

    incoming_host = fields.Char(string='Incoming Server', help='Host name of the IMAP or POP3 server.')
    incoming_port = fields.Integer(string='Incoming Port', default=993)
    incoming_encryption = fields.Selection(ENCRYPTIONS, string='Incoming Encryption', default='ssl')
    outgoing_host = fields.Char(string='Outgoing (SMTP) Server')
    outgoing_port = fields.Integer(string='Outgoing Port', default=587)
    outgoing_encryption = fields.Selection(ENCRYPTIONS, string='Outgoing Encryption', default='starttls')

    ews_locate = fields.Selection(
        [('url', 'Fixed EWS URL'), ('autodiscover', 'Autodiscover')], string='Locate Server By',
        default='url', help='Autodiscover finds the Exchange server from each mailbox\'s address; '
                            'a fixed URL skips that look-up.')
    ews_url = fields.Char(string='EWS URL', help='e.g. https://mail.example.com/EWS/Exchange.asmx')
    ews_category = fields.Char(
        string='Outlook Category for Tracking', default='Tracked to Odoo',
        help='Email a user tags with this category in Outlook is tracked at the next sync; '
             'removing the category untracks it. Track in Odoo sets it on the email.')
    auth_method = fields.Selection(
        [('basic', 'Password (Basic or LOGIN)'), ('ntlm', 'Windows (NTLM, Exchange only)'),
         ('oauth', 'OAuth 2.0 (Microsoft 365, Google, OpenID Connect)')],
        string='Authentication', required=True, default='basic')
    credential_mode = fields.Selection(
        [('mailbox', 'Credentials on each mailbox'),
         ('profile', 'One service account on this profile')],
        string='Credentials', required=True, default='mailbox',
        help='With a service account, Exchange uses impersonation to open each user\'s mailbox.')
    service_login = fields.Char(string='Service Account Login')
    service_password = fields.Char(
        string='Service Account Password', compute='_compute_service_password',
        inverse='_inverse_service_password',
        help='Write-only: stored encrypted and never shown again.')
    service_password_set = fields.Boolean(compute='_compute_service_password', string='Password Stored')

    max_connections = fields.Integer(
        string='Maximum Concurrent Connections', default=10, required=True,
        help='Connections Odoo opens at once against this server, over all workers (1 to 300).')
    timeout = fields.Integer(string='Connection Timeout (s)', default=60, required=True)
    # Defaults keep new mail within 2 minutes at p95 (bench/scale.py): an idle cycle is one
    # round trip, so a lane polls each quiet mailbox every minute, or as often as it can
    # when it has more mailboxes than that allows (oldest due first).
    interval_min = fields.Integer(string='Minimum Polling Interval (min)', default=1, required=True)
    interval_default = fields.Integer(string='Default Polling Interval (min)', default=1, required=True)
    interval_max = fields.Integer(
        string='Maximum Polling Interval (min)', default=1, required=True,
        help='A quiet mailbox is polled at least this often: new email waits at most this long. '
             'Raise it to spare a busy mail server (Dynamics polls every 5 to 12 minutes).')
    cycle_cap = fields.Integer(
        string='Items per Mailbox and Cycle', default=500, required=True,
        help='A mailbox with a larger backlog continues at the next run, so that one huge '
             'mailbox cannot hold up the others.')
    max_message_mb = fields.Integer(
        string='Maximum Email Size (MB)', default=25, required=True,
        help='Larger email is listed in the user\'s mailbox and set aside, but not downloaded.')
    append_sent = fields.Boolean(
        string='Save Sent Email in the Sent Folder', default=True,
        help='Email sent from Odoo through a mailbox gets a copy in its Sent folder (IMAP), as if '
             'sent from the user\'s mail client. Turn off for servers that save it themselves.')
    process_after = fields.Datetime(
        string='Process Email Received After',
        help='Older email is never imported, so enabling a mailbox does not pull its whole history.')
    move_failed = fields.Boolean(
        string='Move Failed Email to a Folder',
        help='Email that cannot be processed is moved to this folder on the server.')
    failed_folder = fields.Char(string='Failed Email Folder', default='Odoo Failed')
    create_unknown_contacts = fields.Boolean(
        string='Create Contacts for Unknown Senders',
        help='For users who track all email: email from an address no contact has creates a '
             'contact, and the email is posted on it.')
    verify_tls = fields.Boolean(
        string='Verify TLS Certificates', default=True,
        help='Keep on: without verification anyone on the network path can read the passwords.')
    owner_id = fields.Many2one('res.users', string='Profile Owner', default=lambda self: self.env.user,
                               help='Receives the alerts about this profile\'s mailboxes.')
    mailbox_ids = fields.One2many('mail.sync.mailbox', 'server_id', string='Mailboxes')
    alert_date = fields.Datetime(string='Last Failure Alert', readonly=True, copy=False,
                                 help='When the profile owner was last alerted that most mailboxes fail.')
    mailbox_count = fields.Integer(compute='_compute_mailbox_count', string='Mailbox Count')

    # Appointments, contacts and tasks (Exchange): which Odoo records sync with each mailbox.
    act_filter_appointment = fields.Char(
        string='Appointments to Sync', required=True,
        default=DEFAULT_ACT_FILTERS['act_filter_appointment'],
        help='Meetings of Odoo\'s calendar that sync with each mailbox\'s Exchange calendar. '
             'Default: those the user organizes or attends. ' + ACT_FILTER_HELP)
    act_filter_contact = fields.Char(
        string='Contacts to Sync', required=True, default=DEFAULT_ACT_FILTERS['act_filter_contact'],
        help='Contacts that sync with each mailbox\'s Exchange contacts. Default: those whose '
             'salesperson is the user. ' + ACT_FILTER_HELP)
    act_filter_task = fields.Char(
        string='Tasks to Sync', required=True, default=DEFAULT_ACT_FILTERS['act_filter_task'],
        help='Activities that sync with each mailbox\'s Exchange tasks. Default: those '
             'assigned to the user. ' + ACT_FILTER_HELP)
    act_conflict_rule = fields.Selection(
        CONFLICT_RULES, string='When Both Sides Changed', required=True, default='recent',
        help='Which value wins when a field changed in Odoo and in Exchange since the last sync. '
             'Each such conflict is listed in "Sync Conflicts" with both values.')

    _sql_constraints = [
        ('max_connections_range', 'CHECK(max_connections BETWEEN 1 AND 300)',
         'Maximum concurrent connections must be between 1 and 300.'),
        ('timeout_positive', 'CHECK(timeout BETWEEN 1 AND 3600)',
         'The connection timeout must be between 1 and 3600 seconds.'),
        ('cycle_cap_positive', 'CHECK(cycle_cap >= 1)', 'Items per cycle must be at least 1.'),
        ('max_message_mb_positive', 'CHECK(max_message_mb >= 1)',
         'The maximum email size must be at least 1 MB.'),
    ]

    def _compute_service_password(self):
        self._compute_secret_fields('service_password_crypt', 'service_password',
                                    'service_password_set')

    def _inverse_service_password(self):
        self._inverse_secret_field('service_password_crypt', 'service_password')

    def _plain_service_password(self):
        self.ensure_one()
        return self._secret_get('service_password_crypt')

    def _compute_mailbox_count(self):
        data = self.env['mail.sync.mailbox'].read_group(
            [('server_id', 'in', self.ids)], ['server_id'], ['server_id'])
        counts = {row['server_id'][0]: row['server_id_count'] for row in data}
        for server in self:
            server.mailbox_count = counts.get(server.id, 0)

    @api.constrains('interval_min', 'interval_default', 'interval_max')
    def _check_intervals(self):
        for server in self:
            if not 1 <= server.interval_min <= server.interval_default <= server.interval_max:
                raise ValidationError(_(
                    'Polling intervals must satisfy 1 <= minimum <= default <= maximum (minutes).'))

    @api.constrains('server_type', 'auth_method', 'incoming_host', 'ews_locate', 'ews_url')
    def _check_type_settings(self):
        for server in self:
            if server.auth_method == 'ntlm' and 'ntlm' not in registry.lookup(server.server_type).auth_methods:
                raise ValidationError(_('Windows (NTLM) authentication is only for Exchange profiles.'))
            if server.server_type == 'exchange' and server.ews_locate == 'url' and not server.ews_url:
                raise ValidationError(_('Enter the EWS URL, or choose Autodiscover.'))
            if server.server_type == 'exchange' and server.ews_url and \
                    not server.ews_url.lower().startswith(('https://', 'http://')):
                raise ValidationError(_('The EWS URL must start with https://'))
            if server.server_type in ('imap', 'pop3') and not server.incoming_host:
                raise ValidationError(_('Enter the incoming server\'s host name.'))

    @api.constrains('act_filter_appointment', 'act_filter_contact', 'act_filter_task')
    def _check_act_filters(self):
        """A filter that does not evaluate is refused when it is entered, not at sync time."""
        for server in self:
            error = self.env['mail.sync.mailbox']._act_filters_error(server, self.env.user)
            if error:
                raise ValidationError(error)

    @api.onchange('act_filter_appointment', 'act_filter_contact', 'act_filter_task')
    def _onchange_act_filters(self):
        return self.env['mail.sync.mailbox']._act_filters_warning(self)

    def action_open_field_map(self):
        """The field mapping of appointments, contacts and tasks (shared by all profiles)."""
        return self.env.ref('mail_sync.action_mail_sync_field_map').read()[0]

    @api.onchange('server_type', 'incoming_encryption')
    def _onchange_incoming_defaults(self):
        if self.server_type in ('imap', 'pop3'):
            self.incoming_port = DEFAULT_PORTS[self.server_type][self.incoming_encryption or 'ssl']
        if self.server_type and self.auth_method == 'ntlm' and \
                'ntlm' not in registry.lookup(self.server_type).auth_methods:
            self.auth_method = 'basic'

    @api.onchange('outgoing_encryption')
    def _onchange_outgoing_defaults(self):
        self.outgoing_port = DEFAULT_PORTS['smtp'][self.outgoing_encryption or 'starttls']

    @api.onchange('incoming_host')
    def _onchange_incoming_host(self):
        if self.incoming_host and not self.outgoing_host:
            self.outgoing_host = self.incoming_host

    @api.onchange('verify_tls')
    def _onchange_verify_tls(self):
        if not self.verify_tls:
            return {'warning': {
                'title': _('Certificate verification off'),
                'message': _('Without certificate verification, anyone on the network path can '
                             'pretend to be the mail server and read the passwords. Prefer '
                             'installing a trusted certificate on the server.'),
            }}

    def _alert_if_failing(self):
        """Alert the profile owner once per hour when more than half of the profile's
        enabled mailboxes had an unresolved failure within the last hour."""
        self.ensure_one()
        now = datetime.datetime.utcnow()
        since = fields.Datetime.to_string(now - datetime.timedelta(hours=1))
        if self.alert_date and self.alert_date >= since:
            return False
        cr = self.env.cr
        cr.execute("""SELECT count(*) FROM mail_sync_mailbox WHERE server_id = %s AND state = 'enabled'""",
                   [self.id])
        total = cr.fetchone()[0]
        cr.execute("""SELECT count(DISTINCT log.mailbox_id) FROM mail_sync_log log
                      JOIN mail_sync_mailbox box ON box.id = log.mailbox_id
                      WHERE box.server_id = %s AND box.state = 'enabled' AND NOT log.resolved
                        AND log.error_class IN ('transient', 'permanent') AND log.last_seen >= %s""",
                   [self.id, since])
        failing = cr.fetchone()[0]
        if not total or failing * 2 <= total:
            return False
        self.sudo().alert_date = fields.Datetime.to_string(now)
        self.sudo().message_post(
            body=_('%(failing)d of the %(total)d mailboxes of the profile %(name)s failed within the '
                   'last hour: the mail server or the profile\'s settings may be at fault. See '
                   'Server-Side Sync > Monitoring for the errors.') % {
                'failing': failing, 'total': total, 'name': self.name},
            subject=_('Most mailboxes of %s are failing') % self.name,
            partner_ids=self.owner_id.partner_id.ids, message_type='notification',
            subtype='mail.mt_comment')
        self.env['mail.sync.log']._record(
            'profile_failing', _('%d of %d mailboxes failed within the last hour.') % (failing, total),
            server=self, severity='error', error_class='event')
        return True

    def action_view_mailboxes(self):
        self.ensure_one()
        action = self.env.ref('mail_sync.action_mail_sync_mailbox').read()[0]
        action['domain'] = [('server_id', '=', self.id)]
        action['context'] = {'default_server_id': self.id}
        return action
