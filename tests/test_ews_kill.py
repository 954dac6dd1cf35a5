"""Exactly once with Exchange under SIGKILL: a worker process syncing 120 messages from
the EWS endpoint (a process of its own) in pages of 50 is killed just before and just
after each of its commits, then resumed; every message ends up imported once."""
import os
import subprocess
import sys

import odoo
import pytest

from devstack.ews.control import RemoteEwsServer
from devstack.procs import TEST_DIR

from .common import enabled_mailbox
from .test_incoming import raw_mail

WORKER = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'kill_worker.py')
COUNT = 120


def _run_worker(mailbox_id, kill_at=0, when='after', channel='incoming'):
    args = [sys.executable, WORKER, os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'],
            str(mailbox_id), '--kill-at', str(kill_at), '--when', when, '--channel', channel]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


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
    out = _run_worker(box)
    assert 'commits=' in out.stdout, out.stdout[-3000:]
    assert _end_state(world, box, 'plain') == _expected('plain')
    _run_worker(box)
    assert _end_state(world, box, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, remote_ews, when):
    counting = _new_mailbox(world, remote_ews, 'count-%s' % when)
    commits = int(_run_worker(counting).stdout.split('commits=')[1].split()[0])
    assert commits >= 4  # one per page of 50 (three pages), plus the cycle's own
    for kill_at in range(1, commits + 1):
        tag = 'k%s%d' % (when, kill_at)
        box = _new_mailbox(world, remote_ews, tag)
        killed = _run_worker(box, kill_at, when)
        assert 'commits=' not in killed.stdout, 'worker was not killed at commit %d' % kill_at
        resumed = _run_worker(box)
        assert 'commits=' in resumed.stdout, resumed.stdout[-3000:]
        assert _end_state(world, box, tag) == _expected(tag), 'killed %s commit %d' % (when, kill_at)
