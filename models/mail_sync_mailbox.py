import datetime
import logging
import socket

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.osv import expression
from odoo.tools import html_escape as escape, mute_logger

from odoo.addons.queue_job.job import job

from ..sync import registry
from ..sync.endpoint import Credentials
from ..sync.errors import SyncError
from ..sync.registry import ConnectionConfig
from .act import ADAPTERS
from .act.filter_domain import FilterError, parse_filter, user_names
from .secret_store import ca_file
from .exact_match import exact_ilike
from . import transaction
from .user_error import MailSyncUserError

_logger = logging.getLogger(__name__)

CHANNEL_FIELDS = {
    'incoming': 'incoming_enabled',
    'outgoing': 'outgoing_enabled',
    'act': 'act_enabled',
}
# Changing one of these means the last connection test proves nothing any more.
CONNECTION_FIELDS = ('email', 'login', 'password', 'user_id', 'server_id')
# Appointments, contacts and tasks: the Odoo model of each kind, and the field holding
# its filter (on the profile; the same field on res.users overrides it when set).
ACT_MODELS = {kind: adapter.model for kind, adapter in ADAPTERS.items()}
TEST_JOB_CHANNEL = 'root.mail_sync.test'  # Test & Enable from the form, a job of its own
ACT_FILTER_FIELDS = {'appointment': 'act_filter_appointment', 'contact': 'act_filter_contact',
                     'task': 'act_filter_task'}


def db_fingerprint(uuid, dbname):
    """What tells this database from a copy: a copy keeps the uuid, not its name and host."""
    return '%s|%s|%s' % (uuid, dbname, socket.gethostname())


STATES = [
    ('draft', 'Not Enabled'),
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

    state = fields.Selection(STATES, default='draft', required=True, readonly=True, copy=False,
                             index=True)
    # Each channel's state (status, failures, next sync, last test) is in mail.sync.channel:
    # see mail_sync_mailbox_channels.py for the fields that show it here.
    act_link_ids = fields.One2many('mail.sync.link', 'mailbox_id', string='Linked Items')
    act_conflict_ids = fields.One2many('mail.sync.conflict', 'mailbox_id', string='Conflicts')
    approved = fields.Boolean(string='Email Address Approved', readonly=True, copy=False,
                              help='A manager confirmed that this address belongs to this user.')
    approved_by_id = fields.Many2one('res.users', string='Approved By', readonly=True, copy=False)
    approved_date = fields.Datetime(string='Approved On', readonly=True, copy=False)
    db_uuid = fields.Char(readonly=True, copy=False, groups='mail_sync.group_mail_sync_manager',
                          string='Database Fingerprint',
                          help='Where this database was when the mailbox was enabled (its uuid, name '
                               'and host): a copy of the database differs and does not sync until a '
                               'manager re-enables the mailbox.')
    status_message = fields.Char(compute='_compute_status_message', string='Status')
    needs_test_reason = fields.Char(
        string='Why a Test Is Needed', readonly=True, copy=False,
        help='Set when the address or credentials changed after the last Test & Enable.')
    test_running = fields.Boolean(string='Test Running', readonly=True, copy=False)
    test_started = fields.Datetime(string='Test Started On', readonly=True, copy=False)
    test_summary = fields.Html(string='Connection Test', compute='_compute_test_summary',
                               sanitize=False)
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
        # Mailboxes enabled when the guard kept the bare database.uuid carry on where it
        # matches: the fingerprint (uuid, name, host) takes its place.
        self.env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
        row = self.env.cr.fetchone()
        if row and row[0]:
            self.env.cr.execute("UPDATE mail_sync_mailbox SET db_uuid = %s WHERE db_uuid = %s",
                                [db_fingerprint(row[0], self.env.cr.dbname), row[0]])

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
            mailbox.status_message = mailbox.sudo()._sync_status()[1]

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
        other = self.sudo().search([('email', '=ilike', exact_ilike(email)),
                                    ('id', 'not in', list(exclude_ids))], limit=1)
        if other:
            raise MailSyncUserError(_(
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
        self.env['mail.sync.log']._record(
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
        if not self.env.context.get('mail_sync_keep_state'):
            for field, mailboxes in self._connection_changes(vals).items():
                super(MailSyncMailbox, mailboxes).write(self._reset_values(field))
                for mailbox in mailboxes:
                    for row in mailbox._channel_states().values():
                        row._forget_test()
                running = mailboxes.filtered(lambda m: m.state in ('enabled', 'suspended'))
                super(MailSyncMailbox, running).write({'state': 'draft'})
        return super(MailSyncMailbox, self).write(vals)

    def _connection_changes(self, vals):
        """{field: mailboxes} of the connection fields that ``vals`` really changes."""
        changes = {}
        for field in CONNECTION_FIELDS:
            if field not in vals:
                continue
            if field == 'password':
                changed = self if vals['password'] else self.browse()
            elif field == 'email':
                changed = self.filtered(
                    lambda m: (m.email or '').lower() != (vals['email'] or '').lower())
            else:
                changed = self.filtered(lambda m, f=field: (m[f].id if f.endswith('_id') else m[f])
                                        != vals[f])
            changed = changed - self.browse([m.id for ms in changes.values() for m in ms])
            if changed:
                changes[field] = changed
        return changes

    @api.model
    def _normalize(self, vals):
        if vals.get('email'):
            vals = dict(vals, email=vals['email'].strip())
        return vals

    @api.model
    def _reset_values(self, field='email'):
        """A new address, login, password, user or server must be tested again (and a new
        address, user or server approved again): the mailbox stops until then."""
        label = self._fields[field].get_description(self.env)['string']
        values = {'needs_test_reason': _('%s changed since the last Test & Enable: run Test & '
                                         'Enable to check it and start synchronizing again.') % label}
        if field != 'login' and field != 'password':
            values.update(approved=False, approved_by_id=False, approved_date=False)
        return values

    @api.onchange('email')
    def _onchange_email(self):
        if self.email and not self.login:
            self.login = self.email.strip()
        # Only managers learn who owns an address (users can call onchange over RPC too).
        if self.email and self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            other = self.sudo().search([('email', '=ilike', exact_ilike(self.email.strip())),
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
        """The domain of the filter ``text`` for ``user`` and, with ``check``, tried on the
        kind's Odoo model (one query); a ValidationError that says what is wrong otherwise.

        Users write filters: the text is parsed as a literal domain, never evaluated
        (models/act/filter_domain.py). Names it can use: ``uid``, ``user.id``,
        ``user.name``, ``user.login``, ``user.email``, ``user.partner_id.id``,
        ``user.company_id.id``, ``user.company_ids.ids``."""
        model_name = ACT_MODELS[kind]
        label = self._act_kind_label(kind)
        if not (text or '').strip():
            return []
        try:
            domain = parse_filter(text, user_names(user))
        except FilterError as error:
            raise ValidationError(self._act_filter_message(label, text, error))
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
    def _act_filter_message(self, label, text, error):
        """The translated explanation of a FilterError."""
        shown = text if len(text) <= 200 else text[:200] + '...'
        values = {'kind': label, 'filter': shown, 'detail': error.detail}
        if error.code == 'too_long':
            return _('The %(kind)s filter is too long: at most %(detail)s characters.') % values
        if error.code == 'too_many':
            return _('The %(kind)s filter has too many conditions: at most %(detail)s.') % values
        if error.code == 'not_domain':
            return _('The %(kind)s filter must be a domain (a list such as '
                     '[(\'user_id\', \'=\', user.id)]), not %(filter)s.') % values
        if error.code == 'unknown_name':
            values['names'] = ', '.join(sorted(user_names(self.env.user)))
            return _('The %(kind)s filter %(filter)s cannot be evaluated: %(detail)s is not one of '
                     'the names a filter may use (%(names)s).') % values
        if error.code == 'not_literal':
            return _('The %(kind)s filter %(filter)s cannot be evaluated: a filter is a literal '
                     'domain, without calculations or calls (found %(detail)s).') % values
        return _('The %(kind)s filter %(filter)s cannot be evaluated: %(detail)s') % values

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
            impersonate=server.credential_mode == 'profile', graph_url=server.graph_url,
            graph_invitations=server.graph_invitations)

    def _active_channels(self):
        self.ensure_one()
        return [channel for channel, field in CHANNEL_FIELDS.items() if self[field]]

    # ------------------------------------------------------------------ actions
    def action_test_enable(self):
        """Test each enabled channel for real; enable the mailbox when all pass.

        From the form (context ``mail_sync_background``) the test is a job (run by a worker
        as the user who clicked) that reports each channel over the bus: the page never
        waits for a server, and a second click while a test runs starts nothing."""
        # Results are written with sudo (read-only fields): check the caller's rights first.
        self.check_access_rights('write')
        self.check_access_rule('write')
        if self.env.context.get('mail_sync_background'):
            for mailbox in self:
                mailbox._start_background_test()
            return True
        for mailbox in self:
            mailbox._test_and_enable()
        return True

    def _check_testable(self):
        self.ensure_one()
        if not self.email:
            raise MailSyncUserError(_('Enter the mailbox\'s email address first.'))
        if not self._active_channels():
            raise MailSyncUserError(_('Turn on at least one channel (incoming email, outgoing email, or '
                              'appointments, contacts and tasks).'))

    def _test_deadline(self):
        """When a running test is surely dead (its process stopped): every channel's
        connection timeout, twice, plus a minute."""
        seconds = 2 * (self.server_id.timeout or 60) * max(1, len(self._active_channels())) + 60
        return fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(seconds=seconds))

    def _start_background_test(self, quiet=False):
        """Mark the test running (once: the row lock makes a concurrent click wait, then
        see it running) and enqueue its job, which runs as this user once this transaction
        commits. A worker that dies in the test leaves it running until the deadline."""
        self._check_testable()
        cr = self.env.cr
        cr.execute("""UPDATE mail_sync_mailbox SET test_running = TRUE,
                             test_started = (now() AT TIME ZONE 'UTC')
                       WHERE id = %s AND (test_running IS NOT TRUE OR test_started < %s)
                   RETURNING id""", (self.id, self._test_deadline()))
        if not cr.fetchone():
            return False  # already running: the form shows its progress
        self.invalidate_cache(['test_running', 'test_started'], self.ids)
        states = self._channel_states()
        for channel in self._active_channels():
            states[channel]._test_running()
        self.with_delay(channel=TEST_JOB_CHANNEL, identity_key='mail_sync.test.%d' % self.id, max_retries=1,
                        description='Server-Side Sync: Test & Enable of %s' % self.email)._job_test(quiet)
        return True

    @job(default_channel='root.mail_sync.test')
    def _job_test(self, quiet=False):
        """A Test & Enable started from the form, as the user who clicked: one commit and
        one bus message per channel, and the running flag cleared whatever happens.
        ``quiet`` (Test & Enable All): no pop-up at the end, the profile's summary says it."""
        mailbox = self.exists().with_context(lang=self.env.user.lang)
        if not mailbox:
            return 'no such mailbox'
        passed = False

        def progress(channel):
            mailbox._notify_test(channel)
            transaction.commit(self.env.cr)
        try:
            with transaction.undo_on_failure(self.env):
                passed = mailbox._test_and_enable(progress=progress)
        except Exception:  # the job has no caller to tell: log it, and say it failed
            _logger.exception('mail_sync: background Test & Enable of mailbox %s failed', mailbox.id)
        for row in mailbox._channel_states().values():
            if row.test_state == 'running':
                row._forget_test()
        mailbox.sudo().write({'test_running': False})
        mailbox._notify_test(done=True, passed=passed, quiet=quiet)
        transaction.commit(self.env.cr)
        return 'passed' if passed else 'failed'

    def _notify_test(self, channel=None, done=False, passed=False, quiet=False):
        """Tell the user who runs the test how it goes (their own partner channel)."""
        message = {'type': 'mail_sync_test', 'mailbox_id': self.id, 'channel': channel,
                   'done': done, 'passed': passed, 'quiet': quiet}
        if channel:
            message.update(state=self._channel_state(channel).test_state,
                           label=self._channel_label(channel))
        if done:
            # The same words as the status line (an enabled mailbox may still wait for approval).
            status = self.sudo()._sync_status()[1]
            message.update(title=_('Server-Side Sync: Test & Enable'), text=(
                _('%(email)s: every channel passed. %(status)s') if passed else
                _('%(email)s: the test failed. %(status)s The top of the mailbox form says what '
                  'to fix.')) % {'email': self.email, 'status': status})
        self.env['bus.bus'].sendone((self.env.cr.dbname, 'res.partner', self.env.user.partner_id.id),
                                    message)

    def _test_and_enable(self, progress=None):
        """Test each active channel; ``progress(channel)`` is called after each result is
        written (the background test commits and notifies there)."""
        self.ensure_one()
        self._check_testable()
        channels = self._active_channels()
        states = self._channel_states()
        log = self.env['mail.sync.log']
        values, passed = {}, True
        for channel in CHANNEL_FIELDS:
            if channel not in channels:
                states[channel]._forget_test()
                continue
            try:
                summary = self.sudo()._connector(channel).check()
                states[channel]._tested(True, self._describe_summary(channel, summary))
                log._resolve(self, channel)
            except Exception as exc:  # every failure becomes a stored, explained result
                passed = False
                error = exc
                if not isinstance(exc, SyncError):
                    _logger.exception('mail_sync: unexpected error testing mailbox %s', self.id)
                    error = SyncError('unexpected', '%s: %s' % (type(exc).__name__, exc))
                states[channel]._tested(False, log._record_error(error, mailbox=self, channel=channel))
            if progress:
                progress(channel)
        if passed:
            values.update(state='enabled', db_uuid=self._current_db_uuid(), needs_test_reason=False)
            for row in states.values():
                row._reset()
            log._record('enabled', _('Mailbox tested and enabled by %s.') % self.env.user.name,
                       mailbox=self, severity='info')
        elif self.state == 'enabled':
            values['state'] = 'suspended'
        self.sudo().write(values)
        if passed:  # the first cycles run at once, as jobs
            for channel in ('incoming', 'act'):
                self._enqueue_next_cycle(channel)
        return passed

    @api.depends()
    def _compute_test_summary(self):
        """One line per active channel for the top of the form: running, passed, or what
        failed and what to do."""
        icons = {'running': 'fa-spinner fa-spin', 'success': 'fa-check text-success',
                 'failure': 'fa-times text-danger', 'not_run': 'fa-circle-o text-muted'}
        states = dict(self.env['mail.sync.channel']._fields['test_state']._description_selection(self.env))
        for mailbox in self:
            box = mailbox.sudo()
            rows = {row.channel: row for row in box.channel_ids}
            lines = []
            for channel in CHANNEL_FIELDS:
                row = rows.get(channel)
                state = row.test_state if row else 'not_run'
                if not box[CHANNEL_FIELDS[channel]] or (state == 'not_run' and not box.test_running):
                    continue
                text = row.test_message if state in ('success', 'failure') else ''
                lines.append(
                    '<div class="o_mail_sync_test_line" data-channel="%s" data-state="%s">'
                    '<i class="fa %s"></i> <strong>%s: %s</strong> %s</div>' % (
                        channel, state, icons[state], escape(mailbox._channel_label(channel)),
                        escape(states[state]), escape(text or '')))
            mailbox.test_summary = ''.join(lines)

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
        self.check_access_rights('write')
        self.check_access_rule('write')
        for mailbox in self:
            mailbox.state = 'disabled'
            self.env['mail.sync.log']._record(
                'disabled', _('Mailbox disabled by %s.') % self.env.user.name, mailbox=mailbox,
                severity='info')
        return True

    def action_approve(self):
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only a Server-Side Sync manager can approve email addresses.'))
        self.write({'approved': True, 'approved_by_id': self.env.uid,
                    'approved_date': fields.Datetime.now()})
        for mailbox in self:
            self.env['mail.sync.log']._record(
                'approved', _('Address %s approved by %s.') % (mailbox.email, self.env.user.name),
                mailbox=mailbox, severity='info')
            for channel in ('incoming', 'act'):  # an enabled mailbox waiting for this syncs at once
                mailbox._enqueue_next_cycle(channel)
        return True

    def action_map(self):
        """Open the mapping wizard for this mailbox (to change its address safely)."""
        self.ensure_one()
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only a Server-Side Sync manager can map mailboxes.'))
        return {
            'type': 'ir.actions.act_window', 'res_model': 'mail.sync.mailbox.map',
            'view_mode': 'form', 'target': 'new',
            'context': {'default_user_id': self.user_id.id, 'default_server_id': self.server_id.id,
                        'default_email': self.email},
        }

    # ------------------------------------------------------------------ sync eligibility
    @api.model
    def _current_db_uuid(self):
        """The fingerprint of this database where it runs now, stored on a mailbox when a
        manager enables it. A restored dump keeps ``database.uuid``: its name or its host
        differ, and are part of the fingerprint (Odoo 11 has no neutralization of copies)."""
        uuid = self.env['ir.config_parameter'].sudo().get_param('database.uuid') or ''
        return db_fingerprint(uuid, self.env.cr.dbname)

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
            self.env['mail.sync.log']._record(
                'remapped', _('Address %s moved to %s by %s; this mailbox is disabled.') % (
                    mailbox.email, new_owner.name, self.env.user.name),
                mailbox=mailbox, severity='warning')
            super(MailSyncMailbox, mailbox).write({'email': False, 'state': 'disabled',
                                                   'approved': False})

