"""Connection throttling across processes: never more connections to a server than
its profile allows, counted by a proxy in front of the real Dovecot while separate
Odoo worker processes sync many mailboxes of that profile; a worker that finds no
free connection moves on instead of waiting."""
import os
import subprocess

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


def _synced(output):
    assert 'synced=' in output, output[-3000:]
    return int(output.split('synced=')[1].split()[0])


def test_two_processes_never_exceed_the_profile_limit(profile):
    proxy, registry, ids, tag = profile
    boxes = ','.join(map(str, ids['boxes']))
    synced = 0
    for _round in range(10):
        workers = [subprocess.Popen(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, universal_newlines=True)
                   for _worker in range(2)]
        synced += sum(_synced(worker.communicate(timeout=300)[0]) for worker in workers)
        if synced >= MAILBOXES:
            break
    assert synced == MAILBOXES
    assert proxy.peak == 1, 'connections open at once: %d (limit 1)' % proxy.peak
    assert proxy.connections == MAILBOXES
    assert _imported(registry, tag) == (MAILBOXES * MESSAGES, MAILBOXES * MESSAGES)


def test_a_worker_without_a_free_connection_moves_on(profile):
    proxy, registry, ids, tag = profile
    boxes = ','.join(map(str, ids['boxes']))
    with registry.cursor() as holder:  # another worker holds the profile's only connection
        holder.execute('SELECT pg_advisory_lock(%s, %s)',
                       [SLOT_CLASS['incoming'], ids['server'] * SLOTS_PER_PROFILE])
        out = subprocess.run(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
        assert _synced(out) == 0 and proxy.connections == 0
        holder.execute('SELECT pg_advisory_unlock_all()')
    out = subprocess.run(worker_args(boxes, '--cron'), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
    assert _synced(out) == MAILBOXES
    assert _imported(registry, tag) == (MAILBOXES * MESSAGES, MAILBOXES * MESSAGES)
