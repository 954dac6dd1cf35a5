"""The chatter says which synchronized mailboxes an email came from and why it was tracked
(``mail_sync_origin`` in ``mail.message.message_format``)."""
from .common import MailSyncCase
from .test_incoming import raw_mail


class TestChatterOrigin(MailSyncCase):

    def setUp(self):
        super(TestChatterOrigin, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.customer = self.env['res.partner'].create({'name': 'Origin Customer',
                                                        'email': 'origin@customer.test'})
        self.quote = self.customer.message_post(body='Our quote', subject='Quote',
                                                message_type='comment')
        self.reply = raw_mail('Origin Customer <origin@customer.test>', 'Re: Quote',
                              '<origin-reply@customer.test>', self.quote.message_id)

    def imported_reply(self):
        return self.env['mail.message'].search([('message_id', '=', '<origin-reply@customer.test>')])

    def test_imported_message_says_mailbox_and_reason(self):
        self.servers.dovecot.append(self.box.login, self.reply)
        self.box._sync_incoming()
        message = self.imported_reply()
        self.assertEqual((message.model, message.res_id), ('res.partner', self.customer.id))
        origin = message.message_format()[0]['mail_sync_origin']
        self.assertEqual(origin, "Tracked from %s's mailbox: Reply to an Odoo email" % self.box.email)

    def test_message_in_two_mailboxes_lists_each_once(self):
        rep2 = self.make_user('rep2')
        box2 = self.make_mailbox(rep2, self.server)
        box2.sudo(self.manager).action_test_enable()
        # The first mailbox holds the email twice (as after a copy on the server).
        self.servers.dovecot.append_many(self.box.login, [self.reply, self.reply])
        self.servers.dovecot.append(box2.login, self.reply)
        self.box._sync_incoming()
        box2._sync_incoming()
        message = self.imported_reply()
        self.assertEqual(len(message), 1)
        states = self.env['mail.sync.ledger'].search(
            [('mail_message_id', '=', message.id)]).mapped(lambda r: (r.mailbox_id, r.state))
        self.assertEqual(sorted(states, key=lambda s: (s[0].id, s[1])),
                         [(self.box, 'imported'), (self.box, 'linked'), (box2, 'linked')])
        # Another employee reading the customer sees the origin, though not the ledger.
        reader = self.make_user('reader')
        origin = message.sudo(reader).message_format()[0]['mail_sync_origin']
        self.assertEqual(origin, "Tracked from %s's mailbox: Reply to an Odoo email"
                                 " \u00b7 Also in the mailbox of %s" % (self.box.email, box2.email))
        self.assertEqual(origin.count(self.box.email), 1)

    def test_message_not_from_a_mailbox(self):
        self.assertIs(self.quote.message_format()[0]['mail_sync_origin'], False)

    def test_untracked_message_loses_its_origin(self):
        self.servers.dovecot.append(self.box.login, self.reply)
        self.box._sync_incoming()
        message = self.imported_reply()
        self.box.ledger_ids.sudo(self.rep).action_untrack()
        self.assertIs(message.message_format()[0]['mail_sync_origin'], False)

    def test_one_query_for_all_messages(self):
        self.servers.dovecot.append_many(self.box.login, [
            self.reply,
            raw_mail('Origin Customer <origin@customer.test>', 'Re: Quote again',
                     '<origin-reply-2@customer.test>', self.quote.message_id),
        ])
        self.box._sync_incoming()
        messages = self.customer.message_ids
        replies = messages.filtered(lambda m: m.message_id in (
            '<origin-reply@customer.test>', '<origin-reply-2@customer.test>'))
        self.assertEqual(len(replies), 2)
        self.assertIn(self.quote, messages)
        messages._mail_sync_origins()  # warm the translation cache of the reason labels
        before = self.env.cr.sql_log_count
        origins = messages._mail_sync_origins()
        self.assertEqual(self.env.cr.sql_log_count - before, 1)
        self.assertEqual(sorted(origins), sorted(replies.ids))
