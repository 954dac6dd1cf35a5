"""Moving a mailbox whose appointments, contacts and tasks sync with Exchange (EWS) to
Microsoft 365 (Graph) keeps its links: the EWS sync state is recognized as not Graph's,
the links' EWS item ids are translated (translateExchangeIds), and nothing is created
twice on either side."""
import datetime

import pytest

from .test_act_sync import ActCase
from .test_ews_incoming import CATEGORY, ews_on_class  # noqa: F401 (fixture)
from .test_graph_incoming import graph_on_class, graph_profile_values, new_graph_client  # noqa: F401

SCOPES = ('Mail.ReadWrite', 'Mail.Send', 'Contacts.ReadWrite', 'Tasks.ReadWrite', 'Calendars.ReadWrite')


@pytest.mark.usefixtures('graph_on_class')
class TestGraphActFromEws(ActCase):

    def test_switching_profile_keeps_the_links(self):
        partner = self.env['res.partner'].create({'name': 'Moving Contact', 'email': 'moving@acme.test',
                                                  'user_id': self.rep.id})
        due = datetime.date.today() + datetime.timedelta(days=3)
        activity = self.env['mail.activity'].create({
            'res_model_id': self.env['ir.model']._get('res.partner').id, 'res_id': partner.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id, 'user_id': self.rep.id,
            'summary': 'Moving task', 'date_deadline': due.isoformat()})
        self.sync()
        contact_link, task_link = self.linked(partner), self.linked(activity)
        self.assertTrue(contact_link.item_id and task_link.item_id)
        # The same mailbox seen through Graph: the same items under other ids.
        address = self.box.email
        self.graph.add_mailbox(address)
        graph_contact = self.graph.pim_create(address, 'contact', {
            'givenName': 'Moving', 'surname': 'Contact', 'displayName': 'Moving Contact', 'categories': [CATEGORY],
            'emailAddresses': [{'address': 'moving@acme.test', 'name': 'moving@acme.test'}]})
        graph_task = self.graph.pim_create(address, 'task', {
            'title': 'Moving task', 'categories': [CATEGORY], 'status': 'notStarted',
            'dueDateTime': {'dateTime': due.isoformat() + 'T00:00:00.0000000', 'timeZone': 'UTC'}})
        self.graph.map_exchange_id(address, contact_link.item_id, graph_contact)
        self.graph.map_exchange_id(address, task_link.item_id, graph_task)
        client_id, secret = new_graph_client(self.oauth, SCOPES)
        values = graph_profile_values(self.oauth, self.graph, client_id, secret)
        values['oauth_scopes'] = ' '.join(SCOPES)
        graph_profile = self.Server.sudo(self.manager).create(dict(values, name='M365', timeout=10))
        self.box.sudo(self.manager).server_id = graph_profile
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled', self.box.act_test_message)
        mark = len(self.graph.requests)
        for _ in range(2):
            self.sync()
        self.assertEqual((self.linked(partner).item_id, self.linked(partner).state), (graph_contact, 'linked'))
        self.assertEqual((self.linked(activity).item_id, self.linked(activity).state), (graph_task, 'linked'))
        self.assertEqual(self.env['res.partner'].search_count([('email', '=', 'moving@acme.test')]), 1)
        self.assertEqual(self.env['mail.activity'].search_count([('summary', '=', 'Moving task')]), 1)
        self.assertTrue(partner.active)
        created = [r for r in self.graph.requests[mark:] if r.mailbox == address.lower() and r.method == 'POST'
                   and 'translateExchangeIds' not in r.url]
        self.assertEqual(created, [], 'nothing created again in Microsoft 365')
        self.assertEqual((len(self.graph.pim_items(address, 'contact')), len(self.graph.pim_items(address, 'task'))),
                         (1, 1))
