"""Microsoft 365 (Graph): delay from a message's arrival to its record in Odoo with change
notifications, and Graph requests per idle mailbox per hour, against polling alone.

Starts its own PostgreSQL and database in .build/bench-graph, the Graph test endpoint
(in this process), a real Odoo HTTP server (the notification controller) and creates N
users with enabled Microsoft 365 mailboxes on one profile whose public URL is that
Odoo server. Every mailbox is synced once (which subscribes its Inbox: N validation
handshakes answered by the controller). Then, for each mode:

- ``push``: the profile has its public URL; the Graph endpoint posts a notification per
  new message to the controller, which makes the mailbox due.
- ``polling``: no public URL; subscriptions dropped; polling at the profile's defaults
  (1/1/1 minutes).

a delivery thread puts replies into random mailboxes (a Poisson stream of RATE per
minute) while the due mailboxes are swept every second (before issue 20 replaced the
lanes by jobs, one cron lane ran here: the README's figures were measured so); the record time
is when the ledger row becomes visible to another connection (polled every 0.2 s).
Requests per idle mailbox per hour are counted on the endpoint over the run for the
mailboxes that received nothing, and given in steady state from the polling interval
(a run shorter than the safety-net interval of subscribed mailboxes sees none of it).

Run: PYTHONPATH=. .venv/bin/python bench/graph_push.py [MAILBOXES] [--minutes M] [--rate R]
"""
import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import threading
import time
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.graph.server import GraphServer  # noqa: E402
from devstack.oauth.server import OAuthServer  # noqa: E402
from devstack.odoo import install, serve, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port, stop_pid, wait_port  # noqa: E402

BENCH = os.path.join(BUILD, 'bench-graph')
DB = 'mail_sync_graph_bench'


def percentile(values, share):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def reply(tag, number, thread_id):
    return ('From: Customer <c%d@customer.test>\r\nTo: rep@example.test\r\nSubject: Re: Quote %s\r\n'
            'Message-ID: <%s@bench.test>\r\nIn-Reply-To: %s\r\nReferences: %s\r\n'
            'Content-Type: text/plain; charset=utf-8\r\n\r\nAnswer %s\r\n'
            % (number, tag, tag, thread_id, thread_id, tag)).encode('utf-8')


class Bench(object):
    def __init__(self, options):
        self.options = options
        self.pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
        self.graph = GraphServer(os.path.join(BENCH, 'tls'))
        self.oauth = OAuthServer(os.path.join(BENCH, 'tls'))
        self.conf = write_config(os.path.join(BENCH, 'odoo.conf'), self.pg.params, os.path.join(BENCH, 'data'),
                                 mail_sync_ca_file=os.path.join(BENCH, 'tls', 'ca.pem'))
        self.http = None
        self.registry = None
        self.ids, self.emails = [], {}
        self.figures = {}

    @contextlib.contextmanager
    def env(self):
        import odoo
        with self.registry.cursor() as cr:
            yield odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})

    def sql(self, query, params=None):
        with self.env() as env:
            env.cr.execute(query, params)
            return env.cr.fetchall() if env.cr.description else None

    def setup(self, port):
        count = self.options.mailboxes
        authority = self.oauth.authority
        authority.add_client('graph-rs', 'graph-rs-secret')
        self.graph.set_introspection(self.oauth.http_url + '/introspect', 'graph-rs', 'graph-rs-secret')
        authority.add_client('bench-app', 'bench-secret', app_scopes=['Mail.ReadWrite', 'Mail.Send'])
        with self.env() as env:
            server = env['mail.sync.server'].create({
                'name': 'Microsoft 365 bench', 'server_type': 'graph', 'graph_url': self.graph.url,
                'graph_public_url': 'http://127.0.0.1:%d' % port, 'timeout': 30, 'max_connections': 50,
                'auth_method': 'oauth', 'oauth_provider': 'oidc', 'oauth_issuer': self.oauth.issuer,
                'oauth_client_id': 'bench-app', 'oauth_secret': 'bench-secret', 'oauth_token_mode': 'app',
                'oauth_scopes': 'Mail.ReadWrite Mail.Send', 'credential_mode': 'profile'})
            partner = env['res.partner'].create({'name': 'Bench customer'})
            self.thread_id = partner.message_post(body='Quote', message_type='comment').message_id
            self.server_id = server.id
            context = {'no_reset_password': True, 'tracking_disable': True, 'mail_create_nolog': True,
                       'mail_create_nosubscribe': True}
            for n in range(count):
                address = 'bench%04d@example.test' % n
                self.graph.add_mailbox(address)
                user = env['res.users'].with_context(context).create({'name': 'Rep %d' % n,
                                                                       'login': 'rep%04d' % n})
                box = env['mail.sync.mailbox'].create({'user_id': user.id, 'server_id': server.id,
                                                       'email': address})
                box.write({'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid()})
                self.ids.append(box.id)
                self.emails[box.id] = address
            env.cr.commit()

    def lane(self, stop, until_idle=False):
        """The due mailboxes swept every second (jobs run each at its due time since issue
        20; before, a cron lane), until ``stop`` is set."""
        import odoo
        while not stop.is_set():
            with odoo.api.Environment.manage(), self.registry.cursor() as cr:
                Mailbox = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})['mail.sync.mailbox']
                synced = Mailbox._cron_sync('incoming')
                cr.commit()
            if until_idle and not synced:
                return
            if not until_idle:
                stop.wait(1)

    def first_cycle(self):
        started = time.time()
        self.lane(threading.Event(), until_idle=True)
        subscribed = self.sql('SELECT count(*) FROM mail_sync_graph_subscription')[0][0]
        self.figures['first_cycle_s'] = time.time() - started
        self.figures['subscribed'] = subscribed
        print('bench: %d mailboxes synced once in %.0f s; %d subscribed' % (
            len(self.ids), time.time() - started, subscribed), flush=True)

    def set_mode(self, mode):
        with self.env() as env:
            server = env['mail.sync.server'].browse(self.server_id)
            if mode == 'polling':
                server.graph_public_url = False
                env['mail.sync.graph.subscription'].search([]).unlink()
            env.cr.execute('UPDATE mail_sync_mailbox SET sync_interval = NULL')
            # Steady state of a long quiet period: next polls spread over the interval.
            interval = server.graph_subscribed_interval if mode == 'push' else server.interval_max
            for box_id in self.ids:
                env.cr.execute("UPDATE mail_sync_channel SET next_sync = (now() at time zone 'UTC') "
                               "+ %s * interval '1 second' WHERE mailbox_id = %s AND channel = 'incoming'",
                               [random.uniform(0, interval * 60), box_id])
            env.cr.commit()

    def run(self, mode):
        self.set_mode(mode)
        rng = random.Random(self.options.seed + mode)
        stop, arrivals, seen = threading.Event(), {}, {}
        mark = len(self.graph.requests)
        lane = threading.Thread(target=self.lane, args=(stop,), daemon=True)
        lane.start()
        probe_stop = threading.Event()
        lock = threading.Lock()

        def probe():
            while not probe_stop.is_set():
                with lock:
                    waiting = [mid for mid in arrivals if mid not in seen]
                self._probe(waiting, seen)
                probe_stop.wait(0.2)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        period = self.options.minutes * 60
        started = time.time()
        deliver_stop = started + period
        number = 0
        receivers = set()
        while time.time() < deliver_stop:
            time.sleep(rng.expovariate(self.options.rate / 60.0))
            box_id = rng.choice(self.ids)
            tag = '%s-%d' % (mode, number)
            with lock:
                arrivals['<%s@bench.test>' % tag] = time.time()
            self.graph.deliver(self.emails[box_id], reply(tag, number, self.thread_id))
            receivers.add(box_id)
            number += 1
        deadline = time.time() + 20 * 60
        while len(seen) < len(arrivals) and time.time() < deadline:
            time.sleep(0.2)
        probe_stop.set()
        prober.join()
        elapsed = time.time() - started
        stop.set()
        lane.join(timeout=400)
        delays = [seen[mid] - arrivals[mid] for mid in seen]
        idle = [self.emails[i].lower() for i in self.ids if i not in receivers]
        idle_requests = sum(1 for r in self.graph.requests[mark:] if r.mailbox in set(idle) and not r.batch)
        with self.env() as env:
            server = env['mail.sync.server'].browse(self.server_id)
            interval = server.graph_subscribed_interval if mode == 'push' else server.interval_max
        result = {
            'mode': mode, 'messages': len(arrivals), 'recorded': len(seen),
            'p50_s': percentile(delays, 0.5), 'p95_s': percentile(delays, 0.95), 'max_s': max(delays or [0]),
            'idle_mailboxes': len(idle), 'run_hours': elapsed / 3600.0,
            'idle_requests_per_hour_measured': idle_requests / max(1, len(idle)) / (elapsed / 3600.0),
            'idle_requests_per_hour_steady': 60.0 / interval + (1.0 / 24 if mode == 'push' else 0),
            'notifications': len(self.graph.subscriptions.deliveries),
        }
        print('bench: %s: %d messages, %d recorded, delay p50 %.1f s, p95 %.1f s, max %.1f s; idle '
              'mailbox: %.1f requests/hour measured, %.1f steady state' % (
                  mode, result['messages'], result['recorded'], result['p50_s'] or 0, result['p95_s'] or 0,
                  result['max_s'], result['idle_requests_per_hour_measured'],
                  result['idle_requests_per_hour_steady']), flush=True)
        return result

    def _probe(self, waiting, seen):
        if not waiting:
            return
        with self.registry.cursor() as cr:  # a plain cursor: this runs in the probe's thread
            cr.execute('SELECT message_id FROM mail_sync_ledger WHERE message_id IN %s', [tuple(waiting)])
            found = cr.fetchall()
        now = time.time()
        for (mid,) in found:
            seen[mid] = now


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mailboxes', nargs='?', type=int, default=200)
    parser.add_argument('--minutes', type=float, default=5, help='delivery period of each run')
    parser.add_argument('--rate', type=float, default=12, help='messages per minute over all mailboxes')
    parser.add_argument('--seed', default='16')
    parser.add_argument('--skip-polling', action='store_true')
    options = parser.parse_args()
    shutil.rmtree(BENCH, ignore_errors=True)
    os.makedirs(BENCH)
    bench = Bench(options)
    http_proc = None
    try:
        bench.pg.start()
        bench.graph.start()
        bench.oauth.start()
        print('bench: installing mail_sync into %s...' % DB, flush=True)
        install(bench.conf, DB, os.path.join(BENCH, 'install.log'))
        port = free_port()
        http_proc = serve(bench.conf, DB, port, os.path.join(BENCH, 'http.log'),
                          extra_args=['--max-cron-threads', '0'])
        wait_port(port, timeout=60, proc=http_proc, what='Odoo HTTP')
        import odoo
        odoo.tools.config.parse_config(['-c', bench.conf, '-d', DB, '--log-level=critical'])
        with odoo.api.Environment.manage():
            bench.registry = odoo.registry(DB)
            bench.setup(port)
            bench.first_cycle()
            runs = bench.figures['runs'] = [bench.run('push')]
            if not options.skip_polling:
                runs.append(bench.run('polling'))
        print(json.dumps(bench.figures, indent=1))
    finally:
        with open(os.path.join(BUILD, 'bench-graph-figures.json'), 'w') as handle:
            json.dump({'mailboxes': options.mailboxes, 'figures': bench.figures}, handle, indent=1)
        if http_proc is not None:
            stop_pid(http_proc)
        bench.graph.stop()
        bench.oauth.stop()
        if bench.registry is not None:
            import odoo
            odoo.sql_db.close_all()
        if bench.pg.started:
            bench.pg.psql('DROP DATABASE IF EXISTS %s' % DB)
        bench.pg.stop()


if __name__ == '__main__':
    main()
