"""Incoming limits and folders on the real Dovecot: per-cycle cap, maximum size with
header-only listing, moving failed email, the Sent folder, index retention."""
import datetime

from odoo import fields

from .common import MailSyncCase
from .test_incoming import raw_mail


def big_mail(message_id, megabytes):
    filler = (b'x' * 76 + b'\r\n') * int(megabytes * 1024 * 1024 / 78)
    return raw_mail('Known <known@customer.test>', 'Plans', message_id).replace(
        b'Body of Plans', b'Body of Plans\r\n' + filler)


class TestIncomingFolders(MailSyncCase):

    def setUp(self):
        super(TestIncomingFolders, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.rep.mail_sync_track = 'contacts'
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.customer = self.env['res.partner'].create({'name': 'Known Customer',
                                                        'email': 'known@customer.test'})
        self.dovecot = self.servers.dovecot

    def ledger(self):
        return self.env['mail.sync.ledger'].search([('mailbox_id', '=', self.box.id)], order='folder, uid')

    def folder_uids(self, folder):
        client = self.dovecot.imap(self.box.login)
        try:
            client.select('"%s"' % folder, readonly=True)
            typ, data = client.uid('SEARCH', 'ALL')
            return [int(uid) for uid in data[0].split()]
        finally:
            client.logout()

    def test_cycle_cap_leaves_the_backlog_to_the_next_runs(self):
        self.server.cycle_cap = 2
        self.dovecot.append_many(self.box.login, [
            raw_mail('Known <known@customer.test>', 'Q%d' % n, '<cap-%d@customer.test>' % n) for n in range(5)])
        self.box._run_incoming_cycle()
        self.assertEqual((self.box.last_sync_count, len(self.ledger())), (2, 2))
        self.assertLessEqual(self.box.next_sync, fields.Datetime.now(), 'a backlog is due at once')
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['remaining']), (2, 1))
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['remaining']), (1, 0))
        self.assertEqual(self.ledger().mapped('uid'), [1, 2, 3, 4, 5])
        self.assertEqual(self.box._sync_incoming()['imported'], 0)

    def test_email_above_the_size_limit_is_listed_not_downloaded_and_moved_when_asked(self):
        self.server.write({'max_message_mb': 1, 'move_failed': True, 'failed_folder': 'Odoo Failed'})
        self.dovecot.append_many(self.box.login, [
            raw_mail('Known <known@customer.test>', 'Before', '<before@customer.test>'),
            big_mail('<big@customer.test>', 1.5),
            raw_mail('Known <known@customer.test>', 'After', '<after@customer.test>')])
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['quarantined']), (2, 1))
        big = self.ledger().filtered(lambda r: r.message_id == '<big@customer.test>')
        self.assertEqual((big.state, big.subject, big.moved_to), ('quarantined', 'Plans', 'Odoo Failed'))
        self.assertIn('maximum email size (1 MB)', big.error)
        self.assertGreater(big.size, 1024 * 1024)
        kept = __import__('base64').b64decode(big.sudo().raw_attachment_id.datas)
        self.assertIn(b'Message-ID: <big@customer.test>', kept)
        self.assertNotIn(b'Body of Plans', kept, 'only the header block was fetched')
        self.assertFalse(self.env['mail.message'].search([('message_id', '=', '<big@customer.test>')]))
        # Moved on the server, after the ledger committed it; the others stay in the Inbox.
        self.assertEqual(self.folder_uids('INBOX'), [1, 3])
        self.assertEqual(len(self.folder_uids('Odoo Failed')), 1)
        self.assertEqual(self.box._sync_incoming()['quarantined'], 0)

    def test_sent_folder_is_synced_only_for_users_who_track_sent_email(self):
        own = self.box.email
        sent = [raw_mail('Rep <%s>' % own, 'Proposal', '<sent-1@company.test>', to='known@customer.test'),
                raw_mail('Rep <%s>' % own, 'Lunch?', '<sent-2@company.test>', to='friend@else.test')]
        self.dovecot.append_many(self.box.login, sent, folder='Sent')
        self.box._sync_incoming()
        self.assertFalse(self.ledger(), 'Sent is not read while the user does not track sent email')
        self.rep.mail_sync_track_sent = True
        self.box._sync_incoming()
        rows = self.ledger()
        self.assertEqual([(r.folder, r.sent, r.state, r.track_reason) for r in rows],
                         [('Sent', True, 'imported', 'known_sender'), ('Sent', True, 'indexed', False)])
        message = rows[0].mail_message_id
        self.assertEqual((message.model, message.res_id), ('res.partner', self.customer.id))
        self.assertIn(own, message.email_from)
        roles = self.env['mail.sync.folder'].search([('mailbox_id', '=', self.box.id)]).mapped('role')
        self.assertEqual(sorted(roles), ['inbox', 'sent'])

    def test_index_retention_forgets_old_untracked_email_but_never_refetches_it(self):
        self.rep.mail_sync_track = 'odoo_replies'
        self.dovecot.append_many(self.box.login, [
            raw_mail('Someone <someone@else.test>', 'Old news', '<old@else.test>'),
            raw_mail('Someone <someone@else.test>', 'Fresh news', '<fresh@else.test>')])
        self.box._sync_incoming()
        old, fresh = self.ledger()
        old.sudo().date = fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(days=31))
        settings = self.env['res.config.settings'].create({'mail_sync_index_retention_days': 30})
        settings.execute()
        self.assertEqual(self.env['ir.config_parameter'].get_param('mail_sync.index_retention_days'), '30')
        self.assertEqual(self.env['res.config.settings'].create({}).mail_sync_index_retention_days, 30)
        self.assertEqual(self.env['mail.sync.ledger']._cron_expire_index(), 1)
        self.assertEqual((old.state, old.subject, old.email_from, old.preview), ('expired', False, False, False))
        self.assertEqual((fresh.state, fresh.subject), ('indexed', 'Fresh news'))
        self.assertEqual(sum(self.box._sync_incoming().values()), 0)
        mine = self.env['mail.sync.ledger'].sudo(self.rep).search(
            [('mailbox_id', '=', self.box.id), ('state', '=', 'indexed')])
        self.assertEqual(mine, fresh)
