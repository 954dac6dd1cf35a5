"""Microsoft Graph change notifications of appointments, contacts and To Do tasks end to
end: the act cycle subscribes the user's events, contacts and default To Do list (the
Graph endpoint validates the URL against Odoo's real HTTP server); a change made in
Outlook is posted to Odoo, whose controller brings the mailbox's act job forward to now;
running that job brings the change in. Disabling the channel removes the subscriptions.
Data is committed: the controller is another process."""
import datetime
import os
import uuid

import odoo
import pytest
from odoo import fields

from .common import enabled_mailbox
from .test_graph_act import SCOPES, graph_time
from .test_graph_incoming import CATEGORY, graph_profile_values, introspect_oauth, new_graph_client
from .test_graph_push import wait_for

_RUN = uuid.uuid4().hex[:8]
RESOURCES = {'appointment': '/events', 'contact': '/contacts', 'task': '/tasks'}


@pytest.fixture(scope='module')
def act_world(graph_server, odoo_http, oauth_server):
    introspect_oauth(graph_server, oauth_server)
    client_id, secret = new_graph_client(oauth_server, SCOPES)
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    address = 'push-act-%s@example.test' % _RUN
    graph_server.add_mailbox(address)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create(dict(
            graph_profile_values(oauth_server, graph_server, client_id, secret),
            name='Graph act push test', graph_public_url=odoo_http.url, timeout=30,
            interval_min=30, interval_default=60, interval_max=120))
        box = enabled_mailbox(env, server.id, address, False, 'Push act', 'push-act-%s' % _RUN,
                              act_enabled=True)
        box.user_id.write({'tz': 'UTC', 'groups_id': [(4, env.ref('base.group_partner_manager').id)]})
        cr.commit()
        ids = {'server': server.id, 'box': box.id, 'address': address}
    yield registry, ids
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids['box']).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        cr.commit()


def in_env(world, work):
    """``work(env, mailbox)`` in a new transaction, committed (as a job runner would)."""
    registry, ids = world
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        result = work(env, env['mail.sync.mailbox'].browse(ids['box']))
        cr.commit()
        return result


def act_job(env, box):
    """(state, eta) of the mailbox's pending act job (its identity key)."""
    jobs = env['queue.job'].search([('identity_key', '=', 'mail_sync.act.%d' % box.id),
                                    ('state', '=', 'pending')])
    return [(job.state, fields.Datetime.from_string(job.eta)) for job in jobs]


def run_act_job(env, box):
    """Run the mailbox's pending act job as queue_job's runner does (its row started, the
    job performed, its row done); its result."""
    from odoo.addons.queue_job.job import Job
    [row] = env['queue.job'].search([('identity_key', '=', 'mail_sync.act.%d' % box.id),
                                     ('state', '=', 'pending')])
    job = Job.load(env, row.uuid)
    job.set_started()
    job.store()
    result = job.perform()
    job.set_done(result=result)
    job.store()
    return result


def act_subscriptions(env, box):
    return {row.role: (row.remote_id, row.state, row.pending)
            for row in env['mail.sync.graph.subscription'].search([('mailbox_id', '=', box.id)])
            if row.role in RESOURCES}


def test_outlook_changes_enqueue_the_act_job_and_disabling_removes_the_subscriptions(act_world, graph_server):
    registry, ids = act_world
    address = ids['address']
    in_env(act_world, lambda env, box: box._enqueue_cycle('act'))
    assert 'synced' in in_env(act_world, run_act_job)
    subs = in_env(act_world, act_subscriptions)
    assert sorted(subs) == sorted(RESOURCES), subs
    for role, (remote_id, state, pending) in subs.items():
        endpoint = graph_server.subscriptions.items[remote_id]
        assert endpoint['resource'].endswith(RESOURCES[role]), endpoint['resource']
        assert 'deleted' in endpoint['changeType'] and (state, pending) == ('active', False)

    start = (datetime.datetime.utcnow() + datetime.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    changes = {
        'appointment': (lambda: graph_server.pim_create(address, 'event', {
            'subject': 'Pushed demo %s' % _RUN, 'categories': [CATEGORY], 'start': graph_time(start),
            'end': graph_time(start + datetime.timedelta(hours=1))}),
            lambda env: env['calendar.event'].with_context(virtual_id=False).search(
                [('name', '=', 'Pushed demo %s' % _RUN)])),
        'contact': (lambda: graph_server.pim_create(address, 'contact', {
            'givenName': 'Pia', 'surname': 'Push', 'displayName': 'Pia Push %s' % _RUN, 'categories': [CATEGORY],
            'emailAddresses': [{'address': 'pia-%s@push.test' % _RUN, 'name': 'Pia Push'}]}),
            lambda env: env['res.partner'].search([('email', '=', 'pia-%s@push.test' % _RUN)])),
        'task': (lambda: graph_server.pim_create(address, 'task', {
            'title': 'Pushed call %s' % _RUN, 'categories': [CATEGORY], 'status': 'notStarted',
            'dueDateTime': {'dateTime': start.strftime('%Y-%m-%dT00:00:00.0000000'), 'timeZone': 'UTC'}}),
            lambda env: env['mail.activity'].search([('summary', '=', 'Pushed call %s' % _RUN)])),
    }
    def settle():
        """The echoes of the cycle's own writes (notifications too) synced: quiet again."""
        for _ in range(5):
            assert wait_for(graph_server.subscriptions.idle)
            [(_state, eta)] = in_env(act_world, act_job)
            if eta > datetime.datetime.utcnow():
                return
            assert 'synced' in in_env(act_world, run_act_job)
        raise AssertionError('the act channel never settles')

    for role, (change, found) in sorted(changes.items()):
        settle()
        # After a cycle the next one waits for the polling interval (half an hour at least).
        [(state, eta)] = in_env(act_world, act_job)
        assert eta > datetime.datetime.utcnow() + datetime.timedelta(minutes=20), role
        mark = len(graph_server.subscriptions.deliveries)
        change()
        remote_id = subs[role][0]
        assert wait_for(lambda: graph_server.subscriptions.idle() and any(
            d[1]['value'][0]['subscriptionId'] == remote_id for d in graph_server.subscriptions.deliveries[mark:]))
        assert [d[2] for d in graph_server.subscriptions.deliveries[mark:]] == [202] * (
            len(graph_server.subscriptions.deliveries) - mark)
        # The controller brought the act job forward to now and marked the subscription.
        [(state, eta)] = in_env(act_world, act_job)
        assert eta <= datetime.datetime.utcnow(), role
        assert in_env(act_world, act_subscriptions)[role][2] is True
        assert not in_env(act_world, lambda env, box: len(found(env))), role
        assert 'synced' in in_env(act_world, run_act_job), role
        assert in_env(act_world, lambda env, box: len(found(env))) == 1, role

    # The channel is disabled: the next incoming cycle removes its subscriptions.
    in_env(act_world, lambda env, box: box.write({'act_enabled': False}))
    in_env(act_world, lambda env, box: box._run_cycle('incoming'))
    assert in_env(act_world, act_subscriptions) == {}
    assert not [remote_id for remote_id, _state, _pending in subs.values()
                if remote_id in graph_server.subscriptions.items]


def test_act_subscriptions_are_renewed_before_expiry_and_recreated_when_removed(act_world, graph_server):
    """As the email ones: an act subscription expiring within a day is renewed (PATCH, same
    id) by the next act cycle; one Microsoft removed (lifecycle ``subscriptionRemoved``, or
    gone without notice: 404 on renewal) is created again."""
    def sync_act(env, box):
        box.write({'act_enabled': True})
        box._sync_act()

    def expiring(role):
        soon = datetime.datetime.utcnow() + datetime.timedelta(hours=3)
        in_env(act_world, lambda env, box: env['mail.sync.graph.subscription'].search(
            [('mailbox_id', '=', box.id), ('role', '=', role)]).write({'expires': fields.Datetime.to_string(soon)}))

    def patches(remote_id):
        return len([r for r in graph_server.requests if r.method == 'PATCH' and
                    r.url.split('?')[0].endswith('/subscriptions/' + remote_id)])

    in_env(act_world, sync_act)
    subs = in_env(act_world, act_subscriptions)
    assert sorted(subs) == sorted(RESOURCES), subs

    event_sub = subs['appointment'][0]
    expiring('appointment')
    before = {role: patches(remote_id) for role, (remote_id, _s, _p) in subs.items()}
    in_env(act_world, sync_act)
    assert in_env(act_world, act_subscriptions)['appointment'][:2] == (event_sub, 'active')
    assert {role: patches(remote_id) for role, (remote_id, _s, _p) in subs.items()} == dict(
        before, appointment=before['appointment'] + 1), 'the expiring one alone is renewed'
    renewed = graph_server.subscriptions.items[event_sub]['expirationDateTime']
    now = datetime.datetime.now(renewed.tzinfo) if renewed.tzinfo else datetime.datetime.utcnow()
    assert renewed > now + datetime.timedelta(days=1)
    expires = in_env(act_world, lambda env, box: env['mail.sync.graph.subscription'].search(
        [('mailbox_id', '=', box.id), ('role', '=', 'appointment')]).expires)
    assert fields.Datetime.from_string(expires) > datetime.datetime.utcnow() + datetime.timedelta(days=1)

    contact_sub = subs['contact'][0]
    assert graph_server.lifecycle(contact_sub, 'subscriptionRemoved')
    assert wait_for(lambda: in_env(act_world, act_subscriptions)['contact'][1] == 'removed')
    in_env(act_world, sync_act)
    new_id, state, _pending = in_env(act_world, act_subscriptions)['contact']
    assert new_id != contact_sub and new_id in graph_server.subscriptions.items and state == 'active'
    assert graph_server.subscriptions.items[new_id]['resource'].endswith('/contacts')

    task_sub = subs['task'][0]
    del graph_server.subscriptions.items[task_sub]  # gone at Microsoft, no notice
    expiring('task')
    in_env(act_world, sync_act)
    new_id, state, _pending = in_env(act_world, act_subscriptions)['task']
    assert new_id != task_sub and new_id in graph_server.subscriptions.items and state == 'active'
    assert graph_server.subscriptions.items[new_id]['resource'].endswith('/tasks')
