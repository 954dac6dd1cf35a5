"""Appointments, contacts and tasks, two ways with Exchange (our EWS endpoint, the real
exchangelib), as users would meet them: Outlook is played by exchangelib on the same
mailbox, Odoo by the ORM; the channel's cycle runs in between."""
import contextlib
import datetime
from decimal import Decimal

from backports import zoneinfo

from exchangelib import (BASIC, DELEGATE, Account, CalendarItem, Configuration, Contact, Credentials, EWSDate,
                         EWSDateTime, EWSTimeZone, FailFast, Task)
from exchangelib.indexed_properties import EmailAddress
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import Attendee, Mailbox
from exchangelib.recurrence import Recurrence, WeeklyPattern

from .test_ews_incoming import CATEGORY, EwsCase, ews_on_class  # noqa: F401 (fixture)

UTC = datetime.timezone.utc


def in_days(days, hour=10, tz='UTC'):
    day = datetime.date.today() + datetime.timedelta(days=days)
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=zoneinfo.ZoneInfo(tz))


def odoo_dt(value):
    return value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')


def create_odoo_event(case, user=None, **values):
    """A meeting in Odoo organized by ``user`` (the case's rep by default) in five days,
    ``values`` overriding the defaults; a method of the appointment test cases."""
    user = user or case.rep
    vals = {'name': 'Visit Acme', 'start': odoo_dt(in_days(5, 9)), 'stop': odoo_dt(in_days(5, 10)),
            'start_datetime': odoo_dt(in_days(5, 9)), 'stop_datetime': odoo_dt(in_days(5, 10)),
            'duration': 1.0, 'user_id': user.id, 'partner_ids': [(6, 0, user.partner_id.ids)],
            'location': 'Their office'}
    vals.update(values)
    return case.Event.sudo(user).create(vals)


class ActCase(EwsCase):
    """An enabled Exchange mailbox with the appointments, contacts and tasks channel on."""

    def setUp(self):
        super(ActCase, self).setUp()
        self.server = self.make_ews_server()
        self.rep, self.box, self.outlook = self.mapped_user('rep')
        self.Event = self.env['calendar.event'].with_context(no_mail_to_attendees=True, virtual_id=False)
        self.Link = self.env['mail.sync.link']

    def mapped_user(self, name, tz='Europe/Brussels'):
        user = self.make_user(name)
        user.tz = tz
        box = self.make_ews_mailbox(user, self.server, act_enabled=True)
        box.sudo(self.manager).action_test_enable()
        self.assertEqual(box.state, 'enabled')
        address = box.email
        password = self.ews.store.mailbox(address).password
        config = Configuration(service_endpoint=self.ews.http_url, credentials=Credentials(address, password),
                               auth_type=BASIC, retry_policy=FailFast())
        return user, box, Account(address, config=config, autodiscover=False, access_type=DELEGATE)

    def sync(self, box=None):
        box = box or self.box
        stats = box._sync_act()
        box.invalidate_cache()
        self.env.cache.invalidate()
        return stats

    def writes(self, box=None):
        """EWS operations of ``box`` that change something."""
        return [op for op in self.calls((box or self.box).email)
                if op in ('CreateItem', 'UpdateItem', 'DeleteItem', 'MoveItem')]

    def outlook_event(self, account=None, categories=(CATEGORY,), **values):
        account = account or self.outlook
        tz = EWSTimeZone('Europe/Brussels')
        defaults = {'subject': 'Demo for Acme', 'start': EWSDateTime.from_datetime(in_days(3, 10)).astimezone(tz),
                    'end': EWSDateTime.from_datetime(in_days(3, 11)).astimezone(tz), 'location': 'Room 1'}
        defaults.update(values)
        item = CalendarItem(account=account, folder=account.calendar, categories=list(categories), **defaults)
        item.save(send_meeting_invitations=SEND_TO_NONE)
        return item

    def edit(self, record, values, user=None):
        """A user's edit, committed in a transaction of its own: Odoo stamps write_date with
        the transaction's start, and a test runs in one transaction."""
        record.sudo(user or self.rep).write(values)
        self.env.cr.execute('UPDATE "%s" SET write_date = clock_timestamp() AT TIME ZONE \'UTC\' WHERE id = %%s'
                            % record._table, [record.id])
        record.invalidate_cache()

    @contextlib.contextmanager
    def sql_writes(self):
        """The INSERT, UPDATE and DELETE statements run meanwhile."""
        cr, writes = self.env.cr, []
        execute = cr.execute

        def spy(query, params=None, log_exceptions=None):
            text = query if isinstance(query, str) else query.as_string(cr._obj)
            if text.lstrip().split(None, 1)[0].upper() in ('INSERT', 'UPDATE', 'DELETE'):
                writes.append(query)
            return execute(query, params, log_exceptions)
        cr.execute = spy
        try:
            yield writes
        finally:
            del cr.execute

    @contextlib.contextmanager
    def rows_read(self):
        """Rows the SELECT statements run meanwhile returned (a list holding their sum)."""
        cr, total = self.env.cr, [0]
        execute = cr.execute

        def spy(query, params=None, log_exceptions=None):
            result = execute(query, params, log_exceptions)
            text = query if isinstance(query, str) else query.as_string(cr._obj)
            if text.lstrip().split(None, 1)[0].upper() == 'SELECT' and cr.rowcount > 0:
                total[0] += cr.rowcount
            return result
        cr.execute = spy
        try:
            yield total
        finally:
            del cr.execute

    def linked(self, record, box=None):
        return self.Link.search([('mailbox_id', '=', (box or self.box).id), ('res_model', '=', record._name),
                                 ('res_id', '=', record.id)])

    def invitations_sent(self):
        """Meeting messages (invitations, updates, cancellations) sent from this test's mailboxes."""
        addresses = set(self.Mailbox.search([]).mapped('email'))
        return [m for m in self.ews.store.meeting_log() if m['mailbox'] in addresses
                and m['value'] != 'SendToNone']


class TestAppointments(ActCase):

    odoo_event = create_odoo_event

    def test_odoo_event_reaches_outlook_then_idle_cycles_write_nothing(self):
        event = self.odoo_event()
        self.sync()
        link = self.linked(event)
        self.assertEqual(link.state, 'linked')
        item = self.outlook.calendar.get(id=link.item_id)
        self.assertEqual((item.subject, item.location), ('Visit Acme', 'Their office'))
        self.assertEqual(item.start.astimezone(UTC), in_days(5, 9).astimezone(UTC))
        self.assertIn(CATEGORY, item.categories)
        self.assertFalse(self.invitations_sent(), 'the sync never sends invitations')
        # Idle: nothing changes on either side.
        before_writes, change_key = len(self.writes()), link.change_key
        with self.sql_writes() as writes:
            for _ in range(2):
                self.sync()
        self.assertEqual(writes, [], 'no Odoo write when idle')
        self.assertEqual((len(self.writes()), link.change_key), (before_writes, change_key),
                         'no Exchange write when idle')

    def test_a_first_sync_does_not_push_the_past(self):
        past = self.odoo_event(name='Last month', start=odoo_dt(in_days(-30, 9)), stop=odoo_dt(in_days(-30, 10)),
                               start_datetime=odoo_dt(in_days(-30, 9)), stop_datetime=odoo_dt(in_days(-30, 10)))
        coming = self.odoo_event(name='Next week')
        self.sync()
        self.assertFalse(self.linked(past), 'ended before the channel was enabled')
        self.assertTrue(self.linked(coming))
        self.server.sudo().process_after = odoo_dt(in_days(-40))
        self.sync()
        self.assertTrue(self.linked(past), 'the profile\'s "process after" reaches further back')

    def test_the_per_cycle_cap_leaves_the_rest_for_the_next_cycle(self):
        self.server.sudo().cycle_cap = 2
        events = [self.odoo_event(name='Capped %d' % n) for n in range(3)]
        stats = self.sync()
        self.assertEqual((stats['pushed'], bool(stats['remaining'])), (2, True))
        stats = self.sync()
        self.assertEqual((stats['pushed'], stats['remaining']), (1, 0))
        self.assertTrue(all(self.linked(event) for event in events))

    def test_tracked_outlook_event_comes_to_odoo_untracked_does_not(self):
        tracked = self.outlook_event(subject='Tracked demo')
        self.outlook_event(subject='Private dentist', categories=())
        self.sync()
        events = self.Event.search([('name', 'in', ('Tracked demo', 'Private dentist'))])
        self.assertEqual(events.mapped('name'), ['Tracked demo'])
        self.assertEqual(events.start_datetime, odoo_dt(in_days(3, 10)))
        self.assertEqual(events.location, 'Room 1')
        self.assertEqual(self.linked(events).item_id, tracked.id)

    def test_edits_flow_both_ways_and_are_not_synced_back(self):
        event = self.odoo_event()
        self.sync()
        item = self.outlook.calendar.get(id=self.linked(event).item_id)
        item.location = 'Moved to HQ'
        item.save(update_fields=['location'], send_meeting_invitations=SEND_TO_NONE)
        self.sync()
        self.assertEqual(event.location, 'Moved to HQ')
        self.edit(event, {'name': 'Visit Acme (confirmed)'})
        self.sync()
        item = self.outlook.calendar.get(id=item.id)
        self.assertEqual((item.subject, item.location), ('Visit Acme (confirmed)', 'Moved to HQ'))
        writes = len(self.writes())
        self.sync()
        self.assertEqual(len(self.writes()), writes, 'what the sync wrote does not come back')

    def test_field_direction_is_honoured(self):
        self.env['mail.sync.field.map'].search([('kind', '=', 'appointment'), ('field', '=', 'location')]).write(
            {'direction': 'to_odoo'})
        event = self.odoo_event()
        self.sync()
        item = self.outlook.calendar.get(id=self.linked(event).item_id)
        self.assertFalse(item.location, 'a field that flows only to Odoo is not written to Exchange')
        self.edit(event, {'location': 'Odoo side only'})
        self.sync()
        self.assertFalse(self.outlook.calendar.get(id=item.id).location)
        item.location = 'From Outlook'
        item.save(update_fields=['location'], send_meeting_invitations=SEND_TO_NONE)
        self.sync()
        self.assertEqual(event.location, 'From Outlook')

    def test_concurrent_edits_most_recent_wins_and_the_loser_is_kept(self):
        event = self.odoo_event()
        self.sync()
        item = self.outlook.calendar.get(id=self.linked(event).item_id)
        event.sudo(self.rep).write({'name': 'Odoo title'})
        self.env.cr.execute("UPDATE calendar_event SET write_date = now() at time zone 'UTC' - interval '1 hour' "
                            "WHERE id = %s", [event.id])
        event.invalidate_cache()
        item.subject = 'Outlook title'
        item.save(update_fields=['subject'], send_meeting_invitations=SEND_TO_NONE)
        self.sync()
        self.assertEqual(event.name, 'Outlook title', 'the later change (Outlook) wins')
        conflict = self.env['mail.sync.conflict'].sudo(self.rep).search([('res_id', '=', event.id)])
        self.assertEqual((conflict.field, conflict.odoo_value, conflict.winner), ('subject', 'Odoo title', 'exchange'))
        self.assertEqual(self.outlook.calendar.get(id=item.id).subject, 'Outlook title')

    def test_exchange_deletion_archives_in_odoo(self):
        item = self.outlook_event(subject='To be cancelled')
        self.sync()
        event = self.Event.search([('name', '=', 'To be cancelled')])
        item.delete(send_meeting_cancellations=SEND_TO_NONE)
        self.sync()
        self.assertTrue(event.exists(), 'never deleted in Odoo')
        self.assertFalse(event.active)
        self.assertEqual(self.linked(event).state, 'archived')

    def test_odoo_deletion_deletes_only_future_own_appointments(self):
        future, past = self.odoo_event(name='Future'), self.odoo_event(
            name='Past', start=odoo_dt(in_days(-3, 9)), stop=odoo_dt(in_days(-3, 10)),
            start_datetime=odoo_dt(in_days(-3, 9)), stop_datetime=odoo_dt(in_days(-3, 10)))
        self.server.sudo().process_after = odoo_dt(in_days(-10))
        self.sync()
        future_id, past_id = self.linked(future).item_id, self.linked(past).item_id
        self.assertTrue(future_id and past_id)
        future.unlink()
        past.unlink()
        self.sync()
        ids = {item.id for item in self.outlook.calendar.all()}
        self.assertNotIn(future_id, ids, 'a future appointment the user organizes is deleted')
        self.assertIn(past_id, ids, 'a past one is only unlinked')
        self.assertFalse(self.invitations_sent(), 'no cancellations sent')

    def test_all_day_events_keep_their_date_at_utc_minus_6_and_plus_13(self):
        day = datetime.date.today() + datetime.timedelta(days=10)
        for tz in ('America/Regina', 'Pacific/Tongatapu'):
            self.rep.tz = tz
            event = self.odoo_event(name='Offsite %s' % tz, allday=True, start=day.isoformat() + ' 00:00:00',
                                    stop=day.isoformat() + ' 00:00:00', start_date=day.isoformat(),
                                    stop_date=day.isoformat(), start_datetime=False, stop_datetime=False)
            self.sync()
            item = self.outlook.calendar.get(id=self.linked(event).item_id)
            self.assertTrue(item.is_all_day)
            start = item.start if isinstance(item.start, datetime.date) and not isinstance(
                item.start, datetime.datetime) else item.start.astimezone(zoneinfo.ZoneInfo(tz)).date()
            self.assertEqual(start, day, tz)
            # And back: an all-day event made in Outlook in that zone lands on its day
            # (exchangelib's dates of an all-day event include the last day).
            tzinfo = EWSTimeZone(tz)
            self.outlook_event(subject='Holiday %s' % tz, is_all_day=True,
                               start=EWSDate.from_date(day), end=EWSDate.from_date(day),
                               _start_timezone=tzinfo, _end_timezone=tzinfo)
            self.sync()
            holiday = self.Event.search([('name', '=', 'Holiday %s' % tz)])
            self.assertEqual((holiday.allday, holiday.start_date, holiday.stop_date),
                             (True, day.isoformat(), day.isoformat()), tz)

    def test_recurring_series_with_a_moved_and_a_cancelled_occurrence(self):
        tz = EWSTimeZone('America/Chicago')
        first = in_days(7, 9, 'America/Chicago')
        master = self.outlook_event(
            subject='Weekly pipeline review',
            start=EWSDateTime.from_datetime(first).astimezone(tz),
            end=EWSDateTime.from_datetime(first + datetime.timedelta(hours=1)).astimezone(tz),
            recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[first.isoweekday()]),
                                  start=first.date(), number=6))
        moved = master.occurrence(index=2)
        moved.refresh()
        moved.start = moved.start + datetime.timedelta(hours=3)
        moved.end = moved.end + datetime.timedelta(hours=3)
        moved.save(update_fields=['start', 'end'], send_meeting_invitations=SEND_TO_NONE)
        cancelled = master.occurrence(index=4)
        cancelled.refresh()
        cancelled.delete(send_meeting_cancellations=SEND_TO_NONE)
        for _ in range(2):  # a rerun must not add anything
            self.sync()
        series = self.Event.search([('name', '=', 'Weekly pipeline review'), ('recurrency', '=', True)])
        self.assertEqual(len(series), 1)
        self.assertTrue(series.recurrency)
        self.assertEqual((series.rrule_type, series.count), ('weekly', 6))
        detached = self.Event.with_context(active_test=False).search([('recurrent_id', '=', series.id)])
        self.assertEqual(len(detached), 2)
        moved_event = detached.filtered('active')
        cancelled_event = detached - moved_event
        second = first + datetime.timedelta(days=7)
        self.assertEqual(moved_event.recurrent_id_date, odoo_dt(second))
        self.assertEqual(moved_event.start_datetime, odoo_dt(second + datetime.timedelta(hours=3)))
        self.assertEqual(cancelled_event.recurrent_id_date, odoo_dt(first + datetime.timedelta(days=21)))

    def test_an_odoo_series_reaches_outlook_as_a_series(self):
        first = in_days(8, 9)
        weekday = ('mo', 'tu', 'we', 'th', 'fr', 'sa', 'su')[first.weekday()]
        event = self.odoo_event(name='Weekly stand-up', recurrency=True, rrule_type='weekly', interval=1,
                                end_type='count', count=4, **{weekday: True})
        self.sync()
        item = self.outlook.calendar.get(id=self.linked(event).item_id)
        self.assertEqual(item.subject, 'Weekly stand-up')
        self.assertEqual(item.recurrence.boundary.number, 4)
        self.assertEqual([day for day in item.recurrence.pattern.weekdays], [first.isoweekday()])
        occurrences = list(self.outlook.calendar.view(start=EWSDateTime.from_datetime(in_days(7, 0)),
                                                      end=EWSDateTime.from_datetime(in_days(40, 0))))
        self.assertEqual(len([o for o in occurrences if o.subject == 'Weekly stand-up']), 4)

    def test_a_meeting_shared_by_three_mapped_users_is_one_event(self):
        bob, bob_box, bob_outlook = self.mapped_user('bob')
        eve, eve_box, eve_outlook = self.mapped_user('eve')
        attendees = [Attendee(mailbox=Mailbox(email_address=box.email), response_type='Accept')
                     for box in (bob_box, eve_box)]
        meeting = self.outlook_event(subject='Quarterly review', required_attendees=attendees)
        meeting = self.outlook.calendar.get(id=meeting.id)
        for outlook in (bob_outlook, eve_outlook):  # what Exchange puts in each attendee's calendar
            self.outlook_event(account=outlook, categories=(), subject='Quarterly review', uid=meeting.uid,
                               required_attendees=attendees)
        mails = self.env['mail.mail'].search_count([])
        for box in (self.box, bob_box, eve_box):
            self.sync(box)
        self.assertEqual(self.env['mail.mail'].search_count([]), mails, 'Odoo sends no invitation either')
        events = self.Event.search([('name', '=', 'Quarterly review')])
        self.assertEqual(len(events), 1, 'one event, not one per user')
        self.assertEqual(events.partner_ids & (self.rep | bob | eve).mapped('partner_id'),
                         (self.rep | bob | eve).mapped('partner_id'))
        self.assertEqual(len(self.Link.search([('res_model', '=', 'calendar.event'), ('res_id', '=', events.id)])), 3)
        self.assertFalse(self.invitations_sent())


    def test_an_odoo_meeting_with_a_mapped_attendee_is_in_both_calendars_with_one_uid(self):
        bob, bob_box, bob_outlook = self.mapped_user('bob')
        event = self.odoo_event(name='Pricing workshop', partner_ids=[(6, 0, (self.rep | bob).mapped('partner_id').ids)])
        self.sync()
        self.sync(bob_box)
        mine = self.outlook.calendar.get(id=self.linked(event).item_id)
        his = bob_outlook.calendar.get(id=self.linked(event, bob_box).item_id)
        self.assertEqual((mine.subject, his.subject), ('Pricing workshop', 'Pricing workshop'))
        self.assertEqual(mine.uid, his.uid)
        self.assertFalse(self.invitations_sent())
        # Bob's copy changes in Outlook: the one Odoo event follows, and Bob's change reaches
        # the organizer's copy through Odoo.
        his.location = 'Room B'
        his.save(update_fields=['location'], send_meeting_invitations=SEND_TO_NONE)
        self.sync(bob_box)
        self.assertEqual(event.location, 'Room B')
        self.sync()
        self.assertEqual(self.outlook.calendar.get(id=mine.id).location, 'Room B')


class TestContactsAndTasks(ActCase):

    def test_salesperson_contacts_both_ways(self):
        # Exchange's edits are written with the user's rights: a salesperson may edit contacts.
        self.rep.write({'groups_id': [(4, self.env.ref('base.group_partner_manager').id)]})
        partner = self.env['res.partner'].create({
            'name': 'Anna Smith', 'email': 'anna@acme.test', 'phone': '+1 555 0100', 'function': 'Buyer',
            'city': 'Regina', 'user_id': self.rep.id})
        other = self.env['res.partner'].create({'name': 'Not Mine', 'email': 'x@acme.test'})
        self.sync()
        self.assertFalse(self.linked(other), 'outside the user\'s filter')
        contact = self.outlook.contacts.get(id=self.linked(partner).item_id)
        self.assertEqual((contact.given_name, contact.surname, contact.job_title), ('Anna', 'Smith', 'Buyer'))
        self.assertEqual(contact.email_addresses[0].email, 'anna@acme.test')
        contact.job_title = 'Head of Purchasing'
        contact.save(update_fields=['job_title'])
        self.sync()
        self.assertEqual(partner.function, 'Head of Purchasing')
        mine = Contact(account=self.outlook, folder=self.outlook.contacts, given_name='Bo', surname='Lee',
                       display_name='Bo Lee', categories=[CATEGORY],
                       email_addresses=[EmailAddress(email='bo@lee.test', label='EmailAddress1')])
        mine.save()
        self.sync()
        bo = self.env['res.partner'].search([('email', '=', 'bo@lee.test')])
        self.assertEqual((bo.name, bo.user_id), ('Bo Lee', self.rep))
        mine.delete()
        self.sync()
        self.assertFalse(bo.active, 'archived, not deleted')

    def test_idle_cycles_write_nothing_on_either_side(self):
        partner = self.env['res.partner'].create({'name': 'Idle Contact', 'email': 'idle@acme.test',
                                                  'user_id': self.rep.id})
        self.env['mail.activity'].create({
            'res_model_id': self.env['ir.model']._get('res.partner').id, 'res_id': partner.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id, 'user_id': self.rep.id,
            'summary': 'Idle task', 'date_deadline': (datetime.date.today() + datetime.timedelta(days=2)).isoformat()})
        Contact(account=self.outlook, folder=self.outlook.contacts, given_name='Tagged', surname='Person',
                display_name='Tagged Person', categories=[CATEGORY]).save()
        self.sync()
        links = self.Link.search([('mailbox_id', '=', self.box.id)])
        self.assertEqual(len(links), 3)
        exchange_writes, change_keys = len(self.writes()), links.mapped('change_key')
        with self.sql_writes() as writes:
            for _ in range(2):
                self.sync()
        self.assertEqual(writes, [], 'no Odoo write when idle')
        self.assertEqual((len(self.writes()), links.mapped('change_key')), (exchange_writes, change_keys),
                         'no Exchange write when idle')

    def test_an_idle_cycle_reads_what_changed_not_every_link(self):
        links = 300
        partners = self.env['res.partner']
        for number in range(links):
            partners |= partners.create({'name': 'Contact %03d' % number, 'email': 'c%03d@acme.test' % number,
                                         'user_id': self.rep.id})
        self.sync()
        self.sync()  # takes in the echoes of the 300 creations
        linked = self.Link.search([('mailbox_id', '=', self.box.id), ('state', '=', 'linked')])
        self.assertEqual(len(linked), links)
        with self.rows_read() as idle:
            stats = self.sync()
        self.assertEqual((stats['pushed'], stats['updated'], stats['created']), (0, 0, 0))
        # Reading every link (or every linked record) would be at least 300 rows.
        self.assertLess(idle[0], links // 3, 'an idle cycle reads rows in proportion to what changed')
        self.edit(partners[7], {'function': 'Buyer'}, user=self.env.user)
        new = partners.create({'name': 'Newcomer', 'email': 'new@acme.test', 'user_id': self.rep.id})
        with self.rows_read() as busy:
            stats = self.sync()
        self.assertEqual(stats['pushed'], 2, 'the edited contact and the new one')
        self.assertLess(busy[0], links // 2, 'two pushes (and their echoes) read a bounded number of rows')
        self.assertEqual(self.outlook.contacts.get(id=self.linked(partners[7]).item_id).job_title, 'Buyer')
        self.assertEqual(self.outlook.contacts.get(id=self.linked(new).item_id).display_name, 'Newcomer')
        partners[8].active = False
        self.env.cr.execute('UPDATE res_partner SET write_date = %s WHERE id = %s',
                            [self.linked(partners[8]).local_write_date, partners[8].id])
        partners[8].invalidate_cache()
        self.sync()
        self.assertEqual(self.linked(partners[8]).state, 'unlinked', 'archived in Odoo, whatever write_date says')

    def test_activities_both_ways_and_completion(self):
        lead_partner = self.env['res.partner'].create({'name': 'Acme'})
        due = datetime.date.today() + datetime.timedelta(days=4)
        activity = self.env['mail.activity'].create({
            'res_model_id': self.env['ir.model']._get('res.partner').id, 'res_id': lead_partner.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id, 'user_id': self.rep.id,
            'summary': 'Send the quote', 'date_deadline': due.isoformat(), 'note': '<p>With discount</p>'})
        self.sync()
        task = self.outlook.tasks.get(id=self.linked(activity).item_id)
        self.assertEqual((task.subject, task.due_date), ('Send the quote', due))
        self.assertIn('With discount', task.body or '')
        outlook_task = Task(account=self.outlook, folder=self.outlook.tasks, subject='Call back Bo',
                            due_date=EWSDate.from_date(due), categories=[CATEGORY])
        outlook_task.save()
        self.sync()
        created = self.env['mail.activity'].search([('summary', '=', 'Call back Bo')])
        self.assertEqual((created.user_id, created.date_deadline), (self.rep, due.isoformat()))
        task.percent_complete = Decimal(100)
        task.status = 'Completed'
        task.save(update_fields=['status', 'percent_complete'])
        self.sync()
        self.assertFalse(activity.exists(), 'completed in Outlook: done in Odoo')
        self.assertTrue(self.env['mail.message'].search([('model', '=', 'res.partner'), ('res_id', '=', lead_partner.id),
                                                        ('mail_activity_type_id', '!=', False)]))
