"""Meeting cancellations with Microsoft 365, exactly one per attendee whoever sends the
invitations: Microsoft 365 when it sends them (Odoo none), Odoo when it does (Microsoft 365
none, since those meetings are in Outlook without attendees), for a meeting deleted in
Odoo or in Outlook (archived in Odoo by the sync, then possibly deleted)."""
from . import test_graph_act
from .test_graph_act import GraphActCase
from .test_graph_incoming import graph_on_class  # noqa: F401 (fixture)


class TestGraphCancellations(GraphActCase):

    # The helpers of the invitation tests (the class is not imported: collected once).
    odoo_meeting = test_graph_act.TestGraphInvitations.odoo_meeting
    microsoft_to = test_graph_act.TestGraphInvitations.microsoft_to
    guests = test_graph_act.TestGraphInvitations.guests

    def cancellations_from_odoo(self, partner, name='Pricing workshop'):
        return self.env['mail.mail'].sudo().search_count([
            '|', ('recipient_ids', 'in', partner.ids), ('email_to', 'ilike', partner.email),
            ('subject', '=', 'Cancelled: %s' % name)])

    def cancellations_from_microsoft(self, partner):
        return self.microsoft_to(partner.email).get('cancellation', 0)

    def test_odoo_sends_one_cancellation_per_attendee_for_a_meeting_deleted_in_odoo(self):
        self.server.sudo(self.manager).graph_invitations = 'odoo'
        guests = self.guests()
        meeting = self.odoo_meeting(guests)
        for _ in range(2):
            self.sync()
        item_id = self.linked(meeting).item_id
        meeting.sudo(self.rep).unlink()
        for _ in range(3):
            self.sync()
        self.assertFalse([i for i in self.outlook('event') if i['id'] == item_id], 'deleted in Outlook too')
        for partner in guests:
            self.assertEqual((self.cancellations_from_odoo(partner), self.cancellations_from_microsoft(partner)),
                             (1, 0), partner.email)
        self.assertEqual(self.cancellations_from_odoo(self.rep.partner_id), 0, 'not to the organizer')
        mail = self.env['mail.mail'].sudo().search([('subject', '=', 'Cancelled: Pricing workshop')], limit=1)
        self.assertIn(self.rep.email or '', mail.email_from or '')
        self.assertIn('Pricing workshop', mail.body_html)

    def test_odoo_sends_one_cancellation_per_attendee_for_a_meeting_deleted_in_outlook(self):
        self.server.sudo(self.manager).graph_invitations = 'odoo'
        guests = self.guests()
        meeting = self.odoo_meeting(guests, name='Outlook deletion')
        self.sync()
        self.graph.pim_delete(self.box.email, 'event', self.linked(meeting).item_id)
        for _ in range(2):
            self.sync()
        self.assertFalse(meeting.active, 'archived in Odoo')
        meeting.sudo(self.rep).unlink()  # and deleted later in Odoo: no second cancellation
        for partner in guests:
            self.assertEqual((self.cancellations_from_odoo(partner, 'Outlook deletion'),
                              self.cancellations_from_microsoft(partner)), (1, 0), partner.email)

    def test_microsoft_365_sends_the_cancellations_and_odoo_none(self):
        self.assertEqual(self.server.graph_invitations, 'microsoft')
        guests = self.guests()
        meeting = self.odoo_meeting(guests)
        self.sync()
        meeting.sudo(self.rep).unlink()
        for _ in range(2):
            self.sync()
        for partner in guests:
            self.assertEqual((self.cancellations_from_odoo(partner), self.cancellations_from_microsoft(partner)),
                             (0, 1), partner.email)

