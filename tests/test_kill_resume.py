"""Exactly once under SIGKILL: a worker process running the mailbox's queue_job job as the
job runner does (``--job``), syncing 60 messages and one too large to import (quarantined,
then moved to the failed folder), is killed just before and just after each of its commits
(the job's own ones too: started, done) and right after its IMAP MOVE, then resumed as
production resumes it (the dead job requeued, run again); every message ends up
imported once and the failed one moved once. The recovery paths are killed too: a resumed
run at each of its own commits, and the re-reading of a folder after a UIDVALIDITY change.
(60 = a full batch of 50 and a partial one: every kind of commit point; 200 only repeated
them at three times the cost.)"""
import os
import subprocess
import time

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import at_each_commit, at_each_effect, commits, killed_again, run_worker, worker_args
from .test_incoming import raw_mail

COUNT = 60
BIG = 3  # the position of the message above the size limit, in the first batch
FAILED = 'Odoo Failed'
SMALL = 10  # messages of the resumed run killed again
LOGINS = {}  # mailbox id: its Dovecot login


@pytest.fixture(scope='module')
def world(mail_servers):
    """Committed records (the worker is another process): a profile and an Odoo thread."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        # No followers on the thread: 2,800 imported replies must not flood anyone's inbox.
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Kill test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
            'max_message_mb': 1, 'move_failed': True, 'failed_folder': FAILED})
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


def _big(tag, thread_id):
    filler = (b'x' * 76 + b'\r\n') * int(1.5 * 1024 * 1024 / 78)
    return raw_mail('Customer <c@kill.test>', 'Plans', '<%s-big@kill.test>' % tag, thread_id).replace(
        b'Body of Plans', b'Body of Plans\r\n' + filler)


def _new_mailbox(world, mail_servers, tag, count=COUNT):
    registry, ids, created = world
    login, password = mail_servers.new_account()
    raws = [raw_mail('Customer <c@kill.test>', 'Reply %d' % n, '<%s-%d@kill.test>' % (tag, n), ids['thread_id'])
            for n in range(count)]
    raws.insert(BIG, _big(tag, ids['thread_id']))
    mail_servers.dovecot.append_many(login, raws)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], login, password, 'Kill %s' % tag, 'kill-%s' % tag)
        cr.commit()
        created.append(box.id)
        LOGINS[box.id] = login
        return box.id


def _folder_message_ids(mail_servers, login, folder):
    client = mail_servers.dovecot.imap(login)
    try:
        typ, _data = client.select('"%s"' % folder, readonly=True)
        if typ != 'OK':
            return []
        typ, data = client.uid('FETCH', '1:*', '(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
        return sorted(part[1].decode().split(':', 1)[1].strip() for part in data if isinstance(part, tuple))
    finally:
        client.logout()


def _end_state(world, mail_servers, mailbox_id, tag):
    registry = world[0]
    with registry.cursor() as cr:
        cr.execute("""SELECT uid, state, CASE WHEN state = 'quarantined' THEN NULL ELSE track_reason END,
                             message_id, moved_to FROM mail_sync_ledger
                      WHERE mailbox_id = %s ORDER BY uid""", [mailbox_id])
        ledger = cr.fetchall()
        cr.execute("""SELECT message_id, count(*) FROM mail_message WHERE message_id LIKE %s
                      GROUP BY message_id""", ['<%s-%%' % tag])
        messages = dict(cr.fetchall())
    login = LOGINS[mailbox_id]
    server = (len(_folder_message_ids(mail_servers, login, 'INBOX')), _folder_message_ids(mail_servers, login, FAILED))
    return ledger, messages, server


def _expected(tag, count=COUNT):
    ledger = [(n + 1 + (n >= BIG), 'imported', 'reply', '<%s-%d@kill.test>' % (tag, n), None) for n in range(count)]
    ledger.insert(BIG, (BIG + 1, 'quarantined', None, '<%s-big@kill.test>' % tag, FAILED))
    return (ledger, {'<%s-%d@kill.test>' % (tag, n): 1 for n in range(count)},
            (count, ['<%s-big@kill.test>' % tag]))


JOB = ('--job',)  # every run is the mailbox's job, run as the job runner runs it


def test_uninterrupted_worker_reaches_the_expected_state(world, mail_servers):
    box = _new_mailbox(world, mail_servers, 'plain')
    out = run_worker(box, *JOB)
    commits(out)
    assert 'synced=1' in out and 'jobs=done:1,pending:1' in out, out[-3000:]
    assert _end_state(world, mail_servers, box, 'plain') == _expected('plain')
    # A rerun (a cycle run at once: the next job is not due yet) commits nothing new.
    run_worker(box)
    assert _end_state(world, mail_servers, box, 'plain') == _expected('plain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_killed_at_each_commit_point_then_resumed(world, mail_servers, when):
    # At least one commit per batch of 50, plus the cycle's own.
    # One commit per batch (two), the move of the failed email, the folder's and the cycle's.
    at_each_commit(lambda tag: _new_mailbox(world, mail_servers, tag),
                   lambda box, tag: _end_state(world, mail_servers, box, tag), _expected, when, 7, *JOB)


def test_killed_right_after_moving_failed_email_then_resumed(world, mail_servers):
    """The MOVE to the failed folder happened, its record did not commit: the resumed run
    records it, and the message is in the failed folder once."""
    at_each_effect(lambda tag: _new_mailbox(world, mail_servers, tag),
                   lambda box, tag: _end_state(world, mail_servers, box, tag), _expected, 1, *JOB)


def test_resumed_run_killed_at_each_of_its_commits(world, mail_servers):
    """Killed after its batch committed (commit 2: the job's start is the first; its failed
    email not moved yet): the resumed run
    moves it; killed in turn after each of its own commits, then resumed once more, the end
    state is the same. (10 messages, one batch: the recovery's commits, at a sixth of the
    cost. Killed before a commit, a run leaves what the previous commit and the side effects
    since left, which the other tests kill.)"""
    killed_again(lambda tag: _new_mailbox(world, mail_servers, tag, SMALL),
                 lambda box, tag: _end_state(world, mail_servers, box, tag), lambda tag: _expected(tag, SMALL),
                 ('--kill-at', 2, '--when', 'after'), 3, *JOB, whens=('after',))


RESET = 5  # messages of the folder whose UIDVALIDITY changes (one batch: every kind of point)


def _reset_mailbox(world, mail_servers, tag):
    """A mailbox synced once whose folder then got a new UIDVALIDITY (deleted and created
    again with the same messages and one more): its next run reads the folder again.
    (INBOX cannot be deleted: this mailbox's inbox is the folder "Projects".)"""
    registry, ids, created = world
    login, password = mail_servers.new_account()
    raws = [raw_mail('Customer <c@kill.test>', 'Reply %d' % n, '<%s-%d@kill.test>' % (tag, n), ids['thread_id'])
            for n in range(RESET + 1)]
    mail_servers.dovecot.append_many(login, raws[:RESET], folder='Projects')
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], login, password, 'Kill %s' % tag, 'kill-%s' % tag)
        env['mail.sync.folder'].create({'mailbox_id': box.id, 'role': 'inbox', 'name': 'Projects'})
        cr.commit()
        created.append(box.id)
        box_id = box.id
    commits(run_worker(box_id, *JOB))
    client = mail_servers.dovecot.imap(login)
    try:
        assert client.delete('Projects')[0] == 'OK'
    finally:
        client.logout()
    mail_servers.dovecot.append_many(login, raws, folder='Projects')
    with registry.cursor() as cr:  # its next cycle is due (the time of its interval passed)
        cr.execute("""UPDATE mail_sync_channel SET next_sync = now() at time zone 'utc' - interval '1 minute'
                      WHERE mailbox_id = %s AND channel = 'incoming'""", [box_id])
        cr.commit()
    return box_id


def _reset_end_state(world, mailbox_id, tag):
    with world[0].cursor() as cr:
        cr.execute("""SELECT l.message_id, l.state, l.uidvalidity = f.uidvalidity FROM mail_sync_ledger l
                      JOIN mail_sync_folder f ON f.mailbox_id = l.mailbox_id AND f.role = 'inbox'
                      WHERE l.mailbox_id = %s ORDER BY 1, 2, 3""", [mailbox_id])
        ledger = cr.fetchall()
        cr.execute("""SELECT message_id, count(*) FROM mail_message WHERE message_id LIKE %s
                      GROUP BY message_id""", ['<%s-%%' % tag])
        messages = dict(cr.fetchall())
    return ledger, messages


def _reset_expected(tag):
    """The first generation's rows stay; the new one links what Odoo has, imports the rest."""
    ids = ['<%s-%d@kill.test>' % (tag, n) for n in range(RESET + 1)]
    ledger = sorted([(mid, 'imported', False) for mid in ids[:RESET]] + [(mid, 'linked', True) for mid in ids[:RESET]]
                    + [(ids[RESET], 'imported', True)])
    return ledger, {mid: 1 for mid in ids}


@pytest.mark.parametrize('when', ['before', 'after'])
def test_reading_again_after_a_uidvalidity_change_killed_at_each_commit(world, mail_servers, when):
    at_each_commit(lambda tag: _reset_mailbox(world, mail_servers, 'r' + tag),
                   lambda box, tag: _reset_end_state(world, box, 'r' + tag), lambda tag: _reset_expected('r' + tag),
                   when, 3, *JOB)


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
    assert _end_state(world, mail_servers, box, 'pair') == _expected('pair')
