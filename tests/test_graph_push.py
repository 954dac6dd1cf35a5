"""Microsoft Graph change notifications end to end: a sync worker (its own process)
subscribes the mailbox, the Graph endpoint validates the URL against Odoo's real HTTP
server and posts notifications to it; forged ones are ignored, a burst gives one cycle,
lifecycle events renew or re-create the subscription, and a subscribed mailbox is not
polled before its longer interval. Data is committed: the controller and the workers
are other processes."""
import json
import os
import time
import urllib.request
import uuid

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import run_worker
from .test_graph_incoming import graph_profile_values, introspect_oauth, new_graph_client
from .test_incoming import raw_mail

_RUN = uuid.uuid4().hex[:8]


def wait_for(condition, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope='module')
def world(graph_server, odoo_http, oauth_server):
    introspect_oauth(graph_server, oauth_server)
    client_id, secret = new_graph_client(oauth_server)
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create(dict(
            graph_profile_values(oauth_server, graph_server, client_id, secret),
            name='Graph push test', graph_public_url=odoo_http.url, timeout=30))
        partner = env['res.partner'].create({'name': 'Push test customer'})
        thread = partner.message_post(body='Quote', message_type='comment')
        cr.commit()
        ids = {'server': server.id, 'thread_id': thread.message_id, 'partner': partner.id}
    created = []
    yield registry, ids, created
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(created).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse(ids['partner']).unlink()
        cr.commit()


def new_mailbox(world, graph_server, tag):
    registry, ids, created = world
    address = 'push-%s-%s@example.test' % (tag, _RUN)
    graph_server.add_mailbox(address)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], address, False, 'Push %s' % tag, 'push-%s-%s' % (tag, _RUN))
        cr.commit()
        created.append(box.id)
        return box.id, address


def query(world, sql, params):
    with world[0].cursor() as cr:
        cr.execute(sql, params)
        return cr.fetchall()


def subscriptions(world, box):
    return query(world, """SELECT role, remote_id, state, pending, client_state_crypt
                           FROM mail_sync_graph_subscription WHERE mailbox_id = %s ORDER BY role""", [box])


def cycle(box):
    """The incoming cron lane restricted to this mailbox: how many cycles it ran."""
    output = run_worker(box, '--cron')
    assert 'synced=' in output, output[-3000:]
    return int(output.split('synced=')[1].split()[0])


def post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode('utf-8'),
                                     headers={'Content-Type': 'application/json'})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return response.status


def test_subscribe_notify_burst_forged_and_lifecycle(world, graph_server, odoo_http, graph_no_bugs):
    box, address = new_mailbox(world, graph_server, 'main')
    assert cycle(box) == 1  # first sync: subscribes the Inbox (validation by Odoo's controller)
    [(role, remote_id, state, pending, secret)] = subscriptions(world, box)
    sub = graph_server.subscriptions.items[remote_id]
    assert (role, state, pending) == ('inbox', 'active', False)
    assert sub['notificationUrl'] == odoo_http.url + '/mail_sync/graph/notify'
    assert secret and sub['clientState'] not in secret, 'clientState is stored encrypted'
    # Subscribed and nothing happened: not due before the longer polling interval.
    assert cycle(box) == 0
    # Forged notifications (wrong clientState, unknown subscription) change nothing.
    forged = {'value': [{'subscriptionId': remote_id, 'clientState': 'guess', 'changeType': 'created',
                         'resource': 'Users/x/Messages/y'},
                        {'subscriptionId': str(uuid.uuid4()), 'clientState': sub['clientState'],
                         'changeType': 'created'}]}
    assert post(sub['notificationUrl'], forged) == 202
    assert subscriptions(world, box)[0][3] is False
    assert cycle(box) == 0
    # A burst of five arrivals: five notifications, one cycle that imports all five.
    mark = len(graph_server.subscriptions.deliveries)
    for n in range(5):
        graph_server.deliver(address, raw_mail('Customer <c@push.test>', 'Re: Quote %d' % n,
                                               '<push-%s-%d@customer.test>' % (_RUN, n), world[1]['thread_id']))
    assert wait_for(lambda: graph_server.subscriptions.idle()
                    and len(graph_server.subscriptions.deliveries) >= mark + 5)
    assert [d[2] for d in graph_server.subscriptions.deliveries[mark:]] == [202] * 5
    assert subscriptions(world, box)[0][3] is True
    assert cycle(box) == 1
    assert query(world, "SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %s AND state = 'imported'",
                 [box]) == [(5,)]
    assert subscriptions(world, box)[0][3] is False
    assert cycle(box) == 0
    # Lifecycle: reauthorization renews the subscription; removal re-creates it.
    patches = len([r for r in graph_server.requests if r.method == 'PATCH' and 'subscriptions' in r.url])
    graph_server.lifecycle(remote_id, 'reauthorizationRequired')
    assert wait_for(lambda: subscriptions(world, box)[0][2] == 'reauthorize')
    assert cycle(box) == 1
    assert subscriptions(world, box)[0][2] == 'active'
    assert len([r for r in graph_server.requests if r.method == 'PATCH' and 'subscriptions' in r.url]) == patches + 1
    graph_server.lifecycle(remote_id, 'subscriptionRemoved')
    assert wait_for(lambda: subscriptions(world, box)[0][2] == 'removed')
    assert cycle(box) == 1
    [(role, new_id, state, pending, _secret)] = subscriptions(world, box)
    assert new_id != remote_id and new_id in graph_server.subscriptions.items and state == 'active'


def test_throttled_mailbox_waits_alone(world, graph_server):
    """429 on one mailbox: stored as its retry time, the lane goes on with the others."""
    busy, busy_address = new_mailbox(world, graph_server, 'busy')
    calm, calm_address = new_mailbox(world, graph_server, 'calm')
    for address in (busy_address, calm_address):
        graph_server.deliver(address, raw_mail('Customer <c@push.test>', 'Hello', '<%s-%s@c.test>'
                                               % (address.split('@')[0], _RUN)))
    graph_server.inject(429, retry_after=1800, match=busy_address)
    output = run_worker('%d,%d' % (busy, calm), '--cron')
    assert 'synced=2' in output, output[-3000:]
    [(status, later)] = query(world, """SELECT status, next_sync > (now() at time zone 'UTC') + interval '29 minutes'
                                     FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'incoming'""",
                              [busy])
    assert (status, later) == ('retrying', True)
    assert query(world, 'SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %s', [calm]) == [(1,)]
    assert query(world, 'SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %s', [busy]) == [(0,)]
