"""Channel state as its own model (issue 14, item 1): one mail.sync.channel row per (mailbox,
channel), changed only by the sync through its transitions, read by the scheduler's due SQL,
and shown on the mailbox under the field names the views and RPC clients know."""
import datetime

from psycopg2 import IntegrityError

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tools import mute_logger

from odoo.addons.mail_sync.sync.errors import AuthError, TransientError

from .common import MailSyncCase


def _in(minutes):
    return fields.Datetime.to_string(datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes))


class TestChannelState(MailSyncCase):

    def setUp(self):
        super(TestChannelState, self).setUp()
        self.Channel = self.env['mail.sync.channel']
        self.server = self.make_server('imap', 'none', interval_min=2, interval_default=5, interval_max=12)
        self.rep = self.make_user('rep')
        self.other = self.make_user('other')
        self.box = self.make_mailbox(self.rep, self.server)
        self.other_box = self.make_mailbox(self.other, self.server)
        self.box.sudo().write({'state': 'enabled', 'approved': True, 'db_uuid': self.box._current_db_uuid()})
        # Only this test's mailbox can be due.
        self.Mailbox.search([('id', '!=', self.box.id)]).write({'next_sync': '2999-01-01 00:00:00'})

    def rows(self, box=None):
        return self.Channel.search([('mailbox_id', '=', (box or self.box).id)])

    def due(self, channel='incoming'):
        return self.box.id in self.Mailbox._due_ids(channel, (), None, 1000)

    def test_a_new_mailbox_has_one_row_per_channel_with_defaults(self):
        rows = self.rows()
        self.assertEqual(sorted(rows.mapped('channel')), ['act', 'incoming', 'outgoing'])
        for row in rows:
            self.assertEqual((row.status, row.failures, row.test_state), ('ok', 0, 'not_run'))
        self.assertEqual(self.box._channel_state('outgoing'), rows.filtered(lambda r: r.channel == 'outgoing'))
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'), self.env.cr.savepoint():
            self.Channel.create({'mailbox_id': self.box.id, 'channel': 'incoming'})

    def test_deleting_a_mailbox_deletes_its_rows(self):
        ids = self.rows().ids
        self.assertEqual(len(ids), 3)
        self.box.unlink()
        self.assertFalse(self.Channel.browse(ids).exists())

    def test_a_missing_row_is_created_by_the_accessor(self):
        self.env.cr.execute("DELETE FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'act'",
                            [self.box.id])
        self.box.invalidate_cache()
        row = self.box._channel_state('act')
        self.assertEqual((row.mailbox_id, row.channel, row.status), (self.box, 'act', 'ok'))
        self.assertEqual(len(self.rows()), 3)
        with self.assertRaises(ValueError):
            self.box._channel_state('fax')

    def test_transitions_show_on_the_mailbox_and_in_searches(self):
        state = self.box._channel_state('incoming')
        when = _in(30)
        state._retry_at(when)
        state._retry_at(when)
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures, self.box.next_sync),
                         ('retrying', 2, when))
        self.assertEqual(self.box.outgoing_status, 'ok', 'each channel has its own row')
        self.assertIn(self.box, self.Mailbox.search([('incoming_failures', '=', 2)]))
        self.assertIn(self.box, self.Mailbox.search([('incoming_status', '=', 'retrying')]))
        groups = self.Mailbox.read_group([('id', '=', self.box.id)], ['incoming_status'], ['incoming_status'])
        self.assertEqual([group['incoming_status'] for group in groups], ['retrying'])
        state._suspend()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('suspended', 3))
        state._succeeded(when)
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('ok', 0))
        self.assertTrue(self.box.incoming_last_success)
        state._reset()
        self.assertFalse(self.box.next_sync)

    def test_the_due_sql_reads_the_channel_rows(self):
        state = self.box._channel_state('incoming')
        state._retry_at(_in(30))
        self.assertFalse(self.due())
        state._retry_at(_in(-1))
        self.assertTrue(self.due())
        state._suspend()
        self.assertFalse(self.due(), 'a suspended channel is never due')
        state._reset()
        self.assertTrue(self.due())

    def test_a_failed_cycle_moves_its_row_only(self):
        since = datetime.datetime.utcnow()
        self.box._channel_failed('incoming', TransientError('timeout', 'no answer'))
        incoming = self.box._channel_state('incoming')
        self.assertEqual((incoming.status, incoming.failures), ('retrying', 1))
        self.assertScheduledIn(incoming.next_sync, 2, since)
        self.box._channel_failed('outgoing', AuthError('auth_failed', 'refused'))
        outgoing = self.box._channel_state('outgoing')
        self.assertEqual((outgoing.status, outgoing.failures), ('suspended', 1))
        self.assertEqual(incoming.status, 'retrying')
        self.box._channel_succeeded('incoming', {'imported': 3})
        self.assertEqual((incoming.status, incoming.failures), ('ok', 0))
        self.assertTrue(incoming.last_success)
        self.assertEqual(outgoing.status, 'suspended')

    def test_only_the_sync_writes_channel_state(self):
        manager_box = self.box.sudo(self.manager)
        with self.assertRaises(AccessError):
            manager_box.write({'incoming_status': 'ok', 'incoming_failures': 0})
        row = self.box._channel_state('incoming').sudo(self.manager)
        with self.assertRaises(AccessError):
            row.write({'status': 'suspended'})
        with self.assertRaises(AccessError):
            self.Channel.sudo(self.manager).create({'mailbox_id': self.other_box.id, 'channel': 'incoming'})
        with self.assertRaises(AccessError):
            row.unlink()
        self.assertEqual(self.box._channel_state('incoming').status, 'ok')

    def test_users_read_the_rows_of_their_own_mailbox_only(self):
        Channel = self.Channel.sudo(self.rep)
        self.assertEqual(Channel.search([]).mapped('mailbox_id'), self.box)
        with self.assertRaises(AccessError):
            self.other_box._channel_state('incoming').sudo(self.rep).read(['status'])
        self.assertEqual(len(self.Channel.sudo(self.manager).search([('mailbox_id', 'in', [
            self.box.id, self.other_box.id])])), 6)
        self.assertEqual(self.box.sudo(self.rep).incoming_status, 'ok')
