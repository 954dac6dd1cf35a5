"""The migration wizard: Odoo's fetchmail and outgoing servers, or a CSV file, to
server-side sync, against the real Dovecot and SMTP server."""
import base64
import datetime
from email.utils import formatdate

from odoo import fields
from odoo.exceptions import AccessError, UserError

from ..wizards.mail_sync_migration_wizard import registered_domain
from .common import MailSyncCase


class MigrationCase(MailSyncCase):

    def setUp(self):
        super(MigrationCase, self).setUp()
        self.admin = self.make_user('admin')
        self.admin.groups_id |= self.env.ref('base.group_system') | \
            self.env.ref('mail_sync.group_mail_sync_manager')
        # Only this test's servers exist.
        self.env['fetchmail.server'].search([]).write({'active': False})
        self.env['ir.mail_server'].search([]).write({'active': False})
        self.Migration = self.env['mail.sync.migration']

    def fetchmail(self, name, account, password=None, server_type='imap', host='localhost', **values):
        dovecot = self.servers.dovecot
        vals = {'name': name, 'server': host, 'type': server_type, 'is_ssl': False,
                'port': dovecot.ports['imap' if server_type == 'imap' else 'pop3'],
                'user': account, 'password': password or dovecot.users.get(account)}
        vals.update(values)
        return self.env['fetchmail.server'].create(vals)

    def user_for(self, name, email):
        """A user whose login is her address (the migration matches logins, never the
        address users can change in Preferences)."""
        user = self.make_user(name)
        user.write({'email': email, 'login': email})
        return user

    def confirm(self, wizard, *names):
        """The manager ticks "Attach Password" on these rows of the preview."""
        for name in names:
            self.line(wizard.line_ids, name).confirmed = True
        return wizard

    def wizard(self, **values):
        return self.env['mail.sync.migration.wizard'].sudo(self.admin).create(values)

    def preview(self, **values):
        wizard = self.wizard(**values)
        wizard.action_preview()
        return wizard

    def apply(self, wizard):
        action = wizard.action_apply()
        return self.Migration.browse(action['res_id'])

    def line(self, records, name):
        found = records.filtered(lambda l: l.name == name)
        self.assertEqual(len(found), 1, 'no single line %r in %s' % (name, records.mapped('name')))
        return found

    def counts(self):
        return {
            'profiles': self.Server.search_count([]),
            'mailboxes': self.Mailbox.search_count([]),
            'reports': self.Migration.search_count([]),
            'logs': self.Log.search_count([]),
            'fetchmail_active': self.env['fetchmail.server'].search_count([]),
            'crons': self.env['ir.cron'].with_context(active_test=False).search_count([]),
        }


class TestServerMigration(MigrationCase):

    def setUp(self):
        super(TestServerMigration, self).setUp()
        new = self.servers.new_account
        (self.a_login, self.a_pw), (self.b_login, _), (self.c_login, self.c_pw), (self.u_login, _) = \
            new(), new(), new(), new()
        self.alice = self.user_for('alice', self.a_login.upper())  # matched whatever the case
        self.bob = self.user_for('bob', self.b_login)
        self.carol = self.user_for('carol', self.c_login)
        smtp_port = self.servers.smtp.port
        # Two hosts on the same Dovecot: 'localhost' (IMAP) and '127.0.0.1' (POP3).
        self.fm_alice = self.fetchmail('Alice IMAP', self.a_login)
        self.fm_bob = self.fetchmail('Bob IMAP', self.b_login, password='wrong-password')
        self.fm_carol = self.fetchmail('Carol POP', self.c_login, server_type='pop', host='127.0.0.1')
        self.fm_unknown = self.fetchmail('Unknown POP', self.u_login, server_type='pop', host='127.0.0.1')
        self.fm_local = self.env['fetchmail.server'].create({'name': 'Gateway', 'type': 'local'})
        MailServer = self.env['ir.mail_server']
        self.smtp_local = MailServer.create({
            'name': 'Local SMTP', 'smtp_host': 'LOCALHOST', 'smtp_port': smtp_port,
            'smtp_encryption': 'starttls', 'smtp_user': self.a_login, 'smtp_pass': self.a_pw})
        self.smtp_other = MailServer.create({
            'name': 'Relay', 'smtp_host': 'smtp.elsewhere.test', 'smtp_port': 25, 'smtp_encryption': 'none'})

    def test_dry_run_proposes_everything_and_writes_nothing(self):
        before = self.counts()
        wizard = self.preview()
        self.assertEqual(self.counts(), before)
        lines = wizard.line_ids
        imap = self.line(lines, 'localhost (IMAP)')
        self.assertEqual((imap.kind, imap.action), ('profile', 'create'))
        self.assertIn('Local SMTP (same host)', imap.message)
        self.assertIn('unencrypted', imap.message)
        pop = self.line(lines, '127.0.0.1 (POP3)')
        self.assertEqual(pop.action, 'create')
        self.assertIn('No outgoing server', pop.message)
        alice = self.line(lines, self.a_login)
        self.assertEqual((alice.action, alice.user_id), ('create', self.alice))
        self.assertIn('Outgoing email through the mailbox', alice.message)
        self.assertEqual(self.line(lines, self.c_login).user_id, self.carol)
        unknown = self.line(lines, self.u_login)
        self.assertEqual((unknown.action, unknown.user_id.id), ('manual', False))
        self.assertIn('pick the user', unknown.message)
        gateway = self.line(lines, 'Gateway')
        self.assertEqual(gateway.action, 'conflict')
        self.assertIn('Unsupported', gateway.message)
        relay = self.line(lines, 'smtp.elsewhere.test')
        self.assertEqual((relay.kind, relay.action), ('note', 'skip'))
        self.assertIn('Profiles \u2014 To Create: 2', wizard.summary)
        self.assertIn('Map by Hand: 1', wizard.summary)

    def test_apply_creates_profiles_and_mailboxes_and_a_second_run_creates_nothing(self):
        opened = datetime.datetime.utcnow()
        wizard = self.preview()
        dave = self.make_user('dave')
        self.line(wizard.line_ids, self.u_login).user_id = dave  # mapped by hand
        self.confirm(wizard, self.a_login)
        started = datetime.datetime.utcnow()
        report = self.apply(wizard)
        imap = self.Server.search([('incoming_host', '=', 'localhost'), ('server_type', '=', 'imap')])
        pop = self.Server.search([('incoming_host', '=', '127.0.0.1'), ('server_type', '=', 'pop3')])
        self.assertEqual((len(imap), len(pop)), (1, 1))
        self.assertEqual((imap.incoming_port, imap.incoming_encryption),
                         (self.servers.dovecot.ports['imap'], 'none'))
        self.assertEqual((imap.outgoing_host, imap.outgoing_port, imap.outgoing_encryption),
                         ('localhost', self.servers.smtp.port, 'starttls'))
        process_after = fields.Datetime.from_string(imap.process_after)
        day = datetime.timedelta(hours=24)  # the wizard's default: a day before it was opened
        self.assertTrue((opened - day).replace(microsecond=0) <= process_after <= started - day, process_after)
        boxes = self.Mailbox.search([('server_id', 'in', (imap | pop).ids)])
        self.assertEqual(sorted(boxes.mapped('user_id.name')), ['Alice', 'Bob', 'Carol', 'Dave'])
        alice = boxes.filtered(lambda b: b.user_id == self.alice)
        self.assertEqual((alice.email, alice.server_id, alice.outgoing_enabled, alice.state),
                         (self.a_login, imap, True, 'draft'))
        self.assertEqual(alice._plain_password(), self.a_pw)  # copied, encrypted
        carol = boxes.filtered(lambda b: b.user_id == self.carol)
        self.assertEqual((carol.server_id, carol.outgoing_enabled), (pop, False))
        self.assertEqual(boxes.filtered(lambda b: b.user_id == dave).email, self.u_login)
        self.assertEqual((report.created_count, report.failed_count), (6, 0))
        self.assertEqual(report.skipped_count, 2)  # the gateway and the relay
        self.assertEqual(report.state, 'testing')
        [job] = self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.migration.%d' % report.id)])
        self.assertEqual((job.state, job.channel, job.user_id), ('pending', 'root.mail_sync.test', self.admin))
        self.assertFalse(report.sudo().cron_id, 'no cron thread waits for hundreds of logins')

        before = self.counts()
        again = self.preview()
        self.assertFalse(again.line_ids.filtered(lambda l: l.action in ('create', 'update')))
        self.assertEqual(self.line(again.line_ids, self.a_login).action, 'none')
        self.assertEqual(self.line(again.line_ids, self.u_login).action, 'none')
        report2 = self.apply(again)
        self.assertEqual((report2.created_count, report2.updated_count), (0, 0))
        self.assertEqual(report2.unchanged_count, 6)
        self.assertFalse(self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.migration.%d' % report2.id)]))
        after = self.counts()
        self.assertEqual(after['reports'], before['reports'] + 1)
        self.assertEqual((after['profiles'], after['mailboxes']), (before['profiles'], before['mailboxes']))

    def test_unmatched_login_left_alone_when_nobody_is_picked(self):
        report = self.apply(self.preview(test_enable=False))
        line = self.line(report.line_ids, self.u_login)
        self.assertEqual((line.result, line.mailbox_id.id), ('skipped', False))
        self.assertIn('no user was picked', line.message)
        self.assertFalse(self.Mailbox.search([('email', '=ilike', self.u_login)]))
        self.assertEqual(report.state, 'applied')

    def test_conflicts_are_explained_and_left_alone(self):
        zed = self.make_user('zed')
        profile = self.make_server()
        taken = self.Mailbox.create({'user_id': zed.id, 'server_id': profile.id, 'email': self.a_login})
        own = self.Mailbox.create({'user_id': self.carol.id, 'server_id': profile.id,
                                   'email': 'carol.other@example.test'})
        lines = self.preview().line_ids
        alice = self.line(lines, self.a_login)
        self.assertEqual(alice.action, 'conflict')
        self.assertIn('already mapped to the mailbox of Zed', alice.message)
        carol = self.line(lines, self.c_login)
        self.assertEqual(carol.action, 'conflict')
        self.assertIn('Carol already has a mailbox, for carol.other@example.test', carol.message)
        report = self.apply(lines.mapped('wizard_id'))
        for login in (self.a_login, self.c_login):
            self.assertEqual(self.line(report.line_ids, login).result, 'skipped')
        self.assertEqual((taken.user_id, own.email), (zed, 'carol.other@example.test'))
        self.assertEqual(self.Mailbox.search_count([('user_id', '=', self.alice.id)]), 0)

    def test_duplicate_login_and_shared_inbox(self):
        self.fetchmail('Alice again', self.a_login.upper(), host='LocalHost')
        leads = self.fetchmail('Leads', 'sales@example.test',
                               object_id=self.env.ref('base.model_res_partner').id, attach=False)
        lines = self.preview().line_ids
        dup = lines.filtered(lambda l: l.source == 'Alice again')
        self.assertEqual(dup.action, 'conflict')
        self.assertIn('Same address as Alice IMAP', dup.message)
        shared = self.line(lines, 'sales@example.test')
        self.assertEqual(shared.action, 'manual')
        self.assertIn('Shared inbox', shared.message)
        self.assertIn('attachments stripped', shared.message)
        self.assertEqual(shared.sudo().fetchmail_id, leads)
        # Same host whatever its case: still one IMAP profile.
        self.assertEqual(len(lines.filtered(lambda l: l.kind == 'profile')), 2)

    def test_background_test_enable_reports_and_deactivates(self):
        self.fm_carol.object_id = self.env.ref('base.model_res_partner')  # a shared inbox: kept
        report = self.apply(self.confirm(self.preview(), self.a_login, self.b_login, self.c_login))
        self.assertEqual(self.line(report.line_ids, self.a_login).test_state, 'not_run')
        report.action_run_test_enable()  # while its job is queued: adds nothing
        self.assertEqual(self.env['queue.job'].sudo().search_count(
            [('identity_key', '=', 'mail_sync.migration.%d' % report.id)]), 1)
        self.assertEqual(self.run_jobs('mail_sync.migration.%'), ['2 enabled, 1 failed'])
        self.assertEqual(report.state, 'done')
        alice = self.line(report.line_ids, self.a_login)
        self.assertEqual((alice.test_state, alice.mailbox_id.state), ('enabled', 'enabled'))
        self.assertEqual((alice.mailbox_id.incoming_test_state, alice.mailbox_id.outgoing_test_state),
                         ('success', 'success'))
        self.assertTrue(alice.fetchmail_deactivated)
        self.assertFalse(self.fm_alice.active)
        bob = self.line(report.line_ids, self.b_login)
        self.assertEqual((bob.test_state, bob.mailbox_id.state), ('failed', 'draft'))
        self.assertIn('incoming:', bob.test_message)
        self.assertTrue(self.fm_bob.active)
        carol = self.line(report.line_ids, self.c_login)
        self.assertEqual(carol.test_state, 'enabled')
        self.assertIn('kept active', carol.test_message)
        self.assertTrue(self.fm_carol.active)
        self.assertEqual((report.enabled_count, report.test_failed_count), (2, 1))

    def test_servers_mode_is_for_settings_administrators(self):
        wizard = self.env['mail.sync.migration.wizard'].sudo(self.manager).create({})
        self.assertEqual(wizard.mode, 'csv')  # what a manager who is not an admin can use
        wizard.mode = 'servers'
        with self.assertRaises(AccessError):
            wizard.action_preview()

    def test_outgoing_server_of_the_same_domain_is_merged(self):
        self.assertEqual(registered_domain('imap.Example.com'), registered_domain('smtp.example.com'))
        self.assertIsNone(registered_domain('localhost'))
        self.env['fetchmail.server'].search([]).write({'active': False})
        self.fetchmail('Corporate', 'nobody@example.com', host='imap.example.com', is_ssl=True, port=993)
        self.env['ir.mail_server'].create({'name': 'Corporate SMTP', 'smtp_host': 'smtp.example.com',
                                           'smtp_port': 587, 'smtp_encryption': 'starttls'})
        profile = self.line(self.preview().line_ids, 'imap.example.com (IMAP)')
        self.assertIn('Corporate SMTP (same domain)', profile.message)
        self.assertNotIn('unencrypted', profile.message)


class TestFetchmailHistory(MigrationCase):

    def test_email_fetched_by_fetchmail_is_not_imported_again(self):
        login, password = self.servers.new_account()
        erin = self.user_for('erin', login)
        erin.mail_sync_track = 'all'
        self.env['res.partner'].create({'name': 'Sender', 'email': 'sender@example.test'})
        raw = ('From: Sender <sender@example.test>\r\nTo: %s\r\nSubject: Before the migration\r\n'
               'Date: %s\r\nMessage-ID: <history-1@example.test>\r\n\r\nfetched by fetchmail\r\n'
               % (login, formatdate())).encode()
        self.servers.dovecot.append(login, raw)
        server = self.fetchmail('Erin', login, object_id=self.env.ref('base.model_res_partner').id)
        self.patch(self.cr, 'commit', lambda: None)  # fetchmail commits after each email
        server.fetch_mail()
        Message = self.env['mail.message']
        self.assertEqual(Message.search_count([('message_id', '=', '<history-1@example.test>')]), 1)

        report = self.apply(self.confirm(self.preview(), login))
        report._run_test_enable()
        mailbox = self.line(report.line_ids, login).mailbox_id
        self.assertEqual(mailbox.state, 'enabled')
        stats = mailbox._sync_incoming()
        self.assertEqual((stats['linked'], stats['imported']), (1, 0))
        self.assertEqual(Message.search_count([('message_id', '=', '<history-1@example.test>')]), 1)
        row = self.env['mail.sync.ledger'].search([('mailbox_id', '=', mailbox.id)])
        self.assertEqual((row.message_id, row.state), ('<history-1@example.test>', 'linked'))


class TestCsvOnboarding(MigrationCase):

    def setUp(self):
        super(TestCsvOnboarding, self).setUp()
        self.profile = self.make_server(name='Company IMAP')
        self.good = [self.servers.new_account() for _ in range(2)]
        self.ann = self.make_user('ann')
        self.ben = self.make_user('ben')
        self.cid = self.make_user('cid')
        zed = self.make_user('zed')
        self.taken = self.Mailbox.create({'user_id': zed.id, 'server_id': self.profile.id,
                                          'email': 'taken@example.test'})

    def csv(self, rows):
        text = 'email,user_login,profile,login,password\n' + ''.join(
            ','.join(row) + '\n' for row in rows)
        return {'mode': 'csv', 'csv_file': base64.b64encode(text.encode()), 'csv_filename': 'boxes.csv'}

    def rows(self):
        (a, a_pw), (b, b_pw) = self.good
        return [
            (a, self.ann.login, 'company imap', '', a_pw),
            (b, self.ben.login, 'Company IMAP', b, b_pw),
            ('not-an-address', self.cid.login, 'Company IMAP', '', 'x'),
            ('cid@example.test', 'nobody-here', 'Company IMAP', '', 'x'),
            ('cid@example.test', self.cid.login, 'No Such Profile', '', 'x'),
            ('taken@example.test', self.cid.login, 'Company IMAP', '', 'x'),
            ('cid@example.test', self.cid.login, 'Company IMAP', '', ''),
            (a, self.cid.login, 'Company IMAP', '', 'x'),
        ]

    def test_good_rows_imported_bad_rows_explained_then_nothing_new(self):
        before = self.counts()
        wizard = self.preview(**self.csv(self.rows()))
        self.assertEqual(self.counts(), before)
        # The file (with its passwords) waits encrypted, never in clear.
        self.env.cr.execute('SELECT csv_file_crypt FROM mail_sync_migration_wizard WHERE id = %s', [wizard.id])
        stored = self.env.cr.fetchone()[0]
        self.assertTrue(stored.startswith('fernet:'))
        self.assertNotIn(self.good[0][1], stored)
        lines = wizard.line_ids.sorted('sequence')
        self.assertEqual(lines.mapped('action'), ['create', 'create'] + ['error'] * 6)
        messages = lines.mapped('message')
        self.assertIn('is not an email address', messages[2])
        self.assertIn('No user has the login "nobody-here"', messages[3])
        self.assertIn('No profile is named "No Such Profile"', messages[4])
        self.assertIn('already mapped to the mailbox of Zed', messages[5])
        self.assertIn('The password is missing', messages[6])
        self.assertIn('Same address as Row 2', messages[7])
        self.assertEqual(lines.mapped('source')[:3], ['Row 2', 'Row 3', 'Row 4'])

        report = self.apply(wizard)
        self.assertEqual((report.created_count, report.failed_count), (2, 6))
        self.env.cr.execute('SELECT csv_file_crypt FROM mail_sync_migration_wizard WHERE id = %s', [wizard.id])
        self.assertIsNone(self.env.cr.fetchone()[0], 'the passwords are not kept once applied')
        (a, a_pw), (b, b_pw) = self.good
        ann = self.Mailbox.search([('user_id', '=', self.ann.id)])
        self.assertEqual((ann.email, ann.login, ann.server_id), (a, a, self.profile))
        self.assertEqual(ann._plain_password(), a_pw)
        self.assertFalse(self.Mailbox.search([('user_id', '=', self.cid.id)]))
        failed = self.line(report.line_ids, 'taken@example.test')
        self.assertEqual(failed.result, 'failed')
        self.assertIn('Zed', failed.message)

        report._run_test_enable()
        self.assertEqual(ann.state, 'enabled')
        before = self.counts()
        again = self.apply(self.preview(**self.csv(self.rows()[:2])))
        self.assertEqual((again.created_count, again.unchanged_count), (0, 2))
        self.assertEqual(self.counts()['mailboxes'], before['mailboxes'])
        self.assertEqual(ann.state, 'enabled')  # untouched

    def test_profile_change_updates_the_mailbox(self):
        (a, a_pw), _ = self.good
        self.apply(self.preview(test_enable=False,
                                **self.csv([(a, self.ann.login, 'Company IMAP', '', a_pw)])))
        other = self.make_server(name='Other IMAP')
        wizard = self.preview(**self.csv([(a, self.ann.login, 'Other IMAP', '', a_pw)]))
        self.assertEqual(wizard.line_ids.action, 'update')
        report = self.apply(wizard)
        self.assertEqual(report.updated_count, 1)
        self.assertEqual(self.Mailbox.search([('user_id', '=', self.ann.id)]).server_id, other)

    def test_csv_needs_its_columns(self):
        wizard = self.wizard(mode='csv', csv_file=base64.b64encode(b'email;user\nx@y.z;ann\n'))
        with self.assertRaises(UserError) as info:
            wizard.action_preview()
        self.assertIn('user_login', str(info.exception))

    def test_only_managers_migrate(self):
        (a, a_pw), _ = self.good
        wizard = self.env['mail.sync.migration.wizard'].sudo(self.ann).create(
            self.csv([(a, self.ann.login, 'Company IMAP', '', a_pw)]))
        for action in (wizard.action_preview, wizard.action_apply):
            with self.assertRaises(AccessError):
                action()
        self.assertFalse(self.Mailbox.search([('user_id', '=', self.ann.id)]))

    def test_a_manager_can_onboard_from_csv(self):
        (a, a_pw), _ = self.good
        wizard = self.env['mail.sync.migration.wizard'].sudo(self.manager).create(
            self.csv([(a, self.ann.login, 'Company IMAP', '', a_pw)]))
        wizard.action_preview()
        report = self.Migration.sudo(self.manager).browse(wizard.action_apply()['res_id'])
        self.assertEqual(report.created_count, 1)
