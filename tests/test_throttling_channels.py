"""One connection limit per profile, over all its channels: incoming email, outgoing email
and its Sent copies (and appointments, which draw on the same slots). Separate worker
processes run the channels of the same mailboxes at once, through proxies in front of the
real Dovecot and SMTP server that count their connections together."""
import os
import subprocess
import time

import odoo
import pytest

from devstack.faultproxy import FaultProxy

from .common import enabled_mailbox
from .kill_driver import worker_args
from .test_incoming import raw_mail

MAILBOXES = 3
MESSAGES = 4
LIMIT = 2


@pytest.fixture
def profile(mail_servers, request):
    """A committed IMAP profile allowing two connections, its IMAP and SMTP behind slow
    proxies sharing one count; mailboxes with incoming mail waiting and outgoing enabled."""
    imap = FaultProxy(mail_servers.dovecot.ports['imap']).start()
    smtp = FaultProxy(mail_servers.smtp.port, meter=imap.meter).start()
    imap.delay = smtp.delay = 0.02  # every answer a little late, so that cycles overlap
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    tag = 'chan%s' % request.node.name.replace('_', '')[-12:]
    customer_login, _password = mail_servers.new_account()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Shared limit %s' % tag, 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': imap.port, 'incoming_encryption': 'none', 'outgoing_host': 'localhost',
            'outgoing_port': smtp.port, 'outgoing_encryption': 'none', 'append_sent': True,
            'max_connections': LIMIT})
        customer = env['res.partner'].create({'name': 'Channels customer', 'email': customer_login})
        thread = customer.message_post(body='Quote', message_type='comment').message_id
        groups = [(6, 0, [env.ref('base.group_user').id, env.ref('base.group_partner_manager').id])]
        boxes = env['mail.sync.mailbox']
        for number in range(MAILBOXES):
            login, password = mail_servers.new_account()
            mail_servers.dovecot.append_many(login, [
                raw_mail('C <%s>' % customer_login, 'R', '<%s-%d-%d@channels.test>' % (tag, number, n), thread)
                for n in range(MESSAGES)])
            box = enabled_mailbox(env, server.id, login, password, 'Channels %s %d' % (tag, number),
                                  'channels-%s-%d' % (tag, number), outgoing_enabled=True)
            box.user_id.write({'email': login, 'groups_id': groups})
            boxes |= box
        cr.commit()
        ids = {'server': server.id, 'customer': customer.id, 'boxes': boxes.ids,
               'users': boxes.mapped('user_id').ids}
    yield imap, registry, ids, tag
    imap.stop()
    smtp.stop()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids['boxes']).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse(ids['customer']).unlink()
        env['res.users'].browse(ids['users']).write({'active': False})


def _post(registry, ids, text):
    """Each rep writes to the customer: one email queued in each mailbox's outbox."""
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        for user_id in ids['users']:
            env = odoo.api.Environment(cr, user_id, {})
            env['res.partner'].browse(ids['customer']).message_post(
                body=text, subject=text, message_type='comment', subtype='mail.mt_comment',
                partner_ids=[ids['customer']])
        cr.commit()


def _figure(output, name):
    assert name + '=' in output, output[-3000:]
    return float(output.split(name + '=')[1].split()[0])


def _start(channel, boxes, *options):
    return subprocess.Popen(worker_args(boxes, '--cron', '--channel', channel, *options),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)


def _run(channel, boxes):
    return _start(channel, boxes).communicate(timeout=300)[0]


def _while_paused(channel, boxes, pause_at, signal_dir, meanwhile):
    """Run a ``channel`` worker until its commit ``pause_at``, call ``meanwhile()``, let it
    finish; its output."""
    signal_dir.mkdir()
    worker = _start(channel, boxes, '--pause-at', pause_at, '--signal-dir', signal_dir)
    try:
        deadline = time.monotonic() + 240  # generous: the worker starts Odoo on a busy machine
        while not (signal_dir / 'paused').exists():
            assert worker.poll() is None, worker.communicate()[0][-3000:]
            assert time.monotonic() < deadline, 'worker never paused'
            time.sleep(0.05)
        meanwhile()
        (signal_dir / 'go').touch()
        return worker.communicate(timeout=300)[0]
    finally:
        if worker.poll() is None:
            worker.kill()


def _outbox(registry, ids):
    with registry.cursor() as cr:
        cr.execute("SELECT state, count(*) FROM mail_sync_outbox WHERE mailbox_id = ANY(%s) GROUP BY state",
                   [ids['boxes']])
        return dict(cr.fetchall())


def _ledger(registry, ids, tag):
    with registry.cursor() as cr:
        cr.execute("""SELECT count(*), count(DISTINCT message_id) FROM mail_sync_ledger
                      WHERE mailbox_id = ANY(%s) AND message_id LIKE %s""", [ids['boxes'], '<%s-%%' % tag])
        return cr.fetchone()


def test_all_channels_together_never_exceed_the_profile_limit(profile, tmp_path):
    meter_proxy, registry, ids, tag = profile
    boxes = ','.join(map(str, ids['boxes']))
    _post(registry, ids, 'First offer')
    first = _outbox(registry, ids)
    assert list(first) == ['queued'] and first['queued'] >= MAILBOXES, first

    # 1. An outgoing worker stops after its first email was sent and copied: its SMTP and
    # its IMAP session (the Sent copy) hold both connections. The incoming worker that runs
    # meanwhile must find no free connection for any mailbox.
    def incoming_turned_away():
        assert meter_proxy.open == LIMIT, 'SMTP and the Sent copy session are open'
        before = meter_proxy.connections
        out = _run('incoming', boxes)
        assert (_figure(out, 'synced'), _figure(out, 'busy')) == (0, MAILBOXES), out[-3000:]
        assert meter_proxy.connections == before, 'no connection opened past the limit'
    out = _while_paused('outgoing', boxes, 2, tmp_path / 'out', incoming_turned_away)
    assert _figure(out, 'synced') == MAILBOXES, out[-3000:]
    assert _outbox(registry, ids) == {'sent': first['queued']}

    # 2. An incoming worker holds one connection: an outgoing cycle needs two (SMTP and its
    # Sent copy), so the outgoing worker that runs meanwhile is turned away too.
    _post(registry, ids, 'Second offer')
    total = sum(_outbox(registry, ids).values())

    def outgoing_turned_away():
        assert meter_proxy.open == 1
        out = _run('outgoing', boxes)
        assert (_figure(out, 'synced'), _figure(out, 'busy')) == (0, MAILBOXES), out[-3000:]
    out = _while_paused('incoming', boxes, 1, tmp_path / 'in', outgoing_turned_away)
    assert _figure(out, 'synced') == MAILBOXES, out[-3000:]

    # 3. Both channels at once, freely, until everything is done.
    for _round in range(10):
        if _outbox(registry, ids) == {'sent': total}:
            break
        workers = [_start('outgoing', boxes), _start('incoming', boxes)]
        for worker in workers:
            worker.communicate(timeout=300)
    assert _outbox(registry, ids) == {'sent': total}
    assert _ledger(registry, ids, tag) == (MAILBOXES * MESSAGES, MAILBOXES * MESSAGES)
    assert meter_proxy.peak == LIMIT, 'connections open at once: %d (limit %d)' % (meter_proxy.peak, LIMIT)
