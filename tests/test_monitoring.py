"""Monitoring: hourly throughput counters, mailbox health and sync lag, health in Preferences."""
import datetime

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tools import float_round

from ..sync.errors import SyncError
from .common import MailSyncCase


def _ago(**delta):
    return fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(**delta))


def _in(**delta):
    return fields.Datetime.to_string(datetime.datetime.utcnow() + datetime.timedelta(**delta))


class TestSyncStat(MailSyncCase):

    def setUp(self):
        super(TestSyncStat, self).setUp()
        self.Stat = self.env['mail.sync.stat']
        self.server = self.make_server('imap', 'none')

    def rows(self):
        return self.Stat.search([('server_id', '=', self.server.id)], order='channel')

    def test_record_adds_to_the_current_hour_row(self):
        first = self.Stat.sudo()._record(self.server.id, 'incoming', items=3)
        second = self.Stat.sudo()._record(self.server.id, 'incoming', items=4, failures=1)
        self.assertEqual(first, second)
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows.items, rows.cycles, rows.failures), (7, 2, 1))
        # The hour of the transaction's clock (the one the upsert reads), whatever the minute.
        self.env.cr.execute("SELECT date_trunc('hour', now() AT TIME ZONE 'UTC')")
        self.assertEqual(rows.hour, self.env.cr.fetchone()[0])
        self.assertEqual(rows.hour_label, rows.hour[:13] + ':00')

        self.Stat.sudo()._record(self.server.id, 'outgoing', items=2)
        other_server = self.make_server('pop3', 'none')
        self.Stat.sudo()._record(other_server.id, 'incoming', items=5)
        self.assertEqual([(r.channel, r.items, r.cycles) for r in self.rows()],
                         [('incoming', 7, 2), ('outgoing', 2, 1)])
        self.assertEqual(self.Stat.search([('server_id', '=', other_server.id)]).items, 5)

    def test_managers_read_and_record_users_cannot(self):
        user = self.make_user('plain')
        with self.assertRaises(AccessError):
            self.Stat.sudo(user)._record(self.server.id, 'incoming', items=1)
        stat = self.Stat.sudo(self.manager)._record(self.server.id, 'incoming', items=1)
        self.assertEqual(stat.sudo(self.manager).read(['items'])[0]['items'], 1)
        with self.assertRaises(AccessError):
            stat.sudo(self.manager).write({'items': 100})
        with self.assertRaises(AccessError):
            self.Stat.sudo(user).search([])

    def test_gc_removes_hours_older_than_the_retention(self):
        old = self.Stat.create({'hour': _ago(days=91)[:13] + ':00:00', 'server_id': self.server.id,
                                'channel': 'incoming', 'items': 1, 'cycles': 1})
        kept = self.Stat.create({'hour': _ago(days=89)[:13] + ':00:00', 'server_id': self.server.id,
                                 'channel': 'incoming', 'items': 1, 'cycles': 1})
        current = self.Stat.sudo()._record(self.server.id, 'incoming', items=1)
        self.assertEqual(self.Stat._gc(), 1)
        self.assertEqual(self.rows(), kept | current)
        self.assertFalse(old.exists())


class TestMailboxHealth(MailSyncCase):

    def setUp(self):
        super(TestMailboxHealth, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)

    def enable(self, box, **values):
        """Put ``box`` in a synchronizing state without touching a server."""
        vals = {'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid(),
                'incoming_test_date': _ago(days=3), 'incoming_last_success': _ago(hours=1),
                'next_sync': _in(minutes=5)}
        vals.update(values)
        box.sudo().write(vals)
        box.invalidate_cache()
        return box

    def log_error(self, box, code, detail, channel='incoming'):
        return self.Log._record_error(SyncError(code, detail), mailbox=box, channel=channel)

    def assertLag(self, box, hours, since):
        """``box`` lags ``hours`` behind a moment between ``since`` and now (stored to the
        second, shown to a tenth of an hour)."""
        slack = (datetime.datetime.utcnow() - since).total_seconds() + 1
        most = float_round(hours + slack / 3600.0, precision_digits=1, rounding_method='UP')
        self.assertTrue(hours <= box.sync_lag_hours <= most, (box.sync_lag_hours, hours, slack))

    def test_ok_says_when_it_synced_and_when_it_syncs_next(self):
        since = datetime.datetime.utcnow()
        self.enable(self.box)
        self.assertEqual(self.box.health, 'ok')
        self.assertIn('Last synchronized at', self.box.health_message)
        self.assertIn('next sync at', self.box.health_message)
        self.assertLag(self.box, 1.0, since)

    def test_retrying_is_a_warning_with_the_failures_and_the_latest_problem(self):
        text = self.log_error(self.box, 'connection_refused', 'mail.example.test:993')
        self.enable(self.box, incoming_status='retrying', incoming_failures=3)
        self.assertEqual(self.box.health, 'warning')
        self.assertIn('Retrying after 3 failures', self.box.health_message)
        self.assertIn(text, self.box.health_message)

    def test_recent_unresolved_problem_is_a_warning_until_old_or_resolved(self):
        self.enable(self.box)
        self.assertEqual(self.box.health, 'ok')
        text = self.log_error(self.box, 'timeout', '60 s')
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'warning')
        self.assertIn(text, self.box.health_message)

        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'timeout')])
        log.last_seen = _ago(hours=25)
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'ok')

        log.last_seen = _ago(hours=1)
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'warning')
        self.Log._resolve(self.box, 'incoming')
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'ok')

        # Events (here a remapping notice) are not problems: they never get resolved.
        self.Log._record('remapped', 'Address moved.', mailbox=self.box, severity='warning')
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'ok')

    def test_suspended_mailbox_is_an_error_with_the_cause_and_what_to_do(self):
        text = self.log_error(self.box, 'auth_failed', '[AUTHENTICATIONFAILED] Authentication failed.')
        self.enable(self.box, state='suspended', incoming_status='suspended', next_sync=False)
        self.assertEqual(self.box.health, 'error')
        self.assertIn(text, self.box.health_message)
        self.assertIn('Test & Enable', self.box.health_message)

    def test_suspended_channel_is_an_error_only_when_that_channel_is_on(self):
        self.enable(self.box, outgoing_enabled=False, outgoing_status='suspended')
        self.assertEqual(self.box.health, 'ok')
        self.box.sudo().write({'outgoing_enabled': True})
        self.box.invalidate_cache()
        self.assertEqual(self.box.health, 'error')
        self.assertIn('Outgoing email', self.box.health_message)

    def test_draft_disabled_and_blocked_mailboxes_say_why_nothing_syncs(self):
        self.assertEqual(self.box.state, 'draft')
        self.assertEqual(self.box.health, 'warning')
        self.assertIn('Test & Enable', self.box.health_message)
        self.enable(self.box, approved=False)
        self.assertEqual(self.box.health, 'warning')
        self.assertIn('approve', self.box.health_message)
        self.box.sudo(self.manager).action_disable()
        self.box.invalidate_cache()
        self.assertIn('disabled by an administrator', self.box.health_message)
        self.assertFalse(self.box.sync_lag_since)
        self.assertEqual(self.box.sync_lag_hours, 0.0)

    def test_health_list_puts_the_worst_lag_first(self):
        """The Mailbox Health list sorts on its view's default order: oldest success first,
        then never-synced mailboxes by their enabling date, mailboxes that do not sync last."""
        since = datetime.datetime.utcnow()
        recent = self.enable(self.box, incoming_last_success=_ago(hours=5))
        stale = self.enable(self.make_mailbox(self.make_user('stale'), self.server),
                            incoming_last_success=_ago(hours=30))
        never = self.enable(self.make_mailbox(self.make_user('never'), self.server),
                            incoming_last_success=False, incoming_test_date=_ago(hours=10))
        draft = self.make_mailbox(self.make_user('draft'), self.server)
        self.assertLag(never, 10.0, since)
        self.assertLag(stale, 30.0, since)
        arch = etree.fromstring(self.env.ref('mail_sync.view_mail_sync_mailbox_health_tree').arch)
        order = arch.get('default_order')
        ids = (recent | stale | never | draft).ids
        self.assertEqual(self.Mailbox.sudo(self.manager).search([('id', 'in', ids)], order=order).ids,
                         [stale.id, never.id, recent.id, draft.id])


class TestPreferencesHealth(MailSyncCase):

    def setUp(self):
        super(TestPreferencesHealth, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.alice, self.bob = self.make_user('alice'), self.make_user('bob')
        self.alice_box = self.make_mailbox(self.alice, self.server)
        self.bob_box = self.make_mailbox(self.bob, self.server)
        self.bob_box.sudo().write({'state': 'suspended', 'incoming_status': 'suspended'})
        self.fields = ['mail_sync_health', 'mail_sync_health_message', 'mail_sync_next_sync']

    def test_user_reads_own_health_in_preferences(self):
        self.alice_box.sudo().write({
            'state': 'enabled', 'approved': True, 'db_uuid': self.alice_box._current_db_uuid(),
            'incoming_status': 'retrying', 'incoming_failures': 2, 'next_sync': _in(minutes=4)})
        self.Log._record_error(SyncError('timeout', '60 s'), mailbox=self.alice_box, channel='incoming')
        values = self.env['res.users'].sudo(self.alice).browse(self.alice.id).read(self.fields)[0]
        self.assertEqual(values['mail_sync_health'], 'warning')
        self.assertIn('Retrying after 2 failures', values['mail_sync_health_message'])
        self.assertEqual(values['mail_sync_next_sync'], self.alice_box.next_sync)
        # ... and the Preferences form shows them to her.
        view = self.env['res.users'].sudo(self.alice).fields_view_get(
            view_id=self.env.ref('base.view_users_form_simple_modif').id)
        self.assertTrue(set(self.fields) <= set(view['fields']))

    def test_user_cannot_read_another_users_mailbox_or_its_health(self):
        with self.assertRaises(AccessError):
            self.Mailbox.sudo(self.alice).browse(self.bob_box.id).read(['health', 'health_message'])
        self.assertEqual(self.Mailbox.sudo(self.alice).search([('id', '=', self.bob_box.id)]).ids, [])
        # Bob's user record is readable by colleagues, his mailbox's health is not.
        values = self.env['res.users'].sudo(self.alice).browse(self.bob.id).read(self.fields)[0]
        self.assertEqual([values[name] for name in self.fields], [False, False, False])
        other = ['mail_sync_mailbox_id', 'mail_sync_email', 'mail_sync_state']
        values = self.env['res.users'].sudo(self.alice).browse(self.bob.id).read(other)[0]
        self.assertEqual([values[name] for name in other], [False, False, False])
        values = self.env['res.users'].sudo(self.bob).browse(self.bob.id).read(self.fields)[0]
        self.assertEqual(values['mail_sync_health'], 'error')
        # A manager sees it.
        values = self.env['res.users'].sudo(self.manager).browse(self.bob.id).read(self.fields)[0]
        self.assertEqual(values['mail_sync_health'], 'error')
