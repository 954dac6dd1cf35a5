"""Sync cycles as jobs on real Odoo servers with OCA queue_job's runner (threaded and
prefork): email delivered to Dovecot reaches Odoo through jobs only (no cron, no test
code running a cycle); a prefork worker killed with SIGKILL in the middle of a job leaves
it 'started', the scheduler requeues it and every message is imported exactly once; two
Odoo hosts on one database behind a load balancer share the jobs of one runner and never
sync one mailbox at once. Data is committed: the servers are other processes."""
import configparser
import datetime
import os
import re
import signal
import time
import uuid

import odoo
import psutil
import pytest

from devstack.balancer import Balancer
from devstack.faultproxy import FaultProxy
from devstack.odoo import serve
from devstack.procs import TEST_DIR, free_port, stop_pid, wait_port

from ..models.mail_sync_mailbox_jobs import DEAD_AFTER
from ..models.mail_sync_mailbox_jobs import JOB_CHANNELS
from ..models.mail_sync_mailbox_scheduler import CLAIM_CLASS
from .common import enabled_mailbox
from .test_incoming import raw_mail

_RUN = uuid.uuid4().hex[:8]


def wait_for(condition, timeout=180, what='condition'):
    deadline = time.monotonic() + timeout  # generous: Odoo starts on a busy 2-CPU machine
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.fixture
def world(mail_servers, request):
    """A committed IMAP profile behind a proxy (to slow it down at will), a thread the
    replies go to, and a cleanup of the mailboxes created."""
    proxy = FaultProxy(mail_servers.dovecot.ports['imap']).start()
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        # Only ours are due: a server started here runs what is due in the whole database.
        env['mail.sync.mailbox'].search([]).write({'next_sync': '2999-01-01 00:00:00'})
        cr.execute("DELETE FROM queue_job WHERE state IN ('pending', 'enqueued', 'started')")
        server = env['mail.sync.server'].create({
            'name': 'Jobs %s' % request.node.name[-30:], 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': proxy.port, 'incoming_encryption': 'none', 'timeout': 30})
        partner = env['res.partner'].create({'name': 'Jobs customer'})
        thread = partner.message_post(body='Quote', message_type='comment').message_id
        cr.commit()
    made = {'boxes': [], 'server': server.id, 'partner': partner.id, 'thread': thread}
    yield proxy, registry, made
    proxy.stop()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        boxes = env['mail.sync.mailbox'].browse(made['boxes'])
        users = boxes.mapped('user_id')
        cr.execute("DELETE FROM queue_job WHERE identity_key LIKE 'mail_sync.%%'")
        boxes.unlink()
        env['mail.sync.server'].browse(made['server']).unlink()
        env['res.partner'].browse(made['partner']).unlink()
        users.write({'active': False})
        cr.commit()


def new_mailbox(world, mail_servers, tag, messages):
    """A mailbox holding ``messages`` replies, enabled and with its first cycle enqueued (as
    Test & Enable leaves it)."""
    _proxy, registry, made = world
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append_many(login, [
        raw_mail('C <c@jobs.test>', 'R %d' % n, '<%s-%s-%d@jobs.test>' % (_RUN, tag, n), made['thread'])
        for n in range(messages)])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        box = enabled_mailbox(env, made['server'], login, password, 'Jobs %s' % tag, 'jobs-%s-%s' % (_RUN, tag))
        box.next_sync = False
        box._enqueue_next_cycle('incoming')
        cr.commit()
        made['boxes'].append(box.id)
        return box.id


def query(registry, sql, params=()):
    with registry.cursor() as cr:
        cr.execute(sql, list(params))
        return cr.fetchall()


def imported(registry, tag):
    """(messages, distinct Message-IDs) of this mailbox's replies in Odoo."""
    return query(registry, "SELECT count(*), count(DISTINCT message_id) FROM mail_message WHERE message_id LIKE %s",
                 ['<%s-%s-%%' % (_RUN, tag)])[0]


def job_states(registry, box):
    return [row[0] for row in query(registry, """SELECT state FROM queue_job WHERE identity_key = %s
                                                  ORDER BY id""", ['mail_sync.incoming.%d' % box])]


def odoo_server(name, *extra):
    """An Odoo server with the job runner (server-wide queue_job, from the test config)
    and no cron thread: whatever syncs, a job did."""
    port = free_port()
    log = os.path.join(TEST_DIR, 'jobs-%s.log' % name)
    proc = serve(os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'], port, log,
                 extra_args=['--max-cron-threads', '0'] + list(extra))
    wait_port(port, timeout=120, proc=proc, what='Odoo (%s)' % name, log=log)
    return proc


@pytest.mark.parametrize('mode', ['threaded', 'prefork'])
def test_email_reaches_odoo_through_jobs(world, mail_servers, mode):
    _proxy, registry, _made = world
    box = new_mailbox(world, mail_servers, mode, 3)
    proc = odoo_server(mode, *(['--workers', '2'] if mode == 'prefork' else []))
    try:
        wait_for(lambda: imported(registry, mode) == (3, 3), what='the 3 messages imported by a job')
        # The cycle's job is done, the next one waits for the mailbox's next due time.
        states = wait_for(lambda: job_states(registry, box)[-2:] == ['done', 'pending'] and job_states(registry, box),
                          what='the next cycle enqueued')
        assert states.count('pending') == 1
        [(eta, next_sync)] = query(registry, """SELECT job.eta, ch.next_sync FROM queue_job job, mail_sync_channel ch
                                                WHERE ch.mailbox_id = %s AND ch.channel = 'incoming' AND job.identity_key = %s AND job.state = 'pending'""",
                                   [box, 'mail_sync.incoming.%d' % box])
        assert eta == next_sync and next_sync > odoo.fields.Datetime.now()  # Odoo's cursor: strings
    finally:
        stop_pid(proc)


def claim_holder(registry, box):
    """The PostgreSQL backend holding the mailbox's claim (the worker running its cycle)."""
    rows = query(registry, """SELECT activity.client_port FROM pg_locks lock
                              JOIN pg_stat_activity activity ON activity.pid = lock.pid
                              WHERE lock.locktype = 'advisory' AND lock.objsubid = 2
                                AND lock.classid = %s AND lock.objid = %s""", [CLAIM_CLASS['incoming'], box])
    return rows[0][0] if rows else None


def worker_with_port(server, port):
    """The Odoo worker process (a child of ``server``) owning the database connection from ``port``."""
    for child in psutil.Process(server.pid).children():
        try:
            if any(conn.laddr and conn.laddr[1] == port for conn in child.connections(kind='tcp')):
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_worker_killed_in_a_job_is_requeued_and_imports_each_message_once(world, mail_servers):
    proxy, registry, _made = world
    proxy.delay = 0.1  # every IMAP answer a little late: the cycle lasts long enough to be killed
    messages = 150  # three batches (commits) of 50
    box = new_mailbox(world, mail_servers, 'kill', messages)
    proc = odoo_server('kill', '--workers', '2')
    try:
        port = wait_for(lambda: claim_holder(registry, box), what='a worker syncing the mailbox')
        pid = wait_for(lambda: worker_with_port(proc, port), what='the worker process of the job')
        wait_for(lambda: 0 < imported(registry, 'kill')[0], what='a first commit of the cycle')
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: claim_holder(registry, box) is None, what='the claim released by the dead worker')
        before = imported(registry, 'kill')[0]
        assert before < messages, 'killed in the middle of the cycle'
        assert job_states(registry, box)[-1] == 'started', 'queue_job leaves a dead job started'
        # Later (DEAD_AFTER on): the scheduler's run requeues it; the runner runs it again.
        with registry.cursor() as cr:
            cr.execute("""UPDATE queue_job SET date_started = date_started - %s
                          WHERE identity_key = %s AND state = 'started'""",
                       [datetime.timedelta(seconds=DEAD_AFTER + 1), 'mail_sync.incoming.%d' % box])
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            assert env['mail.sync.mailbox']._requeue_dead_jobs('incoming') == 1
            cr.commit()
        proxy.delay = 0
        wait_for(lambda: imported(registry, 'kill')[0] == messages, what='every message imported')
        wait_for(lambda: 'started' not in job_states(registry, box) and 'enqueued' not in job_states(registry, box),
                 what='the jobs settled')
        assert imported(registry, 'kill') == (messages, messages), 'each message exactly once'
        [(ledger,)] = query(registry, "SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %s AND state = 'imported'",
                            [box])
        assert ledger == messages
    finally:
        stop_pid(proc)


# The runner's host: every job of a round (two per mailbox) dispatched at once.
TWO_HOSTS_CHANNELS = ('root:8,root.mail_sync.incoming:6,root.mail_sync.outgoing:1,'
                      'root.mail_sync.act:1,root.mail_sync.housekeeping:1')
RACE_ROUNDS = 5


def runner_host_config(balancer_port):
    """The test configuration for the one host that runs the job runner: it asks the
    balancer (not itself) to run each job, as in a deployment with several hosts."""
    config = configparser.RawConfigParser()
    config.read(os.environ['MAIL_SYNC_TEST_CONF'])
    config.set('queue_job', 'channels', TWO_HOSTS_CHANNELS)
    config.set('queue_job', 'host', '127.0.0.1')
    config.set('queue_job', 'port', str(balancer_port))
    path = os.path.join(TEST_DIR, 'jobs-two-hosts.conf')
    with open(path, 'w') as handle:
        config.write(handle)
    return path


def start_host(name, conf, port, *extra):
    """An Odoo host with its cron threads (Odoo's default), on ``port``."""
    log = os.path.join(TEST_DIR, 'jobs-%s.log' % name)
    proc = serve(conf, os.environ['MAIL_SYNC_TEST_DB'], port, log, extra_args=list(extra))
    wait_port(port, timeout=120, proc=proc, what='Odoo (%s)' % name, log=log)
    return proc


def race_round(registry, boxes):
    """Every mailbox due now, its pending job brought forward and a second job for it
    (no identity key: as when two runners or a restore enqueue it twice): both are
    dispatched at once, so the two hosts go for one mailbox at the same time."""
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        cr.execute("UPDATE mail_sync_channel SET next_sync = NULL WHERE channel = 'incoming' AND mailbox_id IN %s",
                   [tuple(boxes)])
        for box in env['mail.sync.mailbox'].browse(boxes):
            box._enqueue_cycle('incoming')
            box.with_delay(channel=JOB_CHANNELS['incoming'], max_retries=0)._job_cycle('incoming')
        cr.commit()


def cycle_jobs(registry, boxes):
    """{job uuid: (mailbox id, state, result, date_started, date_done)} of our mailboxes' incoming jobs."""
    jobs = {}
    for uuid_, func, state, result, started, done in query(
            registry, """SELECT uuid, func_string, state, result, date_started, date_done FROM queue_job
                         WHERE method_name = '_job_cycle' AND model_name = 'mail.sync.mailbox'"""):
        match = re.match(r"mail\.sync\.mailbox\((\d+),\)\._job_cycle\('incoming'\)", func or '')
        if match and int(match.group(1)) in boxes:
            jobs[uuid_] = (int(match.group(1)), state, result or '', started, done)
    return jobs


def runs_by_job(balancer):
    """{job uuid: [(host, arrived, answered)]} of the runjob requests the balancer passed on."""
    runs = {}
    for request in list(balancer.requests):
        match = re.search(r'job_uuid=([0-9a-f-]+)', request['path'])
        if match and request['path'].startswith('/queue_job/runjob'):
            runs.setdefault(match.group(1), []).append((request['host'], request['start'], request['end']))
    return runs


def overlap(first, second):
    return first[0] < second[1] and second[0] < first[1]


def raced_mailboxes(jobs, runs):
    """Mailboxes both hosts were at work on at the same moment: runjob requests of two of
    its jobs in flight at once, one on each host."""
    spans = {}
    for uuid_, job in jobs.items():
        for host, start, end in runs.get(uuid_, ()):
            if end:
                spans.setdefault(job[0], []).append((uuid_, host, (start, end)))
    return {box for box, items in spans.items() for first in items for second in items
            if first[0] != second[0] and first[1] != second[1] and overlap(first[2], second[2])}


def test_two_hosts_share_one_runner_and_never_sync_one_mailbox_at_once(world, mail_servers):
    """Host A runs the job runner and its jobs go through a round-robin balancer to A and
    B (B: ``--load web``, no runner); both keep their cron threads. Each round, every
    mailbox gets two jobs at once. Whoever claims the mailbox first syncs it; the other
    job is turned away (retried later: 'not due')."""
    proxy, registry, _made = world
    proxy.delay = 0.2  # every IMAP answer a little late: a cycle lasts long enough to be raced
    messages = 8
    tags = ['hosts-%d' % n for n in range(3)]
    boxes = [new_mailbox(world, mail_servers, tag, messages) for tag in tags]
    ports = [free_port(), free_port()]
    balancer = Balancer(ports).start()
    conf = runner_host_config(balancer.port)
    procs = []
    try:
        with odoo.api.Environment.manage(), registry.cursor() as cr:  # the first round's second jobs
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            for box in env['mail.sync.mailbox'].browse(boxes):
                box.with_delay(channel=JOB_CHANNELS['incoming'], max_retries=0)._job_cycle('incoming')
            cr.commit()
        procs.append(start_host('host-b', conf, ports[1], '--load', 'web'))
        procs.append(start_host('host-a', conf, ports[0]))
        raced = cycled = None
        for round_ in range(RACE_ROUNDS):
            if round_:
                race_round(registry, boxes)
            wait_for(lambda: all(imported(registry, tag)[0] == messages for tag in tags),
                     what='every message imported')
            wait_for(lambda: all(state in ('done', 'failed') or (state == 'pending' and result == '')
                                 for _box, state, result, _s, _d in cycle_jobs(registry, boxes).values())
                     and not [1 for _b, state, _r, _s, _d in cycle_jobs(registry, boxes).values()
                              if state in ('enqueued', 'started')],
                     what='the round settled: only the next cycles pending')
            jobs, runs = cycle_jobs(registry, boxes), runs_by_job(balancer)
            cycled = {runs[uuid_][-1][0] for uuid_, job in jobs.items()
                      if job[1] == 'done' and job[2].startswith('synced') and uuid_ in runs}
            raced = raced_mailboxes(jobs, runs)
            if raced and cycled == {0, 1}:
                break
        assert cycled == {0, 1}, 'both hosts ran cycles'
        assert raced, 'both hosts went for one mailbox at the same time'
        for box in boxes:
            cycles = sorted((job[3], job[4]) for job in jobs.values()
                            if job[0] == box and job[1] == 'done' and job[2].startswith('synced'))
            for first, second in zip(cycles, cycles[1:]):
                assert first[1] <= second[0], 'mailbox %d in two cycles at once: %s' % (box, cycles)
            assert not [job for job in jobs.values() if job[0] == box and job[1] == 'failed'], 'no job failed'
        for tag, box in zip(tags, boxes):
            assert imported(registry, tag) == (messages, messages), 'each message exactly once'
            [(ledger,)] = query(registry, """SELECT count(*) FROM mail_sync_ledger
                                              WHERE mailbox_id = %s AND state = 'imported'""", [box])
            assert ledger == messages
    finally:
        for proc in procs:
            stop_pid(proc)
        balancer.stop()
        with registry.cursor() as cr:  # the second jobs have no identity key: the fixture keeps them
            cr.execute('DELETE FROM queue_job WHERE uuid IN %s', [tuple(cycle_jobs(registry, boxes)) or ('',)])
