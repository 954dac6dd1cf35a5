"""Exactly once under SIGKILL: a worker process syncing 200 messages is killed just before
and just after each of its commits, then resumed; every message ends up imported once."""
import os
import subprocess
import time

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import at_each_commit, commits, run_worker, worker_args
from .test_incoming import raw_mail

COUNT = 200


@pytest.fixture(scope='module')
def world(mail_servers):
    """Committed records (the worker is another process): a profile and an Odoo thread."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        # No followers on the thread: 2,800 imported replies must not flood anyone's inbox.
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Kill test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        partner = env['res.partner'].create({'name': 'Kill test customer'})
        thread = partner.message_post(body='Initial quote', message_type='comment')
        cr.commit()
        ids = {'server': server.id, 'thread_id': thread.message_id, 'partner': partner.id}
    created = []
    yield registry, ids, created
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(created).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse(ids['partner']).unlink()  # and its thread's messages


def _new_mailbox(world, mail_servers, tag):
    registry, ids, created = world
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append_many(login, [
        raw_mail('Customer <c@kill.test>', 'Reply %d' % n, '<%s-%d@kill.test>' % (tag, n), ids['thread_id'])
        for n in range(COUNT)])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], login, password, 'Kill %s' % tag, 'kill-%s' % tag)
        cr.commit()
        created.append(box.id)
        return box.id


def _end_state(world, mailbox_id, tag):
    registry = world[0]
    with registry.cursor() as cr:
        cr.execute("""SELECT uid, state, track_reason, message_id FROM mail_sync_ledger
                      WHERE mailbox_id = %s ORDER BY uid""", [mailbox_id])
        ledger = cr.fetchall()
        cr.execute("""SELECT message_id, count(*) FROM mail_message WHERE message_id LIKE %s
                      GROUP BY message_id""", ['<%s-%%' % tag])
        messages = dict(cr.fetchall())
    return ledger, messages


def _expected(tag):
    ledger = [(n + 1, 'imported', 'reply', '<%s-%d@kill.test>' % (tag, n)) for n in range(COUNT)]
    return ledger, {'<%s-%d@kill.test>' % (tag, n): 1 for n in range(COUNT)}


def test_uninterrupted_worker_reaches_the_expected_state(world, mail_servers):
    box = _new_mailbox(world, mail_servers, 'plain')
    commits(run_worker(box))
    assert _end_state(world, box, 'plain') == _expected('plain')
    # A rerun commits nothing new.
    run_worker(box)
    assert _end_state(world, box, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, mail_servers, when):
    # At least one commit per batch of 50, plus the cycle's own.
    at_each_commit(lambda tag: _new_mailbox(world, mail_servers, tag),
                   lambda box, tag: _end_state(world, box, tag), _expected, when, 5)


def test_two_worker_processes_never_sync_one_mailbox_at_once(world, mail_servers, tmp_path):
    """Worker A claims the mailbox and stops after its first batch; worker B, another
    process running the same cron meanwhile, must skip it. A then finishes alone."""
    box = _new_mailbox(world, mail_servers, 'pair')
    first = subprocess.Popen(worker_args(box, '--cron', '--pause-at', 1, '--signal-dir', tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / 'paused').exists():
            assert first.poll() is None and time.time() < deadline, 'worker A never paused'
            time.sleep(0.05)
        second = subprocess.run(worker_args(box, '--cron'), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        assert 'commits=0 synced=0' in second.stdout, second.stdout[-3000:]
        (tmp_path / 'go').touch()
        out, _err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert 'synced=1' in out, out[-3000:]
    assert _end_state(world, box, 'pair') == _expected('pair')
