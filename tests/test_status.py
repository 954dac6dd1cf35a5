"""One truth for a mailbox's status: the status line, the health box, the managers' health
list and the user's Preferences all derive from the mailbox state and its channels' states,
in words a user understands."""
import datetime

from odoo.exceptions import AccessError

from ..sync.errors import SyncError
from .common import MailSyncCase


def _ago(**delta):
    return (datetime.datetime.utcnow() - datetime.timedelta(**delta)).strftime('%Y-%m-%d %H:%M:%S')


class TestDerivedStatus(MailSyncCase):

    def setUp(self):
        super(TestDerivedStatus, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server, outgoing_enabled=True)

    def put(self, **values):
        """The mailbox in a given state, as the scheduler or a test leaves it."""
        vals = {'state': 'enabled', 'approved': True, 'db_uuid': self.box._current_db_uuid(),
                'incoming_last_success': _ago(minutes=5), 'incoming_test_state': 'success',
                'outgoing_test_state': 'success'}
        vals.update(values)
        self.box.sudo().write(vals)
        self.box.invalidate_cache()
        self.rep.invalidate_cache()
        return self.box

    def status(self):
        """(health, status line, health details, what the owner's Preferences say)."""
        box = self.box.sudo(self.rep)
        prefs = self.rep.sudo(self.rep).read(['mail_sync_health', 'mail_sync_state',
                                              'mail_sync_health_message'])[0]
        self.assertEqual((prefs['mail_sync_health'], prefs['mail_sync_state'],
                          prefs['mail_sync_health_message']),
                         (box.health, box.status_message, box.health_message),
                         'Preferences say what the mailbox says')
        return box.health, box.status_message, box.health_message

    def test_every_channel_state_combination_has_one_consistent_status(self):
        cases = [
            # (mailbox values, health, words in the status line)
            ({}, 'ok', 'Synchronizing.'),
            ({'incoming_status': 'retrying', 'incoming_failures': 2}, 'warning', 'retrying'),
            ({'outgoing_status': 'retrying', 'outgoing_failures': 1}, 'warning', 'Outgoing email'),
            ({'incoming_status': 'suspended'}, 'error', 'Suspended: Incoming email'),
            ({'outgoing_status': 'suspended'}, 'error', 'Suspended: Outgoing email'),
            ({'incoming_status': 'suspended', 'outgoing_status': 'retrying'}, 'error', 'Suspended'),
            ({'state': 'suspended'}, 'error', 'Suspended'),
            ({'state': 'disabled'}, 'warning', 'disabled by an administrator'),
            ({'state': 'draft', 'incoming_test_state': 'not_run', 'outgoing_test_state': 'not_run'},
             'warning', 'needs Test & Enable'),
            ({'state': 'draft', 'outgoing_test_state': 'failure',
              'outgoing_test_message': 'The server refused the login.'},
             'error', 'connection test failed (Outgoing email)'),
            ({'approved': False}, 'warning', 'approve'),
            ({'db_uuid': 'another-database'}, 'warning', 'copy'),
            ({'test_running': True, 'test_started': _ago(seconds=5)}, 'warning', 'Testing the connection'),
            # A test whose process died long ago no longer counts as running.
            ({'test_running': True, 'test_started': _ago(days=1)}, 'ok', 'Synchronizing.'),
        ]
        for values, health, words in cases:
            with self.subTest(values=values):
                self.put(**dict({'incoming_status': 'ok', 'outgoing_status': 'ok'}, **values))
                got_health, line, details = self.status()
                self.assertEqual(got_health, health)
                self.assertIn(words, line)
                if health != 'ok':
                    self.assertNotIn('Synchronizing.', line)
                    self.assertTrue(details)

    def test_suspended_incoming_channel_never_says_synchronizing(self):
        self.put(incoming_status='suspended')
        health, line, details = self.status()
        self.assertEqual(health, 'error')
        self.assertNotIn('Synchronizing', line)
        self.assertIn('Test & Enable', details)

    def test_draft_is_never_running_nor_ok(self):
        self.assertEqual(self.box.state, 'draft')
        health, line, details = self.status()
        self.assertNotEqual(health, 'ok')
        self.assertNotIn('Running', line + details)
        self.assertNotIn('Synchronizing', line)
        self.assertEqual(dict(self.box._fields['state'].selection)['draft'], 'Not Enabled')

    def test_new_password_puts_an_enabled_mailbox_back_to_needs_testing_and_says_so(self):
        self.put()
        self.assertEqual(self.status()[0], 'ok')
        self.box.sudo(self.manager).write({'password': 'a-wrong-password'})
        self.box.invalidate_cache()
        self.assertEqual((self.box.state, self.box.incoming_test_state), ('draft', 'not_run'))
        self.assertTrue(self.box.approved, 'a new password is no new address: it stays approved')
        health, line, details = self.status()
        self.assertEqual(health, 'warning')
        self.assertIn('needs Test & Enable', line)
        self.assertIn('Password changed since the last Test & Enable', details)
        self.assertNotIn('first sync is due', details)
        self.assertFalse(self.box._syncable(), 'a mailbox that needs testing does not sync')

    def test_new_address_needs_testing_and_approval_again(self):
        self.put()
        account, _password = self.servers.new_account()
        self.box.sudo(self.manager).write({'email': account})
        self.box.invalidate_cache()
        self.assertEqual((self.box.state, self.box.approved), ('draft', False))
        self.assertIn('Email Address changed', self.box.health_message)

    def test_passing_test_clears_the_reason(self):
        self.box.sudo(self.manager).write({'password': self.servers.dovecot.users[self.box.login]})
        self.assertTrue(self.box.needs_test_reason)
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled')
        self.assertFalse(self.box.needs_test_reason)


    def test_background_test_starts_once_and_shows_each_channel_running(self):
        box = self.box.sudo(self.manager).with_context(mail_sync_background=True)
        self.assertTrue(box.action_test_enable())
        self.box.invalidate_cache()
        self.assertTrue(self.box.test_running)
        self.assertEqual((self.box.incoming_test_state, self.box.outgoing_test_state), ('running', 'running'))
        started = self.box.test_started
        self.assertIn('data-state="running"', self.box.test_summary)
        self.assertIn('Testing the connection', self.status()[1])
        # A second click while it runs starts nothing.
        self.assertFalse(box._start_background_test())
        self.box.invalidate_cache()
        self.assertEqual(self.box.test_started, started)
        # Without the context (XML-RPC, scripts), Test & Enable runs at once and returns the result.
        self.box.sudo().write({'test_running': False})
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual((self.box.state, self.box.incoming_test_state), ('enabled', 'success'))
        self.assertIn('data-state="success"', self.box.test_summary)


class TestHumanErrors(MailSyncCase):

    def setUp(self):
        super(TestHumanErrors, self).setUp()
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.make_server('imap', 'none'))

    def test_unexpected_error_is_a_sentence_with_details_for_admins_only(self):
        error = SyncError('unexpected', 'ValueError: invalid literal for int()')
        text = self.Log._record_error(error, mailbox=self.box, channel='incoming')
        self.assertNotIn('ValueError', text)
        self.assertNotIn('unexpected)', text)
        self.assertIn('Sync Log', text)
        log = self.Log.sudo(self.manager).search([('mailbox_id', '=', self.box.id),
                                                  ('code', '=', 'unexpected')])
        self.assertEqual(log.problem, 'unexpected')
        self.assertIn('ValueError: invalid literal', log.details)
        own = self.Log.sudo(self.rep).search([('mailbox_id', '=', self.box.id),
                                              ('code', '=', 'unexpected')])
        self.assertEqual(own, log)
        self.assertEqual(own.message, text)
        with self.assertRaises(AccessError):
            own.read(['details'])

    def test_every_logged_code_has_a_label(self):
        for code in ('message_quarantined', 'auth_failed', 'timeout', 'no_such_code'):
            log = self.Log._record(code, 'x', mailbox=self.box)
            label = dict(self.Log._fields['problem']._description_selection(self.env))[log.problem]
            self.assertNotIn('_', label)
        self.assertEqual(log.problem, 'other')


class TestAlertsWall(MailSyncCase):

    def setUp(self):
        super(TestAlertsWall, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.other = self.make_user('other')
        self.box = self.make_mailbox(self.rep, self.server)
        self.other_box = self.make_mailbox(self.other, self.server)

    def test_mailbox_lists_its_alerts_newest_first_and_the_owner_sees_his_own(self):
        Log = self.Log
        Log.search([('mailbox_id', 'in', (self.box | self.other_box).ids)]).unlink()
        info = Log._record('approved', 'Address approved.', mailbox=self.box, severity='info')
        error = Log._record('auth_failed', 'Wrong password.', mailbox=self.box, channel='incoming',
                           error_class='permanent')
        warning = Log._record('timeout', 'No answer.', mailbox=self.box, channel='outgoing',
                             severity='warning', error_class='transient')
        Log._record('approved', 'Other approved.', mailbox=self.other_box, severity='info')
        info.last_seen, error.last_seen = _ago(hours=2), _ago(hours=1)
        self.box.invalidate_cache()
        wall = self.box.sudo(self.rep).alert_ids
        self.assertEqual(wall, warning | error | info)
        self.assertEqual([(a.severity, a.channel, a.problem) for a in wall],
                         [('warning', 'outgoing', 'timeout'), ('error', 'incoming', 'auth_failed'),
                          ('info', 'general', 'approved')])

        prefs = self.rep.sudo(self.rep).read(['mail_sync_alert_ids'])[0]['mail_sync_alert_ids']
        self.assertEqual(prefs, wall.ids)
        # Someone else reading the owner's user record sees no alerts of his.
        self.assertFalse(self.rep.sudo(self.other).mail_sync_alert_ids)
        self.assertFalse(self.Log.sudo(self.other).search([('id', 'in', wall.ids)]))
