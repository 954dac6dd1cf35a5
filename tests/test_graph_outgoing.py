"""Outgoing email of a Microsoft 365 mailbox through Graph: one sendMail with the MIME
Odoo built (its Message-ID kept, so replies thread back), the copy in Sent Items saved
by the server, the reply coming back; an interrupted sending settled from Sent Items by
internetMessageId, never sent twice; a throttled sending is queued again, not lost."""
import email

from .test_graph_incoming import GraphCase, graph_on_class  # noqa: F401 (the fixture GraphCase uses)
from .test_incoming import raw_mail


class TestGraphOutgoing(GraphCase):

    def setUp(self):
        super(TestGraphOutgoing, self).setUp()
        self.server = self.make_graph_server()
        self.rep = self.make_user('rep')
        self.rep.groups_id |= self.env.ref('base.group_partner_manager')
        self.box = self.make_graph_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled', self.box.outgoing_test_message)
        self.box.sudo(self.manager).action_approve()
        self.customer_address = self.new_graph_address()
        self.customer = self.env['res.partner'].create({'name': 'Customer', 'email': self.customer_address})

    def post(self):
        return self.customer.sudo(self.rep).message_post(
            body='Our offer', subject='Offer', message_type='comment', subtype='mail.mt_comment',
            partner_ids=[self.customer.id])

    def message_ids(self, address, folder):
        return [mid for _id, mid, _c in self.graph.contents(address, folder)]

    def test_sent_with_odoo_message_id_copy_in_sent_items_and_reply_threads(self):
        message = self.post()
        mark = len(self.graph.requests)
        self.box._run_cycle('outgoing')
        row = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)])
        self.assertEqual(row.state, 'sent')
        sends = [r for r in self.requests_of(self.box.email, mark) if r.endswith('/sendMail')]
        self.assertEqual(len(sends), 1)
        self.assertEqual(self.message_ids(self.customer_address, 'inbox'), [message.message_id])
        self.assertEqual(self.message_ids(self.box.email, 'sentitems'), [message.message_id])
        raw = self.graph.store.sent[-1][1]
        self.assertEqual(email.utils.parseaddr(email.message_from_bytes(raw)['From'])[1], self.box.email)
        self.graph.deliver(self.box.email, raw_mail('Customer <%s>' % self.customer_address, 'Re: Offer',
                                                    '<graph-answer-%s@customer.test>' % self.box.id,
                                                    message.message_id, to=self.box.email))
        self.box._run_cycle('incoming')
        answer = self.env['mail.message'].search([('message_id', '=', '<graph-answer-%s@customer.test>'
                                                   % self.box.id)])
        self.assertEqual((answer.model, answer.res_id, answer.parent_id),
                         ('res.partner', self.customer.id, message))

    def test_interrupted_sending_is_settled_from_sent_items(self):
        self.post()
        self.post()
        first, second = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)], order='id')
        self.box._run_cycle('outgoing')
        # As if a worker had died after the request of the first and before the second.
        first.state = second.state = 'submitting'
        last = self.graph.contents(self.box.email, 'sentitems')[-1][0]
        self.graph.delete(self.box.email, last)
        self.box._run_cycle('outgoing')
        self.assertEqual((first.state, second.state), ('sent', 'uncertain'))
        self.assertEqual(len(self.message_ids(self.customer_address, 'inbox')), 2, 'nothing sent again')

    def test_throttled_sending_is_queued_again(self):
        self.post()
        self.graph.inject(429, retry_after=120, match='/sendMail')
        self.assertIsNone(self.box._run_cycle('outgoing'))
        row = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)])
        self.assertEqual((row.state, self.box.outgoing_status), ('queued', 'retrying'))
        self.assertEqual(self.message_ids(self.customer_address, 'inbox'), [])
        self.box._run_cycle('outgoing')
        self.assertEqual(row.state, 'sent')
        self.assertEqual(len(self.message_ids(self.customer_address, 'inbox')), 1)
