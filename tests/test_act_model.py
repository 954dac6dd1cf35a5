"""Appointments, contacts and tasks: the Odoo-side model (links, field mapping, conflicts,
filters), its access rules, and the canonical JSON that links store."""
import datetime
import doctest

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, ValidationError
from odoo.tools import mute_logger

from ..models.mail_sync_field_map import FIELD_GROUPS
from ..sync import canonical_json
from .common import MailSyncCase

UTC = datetime.timezone.utc
EWS_URL = 'https://mail.example.test/EWS/Exchange.asmx'


class TestActModel(MailSyncCase):

    def setUp(self):
        super(TestActModel, self).setUp()
        self.Link = self.env['mail.sync.link']
        self.Conflict = self.env['mail.sync.conflict']
        self.FieldMap = self.env['mail.sync.field.map']
        self.exchange = self.Server.sudo(self.manager).create({
            'name': 'Exchange', 'server_type': 'exchange', 'ews_locate': 'url', 'ews_url': EWS_URL})
        self.alice = self.make_user('alice')
        self.bob = self.make_user('bob')
        self.box_a = self.Mailbox.sudo(self.manager).create({
            'user_id': self.alice.id, 'server_id': self.exchange.id, 'email': 'alice@exchange.test',
            'password': 'pw-a', 'act_enabled': True})
        self.box_b = self.Mailbox.sudo(self.manager).create({
            'user_id': self.bob.id, 'server_id': self.exchange.id, 'email': 'bob@exchange.test',
            'password': 'pw-b', 'act_enabled': True})

    def _link(self, mailbox, item_id, **values):
        partner = self.env['res.partner'].create({'name': 'Contact %s' % item_id})
        vals = {'mailbox_id': mailbox.id, 'kind': 'contact', 'res_model': 'res.partner',
                'res_id': partner.id, 'item_id': item_id}
        vals.update(values)
        return self.Link.sudo().create(vals)

    # ------------------------------------------------------------------ field mapping
    def test_field_map_defaults_are_every_field_both_ways(self):
        rows = self.FieldMap.search([])
        self.assertEqual({(row.kind, row.field) for row in rows},
                         {(kind, group) for kind, groups in FIELD_GROUPS.items() for group in groups})
        self.assertEqual(set(rows.mapped('direction')), {'both'})
        appointment = self.FieldMap._directions('appointment')
        self.assertEqual(set(appointment), {
            'subject', 'start', 'end', 'all_day', 'timezone', 'recurrence', 'location', 'body',
            'attendees', 'organizer', 'show_as', 'importance'})
        self.assertEqual(set(self.FieldMap._directions('contact')), {
            'first_name', 'last_name', 'display_name', 'company', 'job_title', 'email', 'email2',
            'email3', 'phone', 'mobile', 'home_phone', 'street', 'city', 'state', 'zip', 'country'})
        self.assertEqual(self.FieldMap._directions('task'), dict.fromkeys(
            ('subject', 'due', 'start', 'status', 'percent', 'notes'), 'both'))
        with self.assertRaises(ValueError):
            self.FieldMap._directions('email')

    def test_directions_expand_grouped_rows(self):
        time_row = self.env.ref('mail_sync.field_map_appointment_time')
        address_row = self.env.ref('mail_sync.field_map_contact_address')
        time_row.sudo(self.manager).direction = 'to_odoo'
        address_row.sudo(self.manager).direction = 'none'
        self.env.ref('mail_sync.field_map_task_status').sudo(self.manager).direction = 'to_exchange'
        appointment = self.FieldMap.sudo(self.alice)._directions('appointment')
        self.assertEqual({name: appointment[name] for name in ('start', 'end', 'all_day', 'timezone')},
                         dict.fromkeys(('start', 'end', 'all_day', 'timezone'), 'to_odoo'))
        self.assertEqual(appointment['subject'], 'both')
        contact = self.FieldMap._directions('contact')
        self.assertEqual([contact[name] for name in ('street', 'city', 'state', 'zip', 'country')],
                         ['none'] * 5)
        self.assertEqual(contact['email'], 'both')
        self.assertEqual(self.FieldMap._directions('task')['status'], 'to_exchange')

    def test_field_map_managers_edit_users_read(self):
        row = self.env.ref('mail_sync.field_map_contact_email')
        self.assertEqual(row.sudo(self.alice).read(['direction'])[0]['direction'], 'both')
        with self.assertRaises(AccessError):
            row.sudo(self.alice).write({'direction': 'none'})
        with self.assertRaises(AccessError):
            self.FieldMap.sudo(self.manager).create({'kind': 'contact', 'field': 'email', 'name': 'x'})
        with self.assertRaises(AccessError):
            row.sudo(self.manager).unlink()
        row.sudo(self.manager).write({'direction': 'to_exchange'})
        self.assertEqual(self.FieldMap._directions('contact')['email'], 'to_exchange')
        with self.assertRaises(ValidationError):
            self.FieldMap.create({'kind': 'task', 'field': 'no_such_field', 'name': 'Nope'})
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'), self.cr.savepoint():
            self.FieldMap.create({'kind': 'task', 'field': 'notes', 'name': 'Twice'})

    # ------------------------------------------------------------------ filters
    def test_profile_filters_evaluate_with_the_mailbox_user(self):
        self.assertEqual(self.box_a._act_domain('appointment'), [
            '|', ('user_id', '=', self.alice.id), ('partner_ids', 'in', [self.alice.partner_id.id])])
        self.assertEqual(self.box_b._act_domain('contact'), [('user_id', '=', self.bob.id)])
        self.assertEqual(self.box_a._act_domain('task'), [('user_id', '=', self.alice.id)])
        self.assertEqual(self.exchange.act_conflict_rule, 'recent')
        # The evaluated domain selects the meeting bob organizes and alice attends, for both.
        now = datetime.datetime(2030, 1, 7, 9, 0)
        meeting = self.env['calendar.event'].sudo(self.bob).create({
            'name': 'Planning', 'start': str(now), 'stop': str(now + datetime.timedelta(hours=1)),
            'partner_ids': [(6, 0, [self.alice.partner_id.id, self.bob.partner_id.id])]})
        other = self.env['calendar.event'].sudo(self.manager).create({
            'name': 'Not theirs', 'start': str(now), 'stop': str(now + datetime.timedelta(hours=1)),
            'partner_ids': [(6, 0, [self.manager.partner_id.id])]})
        Event = self.env['calendar.event']
        for box in (self.box_a, self.box_b):
            found = Event.search(box._act_domain('appointment') + [('id', 'in', (meeting + other).ids)])
            self.assertEqual(found, meeting)

    def test_user_override_applies_to_that_user_only(self):
        self.alice.sudo(self.alice).write({'act_filter_contact': "[('user_id', '=', user.id), ('customer', '=', True)]"})
        self.assertEqual(self.box_a._act_domain('contact'),
                         ['&', ('user_id', '=', self.alice.id), ('customer', '=', True)])
        self.assertEqual(self.box_b._act_domain('contact'), [('user_id', '=', self.bob.id)])
        # Emptied again: back to the profile's filter.
        self.alice.sudo(self.alice).write({'act_filter_contact': False})
        self.assertEqual(self.box_a._act_domain('contact'), [('user_id', '=', self.alice.id)])
        # A profile change reaches every mailbox without an override.
        self.exchange.sudo(self.manager).act_filter_task = "[('user_id', 'in', [user.id, uid])]"
        self.assertEqual(self.box_b._act_domain('task'), [('user_id', 'in', [self.bob.id, self.bob.id])])

    def test_broken_filters_are_refused_with_a_clear_error(self):
        broken = {
            "[('user_id', '=', user.idd)]": 'cannot be evaluated',
            "[('no_such_field', '=', 1)]": 'not a valid domain',
            "[('user_id', '=', user.id)": 'cannot be evaluated',
            "'user_id'": 'must be a domain',
            "[('user_id', 'is like', 1)]": 'not a valid domain',
        }
        for text, message in broken.items():
            with self.assertRaises(ValidationError) as caught, self.cr.savepoint():
                self.exchange.sudo(self.manager).write({'act_filter_task': text})
            self.assertIn(message, caught.exception.name, text)
            self.assertIn('task filter', caught.exception.name)
        self.exchange.invalidate_cache()
        self.assertEqual(self.exchange.act_filter_task, "[('user_id', '=', user.id)]")
        with self.assertRaises(ValidationError), self.cr.savepoint():
            self.alice.sudo(self.alice).write({'act_filter_appointment': "[('partner_ids', 'in', user)]"})
        self.alice.invalidate_cache()
        self.assertFalse(self.alice.act_filter_appointment)
        # A filter broken behind the constraint's back fails loudly at sync time, not silently.
        self.cr.execute("UPDATE mail_sync_server SET act_filter_contact = %s WHERE id = %s",
                        ["[('user_id', '=', user.nope)]", self.exchange.id])
        self.exchange.invalidate_cache()
        with self.assertRaises(ValidationError):
            self.box_b._act_domain('contact')
        onchange = self.exchange.new({'act_filter_contact': "[('nope', '=', 1)]"})._onchange_act_filters()
        self.assertIn('contact filter', onchange['warning']['message'])

    def test_filters_cannot_reach_the_environment(self):
        """Users write their own filters: evaluating one must not hand out records or modules."""
        attempts = [
            "[('id', '=', user.env.uid)]",
            "[('id', '=', user.sudo().id)]",
            "[('id', '=', user.partner_id.write({'name': 'pwned'}))]",
            "[('id', '=', datetime.sys.platform)]",
        ]
        for text in attempts:
            with self.assertRaises(ValidationError, msg=text), self.cr.savepoint():
                self.alice.sudo(self.alice).write({'act_filter_task': text})
        self.assertEqual(self.alice.partner_id.name, 'Alice')
        # ...while the documented names work (a filter is a literal: dates are written out).
        self.alice.sudo(self.alice).write({'act_filter_task': (
            "[('user_id', '=', uid), ('date_deadline', '>=', '2029-12-31'), "
            "('res_model', '!=', user.login)]")})
        self.assertEqual(self.box_a._act_domain('task'), [
            '&', '&', ('user_id', '=', self.alice.id), ('date_deadline', '>=', '2029-12-31'),
            ('res_model', '!=', self.alice.login)])

    def test_users_set_their_own_filters_in_preferences(self):
        text = "[('user_id', '=', user.id), ('date_deadline', '>=', '2030-01-01')]"
        self.alice.sudo(self.alice).write({'act_filter_task': text})
        data = self.alice.sudo(self.alice).read(['act_filter_task', 'mail_sync_act'])[0]
        self.assertEqual((data['act_filter_task'], data['mail_sync_act']), (text, True))
        # The Preferences dialog shows the filters, and she can read all it shows.
        Users = self.env['res.users'].sudo(self.alice)
        view = Users.fields_view_get(view_id=self.env.ref('base.view_users_form_simple_modif').id)
        act_fields = {'act_filter_appointment', 'act_filter_contact', 'act_filter_task', 'mail_sync_act'}
        self.assertTrue(act_fields <= set(view['fields']))
        self.assertEqual(Users.browse(self.alice.id).read(list(view['fields']))[0]['act_filter_task'], text)
        with self.assertRaises(AccessError):
            self.bob.sudo(self.alice).write({'act_filter_task': text})
        with self.assertRaises(AccessError):
            self.exchange.sudo(self.alice).write({'act_filter_task': text})
        # The flag that shows the section: an Exchange mailbox with the channel on.
        imap_user = self.make_user('carol')
        imap = self.Server.sudo(self.manager).create({
            'name': 'IMAP', 'server_type': 'imap', 'incoming_host': 'localhost'})
        self.Mailbox.sudo(self.manager).create({'user_id': imap_user.id, 'server_id': imap.id,
                                                'email': 'carol@imap.test'})
        self.assertFalse(imap_user.sudo(imap_user).mail_sync_act)
        self.box_a.act_enabled = False
        self.alice.invalidate_cache()
        self.assertFalse(self.alice.sudo(self.alice).mail_sync_act)

    # ------------------------------------------------------------------ links and conflicts
    def test_users_read_only_their_own_links_and_conflicts(self):
        link_a, link_b = self._link(self.box_a, 'AAA='), self._link(self.box_b, 'BBB=')
        conflict_a = self.Conflict._record(link_a, 'email', 'a@odoo.test', 'a@exchange.test', 'odoo', 'odoo')
        conflict_b = self.Conflict._record(link_b, 'email', 'b@odoo.test', 'b@exchange.test',
                                          'exchange', 'recent')
        self.assertEqual(self.Link.sudo(self.alice).search([]), link_a)
        self.assertEqual(self.Conflict.sudo(self.alice).search([]), conflict_a)
        self.assertEqual(self.Conflict.sudo(self.bob).search([]), conflict_b)
        for record in (link_b, conflict_b):
            with self.assertRaises(AccessError):
                record.sudo(self.alice).read(['kind'])
        with self.assertRaises(AccessError):
            conflict_a.sudo(self.alice).write({'winner': 'exchange'})
        with self.assertRaises(AccessError):
            link_a.sudo(self.alice).write({'change_key': 'x'})
        self.assertEqual(self.Link.sudo(self.manager).search([('id', 'in', (link_a + link_b).ids)]),
                         link_a + link_b)
        self.assertEqual(self.Conflict.sudo(self.manager).search([]), conflict_a + conflict_b)
        # What the user sees of their conflict.
        data = conflict_a.sudo(self.alice).read(['user_id', 'field_label', 'odoo_value', 'exchange_value',
                                                 'record_name', 'winner'])[0]
        self.assertEqual(data['user_id'][0], self.alice.id)
        self.assertEqual((data['field_label'], data['odoo_value'], data['exchange_value'],
                          data['record_name'], data['winner']),
                         ('Email', 'a@odoo.test', 'a@exchange.test', 'Contact AAA=', 'odoo'))
        # My Sync Conflicts is reachable by a plain user.
        menu = self.env.ref('mail_sync.menu_mail_sync_my_conflicts')
        self.assertIn(menu.id, self.env['ir.ui.menu'].sudo(self.alice)._visible_menu_ids())

    def test_conflict_values_are_readable_text(self):
        link = self._link(self.box_a, 'CCC=', kind='appointment')
        start = datetime.datetime(2030, 3, 3, 9, 30, tzinfo=UTC)
        conflict = self.Conflict._record(
            link, 'attendees', (('ann@example.com', 'Ann', 'required'),),
            (('bob@example.com', 'Bob', 'optional'),), 'exchange', 'recent')
        self.assertEqual(conflict.odoo_value, 'ann@example.com; Ann; required')
        self.assertEqual(conflict.field_label, 'Attendees')
        conflict = self.Conflict._record(link, 'start', start, None, 'odoo', 'odoo')
        self.assertEqual((conflict.odoo_value, conflict.exchange_value), ('2030-03-03 09:30:00 UTC', False))
        self.assertEqual(conflict.field_label, 'Start, End, All Day, Time Zone and Recurrence (start)')

    def test_link_item_unique_per_mailbox(self):
        self._link(self.box_a, 'SAME=')
        self._link(self.box_b, 'SAME=')  # another mailbox may have the same id
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'), self.cr.savepoint():
            self._link(self.box_a, 'SAME=')
        self.cr.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'mail_sync_link_res_idx'")
        self.assertIn('(res_model, res_id)', self.cr.fetchone()[0])

    # ------------------------------------------------------------------ canonical JSON
    def test_canonical_json_doctests(self):
        failures, tried = doctest.testmod(canonical_json)
        self.assertGreater(tried, 10)
        self.assertEqual(failures, 0)

    def test_link_base_round_trip(self):
        link = self._link(self.box_a, 'DDD=', kind='appointment')
        self.assertEqual(link._get_base('local'), {})
        values = {
            'subject': 'Review', 'all_day': False, 'show_as': 'busy', 'body': '',
            'start': datetime.datetime(2030, 3, 3, 15, 0, tzinfo=UTC),
            'end': datetime.datetime(2030, 3, 3, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-6))),
            'attendees': (('ann@example.com', 'Ann', 'required'), ('bob@example.com', 'Bob', 'optional')),
            'recurrence': {'freq': 'weekly', 'interval': 2, 'weekdays': ('MO',),
                           'start': datetime.date(2030, 3, 3), 'count': None, 'until': datetime.date(2030, 6, 1)},
        }
        link._set_base('remote', values)
        link._set_base('local', {'due': datetime.date(2030, 2, 28), 'percent': 50.0})
        link.invalidate_cache()
        remote = link._get_base('remote')
        self.assertEqual(remote, values)
        self.assertEqual(remote['end'], datetime.datetime(2030, 3, 3, 16, 0, tzinfo=UTC))
        self.assertIs(type(remote['recurrence']['start']), datetime.date)
        self.assertIsInstance(remote['attendees'][0], tuple)
        self.assertEqual(link._get_base('local'), {'due': datetime.date(2030, 2, 28), 'percent': 50.0})
        # Deterministic text: the same values store the same text, whatever the key order.
        text = link.base_remote
        link._set_base('remote', dict(reversed(list(values.items()))))
        self.assertEqual(link.base_remote, text)
        with self.assertRaises(ValueError):
            link._set_base('remote', {'start': datetime.datetime(2030, 3, 3, 15, 0)})
        with self.assertRaises(ValueError):
            link._get_base('odoo')

    # ------------------------------------------------------------------ other fields
    def test_new_fields_and_folder_roles(self):
        roles = dict(self.env['mail.sync.folder']._fields['role'].selection)
        self.assertTrue({'inbox', 'sent', 'calendar', 'contacts', 'tasks'} <= set(roles))
        self.assertEqual((self.box_a.act_next_sync, self.box_a.act_failures, self.box_a.act_last_success),
                         (False, 0, False))
        now = datetime.datetime(2030, 1, 7, 9, 0)
        event = self.env['calendar.event'].create({
            'name': 'x', 'start': str(now), 'stop': str(now + datetime.timedelta(hours=1))})
        self.assertEqual(event.mail_sync_importance, 'normal')
        activity = self.env['mail.activity'].create({
            'res_id': self.alice.partner_id.id,
            'res_model_id': self.env.ref('base.model_res_partner').id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id,
            'user_id': self.alice.id, 'summary': 'Call'})
        self.assertEqual((activity.mail_sync_status, activity.mail_sync_percent), ('NotStarted', 0.0))
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'), self.cr.savepoint():
            activity.write({'mail_sync_percent': 120.0})
