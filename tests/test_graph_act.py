"""Appointments, contacts and tasks two ways with Microsoft 365 through Microsoft Graph
(our Graph endpoint over HTTPS, app-only OAuth at the OAuth test server): Outlook is
played by the endpoint's own store (as a user editing in Outlook), Odoo by the ORM;
the channel's cycle runs in between. The cycle is the one of Exchange (EWS): only the
item source differs (sync/graph_items.py)."""
import datetime

from .test_act_sync import ActCase, create_odoo_event, in_days, odoo_dt
from .test_graph_incoming import CATEGORY, GraphCase, graph_on_class  # noqa: F401 (fixture)

SCOPES = ('Mail.ReadWrite', 'Mail.Send', 'Contacts.ReadWrite', 'Tasks.ReadWrite', 'Calendars.ReadWrite')
WRITES = ('POST', 'PATCH', 'DELETE')


def graph_time(value, tz='UTC'):
    return {'dateTime': value.strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': tz}


class GraphActCase(GraphCase):
    """An enabled Microsoft 365 mailbox with the appointments, contacts and tasks channel on."""

    sync = ActCase.sync
    edit = ActCase.edit
    sql_writes = ActCase.sql_writes
    linked = ActCase.linked

    def setUp(self):
        super(GraphActCase, self).setUp()
        self.server = self.make_graph_server(scopes=SCOPES)
        self.rep, self.box = self.mapped_user('rep')
        self.Event = self.env['calendar.event'].with_context(no_mail_to_attendees=True, virtual_id=False)
        self.Link = self.env['mail.sync.link']

    def mapped_user(self, name, tz='Europe/Brussels'):
        user = self.make_user(name)
        user.tz = tz
        box = self.make_graph_mailbox(user, self.server, act_enabled=True)
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled', box.act_test_message)
        return user, box

    def writes(self, box=None):
        """Graph requests of ``box`` that change something."""
        address = (box or self.box).email.lower()
        return [r for r in self.graph.requests if r.mailbox == address and r.method in WRITES]

    def outlook(self, kind, box=None):
        """The items of a kind in the mailbox, as Outlook shows them (Graph JSON)."""
        return self.graph.pim_items((box or self.box).email, kind)

    def outlook_item(self, kind, item_id, box=None):
        return [i for i in self.outlook(kind, box) if i['id'] == item_id][0]

    def assert_idle(self, links):
        """Two more cycles: no SQL write in Odoo, no write in Microsoft 365."""
        graph_writes, change_keys = len(self.writes()), links.mapped('change_key')
        with self.sql_writes() as writes:
            for _ in range(2):
                self.sync()
        self.assertEqual(writes, [], 'no Odoo write when idle')
        self.assertEqual((len(self.writes()), links.mapped('change_key')), (graph_writes, change_keys),
                         'no Microsoft 365 write when idle')


class TestGraphContactsAndTasks(GraphActCase):

    def test_contacts_both_ways_and_an_outlook_deletion_archives(self):
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        partner = self.env['res.partner'].create({
            'name': 'Anna Smith', 'email': 'anna@acme.test', 'phone': '+1 555 0100', 'function': 'Buyer',
            'city': 'Regina', 'user_id': self.rep.id})
        other = self.env['res.partner'].create({'name': 'Not Mine', 'email': 'x@acme.test'})
        self.sync()
        self.assertFalse(self.linked(other), 'outside the user\'s filter')
        contact = self.outlook_item('contact', self.linked(partner).item_id)
        self.assertEqual((contact['givenName'], contact['surname'], contact['jobTitle']), ('Anna', 'Smith', 'Buyer'))
        self.assertEqual((contact['emailAddresses'][0]['address'], contact['businessPhones'],
                          contact['businessAddress']['city']), ('anna@acme.test', ['+1 555 0100'], 'Regina'))
        self.assertIn(CATEGORY, contact['categories'])
        self.graph.pim_update(self.box.email, 'contact', contact['id'], {'jobTitle': 'Head of Purchasing'})
        self.sync()
        self.assertEqual(partner.function, 'Head of Purchasing')
        mine = self.graph.pim_create(self.box.email, 'contact', {
            'givenName': 'Bo', 'surname': 'Lee', 'displayName': 'Bo Lee', 'categories': [CATEGORY],
            'emailAddresses': [{'address': 'bo@lee.test', 'name': 'Bo Lee'}]})
        self.graph.pim_create(self.box.email, 'contact', {'displayName': 'Private Friend',
                                                          'emailAddresses': [{'address': 'friend@home.test'}]})
        self.sync()
        bo = self.env['res.partner'].search([('email', '=', 'bo@lee.test')])
        self.assertEqual((bo.name, bo.user_id), ('Bo Lee', self.rep))
        self.assertFalse(self.env['res.partner'].search([('email', '=', 'friend@home.test')]),
                         'a contact not tracked in Outlook stays out of Odoo')
        self.graph.pim_delete(self.box.email, 'contact', mine)
        self.sync()
        self.assertFalse(bo.active, 'archived, not deleted')
        self.assertEqual(self.linked(bo).state, 'archived')

    def test_tasks_both_ways_and_completion_in_outlook(self):
        lead_partner = self.env['res.partner'].create({'name': 'Acme'})
        due = datetime.date.today() + datetime.timedelta(days=4)
        activity = self.env['mail.activity'].create({
            'res_model_id': self.env['ir.model']._get('res.partner').id, 'res_id': lead_partner.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id, 'user_id': self.rep.id,
            'summary': 'Send the quote', 'date_deadline': due.isoformat(), 'note': '<p>With discount</p>'})
        self.sync()
        task = self.outlook_item('task', self.linked(activity).item_id)
        self.assertEqual((task['title'], task['dueDateTime']['dateTime'][:10], task['status']),
                         ('Send the quote', due.isoformat(), 'notStarted'))
        self.assertIn('With discount', task['body']['content'])
        self.graph.pim_create(self.box.email, 'task', {
            'title': 'Call back Bo', 'categories': [CATEGORY], 'status': 'notStarted',
            'dueDateTime': {'dateTime': due.isoformat() + 'T00:00:00.0000000', 'timeZone': 'UTC'}})
        self.sync()
        created = self.env['mail.activity'].search([('summary', '=', 'Call back Bo')])
        self.assertEqual((created.user_id, created.date_deadline), (self.rep, due.isoformat()))
        self.edit(activity, {'summary': 'Send the quote today'})
        self.sync()
        self.assertEqual(self.outlook_item('task', task['id'])['title'], 'Send the quote today')
        self.graph.pim_update(self.box.email, 'task', task['id'], {'status': 'completed'})
        self.sync()
        self.assertFalse(activity.exists(), 'completed in Outlook: done in Odoo')
        self.assertTrue(self.env['mail.message'].search([
            ('model', '=', 'res.partner'), ('res_id', '=', lead_partner.id), ('mail_activity_type_id', '!=', False)]))

    def test_concurrent_edits_most_recent_wins_and_the_loser_is_kept(self):
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        partner = self.env['res.partner'].create({'name': 'Carl Conflict', 'email': 'carl@acme.test',
                                                  'function': 'Buyer', 'user_id': self.rep.id})
        self.sync()
        item_id = self.linked(partner).item_id
        partner.sudo(self.rep).write({'function': 'Odoo title'})
        self.env.cr.execute("UPDATE res_partner SET write_date = now() at time zone 'UTC' - interval '1 hour' "
                            "WHERE id = %s", [partner.id])
        partner.invalidate_cache()
        self.graph.pim_update(self.box.email, 'contact', item_id, {'jobTitle': 'Outlook title'})
        self.sync()
        self.assertEqual(partner.function, 'Outlook title', 'the later change (Outlook) wins')
        conflict = self.env['mail.sync.conflict'].sudo(self.rep).search([('res_id', '=', partner.id)])
        self.assertEqual((conflict.field, conflict.odoo_value, conflict.winner),
                         ('job_title', 'Odoo title', 'exchange'))
        self.assertEqual(self.outlook_item('contact', item_id)['jobTitle'], 'Outlook title')

    def test_field_direction_is_honoured(self):
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        self.env['mail.sync.field.map'].search([('kind', '=', 'contact'), ('field', '=', 'job_title')]).write(
            {'direction': 'to_odoo'})
        partner = self.env['res.partner'].create({'name': 'Dora Direction', 'email': 'dora@acme.test',
                                                  'function': 'Buyer', 'user_id': self.rep.id})
        self.sync()
        item_id = self.linked(partner).item_id
        self.assertFalse(self.outlook_item('contact', item_id).get('jobTitle'),
                         'a field that flows only to Odoo is not written to Microsoft 365')
        self.graph.pim_update(self.box.email, 'contact', item_id, {'jobTitle': 'From Outlook'})
        self.sync()
        self.assertEqual(partner.function, 'From Outlook')

    def test_odoo_archiving_unlinks_and_deletes_nothing_in_outlook(self):
        partner = self.env['res.partner'].create({'name': 'Gone Soon', 'email': 'gone@acme.test',
                                                  'user_id': self.rep.id})
        self.sync()
        item_id = self.linked(partner).item_id
        partner.active = False
        self.sync()
        self.assertEqual(self.linked(partner).state, 'unlinked')
        self.assertTrue(self.outlook_item('contact', item_id), 'a contact stays in Outlook')

    def test_idle_cycles_write_nothing_on_either_side(self):
        partner = self.env['res.partner'].create({'name': 'Idle Contact', 'email': 'idle@acme.test',
                                                  'user_id': self.rep.id})
        self.env['mail.activity'].create({
            'res_model_id': self.env['ir.model']._get('res.partner').id, 'res_id': partner.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id, 'user_id': self.rep.id,
            'summary': 'Idle task', 'date_deadline': (datetime.date.today() + datetime.timedelta(days=2)).isoformat()})
        self.graph.pim_create(self.box.email, 'contact', {'givenName': 'Tagged', 'surname': 'Person',
                                                          'displayName': 'Tagged Person', 'categories': [CATEGORY]})
        start = in_days(6, 9)
        self.graph.pim_create(self.box.email, 'event', {
            'subject': 'Idle meeting', 'categories': [CATEGORY], 'start': graph_time(start),
            'end': graph_time(start + datetime.timedelta(hours=1))})
        self.sync()
        links = self.Link.search([('mailbox_id', '=', self.box.id)])
        self.assertEqual(len(links), 4)
        self.assert_idle(links)


class TestGraphAppointments(GraphActCase):

    odoo_event = create_odoo_event

    def test_events_both_ways_deletions_and_no_invitation(self):
        event = self.odoo_event()
        self.sync()
        item = self.outlook_item('event', self.linked(event).item_id)
        self.assertEqual((item['subject'], item['location']['displayName'], item['start']['dateTime'][:16]),
                         ('Visit Acme', 'Their office', odoo_dt(in_days(5, 9)).replace(' ', 'T')[:16]))
        self.assertEqual(item['originalStartTimeZone'], 'Europe/Brussels', 'written in the user\'s time zone')
        self.graph.pim_update(self.box.email, 'event', item['id'], {'location': {'displayName': 'Moved to HQ'}})
        self.sync()
        self.assertEqual(event.location, 'Moved to HQ')
        start = in_days(8, 14)
        outlook = self.graph.pim_create(self.box.email, 'event', {
            'subject': 'Tracked demo', 'categories': [CATEGORY], 'start': graph_time(start),
            'end': graph_time(start + datetime.timedelta(hours=1))})
        self.sync()
        demo = self.Event.search([('name', '=', 'Tracked demo')])
        self.assertEqual(demo.start_datetime, odoo_dt(start))
        self.graph.pim_delete(self.box.email, 'event', outlook)
        self.sync()
        self.assertFalse(demo.active, 'deleted in Outlook: archived in Odoo')
        item_id = self.linked(event).item_id
        event.unlink()
        self.sync()
        self.assertFalse([i for i in self.outlook('event') if i['id'] == item_id],
                         'a future appointment the user organizes is deleted')
        self.assertEqual(self.graph.invitations(self.box.email), [], 'no attendees: nothing sent')

    def test_all_day_events_keep_their_date_at_utc_minus_6_and_plus_13(self):
        day = datetime.date.today() + datetime.timedelta(days=10)
        for name, tz in (('regina', 'America/Regina'), ('tonga', 'Pacific/Tongatapu')):
            user, box = self.mapped_user(name, tz=tz)
            event = self.Event.sudo(user).create({
                'name': 'Fair %s' % name, 'allday': True, 'start': day.isoformat(), 'stop': day.isoformat(),
                'start_date': day.isoformat(), 'stop_date': day.isoformat(), 'user_id': user.id})
            self.sync(box)
            item = self.outlook_item('event', self.linked(event, box).item_id, box)
            self.assertEqual((item['isAllDay'], item['start']['dateTime'][:10], item['end']['dateTime'][:10]),
                             (True, day.isoformat(), (day + datetime.timedelta(days=1)).isoformat()))
            self.graph.pim_create(box.email, 'event', {
                'subject': 'Holiday %s' % name, 'categories': [CATEGORY], 'isAllDay': True,
                'start': {'dateTime': day.isoformat() + 'T00:00:00', 'timeZone': tz},
                'end': {'dateTime': (day + datetime.timedelta(days=1)).isoformat() + 'T00:00:00', 'timeZone': tz}})
            self.sync(box)
            holiday = self.Event.search([('name', '=', 'Holiday %s' % name)])
            self.assertEqual((holiday.allday, holiday.start_date, holiday.stop_date),
                             (True, day.isoformat(), day.isoformat()))

    def test_recurring_series_with_a_moved_and_a_cancelled_occurrence(self):
        first = in_days(7, 9, 'America/Chicago')
        local = '%Y-%m-%dT%H:%M:%S'
        hour = datetime.timedelta(hours=1)
        master = self.graph.pim_create(self.box.email, 'event', {
            'subject': 'Weekly pipeline review', 'categories': [CATEGORY],
            'start': {'dateTime': first.strftime(local), 'timeZone': 'America/Chicago'},
            'end': {'dateTime': (first + hour).strftime(local), 'timeZone': 'America/Chicago'},
            'recurrence': {'pattern': {'type': 'weekly', 'interval': 1, 'daysOfWeek': [first.strftime('%A').lower()]},
                           'range': {'type': 'numbered', 'startDate': first.date().isoformat(),
                                     'numberOfOccurrences': 6}}})
        second = first + datetime.timedelta(days=7)
        self.graph.pim_modify_occurrence(self.box.email, master, second.date().isoformat(), {
            'start': {'dateTime': (second + 3 * hour).strftime(local), 'timeZone': 'America/Chicago'},
            'end': {'dateTime': (second + 4 * hour).strftime(local), 'timeZone': 'America/Chicago'}})
        cancelled_day = (first + datetime.timedelta(days=21)).date().isoformat()
        self.graph.pim_cancel_occurrence(self.box.email, master, cancelled_day)
        for _ in range(2):  # a rerun must not add anything
            self.sync()
        series = self.Event.search([('name', '=', 'Weekly pipeline review'), ('recurrency', '=', True)])
        self.assertEqual(len(series), 1)
        self.assertEqual((series.rrule_type, series.count), ('weekly', 6))
        detached = self.Event.with_context(active_test=False).search([('recurrent_id', '=', series.id)])
        self.assertEqual(len(detached), 2)
        moved_event = detached.filtered('active')
        cancelled_event = detached - moved_event
        self.assertEqual(moved_event.recurrent_id_date, odoo_dt(second))
        self.assertEqual(moved_event.start_datetime, odoo_dt(second + 3 * hour))
        self.assertEqual(cancelled_event.recurrent_id_date, odoo_dt(first + datetime.timedelta(days=21)))

    def test_an_odoo_series_reaches_outlook_as_a_series(self):
        first = in_days(8, 9)
        weekday = ('mo', 'tu', 'we', 'th', 'fr', 'sa', 'su')[first.weekday()]
        event = self.odoo_event(name='Weekly stand-up', recurrency=True, rrule_type='weekly', interval=1,
                                end_type='count', count=4, **{weekday: True})
        self.sync()
        item = self.outlook_item('event', self.linked(event).item_id)
        self.assertEqual((item['subject'], item['type']), ('Weekly stand-up', 'seriesMaster'))
        self.assertEqual(item['recurrence']['pattern']['daysOfWeek'], [first.strftime('%A').lower()])
        self.assertEqual((item['recurrence']['range']['type'], item['recurrence']['range']['numberOfOccurrences']),
                         ('numbered', 4))

    def test_a_meeting_shared_by_three_mapped_users_is_one_event(self):
        bob, bob_box = self.mapped_user('bob')
        eve, eve_box = self.mapped_user('eve')
        start = in_days(7, 10)
        self.graph.pim_create(self.box.email, 'event', {
            'subject': 'Quarterly review', 'categories': [CATEGORY], 'start': graph_time(start),
            'end': graph_time(start + datetime.timedelta(hours=1)),
            'attendees': [{'type': 'required', 'emailAddress': {'address': box.email}} for box in (bob_box, eve_box)]})
        sent = len(self.graph.invitations())
        mails = self.env['mail.mail'].search_count([])
        for box in (self.box, bob_box, eve_box):
            self.sync(box)
        self.assertEqual(self.env['mail.mail'].search_count([]), mails, 'Odoo sends no invitation')
        self.assertEqual(len(self.graph.invitations()), sent, 'nor does the sync make Microsoft 365 send one')
        events = self.Event.search([('name', '=', 'Quarterly review')])
        self.assertEqual(len(events), 1, 'one event, not one per user')
        self.assertEqual(events.partner_ids & (self.rep | bob | eve).mapped('partner_id'),
                         (self.rep | bob | eve).mapped('partner_id'))
        self.assertEqual(len(self.Link.search([('res_model', '=', 'calendar.event'), ('res_id', '=', events.id)])), 3)


class TestGraphInvitations(GraphActCase):
    """Each attendee receives each invitation, update and cancellation once: from
    Microsoft 365 or from Odoo as the profile says, never from both, never again on a
    sync echo."""

    def odoo_meeting(self, attendees, name='Pricing workshop'):
        """A meeting the user creates in Odoo (Odoo's own invitation sending applies)."""
        start, stop = odoo_dt(in_days(9, 9)), odoo_dt(in_days(9, 10))
        return self.env['calendar.event'].sudo(self.rep).with_context(virtual_id=False).create({
            'name': name, 'start': start, 'stop': stop, 'start_datetime': start, 'stop_datetime': stop,
            'duration': 1.0, 'user_id': self.rep.id,
            'partner_ids': [(6, 0, (self.rep.partner_id | attendees).ids)]})

    def odoo_mail_to(self, partner):
        """Odoo's outgoing mail (mail.mail) to ``partner``."""
        Mail = self.env['mail.mail'].sudo()
        return Mail.search_count(['|', ('recipient_ids', 'in', partner.ids), ('email_to', 'ilike', partner.email)])

    def microsoft_to(self, address):
        """(kind, count) of the meeting messages Microsoft 365 sent to ``address``."""
        kinds = [kind for attendee, kind, _subject in self.graph.invitations(self.box.email)
                 if attendee == address.lower()]
        return {kind: kinds.count(kind) for kind in kinds}

    def guests(self):
        Partner = self.env['res.partner']
        return Partner.create({'name': 'Guest One', 'email': 'one@guests.test'}) | \
            Partner.create({'name': 'Guest Two', 'email': 'two@guests.test'})

    def test_sent_by_microsoft_365_once_per_attendee(self):
        self.assertEqual(self.server.graph_invitations, 'microsoft', 'the default')
        bob, bob_box = self.mapped_user('bob')
        guests = self.guests()
        meeting = self.odoo_meeting(guests | bob.partner_id)
        for box in (self.box, bob_box, self.box, bob_box):  # and the echoes of each
            self.sync(box)
        for partner in guests | bob.partner_id:
            self.assertEqual(self.microsoft_to(partner.email), {'invitation': 1}, partner.email)
            self.assertEqual(self.odoo_mail_to(partner), 0, 'Odoo sends none: ' + partner.email)
        self.assertEqual(len(self.outlook('event', bob_box)), 1, 'Bob\'s calendar holds the copy Microsoft 365 '
                                                                 'delivered, not a second event')
        self.assertEqual(self.linked(meeting, bob_box).item_id, self.outlook('event', bob_box)[0]['id'])
        new_start, new_stop = odoo_dt(in_days(10, 9)), odoo_dt(in_days(10, 10))
        self.edit(meeting, {'start': new_start, 'stop': new_stop, 'start_datetime': new_start,
                            'stop_datetime': new_stop})
        for box in (self.box, bob_box, self.box):
            self.sync(box)
        for partner in guests | bob.partner_id:
            self.assertEqual(self.microsoft_to(partner.email), {'invitation': 1, 'update': 1}, partner.email)
            self.assertEqual(self.odoo_mail_to(partner), 0, partner.email)
        meeting.unlink()
        for box in (self.box, bob_box, self.box):
            self.sync(box)
        for partner in guests | bob.partner_id:
            self.assertEqual(self.microsoft_to(partner.email), {'invitation': 1, 'update': 1, 'cancellation': 1},
                             partner.email)

    def test_sent_by_odoo_once_per_attendee(self):
        self.server.sudo(self.manager).graph_invitations = 'odoo'
        guests = self.guests()
        meeting = self.odoo_meeting(guests)
        sent = {partner.id: self.odoo_mail_to(partner) for partner in guests}
        self.assertEqual(list(sent.values()), [1, 1], 'Odoo invites each attendee once')
        for _ in range(3):
            self.sync()
        item = self.outlook_item('event', self.linked(meeting).item_id)
        self.assertEqual(item.get('attendees') or [], [], 'written to Outlook without attendees')
        self.assertEqual(self.graph.invitations(self.box.email), [], 'Microsoft 365 sends nothing')
        self.assertEqual({p.id: self.odoo_mail_to(p) for p in guests}, sent, 'no second invitation on an echo')
        self.assertEqual(meeting.partner_ids & guests, guests, 'the attendees stay in Odoo')
        self.graph.pim_update(self.box.email, 'event', item['id'], {'location': {'displayName': 'Room 9'}})
        self.sync()
        self.assertEqual((meeting.location, meeting.partner_ids & guests), ('Room 9', guests),
                         'an Outlook edit keeps the Odoo attendees')
        self.assertEqual(self.graph.invitations(self.box.email), [])
