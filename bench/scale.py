"""Scale of incoming sync: many mostly idle mailboxes on one IMAP profile (issue 4).

Starts its own PostgreSQL, Dovecot (one account per mailbox) and database in
.build/bench-scale, creates N users with enabled mailboxes on one profile (IMAP, plain on
loopback), puts a few replies in some mailboxes and syncs every mailbox once, so that all
are known and idle. Then it measures:

1. Idle cost: one lane (``_cron_sync('incoming')``, in this process) over all N mailboxes
   made due at once: seconds, SQL queries and IMAP round trips per idle mailbox.
2. Freshness capacity: mailboxes one worker keeps within the 12-minute maximum interval.
3. Speed-up: 1, 2 and 4 worker processes (bench/scale_worker.py) sweeping all N due
   mailboxes with the profile's connection limit at 10, and 4 workers against a limit of 2;
   with the workers' own CPU time and how busy the whole machine was meanwhile.
4. Delay from a message's arrival to its record in Odoo: the real cron lane (its default
   budget, following the queue, then asleep for 60 s as Odoo 11's cron thread) runs while a delivery thread appends
   replies to random mailboxes; the record time is when the mail.message row becomes
   visible to another connection (polled every half second). Once with the default
   intervals of a new profile (1/1/1 minutes) and one lane, once with Dynamics-like
   intervals (2/5/12 minutes).

Arrival model: a Poisson stream of RATE messages per minute over the whole population;
half of them go to a busy 5% of the mailboxes, half to the other 95% (uniformly within
each group). Each delay run starts from the steady state of a long idle period: every
mailbox at its maximum interval, its next poll uniformly spread over that interval.

Run: PYTHONPATH=. .venv/bin/python bench/scale.py [MAILBOXES] [--minutes M] [--rate R]
"""
import argparse
import contextlib
import datetime
import imaplib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.dovecot import Dovecot  # noqa: E402
from devstack.odoo import install, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port, stop_pid  # noqa: E402

BENCH = os.path.join(BUILD, 'bench-scale')
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scale_worker.py')
DB = 'mail_sync_scale'
FRESHNESS = 12 * 60  # seconds: the maximum interval a mailbox may wait between polls

def lane_budget():
    """Seconds a cron lane of the service before issue 20 ran in a threaded server (its
    CRON_BUDGET): the capacity figure of the cron lanes, kept for comparison."""
    return 240


def cron_duty():
    """Share of the time a cron lane works: its budget, then Odoo's cron thread sleeps."""
    from odoo.service.server import SLEEP_INTERVAL
    return lane_budget() / float(lane_budget() + SLEEP_INTERVAL)
BATCH = 200  # mailboxes per transaction while populating
SPEEDUP_RUNS = [(1, 10), (2, 10), (4, 10), (4, 2)]  # (worker processes, max connections)
BUSY_SHARE, BUSY_MAIL = 0.05, 0.5  # 5% of the mailboxes receive half of the mail


def login(number):
    return 'u%05d@scale.test' % number


def reply(tag, number, thread_id, to):
    """A customer's reply to an Odoo thread: imported under the default tracking rule."""
    return ('From: Customer %d <customer%d@client.test>\r\nTo: %s\r\nSubject: Re: Quote\r\n'
            'Date: Sun, 29 Nov 2026 06:00:00 +0000\r\nMessage-ID: <scale-%s-%d@client.test>\r\n'
            'In-Reply-To: %s\r\nReferences: %s\r\nMIME-Version: 1.0\r\n'
            'Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, could you confirm the delivery '
            'date of item %d?\r\n' % (number, number, to, tag, number, thread_id, thread_id, number)
            ).encode('utf-8')


def machine_cpu():
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open('/proc/stat') as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def percentile(values, share):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(share * len(ordered))) - 1)]


def copy_users(env, count, name, login):
    """User ids, one per mailbox: the first through the ORM, the others copied from it by
    SQL (the ORM takes 0.1 to 0.3 s per user here, mostly the avatar and the welcome
    message, and Odoo 11 re-subscribes all employees to #general at each new user).
    ``name`` and ``login`` are patterns taking the user's number."""
    cr = env.cr
    template = env['res.users'].create({'name': name % 0, 'login': login % 0})

    def columns(table, skip):
        cr.execute('SELECT column_name FROM information_schema.columns WHERE table_name = %s', [table])
        return ', '.join('"%s"' % column for (column,) in cr.fetchall() if column not in skip)
    numbers = range(1, count)
    names = [name % n for n in numbers]
    copied = columns('res_partner', ('id', 'name', 'display_name', 'commercial_partner_id'))
    cr.execute('INSERT INTO res_partner (name, display_name, {0}) SELECT v.name, v.name, {0} '
               'FROM res_partner, unnest(%s::varchar[]) AS v(name) WHERE res_partner.id = %s '
               'RETURNING name, id'.format(copied), [names, template.partner_id.id])
    partners = dict(cr.fetchall())
    cr.execute('UPDATE res_partner SET commercial_partner_id = id WHERE id = ANY(%s)',
               [list(partners.values())])
    copied = columns('res_users', ('id', 'login', 'partner_id', 'alias_id'))
    cr.execute('INSERT INTO res_users (login, partner_id, {0}) SELECT v.login, v.partner, {0} '
               'FROM res_users, unnest(%s::varchar[], %s::int[]) AS v(login, partner) '
               'WHERE res_users.id = %s RETURNING login, id'.format(copied),
               [[login % n for n in numbers], [partners[n] for n in names], template.id])
    users = dict(cr.fetchall())
    new = list(users.values())
    cr.execute('INSERT INTO res_groups_users_rel (gid, uid) SELECT gid, v.uid FROM res_groups_users_rel, '
               'unnest(%s::int[]) AS v(uid) WHERE res_groups_users_rel.uid = %s', [new, template.id])
    cr.execute('INSERT INTO res_company_users_rel (cid, user_id) SELECT cid, v.uid FROM res_company_users_rel, '
               'unnest(%s::int[]) AS v(uid) WHERE res_company_users_rel.user_id = %s', [new, template.id])
    env.cache.invalidate()
    return [template.id] + [users[login % n] for n in numbers]


class Probe(object):
    """Counts IMAP round trips (a read after a write waited for the server; the greeting and
    an unawaited LOGOUT are none) and times the incoming cycle and its login+STATUS."""

    def __init__(self, mailbox_class, connector_class):
        self.round_trips = self.cycle_seconds = self.status_seconds = self.cycle_queries = 0
        self.targets = [(imaplib.IMAP4, 'send'), (imaplib.IMAP4, 'readline'),
                        (mailbox_class, '_sync_incoming'), (connector_class, 'status')]
        self.saved = [getattr(owner, name) for owner, name in self.targets]

    def __enter__(self):
        probe, (send, readline, sync, status) = self, self.saved

        def counting_send(client, data):
            client.bench_waiting = True
            return send(client, data)

        def counting_readline(client):
            if getattr(client, 'bench_waiting', False):
                probe.round_trips += 1
                client.bench_waiting = False
            return readline(client)

        def timed_sync(mailbox):
            start, queries = time.perf_counter(), mailbox.env.cr.sql_log_count
            try:
                return sync(mailbox)
            finally:
                probe.cycle_seconds += time.perf_counter() - start
                probe.cycle_queries += mailbox.env.cr.sql_log_count - queries

        def timed_status(connector, *args, **kwargs):
            start = time.perf_counter()
            try:
                return status(connector, *args, **kwargs)
            finally:
                probe.status_seconds += time.perf_counter() - start
        for (owner, name), wrapper in zip(self.targets, (counting_send, counting_readline, timed_sync,
                                                          timed_status)):
            setattr(owner, name, wrapper)
        return self

    def __exit__(self, *exc):
        for (owner, name), original in zip(self.targets, self.saved):
            setattr(owner, name, original)


class Bench(object):
    def __init__(self, count, options):
        self.count = count
        self.options = options
        self.users = {login(n): 'pw-%05d' % n for n in range(count)}
        self.pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
        self.dovecot = Dovecot(os.path.join(BENCH, 'dovecot'), users=self.users)
        self.conf = write_config(os.path.join(BENCH, 'odoo.conf'), self.pg.params,
                                 os.path.join(BENCH, 'data'))
        self.procs = []  # worker processes still to stop
        self.figures = {}
        self.registry = self.server_id = self.thread_id = None
        self.ids, self.emails = [], {}

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def env(self):
        import odoo
        with self.registry.cursor() as cr:
            yield odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})

    def sql(self, query, params=None):
        with self.env() as env:
            env.cr.execute(query, params)
            return env.cr.fetchall() if env.cr.description else None

    def make_due(self):
        self.sql("UPDATE mail_sync_channel SET next_sync = NULL WHERE channel = 'incoming'")

    def set_profile(self, **values):
        with self.env() as env:
            env['mail.sync.server'].browse(self.server_id).write(values)

    def start_workers(self, count, mode, tag):
        """Start ``count`` worker processes, wait until each has loaded the registry, release
        them at once; return them with the release time."""
        folder = os.path.join(BENCH, 'signals', tag)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        ids_file = os.path.join(folder, 'ids')
        with open(ids_file, 'w') as handle:
            handle.write(','.join(map(str, self.ids)))
        log = os.path.join(BENCH, 'workers.log')
        with open(log, 'ab') as stderr:  # the workers keep their own copy
            procs = [subprocess.Popen([sys.executable, WORKER, self.conf, DB, mode, folder, str(number),
                                       '--ids-file', ids_file], stdout=subprocess.PIPE,
                                      stderr=stderr, universal_newlines=True)
                     for number in range(count)]
        self.procs += procs
        while not all(os.path.exists(os.path.join(folder, 'ready-%d' % n)) for n in range(count)):
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError('a worker died while starting (see %s)' % log)
            time.sleep(0.05)
        released = time.time()
        open(os.path.join(folder, 'go'), 'w').close()
        return procs, released

    def sweep(self, workers, tag):
        """All mailboxes due at once, ``workers`` processes sweep them: wall seconds, reports."""
        self.make_due()
        procs, released = self.start_workers(workers, 'sweep', tag)
        cpu_before = machine_cpu()
        reports = []
        for proc in procs:
            out = proc.communicate(timeout=3600)[0]
            self.procs.remove(proc)
            lines = [line for line in out.splitlines() if line.startswith('{')]
            if proc.returncode or not lines:
                raise RuntimeError('worker failed (exit %s): %s' % (proc.returncode, out[-2000:]))
            reports.append(json.loads(lines[-1]))
        errors = [report['error'] for report in reports if report['error']]
        if errors:
            raise RuntimeError('worker stopped by %s' % errors[0])
        busy, total = (after - before for after, before in zip(machine_cpu(), cpu_before))
        for report in reports:
            report['machine_busy'] = busy / float(total)
        return max(report['end'] for report in reports) - released, reports

    def unhealthy(self):
        """How many mailboxes never synced or failed their last cycle; prints a few."""
        rows = self.sql("""SELECT m.id, m.incoming_status, m.last_sync,
                                  (SELECT l.message FROM mail_sync_log l WHERE l.mailbox_id = m.id
                                   AND l.severity != 'info' ORDER BY l.id DESC LIMIT 1)
                           FROM mail_sync_mailbox m
                           WHERE m.last_sync IS NULL OR m.incoming_status != 'ok' ORDER BY m.id""")
        for row in rows[:5]:
            print('bench: mailbox %s: status %s, last sync %s, last log: %s'
                  % (row[:3] + ((row[3] or '').strip(),)), flush=True)
        return len(rows)

    # ------------------------------------------------------------------ steps
    def populate(self):
        started = time.time()
        context = {'no_reset_password': True, 'tracking_disable': True, 'mail_create_nolog': True,
                   'mail_create_nosubscribe': True, 'mail_notrack': True}
        with self.env() as env:
            env = env(context=context)
            partner = env['res.partner'].create({'name': 'Scale customer'})
            self.thread_id = partner.message_post(body='Quote', message_type='comment').message_id
            self.server_id = env['mail.sync.server'].create({
                'name': 'Scale', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
                'incoming_port': self.dovecot.ports['imap'], 'incoming_encryption': 'none'}).id
            uuid = env['mail.sync.mailbox']._current_db_uuid()
            users = self.create_users(env)
            env.cr.commit()
            for first in range(0, self.count, BATCH):
                for number in range(first, min(self.count, first + BATCH)):
                    box = env['mail.sync.mailbox'].create({
                        'user_id': users[number], 'server_id': self.server_id, 'email': login(number),
                        'password': self.users[login(number)], 'state': 'enabled', 'approved': True,
                        'db_uuid': uuid})
                    self.ids.append(box.id)
                    self.emails[box.id] = login(number)
                env.cr.commit()
                print('bench: %d/%d mailboxes' % (len(self.ids), self.count), flush=True)
        seeded = self.ids[::20]
        for number, box in enumerate(seeded):
            to = self.emails[box]
            self.dovecot.append_many(to, [reply('seed', number * 10 + k, self.thread_id, to) for k in range(2)])
        self.figures['populate'] = time.time() - started
        print('bench: %d mailboxes in %.0f s; 2 replies in each of %d of them' % (
            self.count, self.figures['populate'], len(seeded)), flush=True)

    def create_users(self, env):
        return copy_users(env, self.count, 'Scale user %05d', 'scale-%05d')

    def first_cycle(self):
        """Every mailbox once (one worker): all are known, and idle from then on."""
        seconds, reports = self.sweep(1, 'first')
        bad = self.unhealthy()
        print('bench: first cycle of all %d mailboxes: %.1f s, %d not healthy' % (self.count, seconds, bad),
              flush=True)
        if bad:
            raise RuntimeError('%d mailboxes failed their first cycle' % bad)

    def idle_cost(self):
        """One lane in this process over all mailboxes due at once; the second sweep counts
        (the first warms this process's caches)."""
        from odoo.addons.mail_sync.models.mail_sync_mailbox_incoming import MailSyncMailboxIncoming
        from odoo.addons.mail_sync.sync.imap import ImapConnector
        for sweep in (1, 2):
            self.make_due()
            with self.env() as env, Probe(MailSyncMailboxIncoming, ImapConnector) as probe:
                queries, start = env.cr.sql_log_count, time.perf_counter()
                synced = env['mail.sync.mailbox']._cron_sync('incoming', mailbox_ids=self.ids)
                seconds = time.perf_counter() - start
                queries = env.cr.sql_log_count - queries
            print('bench: idle sweep %d: %d mailboxes in %.1f s' % (sweep, synced, seconds), flush=True)
        if synced != self.count:
            raise RuntimeError('the idle sweep synced %d of %d mailboxes' % (synced, self.count))
        per = float(synced)
        self.figures.update(
            idle_ms=seconds / per * 1000, cycle_ms=probe.cycle_seconds / per * 1000,
            status_ms=probe.status_seconds / per * 1000, idle_sql=queries / per,
            cycle_sql=probe.cycle_queries / per, round_trips=probe.round_trips / per,
            capacity=FRESHNESS / (seconds / per), capacity_cron=FRESHNESS * cron_duty() / (seconds / per),
            budget=lane_budget())

    def speedup(self):
        rows = []
        for workers, limit in SPEEDUP_RUNS:
            self.set_profile(max_connections=limit)
            seconds, reports = self.sweep(workers, 'sweep-%d-%d' % (workers, limit))
            synced = sum(report['synced'] for report in reports)
            misses = sum(report['slot_misses'] for report in reports)
            failed = self.unhealthy()  # every mailbox ran a cycle: these failed their last one
            cpu = sum(report['cpu'] for report in reports) / self.count * 1000
            rows.append({'workers': workers, 'limit': limit, 'seconds': seconds, 'synced': synced,
                         'misses': misses, 'failed': failed, 'cpu_ms': cpu,
                         'machine_busy': reports[0]['machine_busy']})
            print('bench: %d worker(s), %d connections: %.1f s, %d cycles, %d slot misses, %d failed, '
                  '%.1f ms worker CPU per mailbox, machine %.0f%% busy' % (
                      workers, limit, seconds, synced, misses, failed, cpu, reports[0]['machine_busy'] * 100),
                  flush=True)
        self.set_profile(max_connections=10)
        self.figures['speedup'] = rows

    def delay_run(self, label, interval_min, interval_default, interval_max, lanes):
        """The cron lane(s) run while replies arrive; returns the delay figures in seconds."""
        from odoo.addons.mail_sync.sync.schedule import next_interval
        options = self.options
        rng = random.Random('%s-%s' % (options.seed, label))
        self.set_profile(interval_min=interval_min, interval_default=interval_default,
                         interval_max=interval_max, max_connections=10)
        # Steady state of a long idle period: everyone at the maximum interval, polls spread out.
        reference = time.time()
        first_poll = {box: rng.uniform(0, interval_max * 60) for box in self.ids}
        now = datetime.datetime.utcnow()
        self.sql('UPDATE mail_sync_mailbox SET sync_interval = %s WHERE id = ANY(%s)',
                 [interval_max, list(first_poll)])
        self.sql("""UPDATE mail_sync_channel c SET next_sync = v.due
                    FROM unnest(%s::int[], %s::timestamp[]) AS v(id, due)
                    WHERE c.mailbox_id = v.id AND c.channel = 'incoming'""",
                 [list(first_poll), [now + datetime.timedelta(seconds=first_poll[box]) for box in first_poll]])
        arrivals = self.arrivals(rng)
        procs, released = self.start_workers(lanes, 'cron', 'delay-' + label)
        delivered, seen = {}, {}
        stop = threading.Event()
        poller = threading.Thread(target=self.poll_records, args=(label, seen, stop), daemon=True)
        poller.start()
        for number, (offset, box, _group) in enumerate(arrivals):
            time.sleep(max(0.0, released + offset - time.time()))
            to = self.emails[box]
            self.dovecot.append(to, reply(label, number, self.thread_id, to))
            delivered[number] = time.time()
        last = released + options.minutes * 60
        deadline = last + interval_max * 60 + 120
        while time.time() < deadline and len(seen) < len(delivered):
            time.sleep(1)
        stop.set()
        poller.join()
        for proc in procs:
            stop_pid(proc)
            self.procs.remove(proc)
        failed = self.unhealthy()
        delays = {group: [seen[n] - delivered[n] for n, (_o, _b, g) in enumerate(arrivals)
                          if n in seen and g in group] for group in (('busy', 'quiet'), ('busy',), ('quiet',))}
        # The polling policy alone (no cost, no queueing) on the same arrivals and first polls.
        model = []
        by_box = {}
        for offset, box, _group in arrivals:
            by_box.setdefault(box, []).append(offset + released - reference)
        for box, times in by_box.items():
            poll, current, index = first_poll[box], interval_max, 0
            while index < len(times):
                new = [t for t in times[index:] if t <= poll]
                model += [poll - t for t in new]
                index += len(new)
                current = next_interval(current, len(new), interval_min, interval_default, interval_max)
                poll += current * 60
        result = {'label': label, 'intervals': (interval_min, interval_default, interval_max),
                  'lanes': lanes, 'delivered': len(delivered), 'recorded': len(seen),
                  'unhealthy': failed, 'model_p95': percentile(model, 0.95) if model else 0}
        for group, values in delays.items():
            key = '+'.join(group)
            result[key] = {'n': len(values), 'p50': percentile(values, 0.5) if values else 0,
                           'p95': percentile(values, 0.95) if values else 0,
                           'max': max(values) if values else 0}
        print('bench: delay run %s (intervals %d/%d/%d min, %d lane(s)): %d delivered, %d recorded, '
              'p50 %.0f s, p95 %.0f s, max %.0f s; policy alone p95 %.0f s' % (
                  label, interval_min, interval_default, interval_max, lanes, len(delivered), len(seen),
                  result['busy+quiet']['p50'], result['busy+quiet']['p95'], result['busy+quiet']['max'],
                  result['model_p95']), flush=True)
        return result

    def arrivals(self, rng):
        """(seconds from the start, mailbox id, group) of each message, Poisson in time."""
        boxes = list(self.ids)
        rng.shuffle(boxes)
        size = max(1, int(len(boxes) * BUSY_SHARE))
        busy, quiet = boxes[:size], boxes[size:] or boxes[:size]
        arrivals, offset = [], 0.0
        while True:
            offset += rng.expovariate(self.options.rate / 60.0)
            if offset >= self.options.minutes * 60:
                return arrivals
            group = 'busy' if rng.random() < BUSY_MAIL else 'quiet'
            arrivals.append((offset, rng.choice(busy if group == 'busy' else quiet), group))

    def poll_records(self, label, seen, stop):
        """Note when each delivered reply's mail.message becomes visible (every 0.5 s)."""
        prefix = '<scale-%s-' % label
        last_id = 0
        with self.registry.cursor() as cr:
            while not stop.is_set():
                cr.execute("""SELECT id, message_id FROM mail_message WHERE id > %s
                              AND message_id LIKE %s ORDER BY id""", [last_id, prefix + '%'])
                now = time.time()
                for message_id, key in cr.fetchall():
                    last_id = message_id
                    seen.setdefault(int(key[len(prefix):].split('@')[0]), now)
                cr.rollback()
                stop.wait(0.5)

    # ------------------------------------------------------------------ report
    def report(self, delays):
        f = self.figures
        cpus = os.cpu_count()
        print('\n%d mailboxes (Dovecot accounts) on one IMAP profile, plain IMAP on loopback; '
              'PostgreSQL, Dovecot and the workers share this machine\'s %d CPUs (Python %s).\n'
              % (self.count, cpus, sys.version.split()[0]))
        print('| Idle mailbox, one lane | Value |')
        print('|---|---|')
        print('| Time per idle mailbox (claim, slot, cycle, schedule, commit) | %.1f ms |' % f['idle_ms'])
        print('| of which the incoming cycle | %.1f ms |' % f['cycle_ms'])
        print('| of which login + STATUS (the one round trip) | %.1f ms |' % f['status_ms'])
        print('| SQL queries per idle mailbox (of which in the cycle) | %.1f (%.1f) |'
              % (f['idle_sql'], f['cycle_sql']))
        print('| IMAP round trips per idle mailbox | %.2f |' % f['round_trips'])
        print('| Mailboxes one worker keeps within 12 minutes (720 s / time per mailbox) | %d |'
              % f['capacity'])
        print('| ... one cron lane (%.0f s runs, 60 s asleep between them) | %d |' % (f['budget'], f['capacity_cron']))
        print('| ... one cron lane with the maximum interval at 2 minutes | %d |'
              % (f['capacity_cron'] / 6))

        rows = f['speedup']
        base = rows[0]['seconds']
        print('\n| Worker processes | Max connections | Seconds for all %d | Mailboxes/s | Speed-up '
              '| Cycles run | Failed | No free slot | Worker CPU per mailbox | Machine CPU busy |'
              % self.count)
        print('|---|---|---|---|---|---|---|---|---|---|')
        for row in rows:
            print('| %d | %d | %.1f | %.0f | %.2fx | %d | %d | %d | %.1f ms | %.0f%% |' % (
                row['workers'], row['limit'], row['seconds'], self.count / row['seconds'],
                base / row['seconds'], row['synced'], row['failed'], row['misses'], row['cpu_ms'],
                row['machine_busy'] * 100))
        print('\nCycles beyond %d: mailboxes synced twice in one sweep (claimed from a stale list '
              'after another worker had synced them). Failed: mailboxes whose last cycle failed.'
              % self.count)
        print('\nSpeed-up is bounded by the %d CPUs: the workers, PostgreSQL and Dovecot (a login '
              'process per connection) all run on them, and other jobs shared the machine (machine '
              'CPU busy counts everything, theirs included).' % cpus)

        if not delays:
            return
        print('\n| Intervals min/default/max | Cron lanes | Messages (recorded) | p50 | p95 | max '
              '| p95 busy / quiet | p95 of the policy alone |')
        print('|---|---|---|---|---|---|---|---|')
        for run in delays:
            every, busy, quiet = run['busy+quiet'], run['busy'], run['quiet']
            print('| %d/%d/%d min | %d | %d (%d) | %s | %s | %s | %s / %s | %s |' % (
                run['intervals'] + (run['lanes'], run['delivered'], run['recorded'],
                                    _m(every['p50']), _m(every['p95']), _m(every['max']),
                                    _m(busy['p95']), _m(quiet['p95']), _m(run['model_p95']))))
        print()
        for run in delays:
            p95 = run['busy+quiet']['p95']
            print('With intervals %d/%d/%d min the p95 delay is %s: the 2-minute target is %s.' % (
                run['intervals'] + (_m(p95), 'met' if p95 <= 120 else 'not met')))
        print('Arrivals: Poisson, %.0f messages per minute over %.0f minutes; half to a busy 5%% of '
              'the mailboxes, half to the rest. Each run starts with every mailbox at its maximum '
              'interval, next polls spread over it.' % (self.options.rate, self.options.minutes))
        print('Bound from the adaptive interval: a mailbox idle for a while polls every M minutes, so '
              'a message waits uniformly between 0 and M: p50 M/2, p95 0.95 M (11.4 min at M = 12, '
              '1.9 min at M = 2). A lane also takes, before its run ends, the mailboxes that would fall '
              'due while Odoo\'s cron sleeps (60 s), so that sleep adds no delay. With 2/5/12, after '
              'mail a mailbox polls again at +%s minutes, then every 12.' % ', +'.join(map(str, self.backoff())))

    def default_intervals(self):
        with self.env() as env:
            defaults = env['mail.sync.server'].default_get(['interval_min', 'interval_default', 'interval_max'])
        return defaults['interval_min'], defaults['interval_default'], defaults['interval_max']

    def backoff(self):
        from odoo.addons.mail_sync.sync.schedule import next_interval
        offsets, current, total = [], 2, 0
        while True:
            total += current
            offsets.append(total)
            if current == 12:
                return offsets
            current = next_interval(current, 0, 2, 5, 12)


def _m(seconds):
    return '%.1f min' % (seconds / 60.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mailboxes', nargs='?', type=int, default=2000)
    parser.add_argument('--minutes', type=float, default=10,
                        help='delivery period of each delay run (the lanes run on until all are recorded)')
    parser.add_argument('--rate', type=float, help='messages per minute (default: 30 per 2,000 mailboxes, '
                                                   'at least 6)')
    parser.add_argument('--seed', default='4')
    parser.add_argument('--skip-delay', action='store_true', help='no delay runs')
    options = parser.parse_args()
    options.rate = options.rate or max(6.0, 30.0 * options.mailboxes / 2000)

    os.makedirs(BENCH, exist_ok=True)
    shutil.rmtree(os.path.join(BENCH, 'dovecot'), ignore_errors=True)
    shutil.rmtree(os.path.join(BENCH, 'signals'), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(BENCH, 'workers.log'))
    bench = Bench(options.mailboxes, options)
    try:
        bench.pg.start()
        bench.dovecot.start()
        bench.pg.psql('DROP DATABASE IF EXISTS %s' % DB)
        print('bench: installing mail_sync into %s...' % DB, flush=True)
        install(bench.conf, DB, os.path.join(BENCH, 'install.log'))
        import odoo
        odoo.tools.config.parse_config(['-c', bench.conf, '-d', DB, '--log-level=critical'])
        with odoo.api.Environment.manage():
            bench.registry = odoo.registry(DB)
            bench.populate()
            bench.first_cycle()
            bench.idle_cost()
            bench.speedup()
            delays = bench.figures['delays'] = []
            if not options.skip_delay:
                delays.append(bench.delay_run('default', *bench.default_intervals(), lanes=1))
                # Polling as Dynamics does (5 to 12 minutes), for comparison.
                delays.append(bench.delay_run('dynamics', 2, 5, 12, lanes=1))
            bench.report(delays)
    finally:
        with open(os.path.join(BENCH, 'figures.json'), 'w') as handle:  # whatever was measured
            json.dump({'count': bench.count, 'figures': bench.figures}, handle, indent=1)
        for proc in list(bench.procs):
            stop_pid(proc)
        if bench.registry is not None:
            import odoo
            odoo.sql_db.close_all()  # before the database is dropped
        bench.dovecot.stop()
        if bench.pg.started:
            bench.pg.psql('DROP DATABASE IF EXISTS %s' % DB)
        bench.pg.stop()
        shutil.rmtree(os.path.join(BENCH, 'dovecot', 'mail'), ignore_errors=True)


if __name__ == '__main__':
    main()
