"""Test & Enable against the real Dovecot and SMTP server."""
import logging
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tools import config

from devstack.procs import free_port

from .common import MailSyncCase


class _Capture(logging.Handler):
    def __init__(self):
        super(_Capture, self).__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


class TestTestEnable(MailSyncCase):

    def setUp(self):
        super(TestTestEnable, self).setUp()
        self.user = self.make_user('jane')
        self.imap = self.make_server('imap', 'none')

    def _enable(self, mailbox):
        mailbox.sudo(self.manager).action_test_enable()
        return mailbox

    def test_imap_and_smtp_pass_and_enable(self):
        box = self.make_mailbox(self.user, self.imap, outgoing_enabled=True)
        self.servers.dovecot.append(box.login, b'Subject: x\r\nMessage-ID: <x@t>\r\n\r\nx\r\n')
        self._enable(box)
        self.assertEqual(box.state, 'enabled')
        self.assertEqual((box.incoming_test_state, box.outgoing_test_state, box.act_test_state),
                         ('success', 'success', 'not_run'))
        self.assertIn('1 messages', box.incoming_test_message)
        self.assertTrue(box.incoming_test_date and box.outgoing_test_date)
        self.assertTrue(self.Log.search([('mailbox_id', '=', box.id), ('code', '=', 'enabled')]))

    def test_every_encryption_and_pop3(self):
        for server_type, encryption in (('imap', 'ssl'), ('imap', 'starttls'), ('pop3', 'none'),
                                        ('pop3', 'ssl'), ('pop3', 'starttls')):
            server = self.make_server(server_type, encryption)
            box = self.make_mailbox(self.make_user('u-%s-%s' % (server_type, encryption)), server)
            self._enable(box)
            self.assertEqual(box.state, 'enabled', (server_type, encryption, box.incoming_test_message))

    def test_wrong_password_fails_with_clear_message_and_log(self):
        box = self.make_mailbox(self.user, self.imap, password='Wrong-Pass-123')
        login = box.login
        capture = _Capture()
        logging.getLogger().addHandler(capture)
        try:
            self._enable(box)
        finally:
            logging.getLogger().removeHandler(capture)
        self.assertEqual((box.state, box.incoming_test_state), ('draft', 'failure'))
        self.assertIn('refused the login or password of %s' % login, box.incoming_test_message)
        log = self.Log.search([('mailbox_id', '=', box.id), ('code', '=', 'auth_failed')])
        self.assertEqual((log.error_class, log.severity, log.channel, log.count),
                         ('permanent', 'error', 'incoming', 1))
        self.assertEqual(log.server_id, self.imap)
        self.assertNotIn('Wrong-Pass-123', log.message)
        self.assertFalse([line for line in capture.lines if 'Wrong-Pass-123' in line])
        # The same problem again counts on the same line.
        self._enable(box)
        self.assertEqual(log.count, 2)
        self.assertTrue(log.last_seen >= log.first_seen)

    def test_fixing_the_password_resolves_the_log(self):
        box = self.make_mailbox(self.user, self.imap, password='wrong')
        self._enable(box)
        box.sudo(self.manager).password = self.servers.dovecot.users[box.login]
        self._enable(box)
        self.assertEqual(box.state, 'enabled')
        log = self.Log.search([('mailbox_id', '=', box.id), ('code', '=', 'auth_failed')])
        self.assertTrue(log.resolved)

    def test_closed_port(self):
        server = self.make_server('imap', 'none', incoming_port=free_port())
        box = self._enable(self.make_mailbox(self.user, server))
        self.assertEqual(box.incoming_test_state, 'failure')
        self.assertIn('Check the port and encryption', box.incoming_test_message)
        log = self.Log.search([('mailbox_id', '=', box.id)], limit=1)
        self.assertEqual((log.code, log.error_class), ('connection_refused', 'transient'))

    def test_untrusted_certificate(self):
        server = self.make_server('imap', 'ssl')
        box = self.make_mailbox(self.user, server)
        with patch.dict(config.options, {'mail_sync_ca_file': ''}):
            self._enable(box)
        self.assertEqual(box.incoming_test_state, 'failure')
        self.assertIn('certificate is not trusted', box.incoming_test_message)
        server.verify_tls = False
        with patch.dict(config.options, {'mail_sync_ca_file': ''}):
            self._enable(box)
        self.assertEqual(box.state, 'enabled')

    def test_timeout(self):
        server = self.make_server('imap', 'none', incoming_host='127.0.0.1',
                                  incoming_port=self.silent_port, timeout=1)
        box = self._enable(self.make_mailbox(self.user, server))
        self.assertEqual(box.incoming_test_state, 'failure')
        self.assertIn('did not answer in time', box.incoming_test_message)

    def test_unknown_host(self):
        server = self.make_server('imap', 'none', incoming_host='no-such-host.invalid')
        box = self._enable(self.make_mailbox(self.user, server))
        self.assertIn('cannot be found', box.incoming_test_message)

    def test_smtp_failure_keeps_mailbox_off_but_incoming_result_is_kept(self):
        server = self.make_server('imap', 'none', outgoing_port=free_port())
        box = self._enable(self.make_mailbox(self.user, server, outgoing_enabled=True))
        self.assertEqual((box.incoming_test_state, box.outgoing_test_state, box.state),
                         ('success', 'failure', 'draft'))

    def test_failing_enabled_mailbox_is_suspended(self):
        server = self.make_server('imap', 'none')
        box = self._enable(self.make_mailbox(self.user, server))
        self.assertEqual(box.state, 'enabled')
        # The server moved (the profile is shared: the mailbox's own settings are unchanged).
        server.sudo(self.manager).incoming_port = free_port()
        self._enable(box)
        self.assertEqual(box.state, 'suspended')

    def test_new_password_on_enabled_mailbox_needs_testing(self):
        box = self._enable(self.make_mailbox(self.user, self.imap))
        box.sudo(self.manager).password = 'changed-elsewhere'
        self.assertEqual((box.state, box.incoming_test_state), ('draft', 'not_run'))
        self._enable(box)
        self.assertEqual((box.state, box.incoming_test_state), ('draft', 'failure'))

    def test_missing_password_and_no_channel(self):
        box = self.make_mailbox(self.user, self.imap, password=False)
        self._enable(box)
        self.assertIn('No password is set', box.incoming_test_message)
        box.incoming_enabled = False
        with self.assertRaises(UserError):
            self._enable(box)

    def test_service_account_on_profile(self):
        login, password = self.servers.new_account()
        server = self.make_server('imap', 'none', credential_mode='profile', service_login=login,
                                  service_password=password)
        box = self.make_mailbox(self.user, server, login=False, password=False)
        self._enable(box)
        self.assertEqual(box.state, 'enabled', box.incoming_test_message)

    def test_test_enable_all_mailboxes_of_a_profile(self):
        good = self.make_mailbox(self.user, self.imap)
        bad = self.make_mailbox(self.make_user('kim'), self.imap, password='nope')
        off = self.make_mailbox(self.make_user('lee'), self.imap)
        off.sudo(self.manager).action_disable()
        silent = self.make_mailbox(self.make_user('max'), self.imap, incoming_enabled=False)
        action = self.imap.sudo(self.manager).action_test_enable_all()
        self.assertEqual(action['res_model'], 'mail.sync.mailbox')
        # One job per mailbox, run as the manager; the request tested nothing.
        jobs = self.env['queue.job'].sudo().search([('identity_key', 'like', 'mail_sync.test.%')])
        self.assertEqual(sorted(jobs.mapped('identity_key')),
                         sorted('mail_sync.test.%d' % box.id for box in good | bad))
        self.assertEqual(jobs.mapped('user_id'), self.manager)
        self.assertEqual((good.incoming_test_state, good.state, good.test_running), ('running', 'draft', True))
        self.imap.sudo(self.manager).action_test_enable_all()  # a second click adds nothing
        self.assertEqual(self.env['queue.job'].sudo().search_count([('identity_key', 'like', 'mail_sync.test%')]), 3)
        [report] = self.env['queue.job'].sudo().search([('identity_key', '=', 'mail_sync.test_all.%d' % self.imap.id)])
        report.eta = False  # due now: the tests still run, so it looks again later
        self.run_jobs('mail_sync.test_all.%')
        self.assertEqual((report.state, report.retry), ('pending', 0))
        self.assertGreater(report.eta, fields.Datetime.now())
        self.run_jobs('mail_sync.test.%')
        self.assertEqual((good.state, bad.state, off.state, silent.state), ('enabled', 'draft', 'disabled', 'draft'))
        self.assertEqual((off.incoming_test_state, silent.incoming_test_state), ('not_run', 'not_run'))
        told = self.bus(self.manager, 'mail_sync_test')
        self.assertEqual([m['quiet'] for m in told if m.get('done')], [True, True], 'no pop-up per mailbox')
        report.eta = False
        [summary] = self.run_jobs('mail_sync.test_all.%')
        self.assertEqual(report.state, 'done')
        self.assertEqual(summary, 'Test imap none: 1 of 2 mailboxes passed the test and are enabled. Failed: %s. '
                                  'Each mailbox\'s form says what to fix.' % bad.email)
        self.assertEqual(self.bus(self.manager, 'mail_sync_test')[-1]['text'], summary)

    def test_users_cannot_test_and_enable(self):
        box = self.make_mailbox(self.user, self.imap)
        with self.assertRaises(AccessError):
            box.sudo(self.user).action_test_enable()
        with self.assertRaises(AccessError):
            box.sudo(self.user).action_approve()

    def test_approval_and_copied_database_gate_the_sync(self):
        box = self._enable(self.make_mailbox(self.user, self.imap))
        self.assertFalse(box._syncable())
        self.assertIn('approve', box.status_message)
        box.sudo(self.manager).action_approve()
        self.assertEqual(box._syncable(), box)
        self.env['ir.config_parameter'].set_param('mail_sync.approved_only', 'False')
        box.approved = False
        self.assertEqual(box._syncable(), box)
        # A copied database gets a new uuid: nothing syncs until a manager re-enables.
        self.env['ir.config_parameter'].set_param('database.uuid', 'copied-db-uuid')
        box.invalidate_cache()
        self.assertFalse(box._syncable())
        self.assertIn('copy', box.status_message)
        self._enable(box)
        self.assertEqual(box._syncable(), box)
