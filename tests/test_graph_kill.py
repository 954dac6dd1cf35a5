"""Exactly once with Microsoft 365 under SIGKILL: a worker process syncing 60 messages
from the Graph endpoint in delta pages of 50 is killed just before and just after each
of its commits (it runs the mailbox's queue_job job as the job runner does: the job's start
and end are commits too), then resumed as production resumes it (the dead job requeued,
run again); every message ends up imported once. A rerun is one delta
request for the folder. (60 = a full and a partial page: every kind of commit point;
120 only repeated them at twice the cost.)"""
import os
import urllib.parse

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import at_each_commit, commits, run_worker
from .test_graph_incoming import graph_profile_values, introspect_oauth, new_graph_client
from .test_incoming import raw_mail

COUNT = 60
JOB = ('--job',)  # every run is the mailbox's job, run as the job runner runs it


@pytest.fixture(scope='module')
def world(graph_server, oauth_server):
    """Committed records (the worker is another process); the endpoint stays in this one,
    so a killed worker never takes it down. Tokens: app-only, from the OAuth test server."""
    introspect_oauth(graph_server, oauth_server)
    client_id, secret = new_graph_client(oauth_server)
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create(dict(
            graph_profile_values(oauth_server, graph_server, client_id, secret),
            name='Graph kill test', timeout=30))
        partner = env['res.partner'].create({'name': 'Graph kill test customer'})
        thread = partner.message_post(body='Initial quote', message_type='comment')
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


def _new_mailbox(world, graph_server, tag):
    registry, ids, created = world
    address = 'graphkill-%s@example.test' % tag
    graph_server.add_mailbox(address)
    for n in range(COUNT):
        graph_server.deliver(address, raw_mail('Customer <c@kill.test>', 'Reply %d' % n,
                                               '<%s-%d@graphkill.test>' % (tag, n), ids['thread_id']))
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], address, False, 'Graph kill %s' % tag, 'graphkill-%s' % tag)
        cr.commit()
        created.append(box.id)
        return box.id


def _end_state(world, mailbox_id, tag):
    with world[0].cursor() as cr:
        cr.execute("""SELECT message_id, state, track_reason, item_id IS NOT NULL FROM mail_sync_ledger
                      WHERE mailbox_id = %s ORDER BY message_id""", [mailbox_id])
        ledger = cr.fetchall()
        cr.execute("""SELECT message_id, count(*) FROM mail_message WHERE message_id LIKE %s
                      GROUP BY message_id""", ['<%s-%%' % tag])
        messages = dict(cr.fetchall())
        cr.execute("SELECT sync_state LIKE '%%$deltatoken=%%' FROM mail_sync_folder WHERE mailbox_id = %s",
                   [mailbox_id])
        states = cr.fetchall()
    return ledger, messages, states


def _expected(tag):
    ids = sorted('<%s-%d@graphkill.test>' % (tag, n) for n in range(COUNT))
    return [(mid, 'imported', 'reply', True) for mid in ids], {mid: 1 for mid in ids}, [(True,)]


def test_uninterrupted_worker_then_rerun_is_one_request(world, graph_server):
    box = _new_mailbox(world, graph_server, 'plain')
    commits(run_worker(box, *JOB))
    assert _end_state(world, box, 'plain') == _expected('plain')
    mark = len(graph_server.requests)
    commits(run_worker(box))
    assert _end_state(world, box, 'plain') == _expected('plain')
    rerun = [urllib.parse.unquote(r.url) for r in graph_server.requests[mark:]
             if r.mailbox == 'graphkill-plain@example.test' and not r.batch]
    assert len(rerun) == 1 and '/messages/delta?$deltatoken=' in rerun[0], rerun


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, graph_server, when):
    # One commit per delta page of 50 (two pages), plus the cycle's own.
    at_each_commit(lambda tag: _new_mailbox(world, graph_server, tag),
                   lambda box, tag: _end_state(world, box, tag), _expected, when, 5, *JOB)
