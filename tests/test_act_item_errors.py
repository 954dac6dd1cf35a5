"""One item's trouble never fails the appointments cycle: a stale or missing change key
(ErrorStaleObject, ErrorChangeKeyRequiredForWriteOperations, as Exchange also answers
besides ErrorIrresolvableConflict) or an item deleted between the read and the write
(ErrorItemNotFound) is handled for that item alone, and the others are written.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode"""
from .test_act_sync import ActCase, in_days, odoo_dt
from .test_ews_incoming import ews_on_class  # noqa: F401 (fixture)


class TestActItemErrors(ActCase):

    def two_linked_events_edited_in_odoo(self, tag):
        events = self.Event.browse()
        for number in range(2):
            events |= self.Event.sudo(self.rep).create({
                'name': '%s %d' % (tag, number), 'start': odoo_dt(in_days(6, 9 + number)),
                'stop': odoo_dt(in_days(6, 10 + number)), 'start_datetime': odoo_dt(in_days(6, 9 + number)),
                'stop_datetime': odoo_dt(in_days(6, 10 + number)), 'duration': 1.0, 'user_id': self.rep.id,
                'partner_ids': [(6, 0, self.rep.partner_id.ids)]})
        self.sync()
        for event in events:
            self.assertEqual(self.linked(event).state, 'linked')
            self.edit(event, {'location': 'Edited in Odoo'})
        return events

    def locations(self, events):
        return [self.outlook.calendar.get(id=self.linked(event).item_id).location for event in events]

    def run_cycle(self):
        self.box._run_cycle('act')
        self.box.invalidate_cache()
        self.env.cache.invalidate()
        return (self.box.act_status, self.box.act_failures)

    def test_a_stale_change_key_skips_that_item_only(self):
        for code in ('ErrorStaleObject', 'ErrorChangeKeyRequiredForWriteOperations'):
            with self.subTest(code=code):
                events = self.two_linked_events_edited_in_odoo(code)
                self.ews.inject('UpdateItem', code)  # the first write of the cycle is refused
                self.assertEqual(self.run_cycle(), ('ok', 0))
                self.assertEqual(self.locations(events)[1], 'Edited in Odoo', 'the other item is written')
                self.assertEqual(self.run_cycle(), ('ok', 0))
                self.assertEqual(self.locations(events), ['Edited in Odoo'] * 2, 'written by the next cycle')

    def test_an_item_deleted_meanwhile_is_handled_alone(self):
        events = self.two_linked_events_edited_in_odoo('Gone')
        self.ews.inject('UpdateItem', 'ErrorItemNotFound')
        self.assertEqual(self.run_cycle(), ('ok', 0))
        self.assertEqual([self.linked(event).state for event in events], ['archived', 'linked'])
        self.assertEqual(events.with_context(active_test=False).mapped('active'), [False, True])
        self.assertEqual(self.locations(events[1:]), ['Edited in Odoo'])
