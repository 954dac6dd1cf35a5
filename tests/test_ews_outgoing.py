"""Outgoing email of an Exchange mailbox: one CreateItem with SendAndSaveCopy through the
real exchangelib and our EWS endpoint; the customer's reply closes the loop; an
interrupted sending is settled from Sent Items, never sent twice."""
import email

from .test_ews_incoming import EwsCase, ews_on_class  # noqa: F401 (the fixture EwsCase uses)
from .test_incoming import raw_mail


class TestEwsOutgoing(EwsCase):

    def setUp(self):
        super(TestEwsOutgoing, self).setUp()
        self.server = self.make_ews_server()
        self.rep = self.make_user('rep')
        self.rep.groups_id |= self.env.ref('base.group_partner_manager')
        self.box = self.make_ews_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        self.customer_address, _password = self.new_ews_account()
        self.customer = self.env['res.partner'].create({'name': 'Customer', 'email': self.customer_address})

    def post(self):
        return self.customer.sudo(self.rep).message_post(
            body='Our offer', subject='Offer', message_type='comment', subtype='mail.mt_comment',
            partner_ids=[self.customer.id])

    def contents(self, address, folder):
        return [email.message_from_bytes(item['mime']) for item in self.ews.store.contents(address, folder)]

    def test_sent_and_saved_in_one_request_and_the_reply_comes_back(self):
        message = self.post()
        self.box._run_cycle('outgoing')
        row = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)])
        self.assertEqual(row.state, 'sent')
        received = self.contents(self.customer_address, 'inbox')
        self.assertEqual([m['Message-ID'] for m in received], [message.message_id])
        self.assertEqual(email.utils.parseaddr(received[0]['From'])[1], self.box.email)
        self.assertEqual([m['Message-ID'] for m in self.contents(self.box.email, 'sentitems')],
                         [message.message_id])
        self.assertIn('CreateItem', self.calls(self.box.email))
        # The customer answers; the incoming sync puts the answer on the same record.
        self.ews.store.deliver(self.box.email, raw_mail(
            'Customer <%s>' % self.customer_address, 'Re: Offer', '<ews-answer@customer.test>',
            message.message_id, to=self.box.email), 'inbox')
        self.box._run_cycle('incoming')
        answer = self.env['mail.message'].search([('message_id', '=', '<ews-answer@customer.test>')])
        self.assertEqual((answer.model, answer.res_id, answer.parent_id),
                         ('res.partner', self.customer.id, message))

    def test_interrupted_sending_is_settled_from_sent_items(self):
        self.post()
        self.post()
        first, second = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)], order='id')
        self.box._run_cycle('outgoing')
        # As if a worker had died after the request of the first and before the second.
        first.state = second.state = 'submitting'
        self.ews.store.delete(self.ews.store.contents(self.box.email, 'sentitems')[-1]['id'])
        self.box._run_cycle('outgoing')
        self.assertEqual((first.state, second.state), ('sent', 'uncertain'))
        self.assertEqual(len(self.contents(self.customer_address, 'inbox')), 2, 'nothing sent again')
