"""A user's appointment/contact/task filters are data run with her rights (issue 13, item 2):
the text is a literal domain (no expression is evaluated, its size is bounded), the selection
runs as her (a colleague's private meeting never reaches her Exchange calendar), and Exchange
edits are written as her (a record she may not write is left alone, as a conflict)."""
import doctest
import xmlrpc.client

import pytest

from odoo.exceptions import ValidationError

from ..models.act import filter_domain
from .test_act_sync import ActCase, in_days, odoo_dt
from .test_ews_incoming import ews_on_class  # noqa: F401 (fixture)


def test_filter_parser_doctests():
    failures, tried = doctest.testmod(filter_domain)
    assert (failures, tried > 1) == (0, True)


def _refusal(http, login, password, text):
    """The Fault text a user gets for writing ``text`` as her own task filter over XML-RPC."""
    uid = http.rpc(login, password, 'res.users', 'search', [('login', '=', login)])[0]
    with pytest.raises(xmlrpc.client.Fault) as info:
        http.rpc(login, password, 'res.users', 'write', [uid], {'act_filter_task': text})
    return info.value.faultString


@pytest.fixture(scope='module')
def filter_user(odoo_http):
    admin = lambda model, method, *a, **k: odoo_http.rpc('admin', 'admin', model, method, *a, **k)
    group_user = admin('ir.model.data', 'xmlid_to_res_id', 'base.group_user')
    user = admin('res.users', 'create', {'name': 'Filter Fay', 'login': 'filter-fay',
                                         'password': 'filter-fay-pw', 'groups_id': [(6, 0, [group_user])]})
    try:
        yield odoo_http, user
    finally:
        admin('res.users', 'write', [user], {'active': False})


def test_rpc_an_expression_in_a_filter_is_refused_without_running(filter_user):
    http, user = filter_user
    fault = _refusal(http, 'filter-fay', 'filter-fay-pw', 'sum(range(4*10**7))')
    assert 'without calculations or calls' in fault and 'sum(...)' in fault
    for text in ("[('user_id', '=', user.sudo().id)]", "[('id', '=', 2**64)]",
                 "[('user_id', '=', __import__('os').getpid())]"):
        assert 'cannot be evaluated' in _refusal(http, 'filter-fay', 'filter-fay-pw', text), text
    row = http.rpc('filter-fay', 'filter-fay-pw', 'res.users', 'read', [user], ['act_filter_task'])[0]
    assert row['act_filter_task'] is False, 'nothing was stored'


def test_rpc_filter_size_is_bounded(filter_user):
    http, user = filter_user
    many = '[%s]' % ', '.join(["('user_id', '=', uid)"] * 51)
    assert 'too many conditions' in _refusal(http, 'filter-fay', 'filter-fay-pw', many)
    long_text = "[('name', 'ilike', '%s')]" % ('x' * 2000)
    assert 'too long' in _refusal(http, 'filter-fay', 'filter-fay-pw', long_text)
    # Within the bounds, with the names a filter may use, it is accepted.
    fine = '[%s]' % ', '.join(["('user_id', '=', uid)"] * 49 + ["('res_model', '!=', user.login)"])
    http.rpc('filter-fay', 'filter-fay-pw', 'res.users', 'write', [user], {'act_filter_task': fine})


class TestFiltersRunAsTheUser(ActCase):

    def setUp(self):
        super(TestFiltersRunAsTheUser, self).setUp()
        self.amy, self.amy_box, _amy_outlook = self.mapped_user('amy')
        self.bea, self.bea_box, self.bea_outlook = self.mapped_user('bea')

    def meeting(self, name, privacy):
        return self.Event.sudo(self.amy).create({
            'name': name, 'start': odoo_dt(in_days(4, 9)), 'stop': odoo_dt(in_days(4, 10)),
            'start_datetime': odoo_dt(in_days(4, 9)), 'stop_datetime': odoo_dt(in_days(4, 10)),
            'duration': 1.0, 'user_id': self.amy.id, 'partner_ids': [(6, 0, self.amy.partner_id.ids)],
            'privacy': privacy, 'description': 'Salary talk with the board'})

    def test_a_colleagues_private_meeting_never_reaches_her_calendar(self):
        private = self.meeting('Private one to one', 'private')
        public = self.meeting('Team lunch', 'public')
        self.bea.sudo(self.bea).write({'act_filter_appointment': "[('user_id', '=', %d)]" % self.amy.id})
        self.sync(self.bea_box)
        self.assertFalse(self.linked(private, self.bea_box), 'a private meeting she cannot read')
        self.assertTrue(self.linked(public, self.bea_box), 'a public meeting she can read')
        subjects = [item.subject for item in self.bea_outlook.calendar.all()]
        self.assertIn('Team lunch', subjects)
        self.assertNotIn('Private one to one', subjects)
        bodies = ' '.join(item.body or '' for item in self.bea_outlook.calendar.all())
        self.assertEqual(bodies.count('Salary talk'), 1, 'only the public meeting\'s body')

    def test_exchange_edits_are_not_written_as_superuser(self):
        # Bea (an ordinary employee) may read every contact but write none.
        partner = self.env['res.partner'].create({'name': 'Carl Buyer', 'email': 'carl@acme.test',
                                                  'function': 'Buyer', 'user_id': self.amy.id})
        self.bea.sudo(self.bea).write({'act_filter_contact': "[('user_id', '=', %d)]" % self.amy.id})
        self.sync(self.bea_box)
        link = self.linked(partner, self.bea_box)
        self.assertTrue(link, 'she can read it: it syncs to her Exchange')
        contact = self.bea_outlook.contacts.get(id=link.item_id)
        contact.job_title = 'Fired'
        contact.save(update_fields=['job_title'])
        stats = self.sync(self.bea_box)
        self.assertEqual(partner.function, 'Buyer', 'not written as superuser')
        self.assertEqual(stats['updated'], 0)
        conflict = self.env['mail.sync.conflict'].search([('link_id', '=', link.id)])
        self.assertEqual((conflict.field, conflict.winner, conflict.exchange_value),
                         ('job_title', 'odoo', 'Fired'))
        # Recorded once: the next cycle does not try again.
        self.sync(self.bea_box)
        self.assertEqual(len(self.env['mail.sync.conflict'].search([('link_id', '=', link.id)])), 1)
        self.assertEqual(partner.function, 'Buyer')
        # The same edit by a user who may write contacts goes through, as her.
        self.bea.sudo().write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        contact = self.bea_outlook.contacts.get(id=link.item_id)
        contact.job_title = 'Head Buyer'
        contact.save(update_fields=['job_title'])
        self.sync(self.bea_box)
        self.assertEqual(partner.function, 'Head Buyer')
        self.assertEqual(partner.write_uid, self.bea)

    def test_an_unknown_name_or_a_call_is_refused(self):
        for text in ("[('user_id', '=', user.env.uid)]", "[('user_id', '=', len('ab'))]",
                     "[('user_id', '=', 1 + 1)]"):
            with self.assertRaises(ValidationError, msg=text), self.cr.savepoint():
                self.bea.sudo(self.bea).write({'act_filter_task': text})
