"""Exactly once for appointments under SIGKILL: a worker process running the mailbox's
act job as the job runner does, pushing three Odoo events to Exchange and pulling three
tracked Outlook events, is killed just before and just after each of its commits (the
job's start and end too), and right after each of its Exchange writes (an item created,
its link not committed yet), then resumed as production resumes it (tests/kill_driver.py): every event exists once on
each side. The
recovery (adopting an item created but not linked) is killed again at each of its own
commits."""
import datetime
import os

import odoo
import pytest
from exchangelib import BASIC, DELEGATE, Account, CalendarItem, Configuration, Credentials, EWSDateTime, FailFast
from exchangelib.items import SEND_TO_NONE

from .common import enabled_mailbox
from .test_ews_incoming import CATEGORY
from .kill_driver import at_each_commit, at_each_effect, commits, killed_again, run_worker
from .test_ews_kill import remote_ews  # noqa: F401 (fixture)

COUNT = 3
ACT = ('--channel', 'act', '--job')  # the mailbox's act job, run as the job runner runs it
UTC = datetime.timezone.utc


@pytest.fixture(scope='module')
def profile(remote_ews):  # noqa: F811
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create({
            'name': 'EWS act kill test', 'server_type': 'exchange', 'ews_locate': 'url',
            'ews_url': remote_ews.url, 'timeout': 30})
        cr.commit()
        server_id = server.id
    yield registry, server_id


def _outlook(remote_ews, address, password):  # noqa: F811
    config = Configuration(service_endpoint=remote_ews.http_url, credentials=Credentials(address, password),
                           auth_type=BASIC, retry_policy=FailFast())
    return Account(address, config=config, autodiscover=False, access_type=DELEGATE)


def _start(day, hour):
    moment = datetime.datetime.combine(datetime.date.today() + datetime.timedelta(days=day),
                                       datetime.time(hour, tzinfo=UTC))
    return moment


def _new_mailbox(profile, remote_ews, tag):  # noqa: F811
    registry, server_id = profile
    address, password = 'actkill-%s@example.test' % tag, 'pw-%s' % tag
    remote_ews.add_account(address, password)
    outlook = _outlook(remote_ews, address, password)
    for n in range(COUNT):
        CalendarItem(account=outlook, folder=outlook.calendar, subject='%s outlook %d' % (tag, n),
                     start=EWSDateTime.from_datetime(_start(2 + n, 9)), end=EWSDateTime.from_datetime(_start(2 + n, 10)),
                     categories=[CATEGORY]).save(send_meeting_invitations=SEND_TO_NONE)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'no_mail_to_attendees': True})
        box = enabled_mailbox(env, server_id, address, password, 'Act kill %s' % tag, 'actkill-%s' % tag,
                              incoming_enabled=False, act_enabled=True)
        for n in range(COUNT):
            start, stop = _start(5 + n, 14), _start(5 + n, 15)
            env['calendar.event'].create({
                'name': '%s odoo %d' % (tag, n), 'user_id': box.user_id.id, 'duration': 1.0,
                'start': start.strftime('%Y-%m-%d %H:%M:%S'), 'stop': stop.strftime('%Y-%m-%d %H:%M:%S'),
                'start_datetime': start.strftime('%Y-%m-%d %H:%M:%S'),
                'stop_datetime': stop.strftime('%Y-%m-%d %H:%M:%S'),
                'partner_ids': [(6, 0, box.user_id.partner_id.ids)]})
        cr.commit()
        return box.id, outlook


def _end_state(profile, box_id, outlook, tag):
    with profile[0].cursor() as cr:
        cr.execute("""SELECT name, count(*) FROM calendar_event WHERE name LIKE %s GROUP BY name""", [tag + ' %'])
        odoo_side = dict(cr.fetchall())
        cr.execute("SELECT state, count(*) FROM mail_sync_link WHERE mailbox_id = %s GROUP BY state", [box_id])
        links = dict(cr.fetchall())
    exchange = {}
    for item in outlook.calendar.all():
        exchange[item.subject] = exchange.get(item.subject, 0) + 1
    return odoo_side, exchange, links


def _expected(tag):
    names = ['%s %s %d' % (tag, side, n) for side in ('outlook', 'odoo') for n in range(COUNT)]
    return {name: 1 for name in names}, {name: 1 for name in names}, {'linked': 2 * COUNT}


def test_uninterrupted_then_rerun(profile, remote_ews):  # noqa: F811
    box, outlook = _new_mailbox(profile, remote_ews, 'plain')
    commits(run_worker(box, *ACT))
    assert _end_state(profile, box, outlook, 'plain') == _expected('plain')
    run_worker(box, '--channel', 'act')
    assert _end_state(profile, box, outlook, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(profile, remote_ews, when):  # noqa: F811
    outlooks = {}

    def new_mailbox(tag):
        box, outlooks[box] = _new_mailbox(profile, remote_ews, tag)
        return box
    # At least one commit per item pushed or pulled.
    at_each_commit(new_mailbox, lambda box, tag: _end_state(profile, box, outlooks[box], tag), _expected,
                   when, 2 * COUNT, *ACT)


def _new_mailbox_of(profile, remote_ews, outlooks):  # noqa: F811
    def new_mailbox(tag):
        box, outlooks[box] = _new_mailbox(profile, remote_ews, tag)
        return box
    return new_mailbox


def test_killed_right_after_each_exchange_write_then_resumed(profile, remote_ews):  # noqa: F811
    """Exchange created the item (or changed it), the link is not committed yet: the
    resumed worker adopts what it finds, and creates nothing twice."""
    outlooks = {}
    # At least the three Odoo events created in Exchange.
    at_each_effect(_new_mailbox_of(profile, remote_ews, outlooks),
                   lambda box, tag: _end_state(profile, box, outlooks[box], tag), _expected,
                   COUNT, *ACT)


def test_adopting_an_item_killed_at_each_of_its_commits(profile, remote_ews):  # noqa: F811
    """Killed right after the first create reached Exchange: the resumed run adopts that
    item; it is killed after each of its own commits, and resumed again. (Killed before a
    commit, a run leaves what it left after the previous one plus the side effects since,
    which the test above kills after one by one.)"""
    outlooks = {}
    killed_again(_new_mailbox_of(profile, remote_ews, outlooks),
                 lambda box, tag: _end_state(profile, box, outlooks[box], tag), _expected,
                 ('--kill-after-effect', 1), 4, *ACT, whens=('after',), name='adopt')
