"""An Exchange backlog read newest first (as Exchange 2010 SP2 and later send
SyncFolderItems changes): replies come pages before their originals, yet every email
of a thread that reaches Odoo ends up tracked, once."""
from .test_ews_incoming import EwsCase, ews_on_class  # noqa: F401 (the class fixture)
from .test_incoming import raw_mail


class TestEwsBacklog(EwsCase):

    def setUp(self):
        super(TestEwsBacklog, self).setUp()
        # One change per cycle: every email of the backlog lands in its own page and cycle.
        self.server = self.make_ews_server(cycle_cap=1)
        self.rep = self.make_user('rep')
        self.box = self.make_ews_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled')
        self.customer = self.env['res.partner'].create({'name': 'Backlog Customer',
                                                        'email': 'backlog@customer.test'})
        # An email sent from Odoo (a comment, not an internal note: Odoo 11's gateway fails on
        # a reply to a note whose author has no contact).
        self.odoo_mail = self.customer.message_post(body='Our offer', subject='Offer', message_type='comment',
                                                    subtype='mail.mt_comment')
        self.Ledger = self.env['mail.sync.ledger']
        self.Message = self.env['mail.message']

    def deliver(self, raw):
        return self.ews.store.deliver(self.box.email, raw, 'inbox')

    def inbox(self):
        return self.env['mail.sync.folder'].search([('mailbox_id', '=', self.box.id), ('role', '=', 'inbox')])

    def ledger(self):
        return self.Ledger.search([('mailbox_id', '=', self.box.id)], order='id')

    def sync_until_done(self):
        """Cycles until the backlog is read to the end (bounded: a cycle per email and one more)."""
        for _cycle in range(10):
            stats = self.box._sync_incoming()
            if not stats['remaining']:
                return
        self.fail('the backlog never finished')

    def test_replies_newer_than_their_original_end_tracked_and_a_rerun_changes_nothing(self):
        spam = self.deliver(raw_mail('Spam <spam@unknown.test>', 'Cheap', '<bk-spam@unknown.test>'))
        original = self.deliver(raw_mail('Customer <backlog@customer.test>', 'Re: Offer', '<bk-1@customer.test>',
                                         self.odoo_mail.message_id))
        reply = self.deliver(raw_mail('Colleague <colleague@customer.test>', 'Re: Re: Offer',
                                      '<bk-2@customer.test>', '<bk-1@customer.test>'))
        reply_to_reply = self.deliver(raw_mail('Boss <boss@customer.test>', 'Re: Re: Re: Offer',
                                               '<bk-3@customer.test>', '<bk-2@customer.test>'))
        # Exchange sends the newest change first: the first page holds only the last reply,
        # whose thread Odoo does not know yet.
        self.assertEqual(self.box._sync_incoming()['remaining'], 1)
        self.assertEqual([(r.item_id, r.state) for r in self.ledger()], [(reply_to_reply, 'indexed')])
        self.assertTrue(self.inbox().backlog_ledger_id)
        self.sync_until_done()
        rows = {row.item_id: row for row in self.ledger()}
        self.assertEqual(len(rows), 4)
        self.assertEqual({item: (rows[item].state, rows[item].track_reason)
                          for item in (spam, original, reply, reply_to_reply)},
                         {spam: ('indexed', False), original: ('imported', 'reply'),
                          reply: ('imported', 'reply'), reply_to_reply: ('imported', 'reply')})
        for item in (original, reply, reply_to_reply):
            posted = rows[item].mail_message_id
            self.assertEqual((posted.model, posted.res_id), ('res.partner', self.customer.id))
        self.assertEqual(rows[reply].mail_message_id.parent_id, self.odoo_mail)
        self.assertFalse(self.inbox().backlog_ledger_id)
        # Imported once each.
        for message_id in ('<bk-1@customer.test>', '<bk-2@customer.test>', '<bk-3@customer.test>'):
            self.assertEqual(self.Message.search_count([('message_id', '=', message_id)]), 1)
        # A rerun changes nothing; neither does a state reset read again from the start.
        messages_before = self.Message.search_count([])
        snapshot = [(r.id, r.item_id, r.state, r.track_reason, r.mail_message_id.id) for r in self.ledger()]
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(
            ('imported', 'linked', 'indexed', 'quarantined', 'remaining'), 0))
        self.inbox().sudo().write({'sync_state': False})
        self.sync_until_done()
        self.assertEqual([(r.id, r.item_id, r.state, r.track_reason, r.mail_message_id.id)
                          for r in self.ledger()], snapshot)
        self.assertEqual(self.Message.search_count([]), messages_before)
        self.assertFalse(self.inbox().backlog_ledger_id)

    def test_a_page_is_imported_oldest_first(self):
        """One page holding a thread newest first: the original is imported before its
        replies, so they are tracked in the same page, without waiting for the backlog's end."""
        self.server.sudo().cycle_cap = 50
        original = self.deliver(raw_mail('Customer <backlog@customer.test>', 'Re: Offer', '<bk-p1@customer.test>',
                                         self.odoo_mail.message_id))
        reply = self.deliver(raw_mail('Colleague <colleague@customer.test>', 'Re: Re: Offer',
                                      '<bk-p2@customer.test>', '<bk-p1@customer.test>'))
        third = self.deliver(raw_mail('Boss <boss@customer.test>', 'Re: Re: Re: Offer',
                                      '<bk-p3@customer.test>', '<bk-p2@customer.test>'))
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['indexed']), (3, 0))
        self.assertEqual([(r.item_id, r.state, r.track_reason) for r in self.ledger()],
                         [(original, 'imported', 'reply'), (reply, 'imported', 'reply'),
                          (third, 'imported', 'reply')])

    def test_a_thread_answering_an_internal_note_is_tracked_whole(self):
        """A reply to an internal note notifies the note's author; when a reply answers an
        email from an unknown sender (no author), Odoo 11's gateway failed and the email was
        quarantined: it now answers the nearest ancestor with an author."""
        self.server.sudo().cycle_cap = 50
        note = self.customer.message_post(body='Call them back', subject='Note', message_type='comment')
        self.assertTrue(note.subtype_id.internal)
        first = self.deliver(raw_mail('Colleague <colleague@customer.test>', 'Re: Note', '<bk-n1@customer.test>',
                                      note.message_id))
        second = self.deliver(raw_mail('Boss <boss@customer.test>', 'Re: Re: Note', '<bk-n2@customer.test>',
                                       '<bk-n1@customer.test>'))
        stats = self.box._sync_incoming()
        self.assertEqual((stats['imported'], stats['quarantined']), (2, 0))
        rows = self.ledger()
        self.assertEqual([(r.item_id, r.state) for r in rows], [(first, 'imported'), (second, 'imported')])
        self.assertEqual(rows.mapped('mail_message_id.res_id'), [self.customer.id] * 2)
