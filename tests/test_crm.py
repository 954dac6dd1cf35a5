"""Inside the CRM (crm is installed in the test database): email from the contact of an open
lead or opportunity is tracked onto it, and "Track as New Lead" turns an untracked email
into a lead, against the real Dovecot."""
import unittest

from odoo.exceptions import AccessError

from .common import MailSyncCase
from .test_incoming import raw_mail


class TestCrm(MailSyncCase):

    def setUp(self):
        super(TestCrm, self).setUp()
        if 'crm.lead' not in self.env:
            raise unittest.SkipTest('crm is not installed in this database')
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.rep.groups_id |= self.env.ref('sales_team.group_sale_salesman')
        self.rep.mail_sync_track = 'contacts'
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.Lead = self.env['crm.lead']
        # The same address is also a plain contact: the open opportunity wins.
        self.env['res.partner'].create({'name': 'Maria Lopez', 'email': 'maria@azure.test'})
        self.opportunity = self.Lead.create({
            'name': '12 office chairs', 'type': 'opportunity', 'contact_name': 'Maria Lopez',
            'email_from': 'Maria@Azure.test'})

    def sync(self, *mails):
        self.servers.dovecot.append_many(self.box.login, list(mails))
        self.box._sync_incoming()

    def row(self, message_id):
        return self.box.ledger_ids.filtered(lambda r: r.message_id == message_id)

    def test_email_from_an_open_opportunity_contact_lands_on_it(self):
        self.sync(raw_mail('Maria Lopez <maria@azure.test>', 'Chairs: delivery date', '<c1@azure.test>'))
        row = self.row('<c1@azure.test>')
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id),
                         ('imported', 'known_lead', 'crm.lead', self.opportunity.id))
        self.assertIn('Body of Chairs: delivery date', self.opportunity.message_ids[0].body)
        origin = row.mail_message_id.sudo().message_format()[0]['mail_sync_origin']
        self.assertEqual(origin, "Tracked from %s's mailbox: From the contact of an open lead or "
                                 "opportunity" % self.box.email)

    def test_closed_leads_are_not_followed(self):
        self.opportunity.write({'probability': 100})  # won
        lost = self.Lead.create({'name': 'Lost deal', 'email_from': 'lost@deal.test'})
        lost.action_set_lost()
        self.sync(raw_mail('Maria Lopez <maria@azure.test>', 'After the sale', '<c2@azure.test>'),
                  raw_mail('Lost <lost@deal.test>', 'Still interested?', '<c3@deal.test>'))
        won = self.row('<c2@azure.test>')
        self.assertEqual((won.track_reason, won.model), ('known_sender', 'res.partner'))
        self.assertEqual(self.row('<c3@deal.test>').state, 'indexed')

    def test_reply_without_a_to_header_still_reaches_its_thread(self):
        # crm's default alias has an empty name, which defeats Odoo's reply detection for
        # mail without a To header: the thread of the replied message is the fallback.
        customer = self.env['res.partner'].create({'name': 'No To', 'email': 'noto@customer.test'})
        quote = customer.message_post(body='Our quote', subject='Quote', message_type='comment')
        self.sync(b'Message-ID: <noto@customer.test>\r\nIn-Reply-To: ' + quote.message_id.encode() +
                  b'\r\nSubject: Re: Quote\r\n\r\nFine\r\n')
        row = self.row('<noto@customer.test>')
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id),
                         ('imported', 'reply', 'res.partner', customer.id), row.error)
        self.assertIn(row.mail_message_id, customer.message_ids)

    def test_only_the_exact_address_matches(self):
        self.Lead.create({'name': 'Lookalike', 'type': 'opportunity', 'email_from': 'joxann@under.test'})
        self.sync(raw_mail('Jo Ann <jo_ann@under.test>', 'Hello', '<u1@under.test>'))
        self.assertEqual(self.row('<u1@under.test>').state, 'indexed')

    def test_track_as_new_lead(self):
        self.sync(raw_mail('Nina Newcomer <nina@newco.test>', 'Quote for 30 desks', '<n1@newco.test>'))
        row = self.row('<n1@newco.test>').sudo(self.rep)
        self.assertEqual(row.state, 'indexed')
        self.assertTrue(row.can_create_lead)
        action = row.action_track_new_lead()
        lead = self.Lead.browse(action['res_id'])
        self.assertEqual((action['res_model'], lead.name, lead.contact_name, lead.email_from, lead.user_id),
                         ('crm.lead', 'Quote for 30 desks', 'Nina Newcomer', 'nina@newco.test', self.rep))
        self.assertEqual(lead.create_uid, self.rep, 'created with the user\'s own rights')
        # The lead opens at once; the email reaches it when the Track job ran.
        self.assertEqual((row.state, row.track_target_model, row.track_target_id), ('tracking', 'crm.lead', lead.id))
        self.assertEqual(self.run_jobs('mail_sync.track.%'), ['tracked 1, failed 0'])
        self.assertEqual((row.state, row.track_reason, row.model, row.res_id),
                         ('imported', 'manual', 'crm.lead', lead.id))
        self.assertEqual(row.mail_message_id.message_id, '<n1@newco.test>')
        self.assertIn(row.mail_message_id, lead.message_ids)
        # The next email of the same sender follows the lead.
        self.sync(raw_mail('Nina Newcomer <nina@newco.test>', 'Also 30 chairs', '<n2@newco.test>'))
        self.assertEqual((self.row('<n2@newco.test>').model, self.row('<n2@newco.test>').res_id),
                         ('crm.lead', lead.id))

    def test_track_as_new_lead_is_for_the_owner_with_crm_rights(self):
        self.sync(raw_mail('Olga Other <olga@other.test>', 'Hello', '<o1@other.test>'))
        row = self.row('<o1@other.test>')
        stranger = self.make_user('stranger')
        stranger.groups_id |= self.env.ref('sales_team.group_sale_salesman')
        with self.assertRaises(AccessError):
            row.sudo(stranger).action_track_new_lead()
        self.rep.groups_id -= self.env.ref('sales_team.group_sale_salesman') | \
            self.env.ref('sales_team.group_sale_salesman_all_leads') | \
            self.env.ref('sales_team.group_sale_manager')
        self.assertFalse(row.sudo(self.rep).can_create_lead)
        with self.assertRaises(AccessError):
            row.sudo(self.rep).action_track_new_lead()
        self.assertEqual((row.state, self.Lead.search_count([('email_from', '=', 'olga@other.test')])),
                         ('indexed', 0))
