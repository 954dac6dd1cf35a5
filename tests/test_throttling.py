"""Connection throttling across processes: never more connections to a server than
its profile allows, counted by a proxy in front of the real Dovecot while separate
Odoo worker processes sync many mailboxes of that profile; a worker that finds no
free connection moves on instead of waiting."""
import os
import subprocess
import time

import odoo
import pytest

from devstack.faultproxy import FaultProxy

from ..models.mail_sync_mailbox_scheduler import SLOT_CLASS, SLOTS_PER_PROFILE
from .common import enabled_mailbox
from .test_incoming import raw_mail
from .kill_driver import worker_args

MAILBOXES = 6
MESSAGES = 8


@pytest.fixture
def profile(mail_servers, request):
    """A committed profile (max 1 connection) behind a slow proxy, with mailboxes full of replies."""
    proxy = FaultProxy(mail_servers.dovecot.ports['imap']).start()
    proxy.delay = 0.02  # every answer a little late, so that cycles overlap
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    tag = request.node.name.replace('_', '')[-20:]
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Throttled %s' % tag, 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': proxy.port, 'incoming_encryption': 'none', 'max_connections': 1})
        partner = env['res.partner'].create({'name': 'Throttle customer'})
        thread = partner.message_post(body='Quote', message_type='comment').message_id
        boxes = env['mail.sync.mailbox']
        for number in range(MAILBOXES):
            login, password = mail_servers.new_account()
            mail_servers.dovecot.append_many(login, [
                raw_mail('C <c@throttle.test>', 'R', '<%s-%d-%d@throttle.test>' % (tag, number, n), thread)
                for n in range(MESSAGES)])
            boxes |= enabled_mailbox(env, server.id, login, password, 'Throttle %s %d' % (tag, number),
                                     'throttle-%s-%d' % (tag, number))
        cr.commit()
        ids = {'server': server.id, 'partner': partner.id, 'boxes': boxes.ids,
               'users': boxes.mapped('user_id').ids}
    yield proxy, registry, ids, tag
    proxy.stop()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids['boxes']).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse(ids['partner']).unlink()
        env['res.users'].browse(ids['users']).write({'active': False})


def _imported(registry, tag):
    with registry.cursor() as cr:
        cr.execute("SELECT count(*), count(DISTINCT message_id) FROM mail_message WHERE message_id LIKE %s",
                   ['<%s-%%' % tag])
        return cr.fetchone()


def _figure(output, name):
    """A figure the worker printed at its end (``name=value``)."""
    assert name + '=' in output, output[-3000:]
    return float(output.split(name + '=')[1].split()[0])


def _synced(output):
    return int(_figure(output, 'synced'))


def _worker(boxes, *options):
    return subprocess.Popen(worker_args(boxes, '--cron', *options), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)


def _wait_for(path, worker):
    deadline = time.monotonic() + 240  # generous: the worker starts Odoo on a busy machine
    while not path.exists():
        assert worker.poll() is None, worker.communicate()[0][-3000:]
        assert time.monotonic() < deadline, 'worker never paused'
        time.sleep(0.05)


def test_two_processes_never_exceed_the_profile_limit(profile, tmp_path):
    """Worker A stops in the middle of its first mailbox, holding the profile's only
    connection; worker B, another process, runs the same cron meanwhile: it must be turned
    away from every other mailbox (it competed, and lost). Then both run freely until all
    is synced; the proxy never saw two connections open at once."""
    proxy, registry, ids, tag = profile
    boxes = ','.join(map(str, ids['boxes']))
    first, rival = _worker(boxes, '--pause-at', 1, '--signal-dir', tmp_path), None
    try:
        _wait_for(tmp_path / 'paused', first)
        assert (proxy.connections, proxy.open) == (1, 1), 'A holds its connection while paused'
        second = subprocess.run(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
        assert (_synced(second), _figure(second, 'busy')) == (0, MAILBOXES - 1), second[-3000:]
        assert proxy.connections == 1, 'B opened no connection of its own'
        (tmp_path / 'go').touch()
        rival = _worker(boxes)  # runs while A finishes
        synced = _synced(first.communicate(timeout=300)[0]) + _synced(rival.communicate(timeout=300)[0])
    finally:
        for worker in (first, rival):
            if worker is not None and worker.poll() is None:
                worker.kill()
    for _round in range(10):  # what both turned down is left to later runs
        if synced >= MAILBOXES:
            break
        workers = [_worker(boxes) for _number in range(2)]
        synced += sum(_synced(worker.communicate(timeout=300)[0]) for worker in workers)
    assert synced == MAILBOXES
    assert proxy.peak == 1, 'connections open at once: %d (limit 1)' % proxy.peak
    assert proxy.connections == MAILBOXES
    assert _imported(registry, tag) == (MAILBOXES * MESSAGES, MAILBOXES * MESSAGES)


def test_a_worker_without_a_free_connection_moves_on(profile):
    """Each mailbox is tried once and skipped, without waiting for a slot: turned away from
    all of them, the worker takes less time than the same worker syncing them (a relative
    bound, which holds however busy the machine is; a fixed window would not)."""
    proxy, registry, ids, tag = profile
    boxes = ','.join(map(str, ids['boxes']))
    with registry.cursor() as holder:  # another worker holds the profile's only connection
        holder.execute('SELECT pg_advisory_lock(%s, %s)',
                       [SLOT_CLASS['incoming'], ids['server'] * SLOTS_PER_PROFILE])
        out = subprocess.run(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
        assert (_synced(out), _figure(out, 'busy'), proxy.connections) == (0, MAILBOXES, 0), out[-3000:]
        turned_away = _figure(out, 'seconds')
        holder.execute('SELECT pg_advisory_unlock_all()')
    out = subprocess.run(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
    assert (_synced(out), _figure(out, 'busy')) == (MAILBOXES, 0), out[-3000:]
    assert turned_away < _figure(out, 'seconds'), (turned_away, out[-3000:])
    assert _imported(registry, tag) == (MAILBOXES * MESSAGES, MAILBOXES * MESSAGES)
