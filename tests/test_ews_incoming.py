"""Incoming email from Exchange through EWS (our endpoint, the real exchangelib): first
sync, rerun, tracking rules, sync state recovery, a busy server, wrong credentials,
impersonation, quarantine, and the Outlook category that tracks and untracks email."""
import base64
import datetime
import itertools
import uuid

import pytest

from odoo import fields

from .common import MailSyncCase
from .test_incoming import raw_mail

_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]
CATEGORY = 'Tracked to Odoo'


@pytest.fixture(scope='class')
def ews_on_class(request, ews_server):
    request.cls.ews = ews_server


@pytest.mark.usefixtures('ews_on_class')
class EwsCase(MailSyncCase):
    """MailSyncCase with ``self.ews`` (the EWS endpoint) and Exchange helpers."""

    def new_ews_account(self, impersonation=False):
        n = next(_numbers)
        address, password = 'ews%d-%s@example.test' % (n, _RUN), 'pw-%d-%s' % (n, _RUN)
        self.ews.add_account(address, password, impersonation=impersonation)
        return address, password

    def make_ews_server(self, **values):
        vals = {'name': 'Exchange test', 'server_type': 'exchange', 'ews_locate': 'url',
                'ews_url': self.ews.url, 'auth_method': 'basic', 'timeout': 10}
        vals.update(values)
        return self.Server.sudo(self.manager).create(vals)

    def make_ews_mailbox(self, user, server, password=None, address=None, **values):
        account, account_password = (address, None) if address else self.new_ews_account()
        vals = {'user_id': user.id, 'server_id': server.id, 'email': account, 'login': account,
                'password': password or account_password}
        vals.update(values)
        return self.Mailbox.sudo(self.manager).create(vals)

    def calls(self, address):
        return [call.operation for call in self.ews.calls if address in (call.user, call.impersonate)]


class TestEwsIncoming(EwsCase):

    def setUp(self):
        super(TestEwsIncoming, self).setUp()
        self.server = self.make_ews_server()
        self.rep = self.make_user('rep')
        self.box = self.make_ews_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled')
        self.customer = self.env['res.partner'].create({'name': 'Known Customer',
                                                        'email': 'known@customer.test'})
        self.odoo_mail = self.customer.message_post(body='Our quote', subject='Quote',
                                                    message_type='comment')
        self.Ledger = self.env['mail.sync.ledger']
        self.Message = self.env['mail.message']

    def deliver(self, raw, folder='inbox', box=None):
        return self.ews.store.deliver((box or self.box).email, raw, folder)

    def standard_mail(self):
        return [
            self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<e-reply-1@unknown.test>',
                                  self.odoo_mail.message_id)),
            self.deliver(raw_mail('Known <known@customer.test>', 'Question', '<e-q-1@customer.test>')),
            self.deliver(raw_mail('Spam <spam@unknown.test>', 'Offer', '<e-offer-1@unknown.test>')),
        ]

    def ledger(self, box=None):
        return self.Ledger.search([('mailbox_id', '=', (box or self.box).id)], order='id')

    def inbox(self, box=None):
        return self.env['mail.sync.folder'].search([('mailbox_id', '=', (box or self.box).id),
                                                    ('role', '=', 'inbox')])

    def test_first_sync_then_rerun_changes_nothing(self):
        ids = self.standard_mail()
        stats = self.box._sync_incoming()
        self.assertEqual(stats, {'imported': 1, 'linked': 0, 'indexed': 2, 'quarantined': 0,
                                 'remaining': 0})
        rows = self.ledger()
        self.assertEqual([(r.item_id, r.folder, r.state, r.track_reason) for r in rows],
                         [(ids[0], 'inbox', 'imported', 'reply'), (ids[1], 'inbox', 'indexed', False),
                          (ids[2], 'inbox', 'indexed', False)])
        reply = rows[0].mail_message_id
        self.assertEqual((reply.model, reply.res_id, reply.parent_id),
                         ('res.partner', self.customer.id, self.odoo_mail))
        self.assertEqual((rows[1].preview, rows[1].subject, rows[1].email_from),
                         ('Body of Question', 'Question', 'Known <known@customer.test>'))
        self.assertTrue(self.inbox().sync_state)
        # A rerun: one SyncFolderItems call, no content fetched, nothing written.
        messages_before = self.Message.search_count([])
        before = len(self.calls(self.box.email))
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(stats, 0))
        self.assertEqual(self.calls(self.box.email)[before:], ['SyncFolderItems'])
        self.assertEqual(self.ledger(), rows)
        self.assertEqual(self.Message.search_count([]), messages_before)
        # New mail is picked up incrementally.
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote again', '<e-reply-2@unknown.test>',
                              self.odoo_mail.message_id))
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        self.assertEqual(len(self.ledger()), 4)

    def test_known_contacts_rule_and_sent_items(self):
        self.rep.write({'mail_sync_track': 'contacts', 'mail_sync_track_sent': True})
        self.standard_mail()
        sent = self.deliver(raw_mail('Rep <%s>' % self.box.email, 'Proposal', '<e-sent-1@company.test>',
                                     to='Known <known@customer.test>'), folder='sentitems')
        self.box._sync_incoming()
        rows = self.ledger()
        self.assertEqual([(r.folder, r.state, r.track_reason) for r in rows],
                         [('inbox', 'imported', 'reply'), ('inbox', 'imported', 'known_sender'),
                          ('inbox', 'indexed', False), ('sentitems', 'imported', 'known_sender')])
        self.assertEqual((rows[3].item_id, rows[3].sent, rows[3].res_id), (sent, True, self.customer.id))

    def test_mail_received_by_two_mapped_users_is_imported_once(self):
        other = self.make_ews_mailbox(self.make_user('colleague'), self.server)
        raw = raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<e-shared@unknown.test>',
                       self.odoo_mail.message_id)
        self.deliver(raw)
        self.deliver(raw, box=other)
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        self.assertEqual(other._sync_incoming()['linked'], 1)
        self.assertEqual(self.Message.search_count([('message_id', '=', '<e-shared@unknown.test>')]), 1)

    def test_invalid_sync_state_is_recovered_without_duplicates(self):
        mails = [raw_mail('Stranger <new@unknown.test>', 'Re: Quote %d' % n, '<e-p%d@unknown.test>' % n,
                          self.odoo_mail.message_id) for n in range(3)]
        ids = [self.deliver(raw) for raw in mails]
        self.assertEqual(self.box._sync_incoming()['imported'], 3)
        # The user moves one email out and back (a new item id, the same Message-ID), a new
        # one arrives, and Exchange forgets our sync state.
        self.ews.store.move(self.ews.store.move(ids[0], 'deleteditems'), 'inbox')
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote 3', '<e-p3@unknown.test>',
                              self.odoo_mail.message_id))
        state = self.inbox().sync_state
        self.inbox().sync_state = ('BBBB' if state.startswith('AAAA') else 'AAAA') + state[4:]
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['linked']), (1, 1))
        for n in range(4):
            self.assertEqual(self.Message.search_count([('message_id', '=', '<e-p%d@unknown.test>' % n)]), 1)
        self.assertEqual(len(self.ledger()), 5)
        self.assertEqual(self.Log.search_count([('mailbox_id', '=', self.box.id),
                                                ('code', '=', 'sync_state_reset')]), 1)
        self.assertNotEqual(self.inbox().sync_state, state)
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(stats, 0))

    def test_busy_server_is_honoured_without_retrying_and_nothing_is_lost(self):
        self.server.cycle_cap = 50
        for n in range(120):
            self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote %d' % n,
                                  '<e-busy%d@unknown.test>' % n, self.odoo_mail.message_id))
        stats = self.box._run_incoming_cycle()
        self.assertEqual((stats['imported'], stats['remaining']), (50, 1))
        self.ews.inject('SyncFolderItems', 'ErrorServerBusy', back_off_ms=30 * 60 * 1000)
        before, since = len(self.calls(self.box.email)), datetime.datetime.utcnow()
        self.assertIsNone(self.box._run_incoming_cycle())
        # One request, refused, and no retry: the worker moved on.
        self.assertEqual(self.calls(self.box.email)[before:], ['SyncFolderItems'])
        self.assertEqual(self.box.incoming_status, 'retrying')
        self.assertScheduledIn(self.box.next_sync, 30, since)  # the 30 minutes the server asked for
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'server_busy')])
        self.assertEqual(log.error_class, 'transient')
        self.box._run_incoming_cycle()
        self.box._run_incoming_cycle()
        self.assertEqual(self.box.incoming_status, 'ok')
        rows = self.ledger()
        self.assertEqual(len(rows), 120)
        self.assertEqual(set(rows.mapped('state')), {'imported'})
        self.assertEqual(self.Message.search_count([('message_id', 'like', '<e-busy%')]), 120)

    def test_wrong_credentials_suspend_the_channel(self):
        self.standard_mail()
        self.box.sudo(self.manager).password = 'wrong'
        self.assertIsNone(self.box._run_incoming_cycle())
        self.assertEqual(self.box.incoming_status, 'suspended')
        self.assertFalse(self.ledger())
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'auth_failed')])
        self.assertTrue(log)
        other = self.make_ews_mailbox(self.make_user('other'), self.server, password='wrong')
        other.sudo(self.manager).action_test_enable()
        self.assertEqual((other.state, other.incoming_test_state), ('draft', 'failure'))

    def test_ntlm_profile(self):
        server = self.make_ews_server(auth_method='ntlm')
        box = self.make_ews_mailbox(self.make_user('windows'), server)
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled')
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<e-ntlm@unknown.test>',
                              self.odoo_mail.message_id), box=box)
        self.assertEqual(box._sync_incoming()['imported'], 1)
        auths = {call.auth for call in self.ews.calls if call.user == box.email}
        self.assertEqual(auths, {'NTLM'})

    def test_autodiscover_profile(self):
        server = self.make_ews_server(ews_locate='autodiscover', ews_url=False, auth_method='ntlm')
        box = self.make_ews_mailbox(self.make_user('discovered'), server)
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<e-ad@unknown.test>',
                              self.odoo_mail.message_id), box=box)
        with self.ews.autodiscover.client_settings():
            box.sudo(self.manager).action_test_enable()
            self.assertEqual(box.state, 'enabled', box.incoming_test_message)
            self.assertIn(self.ews.url, box.incoming_test_message)
            self.assertEqual(box._sync_incoming()['imported'], 1)
        syncs = [call.auth for call in self.ews.calls
                 if call.user == box.email and call.operation == 'SyncFolderItems']
        self.assertEqual(syncs, ['NTLM'])

    def test_impersonation_with_a_service_account(self):
        service, service_password = self.new_ews_account(impersonation=True)
        server = self.make_ews_server(credential_mode='profile', service_login=service,
                                      service_password=service_password)
        target, _password = self.new_ews_account()
        box = self.make_ews_mailbox(self.make_user('impersonated'), server, address=target,
                                    password='unused')
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled')
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<e-imp@unknown.test>',
                              self.odoo_mail.message_id), box=box)
        self.assertEqual(box._sync_incoming()['imported'], 1)
        self.assertTrue(any(call.user == service and call.impersonate == target and
                            call.operation == 'SyncFolderItems' for call in self.ews.calls))
        # A service account without the impersonation right is refused, clearly.
        plain, plain_password = self.new_ews_account()
        denied = self.make_ews_server(credential_mode='profile', service_login=plain,
                                      service_password=plain_password)
        other, _password = self.new_ews_account()
        box2 = self.make_ews_mailbox(self.make_user('denied'), denied, address=other, password='unused')
        box2.sudo(self.manager).action_test_enable()
        self.assertEqual((box2.state, box2.incoming_test_state), ('draft', 'failure'))
        self.assertIn('ApplicationImpersonation', box2.incoming_test_message)

    def test_process_after_bounds_the_first_sync(self):
        self.server.process_after = fields.Datetime.to_string(
            datetime.datetime.utcnow() - datetime.timedelta(days=2))
        old = self.deliver(raw_mail('Known <known@customer.test>', 'Old', '<e-old@customer.test>'))
        self.ews.store.set_fields(old, DateTimeReceived='2020-05-01T08:00:00Z')
        self.deliver(raw_mail('Known <known@customer.test>', 'New', '<e-new@customer.test>'))
        self.box._sync_incoming()
        self.assertEqual(self.ledger().mapped('subject'), ['New'])

    def test_oversize_email_is_quarantined_without_downloading_it(self):
        self.server.max_message_mb = 1
        big = raw_mail('Known <known@customer.test>', 'Huge', '<e-huge@customer.test>') + \
            b'x' * (1024 * 1024 + 10)
        self.deliver(big)
        self.standard_mail()
        before = len(self.calls(self.box.email))
        stats = self.box._sync_incoming()
        self.assertEqual((stats['quarantined'], stats['imported'], stats['indexed']), (1, 1, 2))
        row = self.ledger()[0]
        self.assertEqual((row.state, row.subject, row.message_id), ('quarantined', 'Huge',
                                                                    '<e-huge@customer.test>'))
        self.assertIn('above this profile', row.error)
        kept = base64.b64decode(row.sudo().raw_attachment_id.datas)
        self.assertIn(b'Subject: Huge', kept)
        self.assertLess(len(kept), 1000)
        self.assertEqual(self.calls(self.box.email)[before:], ['SyncFolderItems', 'GetItem'])

    # ------------------------------------------------------------------ Outlook category
    def test_category_set_in_outlook_tracks_and_removing_it_untracks(self):
        ids = self.standard_mail()
        self.box._sync_incoming()
        row = self.ledger()[2]
        self.assertEqual(row.state, 'indexed')
        self.ews.store.add_category(ids[2], CATEGORY)
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['indexed']), (1, 0))
        partner = self.env['res.partner'].search([('email', '=', 'spam@unknown.test')])
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id, row.ews_tagged),
                         ('imported', 'category', 'res.partner', partner.id, True))
        message = row.mail_message_id
        self.assertEqual(message.message_id, '<e-offer-1@unknown.test>')
        # Another category change leaves it tracked; removing ours untracks it.
        self.ews.store.add_category(ids[2], 'Customer')
        self.box._sync_incoming()
        self.assertEqual(row.state, 'imported')
        self.ews.store.remove_category(ids[2], CATEGORY)
        self.box._sync_incoming()
        self.assertEqual((row.state, row.mail_message_id.id, row.ews_tagged), ('indexed', False, False))
        self.assertTrue(message.exists(), 'Untracking keeps the Odoo message')
        # An email tracked by the rules is not untracked by a category it never had.
        self.ews.store.add_category(ids[0], 'Customer')
        self.box._sync_incoming()
        self.assertEqual(self.ledger()[0].state, 'imported')
        self.assertEqual(self.Message.search_count([('message_id', '=', '<e-offer-1@unknown.test>')]), 1)

    def test_email_arriving_with_the_category_and_a_custom_name(self):
        self.server.ews_category = 'CRM'
        item = self.deliver(raw_mail('Spam <spam@unknown.test>', 'Offer', '<e-offer-2@unknown.test>'))
        self.ews.store.add_category(item, 'crm')
        self.ews.store.add_category(self.deliver(raw_mail('Spam <spam@unknown.test>', 'Other',
                                                          '<e-offer-3@unknown.test>')), CATEGORY)
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['indexed']), (1, 1))
        self.assertEqual(self.ledger().mapped('track_reason'), ['category', False])

    def test_track_and_untrack_in_odoo_write_the_category(self):
        ids = self.standard_mail()
        self.ews.store.add_category(ids[2], 'Customer')
        self.box._sync_incoming()
        row = self.ledger()[2].sudo(self.rep)
        row.action_track()
        self.run_jobs('mail_sync.track.%')
        self.assertEqual((row.state, row.track_reason), ('imported', 'manual'))
        self.assertEqual(self.ews.store.item(ids[2])['categories'], ['Customer', CATEGORY])
        self.assertEqual(self.box._sync_incoming()['imported'], 0)
        self.assertEqual((row.state, row.track_reason, row.ews_tagged), ('imported', 'manual', True))
        row.action_untrack()
        self.assertEqual(self.ews.store.item(ids[2])['categories'], ['Customer'])
        self.box._sync_incoming()
        self.assertEqual((row.state, row.ews_tagged), ('indexed', False))
        self.assertEqual(self.Message.search_count([('message_id', '=', '<e-offer-1@unknown.test>')]), 1)
        # Gone from the server: Track says so.
        self.ews.store.delete(ids[1])
        self.ledger()[1].sudo(self.rep).action_track()
        self.run_jobs('mail_sync.track.%')
        self.assertEqual((self.ledger()[1].state, self.ledger()[1].track_error),
                         ('indexed', 'This email is no longer on the server.'))

    def test_a_failed_category_write_keeps_the_track_and_never_untracks_it(self):
        ids = self.standard_mail()
        self.box._sync_incoming()
        row = self.ledger()[2].sudo(self.rep)
        self.ews.inject('UpdateItem', 'ErrorServerBusy', back_off_ms=60000)
        row.action_track()
        self.run_jobs('mail_sync.track.%')
        self.assertEqual((row.state, row.track_reason, row.ews_tagged), ('imported', 'manual', False))
        self.assertEqual(self.ews.store.item(ids[2])['categories'], [])
        self.assertTrue(self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'server_busy')]))
        self.ews.store.add_category(ids[2], 'Customer')  # any later change of the item
        self.box._sync_incoming()
        self.assertEqual(row.state, 'imported')
