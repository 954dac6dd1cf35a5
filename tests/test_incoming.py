"""Incoming email from the real Dovecot into Odoo: first sync, rerun, rules, duplicates,
UIDVALIDITY changes, the first-sync bound and quarantine."""
import datetime
import imaplib
from unittest.mock import patch

from odoo import fields

from odoo.addons.mail_sync.sync.imap import ImapConnector

from .common import MailSyncCase


def raw_mail(sender, subject, message_id=None, in_reply_to=None, to='rep@example.test'):
    lines = ['From: %s' % sender, 'To: %s' % to, 'Subject: %s' % subject,
             'Date: Sat, 28 Nov 2026 09:00:00 +0100']
    if message_id:
        lines.append('Message-ID: %s' % message_id)
    if in_reply_to:
        lines += ['In-Reply-To: %s' % in_reply_to, 'References: %s' % in_reply_to]
    lines += ['Content-Type: text/plain; charset=utf-8', '', 'Body of %s' % subject, '']
    return '\r\n'.join(lines).encode('utf-8')


class TestIncoming(MailSyncCase):

    def setUp(self):
        super(TestIncoming, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.customer = self.env['res.partner'].create({'name': 'Known Customer',
                                                        'email': 'known@customer.test'})
        self.odoo_mail = self.customer.message_post(body='Our quote', subject='Quote',
                                                    message_type='comment')
        self.Ledger = self.env['mail.sync.ledger']
        self.Message = self.env['mail.message']

    def deliver(self, raw, box=None, folder='INBOX', date_time=None):
        login = (box or self.box).login
        if date_time is None:
            self.servers.dovecot.append(login, raw, folder=folder)
        else:
            client = self.servers.dovecot.imap(login)
            client.append(folder, '', imaplib.Time2Internaldate(date_time), raw)
            client.logout()

    def standard_mail(self):
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<reply-1@unknown.test>',
                              self.odoo_mail.message_id))
        self.deliver(raw_mail('Known <known@customer.test>', 'Question', '<q-1@customer.test>'))
        self.deliver(raw_mail('Spam <spam@unknown.test>', 'Offer', '<offer-1@unknown.test>'))

    def ledger(self, box=None):
        return self.Ledger.search([('mailbox_id', '=', (box or self.box).id)], order='uid')

    def test_first_sync_then_rerun_changes_nothing(self):
        self.standard_mail()
        stats = self.box._sync_incoming()
        self.assertEqual(stats, {'imported': 1, 'linked': 0, 'indexed': 2, 'quarantined': 0,
                                 'remaining': 0})
        rows = self.ledger()
        self.assertEqual([(r.uid, r.state, r.track_reason) for r in rows],
                         [(1, 'imported', 'reply'), (2, 'indexed', False), (3, 'indexed', False)])
        reply = rows[0].mail_message_id
        self.assertEqual((reply.model, reply.res_id, reply.parent_id), ('res.partner', self.customer.id,
                                                                        self.odoo_mail))
        self.assertEqual(rows[1].preview, 'Body of Question')
        self.assertFalse(rows[1].mail_message_id)
        self.assertEqual((self.box.last_sync_count, bool(self.box.last_sync)), (3, True))
        messages_before = self.Message.search_count([])
        folder = self.env['mail.sync.folder'].search([('mailbox_id', '=', self.box.id)])
        self.assertEqual((folder.name, folder.last_uid, folder.uidnext), ('INBOX', 3, 4))
        # A rerun: nothing new, nothing written (the folder's STATUS says so: no EXAMINE).
        self.env.cr.execute("SELECT max(write_date) FROM mail_sync_ledger WHERE mailbox_id = %s",
                            [self.box.id])
        written = self.env.cr.fetchone()[0]
        with patch.object(ImapConnector, 'select_folder', side_effect=AssertionError('EXAMINE')):
            self.assertEqual(self.box._sync_incoming(), dict.fromkeys(stats, 0))
        self.env.cr.execute("SELECT max(write_date) FROM mail_sync_ledger WHERE mailbox_id = %s",
                            [self.box.id])
        self.assertEqual(self.env.cr.fetchone()[0], written)
        self.assertEqual(self.ledger(), rows)
        self.assertEqual(self.Message.search_count([]), messages_before)
        # New mail is picked up incrementally.
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote again', '<reply-2@unknown.test>',
                              self.odoo_mail.message_id))
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        self.assertEqual(len(self.ledger()), 4)

    def test_known_contacts_rule(self):
        self.rep.mail_sync_track = 'contacts'
        self.standard_mail()
        self.box._sync_incoming()
        rows = self.ledger()
        self.assertEqual([(r.state, r.track_reason) for r in rows],
                         [('imported', 'reply'), ('imported', 'known_sender'), ('indexed', False)])
        self.assertEqual((rows[1].model, rows[1].res_id), ('res.partner', self.customer.id))

    def test_all_email_rule_creates_contacts_only_when_the_profile_says_so(self):
        self.rep.mail_sync_track = 'all'
        self.standard_mail()
        self.box._sync_incoming()
        self.assertEqual(self.ledger()[2].state, 'indexed')
        self.server.create_unknown_contacts = True
        self.deliver(raw_mail('Newcomer <newcomer@unknown.test>', 'Hello', '<hello-1@unknown.test>'))
        self.box._sync_incoming()
        row = self.ledger()[3]
        partner = self.env['res.partner'].search([('email', '=', 'newcomer@unknown.test')])
        self.assertEqual((row.state, row.track_reason, row.res_id), ('imported', 'all_email', partner.id))
        self.assertEqual(partner.name, 'Newcomer')

    def test_none_rule_only_indexes(self):
        self.rep.mail_sync_track = 'none'
        self.standard_mail()
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['indexed']), (0, 3))

    def test_mail_received_by_two_mapped_users_is_imported_once(self):
        other = self.make_mailbox(self.make_user('colleague'), self.server)
        other.sudo(self.manager).action_test_enable()
        raw = raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<shared@unknown.test>',
                       self.odoo_mail.message_id)
        self.deliver(raw)
        self.deliver(raw, box=other)
        self.box._sync_incoming()
        self.assertEqual(other._sync_incoming()['linked'], 1)
        self.assertEqual(self.Message.search_count([('message_id', '=', '<shared@unknown.test>')]), 1)
        self.assertEqual(self.ledger(other).mail_message_id, self.ledger().mail_message_id)

    def test_uidvalidity_change_is_recovered_by_message_id(self):
        # INBOX cannot be deleted: this mailbox's inbox is the folder "Projects".
        self.env['mail.sync.folder'].create({'mailbox_id': self.box.id, 'role': 'inbox', 'name': 'Projects'})
        mails = [raw_mail('Stranger <new@unknown.test>', 'Re: Quote %d' % n, '<p%d@unknown.test>' % n,
                          self.odoo_mail.message_id) for n in range(3)]
        for raw in mails:
            self.deliver(raw, folder='Projects')
        self.assertEqual(self.box._sync_incoming()['imported'], 3)
        client = self.servers.dovecot.imap(self.box.login)
        client.delete('Projects')
        client.logout()
        for raw in mails + [raw_mail('Stranger <new@unknown.test>', 'Re: Quote 3', '<p3@unknown.test>',
                                     self.odoo_mail.message_id)]:
            self.deliver(raw, folder='Projects')
        stats = self.box._sync_incoming()
        self.assertEqual((stats['linked'], stats['imported']), (3, 1))
        for n in range(4):
            self.assertEqual(self.Message.search_count([('message_id', '=', '<p%d@unknown.test>' % n)]), 1)
        self.assertEqual(len(set(self.ledger().mapped('uidvalidity'))), 2)

    def test_message_without_message_id_is_imported_once(self):
        raw = raw_mail('Stranger <new@unknown.test>', 'Re: Quote', None, self.odoo_mail.message_id)
        self.deliver(raw)
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        row = self.ledger()
        self.assertTrue(row.message_id.endswith('@mail-sync.invalid>'))
        self.assertEqual(row.mail_message_id.message_id, row.message_id)
        self.deliver(raw)  # the very same bytes again: linked, not imported twice
        self.assertEqual(self.box._sync_incoming()['linked'], 1)

    def test_process_after_bounds_the_first_sync(self):
        self.server.process_after = fields.Datetime.to_string(
            datetime.datetime.utcnow() - datetime.timedelta(days=2))
        self.deliver(raw_mail('Known <known@customer.test>', 'Old', '<old@customer.test>'),
                     date_time=datetime.datetime(2020, 5, 1, tzinfo=datetime.timezone.utc))
        self.deliver(raw_mail('Known <known@customer.test>', 'New', '<new@customer.test>'))
        self.box._sync_incoming()
        self.assertEqual(self.ledger().mapped('subject'), ['New'])

    def test_a_message_the_gateway_cannot_import_is_quarantined_and_the_rest_goes_on(self):
        self.standard_mail()
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote 2', '<reply-9@unknown.test>',
                              self.odoo_mail.message_id))
        MailThread = type(self.env['mail.thread'])
        original = MailThread.message_process

        def failing(thread, model, message, *args, **kwargs):
            # Fault injection: Odoo's gateway fails on this one message.
            if b'<reply-1@unknown.test>' in message:
                raise UnicodeDecodeError('utf-8', b'\xff', 0, 1, 'invalid start byte')
            return original(thread, model, message, *args, **kwargs)
        with patch.object(MailThread, 'message_process', failing):
            stats = self.box._sync_incoming()
        self.assertEqual((stats['quarantined'], stats['imported'], stats['indexed']), (1, 1, 2))
        bad = self.ledger()[0]
        self.assertEqual(bad.state, 'quarantined')
        self.assertIn('UnicodeDecodeError', bad.error)
        self.assertFalse(self.Message.search([('message_id', '=', '<reply-1@unknown.test>')]))
        self.assertIn(b'<reply-1@unknown.test>', __import__('base64').b64decode(
            bad.sudo().raw_attachment_id.datas))
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'message_quarantined')])
        self.assertIn('Re: Quote', log.message)
        # Not refetched every cycle.
        self.assertEqual(self.box._sync_incoming()['quarantined'], 0)

    def test_pop3_mailbox(self):
        pop = self.make_server('pop3', 'none')
        box = self.make_mailbox(self.make_user('popper'), pop)
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<pop-1@unknown.test>',
                              self.odoo_mail.message_id), box=box)
        self.deliver(raw_mail('Known <known@customer.test>', 'Question', '<pop-2@customer.test>'), box=box)
        self.assertEqual(box._sync_incoming(), {'imported': 1, 'linked': 0, 'indexed': 1, 'quarantined': 0,
                                                'remaining': 0})
        self.assertEqual(box._sync_incoming(), {'imported': 0, 'linked': 0, 'indexed': 0, 'quarantined': 0,
                                                'remaining': 0})
        self.assertEqual(len(self.ledger(box).mapped('uidl')), 2)
