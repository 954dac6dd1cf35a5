"""Exactly once for appointments, contacts and tasks with Microsoft 365 under SIGKILL: the
mailbox's act job (run as the job runner runs it, in a worker process) pushing an Odoo
contact, activity and event to Graph and pulling a tracked Outlook contact, task, event and
series (with a moved and a cancelled occurrence, listed by calendarView as its instances)
is killed just before and just after each of its commits (the job's start and end too),
then resumed through the dead-job requeue: every item exists once on each side, every
link is linked. A creation sent but not committed is adopted on resume (events by their
transactionId, contacts and tasks by what identifies them), never made twice."""
import datetime
import os

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import at_each_commit, commits, run_worker
from .test_graph_incoming import CATEGORY, graph_profile_values, introspect_oauth, new_graph_client

SCOPES = ('Mail.ReadWrite', 'Mail.Send', 'Contacts.ReadWrite', 'Tasks.ReadWrite', 'Calendars.ReadWrite')
UTC = datetime.timezone.utc
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope='module')
def world(graph_server, oauth_server):
    introspect_oauth(graph_server, oauth_server)
    client_id, secret = new_graph_client(oauth_server, SCOPES)
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        values = graph_profile_values(oauth_server, graph_server, client_id, secret)
        values['oauth_scopes'] = ' '.join(SCOPES)
        server = env['mail.sync.server'].create(dict(values, name='Graph act kill test', timeout=30))
        cr.commit()
        server_id = server.id
    yield registry, server_id


def _moment(day, hour):
    return datetime.datetime.combine(datetime.date.today() + datetime.timedelta(days=day),
                                     datetime.time(hour, tzinfo=UTC))


def _odoo_time(value):
    return value.strftime('%Y-%m-%d %H:%M:%S')


def _name(tag, what):
    """Names of this test's items (the EWS kill test uses the same tags in the same database)."""
    return 'G365 %s %s' % (tag, what)


def _new_mailbox(world, graph_server, tag):
    registry, server_id = world
    address = 'gactkill-%s@example.test' % tag
    graph_server.add_mailbox(address)
    graph_server.pim_create(address, 'contact', {'displayName': _name(tag, 'outlook contact'),
                                                 'categories': [CATEGORY]})
    graph_server.pim_create(address, 'task', {'title': _name(tag, 'outlook task'), 'categories': [CATEGORY],
                                              'dueDateTime': {'dateTime': _moment(3, 0).strftime('%Y-%m-%dT00:00:00'),
                                                              'timeZone': 'UTC'}})
    graph_server.pim_create(address, 'event', {
        'subject': _name(tag, 'outlook event'), 'categories': [CATEGORY],
        'start': {'dateTime': _moment(2, 9).strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'},
        'end': {'dateTime': _moment(2, 10).strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'}})
    # A series as calendarView lists it: its instances (one moved, one cancelled), not itself.
    first = _moment(3, 11)
    series = graph_server.pim_create(address, 'event', {
        'subject': _name(tag, 'outlook series'), 'categories': [CATEGORY],
        'start': {'dateTime': first.strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'},
        'end': {'dateTime': (first + HOUR).strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'},
        'recurrence': {'pattern': {'type': 'daily', 'interval': 1},
                       'range': {'type': 'numbered', 'startDate': first.date().isoformat(), 'numberOfOccurrences': 4}}})
    moved = first + datetime.timedelta(days=1)
    graph_server.pim_modify_occurrence(address, series, moved.date().isoformat(), {
        'start': {'dateTime': (moved + 2 * HOUR).strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'},
        'end': {'dateTime': (moved + 3 * HOUR).strftime('%Y-%m-%dT%H:%M:%S'), 'timeZone': 'UTC'}})
    graph_server.pim_cancel_occurrence(address, series, (first + datetime.timedelta(days=2)).date().isoformat())
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'no_mail_to_attendees': True})
        box = enabled_mailbox(env, server_id, address, False, 'Graph act kill %s' % tag, 'gactkill-%s' % tag,
                              incoming_enabled=False, act_enabled=True)
        user = box.user_id
        partner = env['res.partner'].create({'name': _name(tag, 'odoo contact'), 'email': '%s@kill.test' % tag,
                                             'user_id': user.id})
        env['mail.activity'].create({
            'res_model_id': env['ir.model']._get('res.partner').id, 'res_id': partner.id,
            'activity_type_id': env.ref('mail.mail_activity_data_todo').id, 'user_id': user.id,
            'summary': _name(tag, 'odoo task'), 'date_deadline': _moment(4, 0).date().isoformat()})
        start, stop = _moment(5, 14), _moment(5, 15)
        env['calendar.event'].create({
            'name': _name(tag, 'odoo event'), 'user_id': user.id, 'duration': 1.0,
            'start': _odoo_time(start), 'stop': _odoo_time(stop), 'start_datetime': _odoo_time(start),
            'stop_datetime': _odoo_time(stop), 'partner_ids': [(6, 0, user.partner_id.ids)]})
        cr.commit()
        return box.id


def _end_state(world, graph_server, box_id, tag):
    pattern = _name(tag, '%')
    with world[0].cursor() as cr:
        counts = {}
        for query in ("SELECT name, count(*) FROM res_partner WHERE name LIKE %s GROUP BY name",
                      "SELECT summary, count(*) FROM mail_activity WHERE summary LIKE %s GROUP BY summary",
                      "SELECT name, count(*) FROM calendar_event WHERE name LIKE %s GROUP BY name"):
            cr.execute(query, [pattern])
            counts.update(dict(cr.fetchall()))
        cr.execute("SELECT state, count(*) FROM mail_sync_link WHERE mailbox_id = %s GROUP BY state", [box_id])
        links = dict(cr.fetchall())
    address = 'gactkill-%s@example.test' % tag
    remote = {}
    for kind, name in (('contact', 'displayName'), ('task', 'title'), ('event', 'subject')):
        for item in graph_server.pim_items(address, kind):
            remote[item[name]] = remote.get(item[name], 0) + 1
    return counts, remote, links


def _expected(tag):
    """One of each item on each side; the series: in Odoo one recurring event and its two
    detached occurrences (moved, cancelled), in Outlook its master and one exception."""
    names = [_name(tag, '%s %s' % (side, kind))
             for side in ('outlook', 'odoo') for kind in ('contact', 'task', 'event')]
    odoo_side, outlook_side = {name: 1 for name in names}, {name: 1 for name in names}
    odoo_side[_name(tag, 'outlook series')] = 3
    outlook_side[_name(tag, 'outlook series')] = 2
    return odoo_side, outlook_side, {'linked': 7}


def test_uninterrupted_then_rerun(world, graph_server):
    box = _new_mailbox(world, graph_server, 'plain')
    commits(run_worker(box, '--channel', 'act', '--job'))
    assert _end_state(world, graph_server, box, 'plain') == _expected('plain')
    run_worker(box, '--channel', 'act')
    assert _end_state(world, graph_server, box, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, graph_server, when):
    at_each_commit(lambda tag: _new_mailbox(world, graph_server, tag),
                   lambda box, tag: _end_state(world, graph_server, box, tag), _expected, when, 8,
                   '--channel', 'act', '--job')
