"""Echo detection by value: Exchange gives an item a new change key on a save that
changes nothing (a client saving without edits, the calendar assistant, a retention
stamp; the endpoint's ``store.touch``). The act cycle compares each side's values with
its base (sync/reconcile.py), so such an item costs a read and writes nothing on either
side; only the link learns the new change key, so that the next cycle does not read it
again."""
import datetime

from exchangelib import Contact, EWSDate, Task

from .test_act_sync import ActCase, in_days, odoo_dt
from .test_ews_incoming import CATEGORY, ews_on_class  # noqa: F401 (fixture)

RECORD_TABLES = ('calendar_event', 'calendar_attendee', 'res_partner', 'mail_activity', 'mail_message')


class TestActEcho(ActCase):

    def test_a_change_key_bumped_without_an_edit_writes_nothing_on_either_side(self):
        event = self.outlook_event(subject='Echo demo')
        Contact(account=self.outlook, folder=self.outlook.contacts, given_name='Echo', surname='Person',
                display_name='Echo Person', categories=[CATEGORY]).save()
        Task(account=self.outlook, folder=self.outlook.tasks, subject='Echo task', categories=[CATEGORY],
             due_date=EWSDate.from_date(datetime.date.today() + datetime.timedelta(days=3))).save()
        self.Event.sudo(self.rep).create({  # and one that went the other way
            'name': 'Visit Acme', 'start': odoo_dt(in_days(5, 9)), 'stop': odoo_dt(in_days(5, 10)),
            'start_datetime': odoo_dt(in_days(5, 9)), 'stop_datetime': odoo_dt(in_days(5, 10)), 'duration': 1.0,
            'user_id': self.rep.id, 'partner_ids': [(6, 0, self.rep.partner_id.ids)], 'location': 'Their office'})
        self.sync()
        links = self.Link.search([('mailbox_id', '=', self.box.id), ('state', '=', 'linked')])
        self.assertEqual(sorted(links.mapped('kind')), ['appointment', 'appointment', 'contact', 'task'])
        self.sync()  # settles what the first cycle wrote
        records = [(link.res_model, link.res_id) for link in links]
        stamps = [self.env[model].browse(res_id).write_date for model, res_id in records]
        exchange_writes = len(self.writes())
        old_keys = links.mapped('change_key')
        for link in links:
            self.ews.store.touch(link.item_id)
        new_keys = [self.ews.store.find_item(link.item_id).change_key for link in links]
        self.assertEqual([old != new for old, new in zip(old_keys, new_keys)], [True] * 4)
        self.assertIn(event.id, [link.item_id for link in links])
        with self.sql_writes() as writes:
            stats = self.sync()
        self.assertEqual(stats, dict.fromkeys(stats, 0))
        self.assertEqual(len(self.writes()), exchange_writes, 'no Exchange write for an echo')
        touched = sorted({_table(query) for query in writes} & set(RECORD_TABLES))
        self.assertEqual(touched, [], 'no Odoo record written for an echo')
        self.env.cache.invalidate()
        self.assertEqual([self.env[model].browse(res_id).write_date for model, res_id in records], stamps)
        self.assertEqual(links.mapped('change_key'), new_keys, 'the link learns the new change key')
        read_before = self.calls(self.box.email).count('GetItem')
        with self.sql_writes() as writes:
            self.sync()
        self.assertEqual((writes, self.calls(self.box.email).count('GetItem') - read_before), ([], 0),
                         'the next cycle is idle: nothing read, nothing written')


def _table(query):
    """The table an INSERT, UPDATE or DELETE statement writes."""
    words = str(query).replace('"', ' ').split()
    for keyword in ('INTO', 'UPDATE', 'FROM'):
        upper = [word.upper() for word in words]
        if keyword in upper:
            return words[upper.index(keyword) + 1]
    return None
