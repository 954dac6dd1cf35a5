import datetime

import psycopg2
from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from ..sync import registry
from ..sync.endpoint import Credentials
from ..sync.errors import SyncError
from ..sync.registry import ConnectionConfig
from .secret_store import ca_file

CHANNEL_FIELDS = {
    'incoming': 'incoming_enabled',
    'outgoing': 'outgoing_enabled',
    'act': 'act_enabled',
}
TEST_STATES = [('not_run', 'Not Run'), ('success', 'Success'), ('failure', 'Failure')]
CHANNEL_STATES = [('ok', 'Running'), ('retrying', 'Retrying'), ('suspended', 'Suspended')]
# Appointments, contacts and tasks: the Odoo model of each kind, and the field holding
# its filter (on the profile; the same field on res.users overrides it when set).
ACT_MODELS = {'appointment': 'calendar.event', 'contact': 'res.partner', 'task': 'mail.activity'}
ACT_FILTER_FIELDS = {'appointment': 'act_filter_appointment', 'contact': 'act_filter_contact',
                     'task': 'act_filter_task'}


class _FilterRef(object):
    """``user.partner_id`` and the like in a filter: only ``id`` and ``ids``."""
    __slots__ = ('id', 'ids')

    def __init__(self, ids):
        self.ids = list(ids)
        self.id = self.ids[0] if self.ids else False


class _FilterUser(object):
    """What a filter sees of ``user``: a few plain values, never the record itself.

    Users write their own filters, and safe_eval lets an expression call any method of
    the objects it is given: a real record would hand over ``env`` and ``sudo()``."""
    __slots__ = ('id', 'name', 'login', 'email', 'partner_id', 'company_id', 'company_ids')

    def __init__(self, user):
        self.id, self.name, self.login, self.email = user.id, user.name, user.login, user.email
        self.partner_id = _FilterRef(user.partner_id.ids)
        self.company_id = _FilterRef(user.company_id.ids)
        self.company_ids = _FilterRef(user.company_ids.ids)


class _FilterDatetime(object):
    """``datetime`` in a filter: its classes only (the module itself reaches ``sys``)."""
    __slots__ = ()
    date, datetime, timedelta = datetime.date, datetime.datetime, datetime.timedelta


STATES = [
    ('draft', 'Draft'),
    ('enabled', 'Enabled'),
    ('disabled', 'Disabled by an Admin'),
    ('suspended', 'Suspended by Errors'),
]


class MailSyncMailbox(models.Model):
    """One user's mailbox on a mail server: one user per mailbox, one mailbox per user."""

    _name = 'mail.sync.mailbox'
    _inherit = ['mail.thread', 'mail.sync.secret.mixin']
    _secret_columns = ('password_crypt',)
    _description = 'Synchronized Mailbox'
    _order = 'name, id'

    name = fields.Char(compute='_compute_name', store=True)
    user_id = fields.Many2one('res.users', string='User', required=True, ondelete='cascade', index=True,
                              domain=[('share', '=', False)])
    email = fields.Char(string='Email Address', index=True,
                        help='The address of this mailbox on the mail server.')
    server_id = fields.Many2one('mail.sync.server', string='Email Server Profile', required=True,
                                ondelete='restrict')
    server_type = fields.Selection(related='server_id.server_type', readonly=True)
    credential_mode = fields.Selection(related='server_id.credential_mode', readonly=True)
    login = fields.Char(help='Login on the mail server; usually the email address.')
    password = fields.Char(compute='_compute_password', inverse='_inverse_password',
                           help='Write-only: stored encrypted and never shown again.')
    password_set = fields.Boolean(compute='_compute_password', string='Password Stored')

    incoming_enabled = fields.Boolean(string='Incoming Email', default=True)
    outgoing_enabled = fields.Boolean(string='Outgoing Email', default=False)
    act_enabled = fields.Boolean(string='Appointments, Contacts and Tasks', default=False,
                                 help='Only for Exchange profiles.')
    incoming_test_state = fields.Selection(TEST_STATES, default='not_run', readonly=True,
                                           string='Incoming Test', copy=False)
    incoming_test_date = fields.Datetime(readonly=True, string='Incoming Tested On', copy=False)
    incoming_test_message = fields.Text(readonly=True, string='Incoming Test Result', copy=False)
    outgoing_test_state = fields.Selection(TEST_STATES, default='not_run', readonly=True,
                                           string='Outgoing Test', copy=False)
    outgoing_test_date = fields.Datetime(readonly=True, string='Outgoing Tested On', copy=False)
    outgoing_test_message = fields.Text(readonly=True, string='Outgoing Test Result', copy=False)
    act_test_state = fields.Selection(TEST_STATES, default='not_run', readonly=True,
                                      string='Appointments Test', copy=False)
    act_test_date = fields.Datetime(readonly=True, string='Appointments Tested On', copy=False)
    act_test_message = fields.Text(readonly=True, string='Appointments Test Result', copy=False)

    state = fields.Selection(STATES, default='draft', required=True, readonly=True, copy=False,
                             index=True)
    # Each channel fails on its own: a refused SMTP password must not stop incoming email.
    incoming_status = fields.Selection(CHANNEL_STATES, string='Incoming Status', default='ok',
                                       required=True, readonly=True, copy=False)
    outgoing_status = fields.Selection(CHANNEL_STATES, string='Outgoing Status', default='ok',
                                       required=True, readonly=True, copy=False)
    act_status = fields.Selection(CHANNEL_STATES, string='Appointments Status', default='ok',
                                  required=True, readonly=True, copy=False)
    incoming_last_success = fields.Datetime(string='Last Successful Sync', readonly=True, copy=False)
    act_next_sync = fields.Datetime(string='Next Appointments Sync', readonly=True, copy=False)
    act_failures = fields.Integer(string='Consecutive Appointments Failures', readonly=True, copy=False)
    act_last_success = fields.Datetime(string='Last Appointments Sync', readonly=True, copy=False)
    act_link_ids = fields.One2many('mail.sync.link', 'mailbox_id', string='Linked Items')
    act_conflict_ids = fields.One2many('mail.sync.conflict', 'mailbox_id', string='Conflicts')
    approved = fields.Boolean(string='Email Address Approved', readonly=True, copy=False,
                              help='A manager confirmed that this address belongs to this user.')
    approved_by_id = fields.Many2one('res.users', string='Approved By', readonly=True, copy=False)
    approved_date = fields.Datetime(string='Approved On', readonly=True, copy=False)
    db_uuid = fields.Char(readonly=True, copy=False, groups='mail_sync.group_mail_sync_manager',
                          help='Database identity when the mailbox was enabled: a copied database '
                               'has another one and does not sync until re-enabled.')
    status_message = fields.Char(compute='_compute_status_message', string='Status')
    log_ids = fields.One2many('mail.sync.log', 'mailbox_id', string='Log')

    _sql_constraints = [
        ('user_uniq', 'unique(user_id)', 'This user already has a mailbox: a user maps to one mailbox.'),
    ]

    @api.model_cr
    def init(self):
        super(MailSyncMailbox, self).init()
        # One mailbox per address, whatever its case, enforced by the database itself.
        self.env.cr.execute("""
            CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_mailbox_email_uniq
            ON mail_sync_mailbox (lower(email)) WHERE email IS NOT NULL
        """)

    # ------------------------------------------------------------------ computes
    @api.depends('user_id.name', 'email')
    def _compute_name(self):
        for mailbox in self:
            mailbox.name = mailbox.user_id.name or mailbox.email or _('New Mailbox')

    def _compute_password(self):
        self._compute_secret_fields('password_crypt', 'password', 'password_set')

    def _inverse_password(self):
        self._inverse_secret_field('password_crypt', 'password')

    def _compute_status_message(self):
        for mailbox in self:
            mailbox.status_message = mailbox.sudo()._blocked_reason() or _('Synchronizing')

    # ------------------------------------------------------------------ checks
    @api.constrains('act_enabled', 'server_id')
    def _check_act_exchange_only(self):
        for mailbox in self:
            if mailbox.act_enabled and 'act' not in registry.lookup(mailbox.server_id.server_type).channels:
                raise ValidationError(_('Appointments, contacts and tasks sync only with Exchange '
                                        'profiles.'))

    @api.constrains('state', 'email')
    def _check_enabled_has_email(self):
        for mailbox in self:
            if mailbox.state == 'enabled' and not mailbox.email:
                raise ValidationError(_('An enabled mailbox needs an email address.'))

    def _check_address_free(self, email, exclude_ids=()):
        if not email:
            return
        other = self.sudo().search([('email', '=ilike', email), ('id', 'not in', list(exclude_ids))],
                                   limit=1)
        if other:
            raise UserError(_(
                'The address %s is already mapped to the mailbox of %s. To move it, use '
                '"Map Mailbox": it asks for confirmation and disables the old mapping.')
                % (email, other.user_id.name))

    @api.model
    def create(self, vals):
        vals = self._normalize(vals)
        self._check_address_free(vals.get('email'))
        if vals.get('email') and not vals.get('login'):
            vals['login'] = vals['email']
        mailbox = super(MailSyncMailbox, self).create(vals)
        self.env['mail.sync.log'].record(
            'mapped', _('Mailbox %s mapped to %s by %s.') % (
                mailbox.email or '-', mailbox.user_id.name, self.env.user.name),
            mailbox=mailbox, severity='info')
        return mailbox

    def write(self, vals):
        vals = self._normalize(vals)
        if 'email' in vals:
            for mailbox in self:
                if (mailbox.email or '').lower() != (vals['email'] or '').lower():
                    self._check_address_free(vals['email'], exclude_ids=self.ids)
            changed = self.filtered(lambda m: (m.email or '').lower() != (vals['email'] or '').lower())
            if changed and not self.env.context.get('mail_sync_keep_state'):
                super(MailSyncMailbox, changed).write(self._reset_values())
        if 'user_id' in vals or 'server_id' in vals:
            super(MailSyncMailbox, self).write(self._reset_values())
        return super(MailSyncMailbox, self).write(vals)

    @api.model
    def _normalize(self, vals):
        if vals.get('email'):
            vals = dict(vals, email=vals['email'].strip())
        return vals

    @api.model
    def _reset_values(self):
        """A new address, user or server must be approved and tested again."""
        values = {'approved': False, 'approved_by_id': False, 'approved_date': False}
        for channel in CHANNEL_FIELDS:
            values[channel + '_test_state'] = 'not_run'
        return values

    @api.onchange('email')
    def _onchange_email(self):
        if self.email and not self.login:
            self.login = self.email.strip()
        if self.email:
            other = self.sudo().search([('email', '=ilike', self.email.strip()),
                                        ('user_id', '!=', self.user_id.id)], limit=1)
            if other:
                return {'warning': {
                    'title': _('Address already mapped'),
                    'message': _('%s is mapped to the mailbox of %s. Use "Map Mailbox" to move it '
                                 'here: the old mapping is then disabled.') % (
                        self.email, other.user_id.name)}}

    @api.onchange('user_id')
    def _onchange_user_id(self):
        if self.user_id and not self.email:
            self.email = self.user_id.email or self.user_id.login
            self._onchange_email()

    # ------------------------------------------------------------------ appointments, contacts, tasks
    @api.model
    def _act_filter_error(self, kind, text, user):
        """Why the filter ``text`` of ``kind`` does not work for ``user``, or None."""
        try:
            self._act_eval_filter(kind, text, user)
        except ValidationError as error:
            return error.name
        return None

    @api.model
    def _act_filters_error(self, record, user):
        """The first error among the three filters of ``record`` (a profile or a user) for
        ``user``, or None (an empty filter is no error here)."""
        for kind, field in ACT_FILTER_FIELDS.items():
            error = record[field] and self._act_filter_error(kind, record[field], user)
            if error:
                return error
        return None

    @api.model
    def _act_filters_warning(self, record):
        """Onchange warning of a form with the three filters (evaluated for the user at the
        keyboard: whether a filter evaluates does not depend on whom)."""
        error = self._act_filters_error(record, self.env.user)
        return {'warning': {'title': _('Invalid filter'), 'message': error}} if error else None

    @api.model
    def _act_eval_filter(self, kind, text, user, check=True):
        """The domain of the filter ``text`` evaluated for ``user`` and, with ``check``,
        tried on the kind's Odoo model (one query); a ValidationError that says what is
        wrong otherwise.

        Names a filter can use: ``user`` (id, name, login, email, partner_id.id,
        company_id.id, company_ids.ids), ``uid``, ``datetime`` (date, datetime, timedelta),
        ``relativedelta``."""
        model_name = ACT_MODELS[kind]
        label = self._act_kind_label(kind)
        if not (text or '').strip():
            return []
        context = {'user': _FilterUser(user), 'uid': user.id, 'datetime': _FilterDatetime(),
                   'relativedelta': relativedelta}
        try:
            domain = safe_eval(text.strip(), context)
        except Exception as error:  # safe_eval wraps everything into a few types
            raise ValidationError(_('The %(kind)s filter %(filter)s cannot be evaluated: %(error)s') % {
                'kind': label, 'filter': text, 'error': error})
        if not isinstance(domain, (list, tuple)):
            raise ValidationError(_('The %(kind)s filter must be a domain (a list such as '
                                    '[(\'user_id\', \'=\', user.id)]), not %(filter)s.') % {
                'kind': label, 'filter': text})
        domain = list(domain)
        try:
            domain = expression.normalize_domain(domain)
            if check:
                with self.env.cr.savepoint(), mute_logger('odoo.sql_db'):
                    self.env[model_name].sudo().search(domain, limit=1)
        except (ValueError, TypeError, AssertionError, KeyError, psycopg2.Error) as error:
            raise ValidationError(_('The %(kind)s filter %(filter)s is not a valid domain for '
                                    '%(model)s: %(error)s') % {
                'kind': label, 'filter': text, 'model': model_name, 'error': error})
        return domain

    @api.model
    def _act_kind_label(self, kind):
        return {'appointment': _('appointment'), 'contact': _('contact'), 'task': _('task')}[kind]

    def _act_filter_text(self, kind):
        """The filter that applies to this mailbox: its user's own, else the profile's."""
        self.ensure_one()
        field = ACT_FILTER_FIELDS[kind]
        return self.user_id.sudo()[field] or self.server_id.sudo()[field] or ''

    def _act_domain(self, kind):
        """The Odoo domain of the records of ``kind`` ('appointment', 'contact', 'task')
        that sync with this mailbox: the user's filter, or the profile's, evaluated
        with ``user`` = the mailbox's user. Filters were checked when entered, so no
        query is spent on checking them again here (a sync cycle calls this)."""
        self.ensure_one()
        if kind not in ACT_MODELS:
            raise ValueError('unknown kind %r' % (kind,))
        return self._act_eval_filter(kind, self._act_filter_text(kind), self.user_id.sudo(),
                                     check=False)

    # ------------------------------------------------------------------ connectors
    def _effective_login(self):
        self.ensure_one()
        if self.server_id.credential_mode == 'profile':
            return self.server_id.service_login
        return self.login or self.email

    def _plain_password(self):
        self.ensure_one()
        if self.server_id.credential_mode == 'profile':
            return self.server_id._plain_service_password()
        return self._secret_get('password_crypt')

    def _credentials(self):
        return Credentials(self._effective_login(), self._plain_password())

    def _connector(self, channel):
        """The protocol connector (from ``sync/``) for one channel of this mailbox, built by
        the registry entry of the profile's server type."""
        self.ensure_one()
        return registry.connector(self.server_id.server_type, channel, self._connection_config())

    def _connection_config(self):
        """The profile's and mailbox's settings as plain values for a connector; secrets are
        read only when the connector asks for them."""
        server = self.server_id
        return ConnectionConfig(
            self.email, credentials=self._credentials, cafile=ca_file(), timeout=server.timeout,
            verify_tls=server.verify_tls, auth_method=server.auth_method,
            incoming_host=server.incoming_host, incoming_port=server.incoming_port,
            incoming_encryption=server.incoming_encryption,
            outgoing_host=server.outgoing_host or server.incoming_host,
            outgoing_port=server.outgoing_port, outgoing_encryption=server.outgoing_encryption,
            ews_url=server.ews_url, ews_autodiscover=server.ews_locate == 'autodiscover',
            impersonate=server.credential_mode == 'profile', graph_url=server.graph_url)

    def _active_channels(self):
        self.ensure_one()
        return [channel for channel, field in CHANNEL_FIELDS.items() if self[field]]

    # ------------------------------------------------------------------ actions
    def action_test_enable(self):
        """Test each enabled channel for real; enable the mailbox when all pass."""
        # Results are written with sudo (read-only fields): check the caller's rights first.
        self.check_access_rights('write')
        self.check_access_rule('write')
        for mailbox in self:
            mailbox._test_and_enable()
        return True

    def _test_and_enable(self):
        self.ensure_one()
        if not self.email:
            raise UserError(_('Enter the mailbox\'s email address first.'))
        channels = self._active_channels()
        if not channels:
            raise UserError(_('Turn on at least one channel (incoming email, outgoing email, or '
                              'appointments, contacts and tasks).'))
        log = self.env['mail.sync.log']
        now = fields.Datetime.now()
        values, passed = {}, True
        for channel in CHANNEL_FIELDS:
            if channel not in channels:
                values[channel + '_test_state'] = 'not_run'
                continue
            try:
                summary = self.sudo()._connector(channel).check()
                values[channel + '_test_state'] = 'success'
                values[channel + '_test_message'] = self._describe_summary(channel, summary)
                log.resolve(self, channel)
            except Exception as exc:  # every failure becomes a stored, explained result
                passed = False
                error = exc if isinstance(exc, SyncError) else None
                message = (log.record_error(error, mailbox=self, channel=channel) if error
                           else log.describe_exception(exc, mailbox=self))
                values[channel + '_test_state'] = 'failure'
                values[channel + '_test_message'] = message
            values[channel + '_test_date'] = now
        if passed:
            values.update(state='enabled', db_uuid=self._current_db_uuid(), next_sync=False,
                          incoming_failures=0, outgoing_failures=0, act_failures=0, act_next_sync=False)
            values.update({channel + '_status': 'ok' for channel in CHANNEL_FIELDS})
            log.record('enabled', _('Mailbox tested and enabled by %s.') % self.env.user.name,
                       mailbox=self, severity='info')
        elif self.state == 'enabled':
            values['state'] = 'suspended'
        self.sudo().write(values)
        return passed

    def _describe_summary(self, channel, summary):
        if 'url' in summary:
            return _('Connected to %s; %s messages in the Inbox.') % (summary['url'], summary['messages'])
        if 'capabilities' in summary:
            return _('Connected and logged in; %s messages in the Inbox; server offers %s.') % (
                summary['messages'], ', '.join(summary['capabilities']) or _('no extensions'))
        if 'size' in summary:
            return _('Connected and logged in; %s messages on the server.') % summary['messages']
        return _('Connected and authenticated.')

    def action_disable(self):
        for mailbox in self:
            mailbox.state = 'disabled'
            self.env['mail.sync.log'].record(
                'disabled', _('Mailbox disabled by %s.') % self.env.user.name, mailbox=mailbox,
                severity='info')
        return True

    def action_approve(self):
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise UserError(_('Only a Server-Side Sync manager can approve email addresses.'))
        self.write({'approved': True, 'approved_by_id': self.env.uid,
                    'approved_date': fields.Datetime.now()})
        for mailbox in self:
            self.env['mail.sync.log'].record(
                'approved', _('Address %s approved by %s.') % (mailbox.email, self.env.user.name),
                mailbox=mailbox, severity='info')
        return True

    def action_map(self):
        """Open the mapping wizard for this mailbox (to change its address safely)."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window', 'res_model': 'mail.sync.mailbox.map',
            'view_mode': 'form', 'target': 'new',
            'context': {'default_user_id': self.user_id.id, 'default_server_id': self.server_id.id,
                        'default_email': self.email},
        }

    # ------------------------------------------------------------------ sync eligibility
    @api.model
    def _current_db_uuid(self):
        return self.env['ir.config_parameter'].sudo().get_param('database.uuid')

    def _blocked_reason(self):
        """Why this mailbox does not sync now, or False when it does."""
        self.ensure_one()
        if self.state != 'enabled':
            return dict(STATES)[self.state]
        if self.db_uuid != self._current_db_uuid():
            return _('Paused: this database is a copy. A manager must re-enable the mailbox '
                     '(Test & Enable).')
        approved_only = self.env['ir.config_parameter'].sudo().get_param('mail_sync.approved_only')
        if approved_only in ('True', '1') and not self.approved:
            return _('Waiting for a manager to approve the email address.')
        return False

    def _syncable(self):
        """The mailboxes among these that sync now."""
        return self.sudo().filtered(lambda m: not m._blocked_reason())

    def _break_mapping(self, new_owner):
        """Give up this mailbox's address: disable it and log why (used by remapping)."""
        for mailbox in self:
            self.env['mail.sync.log'].record(
                'remapped', _('Address %s moved to %s by %s; this mailbox is disabled.') % (
                    mailbox.email, new_owner.name, self.env.user.name),
                mailbox=mailbox, severity='warning')
            super(MailSyncMailbox, mailbox).write({'email': False, 'state': 'disabled',
                                                   'approved': False})
