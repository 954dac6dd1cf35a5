"""Recurring series of Microsoft 365 as Graph's calendarView/delta lists them: the
occurrences and exceptions of a series (``seriesMasterId``), never the series itself,
whose master the item source reads once a round. Each change made in Outlook reaches
Odoo's one recurring event (never one event per occurrence), and the cycle after it
writes nothing on either side."""
import datetime
import re

from .test_act_sync import in_days, odoo_dt
from .test_graph_act import GraphActCase
from .test_graph_incoming import CATEGORY, graph_on_class  # noqa: F401 (fixture)

LOCAL = '%Y-%m-%dT%H:%M:%S'
HOUR = datetime.timedelta(hours=1)
WEEK = datetime.timedelta(days=7)


class SeriesCase(GraphActCase):
    """Helpers: a series made in Outlook, reads of its master, idle cycles."""

    def outlook_series(self, subject, first, pattern, count, tz='Europe/Brussels'):
        """A tracked series made in Outlook from ``first`` (aware, in ``tz``); its master id."""
        return self.graph.pim_create(self.box.email, 'event', {
            'subject': subject, 'categories': [CATEGORY],
            'start': {'dateTime': first.strftime(LOCAL), 'timeZone': tz},
            'end': {'dateTime': (first + HOUR).strftime(LOCAL), 'timeZone': tz},
            'recurrence': {'pattern': pattern, 'range': {
                'type': 'numbered', 'startDate': first.date().isoformat(), 'numberOfOccurrences': count}}})

    def weekly(self, first):
        return {'type': 'weekly', 'interval': 1, 'daysOfWeek': [first.strftime('%A').lower()]}

    def master_reads(self, master_id, since):
        """GET requests of the series master itself (not of its instances) from ``since``."""
        pattern = re.compile(r'/events/%s(\?|$)' % re.escape(master_id))
        return [r for r in self.graph.requests[since:] if r.method == 'GET' and pattern.search(r.url)]

    def series(self, name):
        return self.Event.with_context(active_test=False).search([('name', '=', name), ('recurrency', '=', True)])



class TestGraphSeries(SeriesCase):

    def test_an_outlook_series_is_one_recurring_event_its_master_read_once(self):
        first = in_days(3, 8, 'Europe/Brussels')
        master = self.outlook_series('Daily stand-up', first, {'type': 'daily', 'interval': 1}, 150)
        mark = len(self.graph.requests)
        self.sync()
        series = self.series('Daily stand-up')
        self.assertEqual(len(series), 1, 'one recurring event, not one per occurrence')
        self.assertEqual((series.rrule_type, series.count, series.start_datetime), ('daily', 150, odoo_dt(first)))
        self.assertEqual(self.Event.search_count([('name', '=', 'Daily stand-up')]), 1)
        links = self.Link.search([('mailbox_id', '=', self.box.id), ('kind', '=', 'appointment')])
        self.assertEqual(links.mapped('item_id'), [master], 'the link is to the series')
        self.assertEqual(len(self.master_reads(master, mark)), 1,
                         'its 150 instances span two delta pages; the master is read once')
        mark = len(self.graph.requests)
        self.assert_idle(links)
        self.assertEqual(self.master_reads(master, mark), [], 'an idle cycle reads no series')

    def test_an_occurrence_edited_in_outlook_becomes_an_exception_in_odoo(self):
        first = in_days(7, 9, 'Europe/Brussels')
        master = self.outlook_series('Weekly review', first, self.weekly(first), 5)
        self.sync()
        series = self.series('Weekly review')
        second = first + WEEK
        self.graph.pim_modify_occurrence(self.box.email, master, second.date().isoformat(), {
            'subject': 'Weekly review (long)', 'location': {'displayName': 'Room 7'},
            'start': {'dateTime': (second + 2 * HOUR).strftime(LOCAL), 'timeZone': 'Europe/Brussels'},
            'end': {'dateTime': (second + 4 * HOUR).strftime(LOCAL), 'timeZone': 'Europe/Brussels'}})
        self.sync()
        self.assertEqual(self.series('Weekly review'), series, 'still one series')
        detached = self.Event.with_context(active_test=False).search([('recurrent_id', '=', series.id)])
        self.assertEqual(len(detached), 1)
        self.assertEqual((detached.active, detached.recurrent_id_date, detached.start_datetime,
                          detached.stop_datetime, detached.location),
                         (True, odoo_dt(second), odoo_dt(second + 2 * HOUR), odoo_dt(second + 4 * HOUR), 'Room 7'))
        self.assertEqual(detached.name, 'Weekly review (long)')
        self.assertEqual(len(self.Link.search([('mailbox_id', '=', self.box.id)])), 1)
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))

    def test_cancelling_one_occurrence_in_outlook_removes_just_that_day(self):
        first = in_days(7, 9, 'Europe/Brussels')
        master = self.outlook_series('Weekly sync', first, self.weekly(first), 5)
        self.sync()
        series = self.series('Weekly sync')
        third = first + 2 * WEEK
        self.graph.pim_cancel_occurrence(self.box.email, master, third.date().isoformat())
        self.sync()
        self.assertTrue(series.active)
        detached = self.Event.with_context(active_test=False).search([('recurrent_id', '=', series.id)])
        self.assertEqual([(e.active, e.recurrent_id_date) for e in detached], [(False, odoo_dt(third))],
                         'that day alone is taken out of the series')
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))

    def test_deleting_the_series_in_outlook_archives_it_in_odoo(self):
        first = in_days(7, 9, 'Europe/Brussels')
        master = self.outlook_series('Weekly call', first, self.weekly(first), 5)
        single = self.graph.pim_create(self.box.email, 'event', {
            'subject': 'One-off', 'categories': [CATEGORY],
            'start': {'dateTime': (first + HOUR).strftime(LOCAL), 'timeZone': 'Europe/Brussels'},
            'end': {'dateTime': (first + 2 * HOUR).strftime(LOCAL), 'timeZone': 'Europe/Brussels'}})
        self.sync()
        series = self.series('Weekly call')
        link = self.linked(series)
        self.assertEqual(link.item_id, master)
        self.graph.pim_delete(self.box.email, 'event', master)
        self.sync()
        self.assertFalse(series.active, 'deleted in Outlook: archived in Odoo')
        self.assertEqual(link.state, 'archived')
        one_off = self.Event.search([('name', '=', 'One-off')])
        self.assertTrue(one_off.active and self.linked(one_off).item_id == single, 'the other event stays')
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))


def nth_weekday(year, month, weekday, index):
    """The ``index``-th (1..4, -1 the last) ``weekday`` (0 = Monday) of a month."""
    days = [datetime.date(year, month, d) for d in range(1, 32) if _valid(year, month, d)
            and datetime.date(year, month, d).weekday() == weekday]
    return days[index - 1] if index > 0 else days[-1]


def _valid(year, month, day):
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


class TestGraphRelativePatterns(SeriesCase):
    """Monthly and yearly series on "the second Tuesday", "the last Friday"."""

    def next_month(self):
        today = datetime.date.today()
        return (today.year + today.month // 12, today.month % 12 + 1)

    def test_a_second_tuesday_series_from_outlook_and_a_last_friday_series_from_odoo(self):
        year, month = self.next_month()
        day = nth_weekday(year, month, 1, 2)
        first = datetime.datetime(day.year, day.month, day.day, 9, tzinfo=in_days(0).tzinfo)
        self.outlook_series('Board meeting', first, {'type': 'relativeMonthly', 'interval': 1,
                                                     'daysOfWeek': ['tuesday'], 'index': 'second'}, 4, tz='UTC')
        self.sync()
        board = self.series('Board meeting')
        self.assertEqual(len(board), 1)
        self.assertEqual((board.rrule_type, board.month_by, board.byday, board.week_list, board.count),
                         ('monthly', 'day', '2', 'TU', 4))
        self.assertEqual(board.start_datetime, odoo_dt(first))

        friday = nth_weekday(year, month, 4, -1)
        start = datetime.datetime(friday.year, friday.month, friday.day, 15, tzinfo=in_days(0).tzinfo)
        event = self.Event.sudo(self.rep).create({
            'name': 'Month-end close', 'start': odoo_dt(start), 'stop': odoo_dt(start + HOUR),
            'start_datetime': odoo_dt(start), 'stop_datetime': odoo_dt(start + HOUR), 'duration': 1.0,
            'user_id': self.rep.id, 'recurrency': True, 'rrule_type': 'monthly', 'interval': 1,
            'month_by': 'day', 'byday': '-1', 'week_list': 'FR', 'end_type': 'count', 'count': 3})
        self.sync()
        item = self.outlook_item('event', self.linked(event).item_id)
        self.assertEqual(item['recurrence']['pattern'], {'type': 'relativeMonthly', 'interval': 1,
                                                         'daysOfWeek': ['friday'], 'index': 'last'})
        window = (datetime.datetime.now(datetime.timezone.utc), datetime.datetime.now(datetime.timezone.utc)
                  + datetime.timedelta(days=150))
        days = [i['start']['dateTime'][:10] for i in self.graph.pim.instances(self.box.email, item['id'], *window)]
        expected = []
        for n in range(3):
            y, m = year + (month - 1 + n) // 12, (month - 1 + n) % 12 + 1
            expected.append(nth_weekday(y, m, 4, -1).isoformat())
        self.assertEqual(days, expected, 'Outlook shows it on the last Friday of three months')
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))

    def test_a_relative_yearly_series_is_refused_with_a_logged_reason(self):
        year, month = self.next_month()
        day = nth_weekday(year, month, 1, 2)
        first = datetime.datetime(day.year, day.month, day.day, 9, tzinfo=in_days(0).tzinfo)
        self.outlook_series('Anniversary lunch', first, {
            'type': 'relativeYearly', 'interval': 1, 'daysOfWeek': ['tuesday'], 'index': 'second',
            'month': month}, 3, tz='UTC')
        self.sync()
        self.assertFalse(self.Event.with_context(active_test=False).search([('name', '=', 'Anniversary lunch')]),
                         'no Odoo series on the wrong days')
        self.assertFalse(self.Link.search([('mailbox_id', '=', self.box.id)]))
        log = self.env['mail.sync.log'].search([('mailbox_id', '=', self.box.id), ('code', '=', 'item_refused')])
        self.assertEqual((len(log), log.channel, log.severity), (1, 'act', 'warning'))
        self.assertIn('every year on a weekday of a month', log.message)
        self.assertIn('stays as it is', log.message)
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))

    def test_a_linked_series_changed_to_a_relative_yearly_pattern_keeps_its_odoo_pattern(self):
        first = in_days(7, 9, 'Europe/Brussels')
        master = self.outlook_series('Team lunch', first, self.weekly(first), 5)
        self.sync()
        series = self.series('Team lunch')
        self.graph.pim_update(self.box.email, 'event', master, {
            'location': {'displayName': 'Canteen'},
            'recurrence': {'pattern': {'type': 'relativeYearly', 'interval': 1, 'daysOfWeek': ['tuesday'],
                                       'index': 'second', 'month': first.month},
                           'range': {'type': 'numbered', 'startDate': first.date().isoformat(),
                                     'numberOfOccurrences': 3}}})
        self.sync()
        self.assertEqual((series.rrule_type, series.count, series.location), ('weekly', 5, 'Canteen'),
                         'the rest of the change is taken, not the pattern Odoo cannot express')
        log = self.env['mail.sync.log'].search([('mailbox_id', '=', self.box.id), ('code', '=', 'item_refused')])
        self.assertIn('not applied in Odoo', log.message)
        self.assertIn('every year on a weekday of a month', log.message)
        self.assert_idle(self.Link.search([('mailbox_id', '=', self.box.id)]))
