"""Move a database from Odoo's own mail servers (fetchmail, outgoing servers), or from a
CSV file, to server-side sync: a dry run that proposes every profile and mailbox and
explains every conflict, then an apply that does what the dry run showed and keeps a
report. Both are idempotent: what is already migrated is recognised and left alone.
"""
import base64
import binascii
import csv
import datetime
import io
import ipaddress
import re
from collections import OrderedDict

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

FETCHMAIL_TYPES = {'imap': 'imap', 'pop': 'pop3'}
TYPE_LABELS = {'imap': 'IMAP', 'pop3': 'POP3'}
SMTP_ENCRYPTIONS = {'none': 'none', 'starttls': 'starttls', 'ssl': 'ssl'}
CSV_COLUMNS = ('email', 'user_login', 'profile', 'login', 'password')
CSV_REQUIRED = ('email', 'user_login', 'profile', 'password')
APPLIED_ACTIONS = ('create', 'update', 'manual')  # what Apply acts on
EMAIL_RE = re.compile(r'^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>"]+$')


def registered_domain(host):
    """The domain two hosts must share for their incoming and outgoing servers to merge
    into one profile: the host's last two labels (imap.example.com and smtp.example.com
    share example.com). IP addresses and single-label hosts only match themselves.

    >>> registered_domain('IMAP.Example.com'), registered_domain('127.0.0.1')
    ('example.com', None)
    """
    host = (host or '').strip().lower().rstrip('.')
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.split('.')
    return '.'.join(labels[-2:]) if len(labels) >= 2 else None


def exact(value):
    """``value`` as an ``=ilike`` pattern that matches itself only (case-insensitive
    equality: ``_`` and ``%`` are wildcards otherwise, and common in logins)."""
    return (value or '').replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')


def _default_process_after(*_args):
    return fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(hours=24))


class MailSyncMigrationWizard(models.TransientModel):
    _name = 'mail.sync.migration.wizard'
    _inherit = ['mail.sync.secret.mixin']
    _description = 'Server-Side Sync: Migration Wizard'
    # The uploaded file holds passwords: kept encrypted like every other secret, never in clear.
    _secret_columns = ('csv_file_crypt',)

    mode = fields.Selection(
        [('servers', 'From Odoo\'s Mail Servers'), ('csv', 'From a CSV File')], string='Migrate',
        required=True, default=lambda self: self._default_mode(),
        help='Odoo\'s mail servers: one profile per mail host and one mailbox per incoming server '
             'login. CSV file: one mailbox per row (email, user_login, profile, login, password).')
    state = fields.Selection([('draft', 'Options'), ('preview', 'Preview')], default='draft')
    process_after = fields.Datetime(
        string='Process Email Received After', default=_default_process_after,
        help='Set on the new profiles (and on reused profiles that have none): older email is '
             'never imported, so the history fetched by Odoo\'s mail servers is not imported again.')
    test_enable = fields.Boolean(
        string='Test & Enable in the Background', default=True,
        help='After applying, test every new mailbox\'s connection in a background job and enable '
             'those that pass; the results go into the migration report.')
    deactivate_fetchmail = fields.Boolean(
        string='Deactivate Migrated Incoming Servers', default=True,
        help='Once a mailbox passes Test & Enable, deactivate the Odoo incoming mail server it '
             'was migrated from, so that its email is not fetched twice. Servers that create '
             'documents (leads, tickets...) are kept.')
    csv_file = fields.Binary(string='CSV File', compute='_compute_csv_file', inverse='_inverse_csv_file',
                             help='Write-only: stored encrypted until the migration is applied.')
    csv_filename = fields.Char()
    line_ids = fields.One2many('mail.sync.migration.wizard.line', 'wizard_id', string='Proposals')
    summary = fields.Text(compute='_compute_summary')
    can_apply = fields.Boolean(compute='_compute_can_apply',
                               help='The preview proposes something to create or update.')
    migration_id = fields.Many2one('mail.sync.migration', string='Report', readonly=True)

    def _compute_csv_file(self):
        for wizard in self:
            wizard.csv_file = False

    def _inverse_csv_file(self):
        for wizard in self:
            content = wizard.csv_file
            if content:
                wizard._secret_set('csv_file_crypt', content.decode('ascii') if isinstance(content, bytes)
                                   else content)

    def _csv_payload(self):
        """The uploaded file (base64): from the form while editing, else decrypted."""
        if isinstance(self.id, int):
            return self._secret_get('csv_file_crypt') or self.csv_file
        return self.csv_file

    @api.model
    def _default_mode(self):
        """Reading Odoo's mail servers is for Settings administrators (see _check_rights)."""
        return 'servers' if self.env.user.has_group('base.group_system') else 'csv'

    @api.depends('line_ids.action', 'line_ids.kind', 'state', 'mode')
    def _compute_summary(self):
        labels = dict(self.env['mail.sync.migration.wizard.line']._fields['action']._description_selection(
            self.env))
        for wizard in self:
            parts = []
            for kind, title in (('profile', _('Profiles')), ('mailbox', _('Mailboxes'))):
                lines = wizard.line_ids.filtered(lambda l: l.kind == kind)
                counts = OrderedDict()
                for line in lines:
                    counts[line.action] = counts.get(line.action, 0) + 1
                if counts:
                    parts.append('%s \u2014 %s' % (title, ', '.join(
                        '%s: %d' % (labels[action], count) for action, count in counts.items())))
            if wizard.state == 'preview' and not wizard.can_apply:
                parts.append(wizard._nothing_to_migrate_reason())
            wizard.summary = '\n'.join(parts) or False

    @api.depends('line_ids.action')
    def _compute_can_apply(self):
        for wizard in self:
            wizard.can_apply = any(line.action in APPLIED_ACTIONS for line in wizard.line_ids)

    def _nothing_to_migrate_reason(self):
        """Why the preview proposes nothing to apply, and what to do instead."""
        if self.line_ids:
            return _('Nothing to apply: every item above is already migrated or cannot be migrated '
                     '(see Details). Fix what the details say, then refresh the preview.')
        if self.mode == 'csv':
            return _('Nothing to migrate: the CSV file has no row below its header line. Add one '
                     'row per mailbox (email,user_login,profile,login,password) and preview again.')
        return _('Nothing to migrate: Odoo has no active incoming mail server (Settings > Technical '
                 '> Email > Incoming Mail Servers). Create mailboxes under Server-Side Sync > '
                 'Mailboxes, or migrate from a CSV file.')

    @api.onchange('mode', 'csv_file')
    def _onchange_source(self):
        """Another source makes the preview stale: preview again before applying."""
        self.state = 'draft'
        self.line_ids = [(5, 0, 0)]

    # ------------------------------------------------------------------ buttons
    def action_preview(self):
        """The dry run: list what applying would do. Writes nothing but this wizard's lines."""
        self.ensure_one()
        self._check_rights()
        plan = self._plan(self._manual_choices())
        self.line_ids.unlink()
        self.write({'state': 'preview', 'line_ids': [(0, 0, self._line_values(seq, item))
                                                     for seq, item in enumerate(plan)]})
        return self._reopen()

    def action_apply(self):
        """Apply the plan (computed again, so that it matches the database of now) and keep
        a report; schedule Test & Enable when asked."""
        self.ensure_one()
        self._check_rights()
        plan = self._plan(self._manual_choices())
        migration = self.env['mail.sync.migration'].create({
            'name': _('%s on %s') % (dict(self._fields['mode']._description_selection(self.env))[self.mode],
                                    fields.Datetime.now()),
            'mode': self.mode, 'process_after': self.mode == 'servers' and self.process_after,
            'test_enable': self.test_enable,
            'deactivate_fetchmail': self.mode == 'servers' and self.deactivate_fetchmail,
        })
        profiles = {}
        if self.mode == 'servers':
            plan = self._withhold_unconfirmed_passwords(plan)
        lines = [self._apply_item(item, profiles) for item in plan]
        migration.write({'line_ids': [(0, 0, dict(values, sequence=seq))
                                      for seq, values in enumerate(lines)]})
        if self.test_enable and migration.line_ids.filtered(
                lambda l: l.kind == 'mailbox' and l.mailbox_id and l.result in ('created', 'updated')):
            migration._schedule_test_enable()
        # The file holds passwords: do not keep it in the wizard once applied.
        self.write({'migration_id': migration.id})
        self._secret_set('csv_file_crypt', None)
        return {'type': 'ir.actions.act_window', 'res_model': 'mail.sync.migration',
                'res_id': migration.id, 'view_mode': 'form', 'target': 'current'}

    def _reopen(self):
        return {'type': 'ir.actions.act_window', 'name': _('Migrate to Server-Side Sync'),
                'res_model': self._name, 'res_id': self.id, 'view_mode': 'form', 'target': 'new'}

    def _check_rights(self):
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only a Server-Side Sync manager can migrate mailboxes.'))
        if self.mode == 'servers' and not self.env.user.has_group('base.group_system'):
            # The migration reads Odoo's mail servers and their passwords.
            raise AccessError(_('Migrating Odoo\'s mail servers is for Settings administrators.'))

    def _manual_choices(self):
        """Users picked by hand on the lines of logins that matched no user."""
        return {line.sudo().fetchmail_id.id: line.user_id
                for line in self.line_ids if line.action == 'manual' and line.user_id}

    # ------------------------------------------------------------------ plan
    def _plan(self, manual=None):
        if self.mode == 'csv':
            return self._plan_csv()
        return self._plan_servers(manual or {})

    def _line_values(self, sequence, item):
        values = {key: value if value is not None else False
                  for key, value in item.items() if not key.startswith('_')}
        if isinstance(values.get('message'), list):
            values['message'] = '\n'.join(values['message'])
        values['sequence'] = sequence
        return values

    def _plan_servers(self, manual):
        """Profiles first (one per incoming host, port and protocol, merged with the outgoing
        server of the same host or domain), then one mailbox per incoming server login."""
        Fetchmail = self.env['fetchmail.server'].sudo()
        outgoing = self.env['ir.mail_server'].sudo().search([], order='sequence, id')
        profiles, mailboxes, notes = OrderedDict(), [], []
        taken = {'emails': {}, 'users': {}}
        used_outgoing = self.env['ir.mail_server'].sudo()
        for fetchmail in Fetchmail.search([], order='priority, id'):
            server_type = FETCHMAIL_TYPES.get(fetchmail.type)
            host = (fetchmail.server or '').strip().lower()
            base = {'kind': 'mailbox', 'name': (fetchmail.user or '').strip() or fetchmail.name,
                    'source': fetchmail.name, 'login': (fetchmail.user or '').strip(),
                    'fetchmail_id': fetchmail.id}
            if not server_type:
                mailboxes.append(dict(base, action='conflict', message=_(
                    'Unsupported: a "%s" server receives email from the mail gateway script, there '
                    'is no mailbox to read. Keep it as it is.') % dict(
                    fetchmail._fields['type']._description_selection(self.env))[fetchmail.type]))
                continue
            if not host:
                mailboxes.append(dict(base, action='conflict', message=_('The server has no host name.')))
                continue
            encryption = 'ssl' if fetchmail.is_ssl else 'none'
            key = (server_type, host, fetchmail.port, encryption)
            if key not in profiles:
                profiles[key] = self._plan_profile(key, outgoing, profiles)
                used_outgoing |= profiles[key]['_smtp']
            profile = profiles[key]
            mailboxes.append(self._plan_fetchmail_mailbox(fetchmail, base, profile, outgoing,
                                                          manual, taken))
        for smtp in outgoing - used_outgoing:
            notes.append({'kind': 'note', 'action': 'skip', 'name': smtp.smtp_host or smtp.name,
                          'source': smtp.name, 'message': _(
                              'Outgoing server not migrated: no incoming server on the same host or '
                              'domain. Odoo keeps sending through it the email of users without an '
                              'enabled outgoing mailbox.')})
        return list(profiles.values()) + mailboxes + notes

    def _plan_profile(self, key, outgoing, planned):
        server_type, host, port, encryption = key
        Profile = self.env['mail.sync.server'].sudo()
        existing = Profile.search([('server_type', '=', server_type),
                                   ('incoming_host', '=ilike', exact(host)),
                                   ('incoming_port', '=', port)], limit=1)
        smtp, rule = self._match_outgoing(host, outgoing)
        smtp_values = smtp and {
            'outgoing_host': (smtp.smtp_host or '').strip().lower(), 'outgoing_port': smtp.smtp_port,
            'outgoing_encryption': SMTP_ENCRYPTIONS.get(smtp.smtp_encryption, 'none')} or {}
        messages = []
        if smtp:
            messages.append(_('Outgoing settings from the outgoing server %s (%s).') % (
                smtp.name, rule == 'host' and _('same host') or _('same domain')))
        if encryption == 'none':
            messages.append(_('Warning: unencrypted, passwords travel in clear. Odoo\'s incoming '
                              'servers have no STARTTLS: if this server offers it, switch the '
                              'profile to STARTTLS.'))
        item = {'kind': 'profile', 'profile_key': repr(key), '_smtp': smtp or outgoing.browse()}
        if existing:
            values = {}
            if self.process_after and not existing.process_after:
                values['process_after'] = self.process_after
            if smtp_values and not existing.outgoing_host:
                values.update(smtp_values)
            messages.insert(0, values and _('The existing profile is reused and completed.') or _(
                'The existing profile is reused as it is.'))
            item.update(name=existing.name, source=host, server_id=existing.id,
                        action=values and 'update' or 'none', _values=values)
        else:
            name = '%s (%s)' % (host, TYPE_LABELS[server_type])
            if any(p['name'] == name for p in planned.values()) or \
                    Profile.search_count([('name', '=', name)]):
                name = '%s:%d (%s)' % (host, port, TYPE_LABELS[server_type])
            values = {'name': name, 'server_type': server_type, 'incoming_host': host,
                      'incoming_port': port, 'incoming_encryption': encryption,
                      'auth_method': 'basic', 'credential_mode': 'mailbox',
                      'process_after': self.process_after or False}
            if smtp_values:
                values.update(smtp_values)
            else:
                values['outgoing_host'] = host
                messages.append(_('No outgoing server on this host or domain: check the outgoing '
                                  'settings before enabling outgoing email.'))
            item.update(name=name, source=host, action='create', _values=values)
        item['message'] = messages
        return item

    @api.model
    def _match_outgoing(self, host, outgoing):
        """The outgoing server of the same host, else of the same registered domain."""
        same_host = outgoing.filtered(lambda s: (s.smtp_host or '').strip().lower() == host)
        if same_host:
            return same_host[0], 'host'
        domain = registered_domain(host)
        same = domain and outgoing.filtered(lambda s: registered_domain(s.smtp_host) == domain)
        if same:
            return same[0], 'domain'
        return None, None

    def _plan_fetchmail_mailbox(self, fetchmail, item, profile, outgoing, manual, taken):
        item = dict(item, profile_key=profile['profile_key'], server_id=profile.get('server_id'))
        notes = []
        if fetchmail.object_id:
            notes.append(_('Shared inbox: this server creates %s records from every email. A mailbox '
                           'tracks email for one user instead; the server is kept active.')
                         % fetchmail.object_id.name)
        unsupported = []
        if not fetchmail.attach:
            unsupported.append(_('attachments stripped'))
        if fetchmail.original:
            unsupported.append(_('original kept'))
        if fetchmail.action_id:
            unsupported.append(_('server action "%s"') % fetchmail.action_id.name)
        if unsupported:
            notes.append(_('Settings not carried over: %s.') % ', '.join(unsupported))
        if not fetchmail.password:
            notes.append(_('No password stored: enter it on the mailbox before Test & Enable.'))
        login = item['login']
        item['has_password'] = bool(fetchmail.password)
        user, match = manual.get(fetchmail.id), 'manual'
        if not user:
            user, match = self._match_user(login), 'login'
        if not user and '@' in login:
            # Mapped by a manager (by hand, in an earlier run): the mailbox knows its user.
            user, match = self.env['mail.sync.mailbox'].sudo().search(
                [('email', '=ilike', exact(login))], limit=1).user_id, 'mailbox'
        if not user:
            notes.insert(0, _('No user has the login %s: pick the user to map it to.') % (login or '-'))
            claimed = self._users_with_address(login)
            if claimed:
                notes.insert(1, _('%s has this address in Preferences, where users change their own '
                                  'address: that is no proof, check before picking.')
                             % ', '.join(claimed.mapped('name')))
            return dict(item, action='manual', message=notes)
        item['match'] = match
        notes.insert(0, {'manual': _('Mapped by hand.'), 'login': _('Matched by login.'),
                         'mailbox': _('Matched by the mailbox a manager mapped to this address.')}[match])
        email = login if '@' in login else (user.email or '').strip()
        smtp = outgoing.filtered(lambda s: (s.smtp_user or '').strip().lower() in (
            email.lower(), login.lower()))[:1]
        if smtp:
            notes.append(_('Outgoing email through the mailbox: the outgoing server %s uses this '
                           'login.') % smtp.name)
            if smtp.smtp_pass and smtp.smtp_pass != fetchmail.password:
                notes.append(_('Its SMTP password differs from the incoming one; the mailbox keeps '
                               'the incoming password.'))
        item['_password'] = fetchmail.password
        return self._plan_mailbox(item, user, email, notes, taken, outgoing=bool(smtp))

    @api.model
    def _match_user(self, login):
        """The user whose login is ``login``: never by email address, which every user can
        change in Preferences (setting a colleague's would get his mailbox)."""
        if not login:
            return self.env['res.users']
        Users = self.env['res.users'].sudo()
        return Users.search([('share', '=', False), ('login', '=ilike', exact(login))], limit=1)

    @api.model
    def _users_with_address(self, address):
        if not address or '@' not in address:
            return self.env['res.users']
        return self.env['res.users'].sudo().search([('share', '=', False), ('email', '=ilike', exact(address))])

    def _confirmed_rows(self):
        """Incoming server -> user of the rows whose stored password the manager confirmed."""
        return {line.sudo().fetchmail_id.id: line.user_id.id
                for line in self.line_ids if line.confirmed and line.user_id}

    def _withhold_unconfirmed_passwords(self, plan):
        """Stored passwords go only to the user of a row the manager confirmed, for the same
        user as shown in the preview."""
        confirmed = self._confirmed_rows()
        for item in plan:
            if item.get('kind') != 'mailbox' or not item.get('fetchmail_id') or not item.get('_password'):
                continue
            if confirmed.get(item['fetchmail_id']) == item.get('user_id'):
                continue
            item.pop('_password')
            item['message'] = [_('Stored password not attached: the row was not confirmed. Enter the '
                                 'password on the mailbox, or confirm the row and apply again.')] + \
                list(item.get('message') or [])
        return plan

    def _plan_mailbox(self, item, user, email, notes, taken, outgoing=False, server=None):
        """Create, update, leave (already migrated) or refuse (conflict) one mailbox.
        ``server`` is the profile to move an existing mailbox to (CSV mode)."""
        Mailbox = self.env['mail.sync.mailbox'].sudo()
        item = dict(item, user_id=user.id, email=email, name=email or item['name'])
        conflict = 'conflict' if self.mode == 'servers' else 'error'

        def refuse(message):
            return dict(item, action=conflict, message=[message] + notes)

        if not email:
            return refuse(_('The user %s has no email address.') % user.name)
        if email.lower() in taken['emails']:
            return refuse(_('Same address as %s in this migration.') % taken['emails'][email.lower()])
        if user.id in taken['users']:
            return refuse(_('%s already gets a mailbox from %s in this migration.') % (
                user.name, taken['users'][user.id]))
        existing = Mailbox.search([('email', '=ilike', exact(email))], limit=1)
        if existing and existing.user_id != user:
            return refuse(_('Address already mapped to the mailbox of %s. To move it, use "Map '
                            'Mailbox".') % existing.user_id.name)
        own = existing or Mailbox.search([('user_id', '=', user.id)], limit=1)
        if own and not existing:
            return refuse(_('%s already has a mailbox, for %s: a user has one mailbox. Use "Map '
                            'Mailbox" to change its address.') % (user.name, own.email or '-'))
        taken['emails'][email.lower()] = item['source']
        taken['users'][user.id] = item['source']
        if existing:
            updates = {}
            if server is not None and existing.server_id != server:
                updates['server_id'] = server.id
            if server is not None and item.get('login') and (existing.login or '') != item['login']:
                updates['login'] = item['login']
            if outgoing and not existing.outgoing_enabled:
                updates['outgoing_enabled'] = True
            if updates:
                return dict(item, action='update', mailbox_id=existing.id, _values=updates,
                            message=[_('The existing mailbox is updated.')] + notes)
            extra = [] if server is not None or existing.server_id.id == item.get('server_id') else [
                _('It stays on its profile %s.') % existing.server_id.name]
            return dict(item, action='none', mailbox_id=existing.id,
                        message=[_('Already migrated: this user has this mailbox.')] + extra + notes)
        values = {'user_id': user.id, 'email': email, 'login': item.get('login') or email,
                  'incoming_enabled': True, 'outgoing_enabled': outgoing}
        if server is not None:
            values['server_id'] = server.id
        return dict(item, action='create', _values=values, message=notes)

    # ------------------------------------------------------------------ CSV
    def _read_csv(self):
        payload = self._csv_payload()
        if not payload:
            raise UserError(_('Choose the CSV file to import.'))
        try:
            text = base64.b64decode(payload).decode('utf-8-sig')
        except (binascii.Error, UnicodeDecodeError):
            raise UserError(_('The file is not a UTF-8 CSV file.'))
        try:
            dialect = csv.Sniffer().sniff(text.split('\n', 1)[0], delimiters=',;\t')
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        columns = [(name or '').strip().lower() for name in reader.fieldnames or []]
        missing = [name for name in CSV_REQUIRED if name not in columns]
        if missing:
            raise UserError(_('The CSV file needs the columns %s (and optionally login); missing: %s.')
                            % (', '.join(CSV_REQUIRED), ', '.join(missing)))
        reader.fieldnames = columns
        return [(number, {key: (value or '').strip() for key, value in row.items() if key})
                for number, row in enumerate(reader, start=2)]

    def _plan_csv(self):
        Users = self.env['res.users'].sudo()
        Profile = self.env['mail.sync.server'].sudo()
        taken = {'emails': {}, 'users': {}}
        plan = []
        for number, row in self._read_csv():
            email = row.get('email', '')
            item = {'kind': 'mailbox', 'name': email or _('(no address)'), 'email': email,
                    'source': _('Row %d') % number, 'login': row.get('login') or email}
            errors = []
            if not EMAIL_RE.match(email):
                errors.append(_('"%s" is not an email address.') % email)
            user = Users.search([('login', '=ilike', exact(row.get('user_login'))), ('share', '=', False)],
                                limit=1) if row.get('user_login') else Users
            item['match'] = 'csv' if user else False
            if not user:
                errors.append(_('No user has the login "%s".') % row.get('user_login', ''))
            profile = Profile.search([('name', '=ilike', exact(row.get('profile')))]) if row.get('profile') \
                else Profile
            if not profile:
                errors.append(_('No profile is named "%s".') % row.get('profile', ''))
            elif len(profile) > 1:
                errors.append(_('Several profiles are named "%s".') % row.get('profile'))
            if not row.get('password') and not (len(profile) == 1 and (
                    profile.credential_mode == 'profile' or profile.auth_method == 'oauth')):
                errors.append(_('The password is missing.'))
            if errors:
                plan.append(dict(item, action='error', user_id=user.id, message=errors))
                continue
            item = self._plan_mailbox(item, user, email, [], taken, server=profile)
            item['_password'] = row.get('password')
            if item['action'] == 'update' and row.get('password'):
                item['_values']['password'] = row['password']
            plan.append(item)
        return plan

    # ------------------------------------------------------------------ apply
    def _apply_item(self, item, profiles):
        """Do what one plan item says; return the values of its report line."""
        line = {key: item.get(key) or False for key in ('kind', 'name', 'source', 'email', 'user_id',
                                                         'server_id', 'mailbox_id')}
        if item.get('fetchmail_id'):
            line['fetchmail_id'] = item['fetchmail_id']
        message = item.get('message') or []
        message = list(message) if isinstance(message, list) else [message]
        action = item['action']
        try:
            with self.env.cr.savepoint():
                if item['kind'] == 'profile':
                    result = self._apply_profile(item, line, profiles)
                elif item['kind'] == 'mailbox' and action in ('create', 'update'):
                    result = self._apply_mailbox(item, line, profiles)
                elif action == 'none':
                    result = 'unchanged'
                elif action == 'error':
                    result = 'failed'
                else:
                    result = 'skipped'
                    if action == 'manual':
                        message.append(_('Not migrated: no user was picked.'))
        except (UserError, ValidationError, psycopg2.Error) as exc:
            result = 'failed'
            message.insert(0, _('Failed: %s') % (getattr(exc, 'name', None) or exc))
        line.update(result=result, message='\n'.join(message))
        return line

    def _apply_profile(self, item, line, profiles):
        Profile = self.env['mail.sync.server']
        values = item['_values']
        if item['action'] == 'create':
            profile = Profile.create(values)
            result = 'created'
        else:
            profile = Profile.browse(item['server_id'])
            if values:
                profile.write(values)
            result = values and 'updated' or 'unchanged'
        profiles[item['profile_key']] = profile
        line['server_id'] = profile.id
        return result

    def _apply_mailbox(self, item, line, profiles):
        Mailbox = self.env['mail.sync.mailbox']
        values = dict(item['_values'])
        if item['action'] == 'update':
            mailbox = Mailbox.browse(item['mailbox_id'])
            mailbox.write(values)
            line.update(mailbox_id=mailbox.id, server_id=mailbox.server_id.id)
            return 'updated'
        if 'server_id' not in values:
            profile = profiles.get(item.get('profile_key'))
            if not profile:
                raise UserError(_('its profile could not be created'))
            values['server_id'] = profile.id
        if item.get('_password'):
            values['password'] = item['_password']
        mailbox = Mailbox.create(values)
        line.update(mailbox_id=mailbox.id, server_id=mailbox.server_id.id)
        return 'created'
