"""Exactly once with Exchange under SIGKILL: a worker process syncing 60 messages from
the EWS endpoint (a process of its own) in pages of 50, their MIME in chunks of 10, is
killed just before and just after each of its commits (it runs the mailbox's queue_job job
as the job runner does: the job's start and end are commits too), then resumed as
production resumes it (the dead job requeued, run again); every message ends
up imported once. (60 covers a full and a partial page and every chunk commit; 120 only
repeated the same kinds of kill points at twice the cost.)"""
import os

import odoo
import pytest

from devstack.ews.control import RemoteEwsServer
from devstack.procs import TEST_DIR

from .common import enabled_mailbox
from .kill_driver import at_each_commit, commits, run_worker
from .test_incoming import raw_mail

COUNT = 60
JOB = ('--job',)  # every run is the mailbox's job, run as the job runner runs it


@pytest.fixture(scope='module')
def remote_ews():
    """The endpoint in another process: the workers are processes too, and a killed worker
    must not take the server down. Its certificate comes from the CA the test database
    trusts (mail_sync_ca_file)."""
    server = RemoteEwsServer.spawn(os.path.join(TEST_DIR, 'tls'), os.path.join(TEST_DIR, 'ews-kill.log'))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='module')
def world(remote_ews):
    """Committed records (the worker is another process): a profile and an Odoo thread."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'EWS kill test', 'server_type': 'exchange', 'ews_locate': 'url',
            'ews_url': remote_ews.url, 'timeout': 30})
        partner = env['res.partner'].create({'name': 'EWS kill test customer'})
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


def _new_mailbox(world, remote_ews, tag):
    registry, ids, created = world
    address, password = 'ewskill-%s@example.test' % tag, 'pw-%s' % tag
    remote_ews.add_account(address, password)
    for n in range(COUNT):
        remote_ews.store.deliver(address, raw_mail('Customer <c@kill.test>', 'Reply %d' % n,
                                                   '<%s-%d@ewskill.test>' % (tag, n), ids['thread_id']))
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], address, password, 'EWS kill %s' % tag, 'ewskill-%s' % tag)
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
        cr.execute("SELECT sync_state IS NOT NULL FROM mail_sync_folder WHERE mailbox_id = %s",
                   [mailbox_id])
        states = cr.fetchall()
    return ledger, messages, states


def _expected(tag):
    ids = sorted('<%s-%d@ewskill.test>' % (tag, n) for n in range(COUNT))
    return [(mid, 'imported', 'reply', True) for mid in ids], {mid: 1 for mid in ids}, [(True,)]


def test_uninterrupted_worker_then_rerun(world, remote_ews):
    box = _new_mailbox(world, remote_ews, 'plain')
    commits(run_worker(box, *JOB))
    assert _end_state(world, box, 'plain') == _expected('plain')
    run_worker(box)
    assert _end_state(world, box, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, remote_ews, when):
    # Commits per MIME chunk of each page of 50 (two pages), plus the cycle's own.
    at_each_commit(lambda tag: _new_mailbox(world, remote_ews, tag),
                   lambda box, tag: _end_state(world, box, tag), _expected, when, 6, *JOB)
