"""Moving a mailbox from Exchange (EWS) to Microsoft 365 (Graph): the ledger carries over,
the EWS sync state is recognized as not Graph's, and the Inbox is read again with nothing
imported or fetched twice (known messages are matched by internetMessageId)."""
import pytest

from .test_ews_incoming import EwsCase, ews_on_class  # noqa: F401 (fixtures the cases use)
from .test_graph_incoming import _RUN, graph_on_class, graph_profile_values, new_graph_client  # noqa: F401
from .test_incoming import raw_mail


@pytest.mark.usefixtures('graph_on_class')
class TestGraphFromEws(EwsCase):

    def test_switching_profile_keeps_the_ledger(self):
        ews_profile = self.make_ews_server()
        rep = self.make_user('rep')
        box = self.make_ews_mailbox(rep, ews_profile)
        box.sudo(self.manager).action_test_enable()
        customer = self.env['res.partner'].create({'name': 'Customer', 'email': 'known@customer.test'})
        quote = customer.message_post(body='Quote', subject='Quote', message_type='comment')
        mails = [raw_mail('Stranger <s@unknown.test>', 'Re: Quote %d' % n, '<switch-%d-%s@unknown.test>' % (n, _RUN),
                          quote.message_id) for n in range(3)]
        for raw in mails:  # the same mailbox, seen through EWS and later through Graph
            self.ews.store.deliver(box.email, raw, 'inbox')
        self.assertEqual(box._sync_incoming()['imported'], 3)
        rows = self.env['mail.sync.ledger'].search([('mailbox_id', '=', box.id)], order='id')
        self.graph.add_mailbox(box.email)
        graph_ids = [self.graph.deliver(box.email, raw) for raw in mails]
        client_id, secret = new_graph_client(self.oauth)
        graph_profile = self.Server.sudo(self.manager).create(dict(
            graph_profile_values(self.oauth, self.graph, client_id, secret), name='M365', timeout=10))
        box.sudo(self.manager).server_id = graph_profile
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled', box.incoming_test_message)
        mark = len(self.graph.requests)
        stats = box._sync_incoming()
        self.assertEqual(stats, dict.fromkeys(('imported', 'linked', 'indexed', 'quarantined', 'remaining'), 0))
        self.assertFalse([r for r in self.graph.requests[mark:] if '$batch' in r.url or '$value' in r.url],
                         'nothing fetched again')
        self.assertEqual(self.env['mail.sync.ledger'].search([('mailbox_id', '=', box.id)], order='id'), rows)
        self.assertEqual(rows.mapped('item_id'), graph_ids)
        for n in range(3):
            self.assertEqual(self.env['mail.message'].search_count(
                [('message_id', '=', '<switch-%d-%s@unknown.test>' % (n, _RUN))]), 1)
        self.assertEqual(self.Log.search_count([('mailbox_id', '=', box.id), ('code', '=', 'sync_state_reset')]), 1)
