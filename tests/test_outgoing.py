"""Outgoing email through the user's own mailbox: the real SMTP server delivers into the
real Dovecot; the copy lands in the sender's Sent folder; failures reach the author."""
import email

from devstack.procs import free_port

from .common import MailSyncCase
from .test_incoming import raw_mail


class TestOutgoing(MailSyncCase):

    def setUp(self):
        super(TestOutgoing, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.rep.mail_sync_track = 'odoo_replies'
        self.rep.groups_id |= self.env.ref('base.group_partner_manager')  # may write to contacts
        self.box = self.make_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        self.assertEqual(self.box.state, 'enabled')
        self.customer_login, _password = self.servers.new_account()
        self.customer = self.env['res.partner'].create({'name': 'Carla Customer', 'email': self.customer_login})
        self.Outbox = self.env['mail.sync.outbox']

    def post(self, body='Here is our offer.', partner=None):
        """The rep writes to the customer from the customer's chatter (Send message)."""
        return self.customer.sudo(self.rep).message_post(
            body=body, subject='Offer', message_type='comment', subtype='mail.mt_comment',
            partner_ids=[(partner or self.customer).id])

    def folder(self, login, folder='INBOX'):
        client = self.servers.dovecot.imap(login)
        try:
            client.select(folder, readonly=True)
            typ, data = client.uid('FETCH', '1:*', '(BODY.PEEK[])')
            return [email.message_from_bytes(item[1]) for item in data if isinstance(item, tuple)]
        finally:
            client.logout()

    def test_email_goes_out_through_the_mailbox_with_a_copy_in_sent(self):
        message = self.post()
        row = self.Outbox.search([('mailbox_id', '=', self.box.id)])
        self.assertEqual((row.state, row.message_id), ('queued', message.message_id))
        mail = row.mail_id
        self.assertEqual(mail.mail_sync_mailbox_id, self.box)
        mail.send()  # Odoo's own queue leaves it to the sync
        self.assertEqual((mail.state, row.state), ('outgoing', 'queued'))
        self.assertEqual(self.Mailbox._cron_sync('outgoing'), 1)
        self.assertEqual((row.state, row.attempts), ('sent', 1))
        received = self.folder(self.customer_login)
        self.assertEqual(len(received), 1)
        self.assertEqual(email.utils.parseaddr(received[0]['From'])[1], self.box.email)
        self.assertEqual(received[0]['Message-ID'], message.message_id)
        texts = [part.get_payload(decode=True).decode() for part in received[0].walk()
                 if part.get_content_type() == 'text/plain']
        self.assertIn('Here is our offer.', texts[0])
        sent = self.folder(self.box.login, 'Sent')
        self.assertEqual([m['Message-ID'] for m in sent], [message.message_id])
        notification = message.notification_ids.filtered(lambda n: n.res_partner_id == self.customer)
        self.assertEqual(notification.email_status, 'sent')
        self.assertEqual(self.Mailbox._cron_sync('outgoing'), 0, 'nothing left to send')

    def test_customer_reply_lands_on_the_same_record(self):
        message = self.post()
        self.box._run_cycle('outgoing')
        sent = self.folder(self.customer_login)[0]
        self.servers.dovecot.append(self.box.login, raw_mail(
            'Carla Customer <%s>' % self.customer_login, 'Re: Offer', '<reply-offer@customer.test>',
            sent['Message-ID'], to=self.box.email))
        self.box._run_cycle('incoming')
        reply = self.env['mail.message'].search([('message_id', '=', '<reply-offer@customer.test>')])
        self.assertEqual((reply.model, reply.res_id, reply.parent_id), ('res.partner', self.customer.id, message))

    def test_users_without_outgoing_sync_keep_odoo_mail_servers(self):
        other = self.make_user('other')
        other.groups_id |= self.env.ref('base.group_partner_manager')
        self.customer.sudo(other).message_post(body='Hi', message_type='comment', subtype='mail.mt_comment',
                                               partner_ids=[self.customer.id])
        self.assertFalse(self.Outbox.search([('mailbox_id', '=', self.box.id)]))
        self.assertFalse(self.env['mail.mail'].search([('mail_sync_mailbox_id', '!=', False)]))

    def test_wrong_password_fails_the_email_and_tells_the_author(self):
        message = self.post()
        self.box.sudo(self.manager).password = 'changed-on-the-server'
        self.box._run_cycle('outgoing')
        self.assertEqual((self.box.outgoing_status, self.box.incoming_status), ('suspended', 'ok'))
        row = self.Outbox.search([('mailbox_id', '=', self.box.id)])
        self.assertEqual(row.state, 'failed')
        self.assertIn('refused the login or password', row.mail_id.failure_reason)
        notification = message.notification_ids.filtered(lambda n: n.res_partner_id == self.customer)
        self.assertEqual(notification.email_status, 'exception', 'the author sees the failed email')
        self.assertFalse(self.folder(self.customer_login))
        note = self.box.message_ids.filtered(lambda m: self.rep.partner_id in m.partner_ids)
        self.assertIn('Outgoing email', note.body)
        # Incoming email of the same mailbox goes on.
        self.box.sudo(self.manager).password = self.servers.dovecot.users[self.box.login]
        self.servers.dovecot.append(self.box.login, raw_mail('X <x@else.test>', 'Still here', '<still@else.test>'))
        self.box._run_cycle('incoming')
        self.assertEqual((self.box.incoming_status, len(self.box.ledger_ids)), ('ok', 1))

    def test_dead_server_is_retried_later(self):
        self.post()
        port = self.server.outgoing_port
        self.server.outgoing_port = free_port()
        self.box._run_cycle('outgoing')
        row = self.Outbox.search([('mailbox_id', '=', self.box.id)])
        self.assertEqual((self.box.outgoing_status, row.state), ('retrying', 'queued'))
        self.assertTrue(self.box.outgoing_next_sync)
        self.assertEqual(self.Mailbox._cron_sync('outgoing'), 0, 'backing off')
        self.server.outgoing_port = port
        self.box.sudo().outgoing_next_sync = False
        self.assertEqual(self.Mailbox._cron_sync('outgoing'), 1)
        self.assertEqual((self.box.outgoing_status, row.state), ('ok', 'sent'))
        self.assertEqual(len(self.folder(self.customer_login)), 1)

    def test_refused_recipient_fails_that_email_only(self):
        nobody = self.env['res.partner'].create({'name': 'Nobody', 'email': 'nobody@refused.test'})
        self.post(partner=nobody)
        self.post(body='Second offer')
        self.box._run_cycle('outgoing')
        rows = self.Outbox.search([('mailbox_id', '=', self.box.id)], order='id')
        self.assertEqual(rows.mapped('state'), ['failed', 'sent'])
        self.assertIn('refused the recipients', rows[0].error)
        self.assertEqual(self.box.outgoing_status, 'ok')
