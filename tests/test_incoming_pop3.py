"""POP3 on the real Dovecot: odd messages never stop a mailbox, the maximum size holds,
mail stays unread; and the decoding and quarantine rules shared by every protocol."""
import base64
from unittest.mock import patch

from odoo.addons.mail_sync.sync.pop3 import Pop3Connector

from .common import MailSyncCase

THREAD_SUBJECT = 'Our quote'
ONE_MB = 1024 * 1024


def _mail(subject, message_id, in_reply_to=None, sender=b'Known <known@customer.test>', body=b'Hello',
          extra=b''):
    """Raw bytes, written by hand: these messages are not what the email package would make."""
    head = [b'From: ' + sender, b'To: rep@example.test', b'Subject: ' + subject,
            b'Date: Sat, 28 Nov 2026 09:00:00 +0100', b'Message-ID: ' + message_id]
    if in_reply_to:
        head += [b'In-Reply-To: ' + in_reply_to.encode(), b'References: ' + in_reply_to.encode()]
    return b'\r\n'.join(head) + b'\r\n' + extra + b'\r\n' + body + b'\r\n'


class TestIncomingPop3(MailSyncCase):

    def setUp(self):
        super(TestIncomingPop3, self).setUp()
        self.rep = self.make_user('rep')
        self.customer = self.env['res.partner'].create({'name': 'Known Customer',
                                                        'email': 'known@customer.test'})
        self.thread = self.customer.message_post(body='Our quote', subject=THREAD_SUBJECT,
                                                 message_type='comment').message_id
        self.Ledger = self.env['mail.sync.ledger']
        self.Message = self.env['mail.message']

    def mailbox(self, server_type='pop3', **values):
        server = self.make_server(server_type, 'none', **values)
        box = self.make_mailbox(self.rep, server)
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled')
        return box

    def deliver(self, box, raw, folder='INBOX'):
        self.servers.dovecot.append(box.login, raw, folder=folder)

    def rows(self, box):
        return self.Ledger.search([('mailbox_id', '=', box.id)], order='id')

    def flags(self, box):
        client = self.servers.dovecot.imap(box.login)
        try:
            client.select('INBOX', readonly=True)
            typ, data = client.fetch('1:*', '(FLAGS)')
            self.assertEqual(typ, 'OK')
            return data
        finally:
            client.logout()

    # ------------------------------------------------------------------ item 10
    def test_long_lines_and_nul_bytes_never_stop_a_pop3_mailbox(self):
        box = self.mailbox()
        wide = _mail(b'Wide', b'<wide@customer.test>', self.thread,
                     body=b'<p>' + b'w' * (70 * 1024) + b'</p>\r\n..a dot-stuffed line',
                     extra=b'Content-Type: text/html; charset=utf-8\r\n')
        nul = _mail(b'Nul \x00 here', b'<nul@customer.test>', self.thread, sender=b'Nu\x00l <known@customer.test>',
                    body=b'before \x00 after')
        after = _mail(b'After them', b'<after@customer.test>', self.thread)
        for raw in (wide, nul, after):
            self.deliver(box, raw)
        stats = box._sync_incoming()
        self.assertEqual((stats['imported'], stats['quarantined']), (3, 0), stats)
        rows = self.rows(box)
        self.assertEqual([(r.message_id, r.state) for r in rows],
                         [('<wide@customer.test>', 'imported'), ('<nul@customer.test>', 'imported'),
                          ('<after@customer.test>', 'imported')])
        self.assertEqual((rows[1].subject, rows[1].email_from), ('Nul here', 'Nul <known@customer.test>'))
        posted = rows[1].mail_message_id
        self.assertEqual(posted.subject, 'Nul  here')
        self.assertIn('before  after', posted.body)
        self.assertIn('w' * 1000, rows[0].mail_message_id.body)
        # Recorded once: a rerun downloads and writes nothing.
        self.assertEqual(box._sync_incoming(), dict.fromkeys(stats, 0))
        self.assertEqual(len(self.rows(box)), 3)

    def test_nul_bytes_in_an_untracked_message_then_tracked(self):
        """The index (preview, subject) and Track's import take it too."""
        box = self.mailbox()
        self.deliver(box, _mail(b'Offer \x00', b'<offer@unknown.test>', sender=b'Stranger <s@unknown.test>',
                                body=b'Cheap \x00 stuff'))
        self.assertEqual(box._sync_incoming()['indexed'], 1)
        row = self.rows(box)
        self.assertEqual((row.subject, row.preview), ('Offer', 'Cheap stuff'))
        row.sudo(self.rep).action_track()
        self.run_jobs('mail_sync.track.%')
        self.assertEqual(row.state, 'imported')
        self.assertIn('Cheap  stuff', row.mail_message_id.body)

    def test_a_message_deleted_during_the_cycle_is_skipped_not_a_failure(self):
        """Another client (here IMAP) expunges a message after our UIDL: Dovecot answers
        "-ERR Message 2 expunged." for it. The other messages are imported, the cycle ends well."""
        box = self.mailbox()
        for n in range(3):
            self.deliver(box, _mail(b'Reply %d' % n, b'<gone-%d@customer.test>' % n, self.thread))
        original = Pop3Connector.list_uidls

        def list_then_expunge(connector):
            found = original(connector)
            client = self.servers.dovecot.imap(box.login)
            client.select('INBOX')
            client.store('2', '+FLAGS', '\\Deleted')
            client.expunge()
            client.logout()
            return found
        with patch.object(Pop3Connector, 'list_uidls', list_then_expunge):
            stats = box._sync_incoming()
        self.assertEqual(stats['imported'], 2)
        self.assertEqual(sorted(self.rows(box).mapped('message_id')),
                         ['<gone-0@customer.test>', '<gone-2@customer.test>'])
        self.assertEqual(box._sync_incoming(), dict.fromkeys(stats, 0))

    def test_first_sync_bound_holds_over_pop3_whatever_the_cap(self):
        """Email dated before "Process Email Received After" is never imported, also when the
        first sync takes several cycles (before: with more old email than the cap, the first
        cycle re-read the same old messages at every run and never went further)."""
        box = self.mailbox(cycle_cap=1, process_after='2026-01-01 00:00:00')
        old = b'Date: Fri, 01 May 2020 09:00:00 +0000\r\n'
        for n in range(2):
            self.deliver(box, _mail(b'Old %d' % n, b'<old-%d@customer.test>' % n, self.thread).replace(
                b'Date: Sat, 28 Nov 2026 09:00:00 +0100\r\n', old))
        for n in range(2):
            self.deliver(box, _mail(b'New %d' % n, b'<new-%d@customer.test>' % n, self.thread))
        self.assertEqual((box._sync_incoming()['imported'], box._sync_incoming()['imported']), (1, 1))
        self.assertEqual(box._sync_incoming(), dict.fromkeys(('imported', 'linked', 'indexed', 'quarantined',
                                                              'remaining'), 0))
        self.assertEqual([(r.message_id, r.state) for r in self.rows(box)],
                         [('<old-0@customer.test>', 'expired'), ('<old-1@customer.test>', 'expired'),
                          ('<new-0@customer.test>', 'imported'), ('<new-1@customer.test>', 'imported')])
        self.assertFalse(self.Message.search([('message_id', 'like', '<old-%')]))

    # ------------------------------------------------------------------ item 11
    def test_maximum_size_holds_over_pop3(self):
        box = self.mailbox(max_message_mb=1)
        big = _mail(b'Plans', b'<big@customer.test>', self.thread,
                    extra=b'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n',
                    body=(b'QUJD' * 19 + b'\r\n') * (2 * ONE_MB // 78))
        self.deliver(box, big)
        self.deliver(box, _mail(b'Small', b'<small@customer.test>', self.thread))
        stats = box._sync_incoming()
        self.assertEqual((stats['quarantined'], stats['imported']), (1, 1), stats)
        row = self.rows(box)[0]
        self.assertEqual((row.message_id, row.state, row.subject), ('<big@customer.test>', 'quarantined', 'Plans'))
        self.assertGreater(row.size, 2 * ONE_MB - 1000)
        self.assertIn('above this profile', row.error)
        self.assertFalse(self.Message.search([('message_id', '=', '<big@customer.test>')]))
        kept = base64.b64decode(row.sudo().raw_attachment_id.datas)
        self.assertTrue(kept.startswith(b'From: Known') and len(kept) < 2000, len(kept))  # headers only
        log = self.Log.search([('mailbox_id', '=', box.id), ('code', '=', 'message_quarantined')])
        self.assertIn('Plans', log.message)
        self.assertEqual(box._sync_incoming()['quarantined'], 0)

    # ------------------------------------------------------------------ item 12
    def test_pop3_sync_leaves_mail_unread_on_dovecot(self):
        box = self.mailbox()
        self.deliver(box, _mail(b'Unread reply', b'<unread@customer.test>', self.thread))
        self.deliver(box, _mail(b'Unread other', b'<other@unknown.test>', sender=b'S <s@unknown.test>'))
        stats = box._sync_incoming()
        self.assertEqual((stats['imported'], stats['indexed']), (1, 1))
        data = self.flags(box)
        self.assertEqual(len(data), 2)
        self.assertFalse([line for line in data if b'\\Seen' in line], data)

    # ------------------------------------------------------------------ smaller defects
    def test_undeclared_8bit_headers_are_decoded(self):
        box = self.mailbox()
        self.deliver(box, _mail(b'Gr\xfc\xdfe aus K\xf6ln', b'<latin1@customer.test>', self.thread,
                                sender=b'J\xfcrgen <known@customer.test>'))
        self.deliver(box, _mail(b'Gr\xc3\xbc\xc3\x9fe in UTF-8', b'<utf8@unknown.test>',
                                sender=b'M\xc3\xbcller <m@unknown.test>'))
        box._sync_incoming()
        latin1, utf8 = self.rows(box)
        self.assertEqual((latin1.subject, latin1.email_from), ('Grüße aus Köln', 'Jürgen <known@customer.test>'))
        self.assertEqual((utf8.subject, utf8.email_from), ('Grüße in UTF-8', 'Müller <m@unknown.test>'))
        self.assertEqual(latin1.mail_message_id.subject, 'Grüße aus Köln')
        self.assertEqual(latin1.mail_message_id.email_from, 'Jürgen <known@customer.test>')

    def test_quarantined_message_is_not_quarantined_again_after_uidvalidity_change(self):
        box = self.mailbox('imap', max_message_mb=1)
        self.env['mail.sync.folder'].create({'mailbox_id': box.id, 'role': 'inbox', 'name': 'Projects'})
        big = _mail(b'Plans', b'<plans@customer.test>', self.thread,
                    body=(b'x' * 76 + b'\r\n') * (2 * ONE_MB // 78))
        small = _mail(b'Small', b'<small@customer.test>', self.thread)
        for raw in (big, small):
            self.deliver(box, raw, folder='Projects')
        self.assertEqual(box._sync_incoming()['quarantined'], 1)
        log = self.Log.search([('mailbox_id', '=', box.id), ('code', '=', 'message_quarantined')])
        first = self.rows(box).filtered(lambda r: r.state == 'quarantined')
        for _generation in range(2):  # the folder is recreated twice: two new UIDVALIDITYs
            client = self.servers.dovecot.imap(box.login)
            client.delete('Projects')
            client.logout()
            for raw in (big, small):
                self.deliver(box, raw, folder='Projects')
            stats = box._sync_incoming()
            self.assertEqual((stats['quarantined'], stats['linked'], stats['imported']), (0, 1, 0), stats)
        quarantined = self.rows(box).filtered(lambda r: r.message_id == '<plans@customer.test>')
        self.assertEqual(quarantined, first)
        folder = self.env['mail.sync.folder'].search([('mailbox_id', '=', box.id), ('name', '=', 'Projects')])
        self.assertEqual((quarantined.uidvalidity, quarantined.uid), (folder.uidvalidity, 1))
        self.assertEqual(log.count, 1)

