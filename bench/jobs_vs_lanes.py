"""Sync as queue_job jobs against the cron lanes they replaced, from outside (issue 20).

Starts its own PostgreSQL, Dovecot (one account per mailbox) and database in
.build/bench-jobs, installs mail_sync, enables N mailboxes on one IMAP profile with the
default intervals (1/1/1 minutes), then starts ONE real Odoo server (threaded, Odoo's
default 2 cron threads) and leaves it alone: whatever syncs is what the code under test
does (cron lanes before issue 20; jobs with the job runner after). Odoo's own mail queue
cron ("Mail: Email Queue Manager") is set to run every minute. It measures:

1. Arrival-to-record delay: a Poisson stream of RATE replies per minute to random
   mailboxes for MINUTES minutes; the record time is when the mail.message row becomes
   visible to another connection (polled every half second). p50, p95, max.
2. The delay of Odoo's mail queue cron meanwhile: each time its ``nextcall`` moves on,
   how late after the planned ``nextcall`` its run was seen done.
3. Idle cycles per minute: all mailboxes made due at once (with jobs, their pending jobs
   brought forward), the time until every one has synced again.

The same script runs on a checkout of the code before issue 20 (e.g. ``git worktree add
/tmp/lanes 9ecce44``): it uses nothing but what both have.

Run: PYTHONPATH=. .venv/bin/python bench/jobs_vs_lanes.py [--mailboxes 20] [--minutes 5] [--rate 20]
"""
import argparse
import datetime
import os
import random
import shutil
import sys
import threading
import time
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.dovecot import Dovecot  # noqa: E402
from devstack.odoo import install, serve, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port, stop_pid, wait_port  # noqa: E402

BENCH = os.path.join(BUILD, 'bench-jobs')
DB = 'mail_sync_jobs'


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else 0.0


def reply(tag, number, thread, to):
    return ('From: C <c@bench.test>\r\nTo: %s\r\nSubject: R %d\r\nMessage-ID: <%s-%d@bench.test>\r\n'
            'In-Reply-To: %s\r\nReferences: %s\r\nContent-Type: text/plain\r\n\r\nBody %d\r\n'
            % (to, number, tag, number, thread, thread, number)).encode()


class Bench(object):
    def __init__(self, options):
        self.options = options
        self.logins = {'bench-%03d@example.test' % n: 'pw-%03d' % n for n in range(options.mailboxes)}
        self.pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
        self.dovecot = Dovecot(os.path.join(BENCH, 'dovecot'), users=self.logins)
        self.conf = write_config(os.path.join(BENCH, 'odoo.conf'), self.pg.params, os.path.join(BENCH, 'data'))
        self.registry = None
        self.ids, self.emails, self.thread = [], {}, None

    def cursor(self):
        return self.registry.cursor()

    def sql(self, query, params=None):
        with self.cursor() as cr:
            cr.execute(query, params)
            rows = cr.fetchall() if cr.description else None
            cr.commit()
            return rows

    def populate(self):
        import odoo
        self.registry = odoo.registry(DB)
        with odoo.api.Environment.manage(), self.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'no_reset_password': True,
                                                                'mail_create_nosubscribe': True})
            partner = env['res.partner'].create({'name': 'Bench customer'})
            self.thread = partner.message_post(body='Quote', message_type='comment').message_id
            server = env['mail.sync.server'].create({
                'name': 'Bench', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
                'incoming_port': self.dovecot.ports['imap'], 'incoming_encryption': 'none'})
            uuid = env['mail.sync.mailbox']._current_db_uuid()
            for number, (address, password) in enumerate(sorted(self.logins.items())):
                user = env['res.users'].create({'name': 'Bench %03d' % number, 'login': 'bench-%03d' % number})
                box = env['mail.sync.mailbox'].create({
                    'user_id': user.id, 'server_id': server.id, 'email': address, 'password': password,
                    'state': 'enabled', 'approved': True, 'db_uuid': uuid})
                self.ids.append(box.id)
                self.emails[box.id] = address
            # Odoo's own mail queue: every minute, due now.
            cron = env.ref('mail.ir_cron_mail_scheduler_action')
            cron.write({'interval_number': 1, 'interval_type': 'minutes', 'nextcall': fields_now()})
            cr.commit()

    def synced_since(self, moment):
        return self.sql('SELECT count(*) FROM mail_sync_mailbox WHERE id = ANY(%s) AND last_sync >= %s',
                        [self.ids, moment])[0][0]

    def wait_all_synced(self, since, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.synced_since(since) == len(self.ids):
                return time.time()
            time.sleep(0.5)
        raise RuntimeError('not every mailbox synced within %d s' % timeout)

    def make_all_due(self):
        """Every mailbox due now; with jobs, their pending jobs brought forward (what a
        restore-and-catch-up or a burst of notifications does)."""
        import odoo
        with odoo.api.Environment.manage(), self.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            cr.execute('UPDATE mail_sync_mailbox SET next_sync = NULL WHERE id = ANY(%s)', [self.ids])
            boxes = env['mail.sync.mailbox'].browse(self.ids)
            if hasattr(boxes, '_enqueue_cycle'):
                for box in boxes:
                    box._enqueue_cycle('incoming')
            cr.commit()

    def delay_run(self):
        rng = random.Random(20)
        minutes, rate = self.options.minutes, self.options.rate
        arrivals, offset = [], rng.expovariate(rate / 60.0)
        while offset < minutes * 60:
            arrivals.append((offset, rng.choice(self.ids)))
            offset += rng.expovariate(rate / 60.0)
        delivered, seen, late = {}, {}, []
        stop = threading.Event()

        def poll():
            last = None
            while not stop.is_set():
                rows = self.sql("SELECT message_id FROM mail_message WHERE message_id LIKE '<delay-%%'")
                now = time.time()
                for (message_id,) in rows:
                    number = int(message_id[len('<delay-'):].split('@')[0])
                    seen.setdefault(number, now)
                [(nextcall,)] = self.sql("SELECT nextcall FROM ir_cron WHERE id = %s", [self.mail_cron])
                if last is not None and nextcall != last:
                    planned = datetime.datetime.strptime(last, '%Y-%m-%d %H:%M:%S')  # Odoo's cursor: text
                    late.append((datetime.datetime.utcnow() - planned).total_seconds())
                last = nextcall
                time.sleep(0.5)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        start = time.time()
        for number, (offset, box) in enumerate(arrivals):
            pause = start + offset - time.time()
            if pause > 0:
                time.sleep(pause)
            self.dovecot.append_many(self.emails[box], [reply('delay', number, self.thread, self.emails[box])])
            delivered[number] = time.time()
        deadline = time.time() + 300
        while len(seen) < len(arrivals) and time.time() < deadline:
            time.sleep(0.5)
        stop.set()
        poller.join()
        delays = [seen[n] - delivered[n] for n in delivered if n in seen]
        return delays, len(arrivals), late

    def run(self):
        proc = None
        try:
            self.pg.start()
            self.dovecot.start()
            started = time.time()
            install(self.conf, DB, os.path.join(BENCH, 'install.log'))
            print('bench: installed in %.0f s' % (time.time() - started), flush=True)
            import odoo
            odoo.tools.config.parse_config(['-c', self.conf])
            self.populate()
            [(self.mail_cron,)] = self.sql("SELECT res_id FROM ir_model_data WHERE module = 'mail' "
                                           "AND name = 'ir_cron_mail_scheduler_action'")
            port = free_port()
            first, began = datetime.datetime.utcnow().replace(microsecond=0), time.time()
            proc = serve(self.conf, DB, port, os.path.join(BENCH, 'odoo.log'))
            wait_port(port, timeout=120, proc=proc, what='Odoo')
            done = self.wait_all_synced(first, 300)
            print('bench: %d mailboxes enabled; all synced once %.0f s after the server started'
                  % (len(self.ids), done - began), flush=True)
            delays, sent, late = self.delay_run()
            print('bench: delay, %d of %d replies seen: p50 %.1f s, p95 %.1f s, max %.1f s' % (
                len(delays), sent, percentile(delays, 0.5), percentile(delays, 0.95), max(delays or [0])),
                flush=True)
            print('bench: Odoo mail queue cron, %d runs seen: late p50 %.1f s, max %.1f s after its nextcall'
                  % (len(late), percentile(late, 0.5), max(late or [0])), flush=True)
            sweeps = []
            for _round in range(3):
                since = datetime.datetime.utcnow().replace(microsecond=0)
                time.sleep(1)
                self.make_all_due()
                begin = time.time()
                end = self.wait_all_synced(since, 600)
                sweeps.append(end - begin)
            best = min(sweeps)
            print('bench: all %d mailboxes due at once: synced in %.1f s (best of 3: %s), %.0f idle cycles/min'
                  % (len(self.ids), best, ', '.join('%.1f' % s for s in sweeps), len(self.ids) / best * 60),
                  flush=True)
        finally:
            stop_pid(proc)
            self.dovecot.stop()
            self.pg.stop()


def fields_now():
    return datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--mailboxes', type=int, default=20)
    parser.add_argument('--minutes', type=float, default=5)
    parser.add_argument('--rate', type=float, default=20, help='replies per minute over all mailboxes')
    shutil.rmtree(BENCH, ignore_errors=True)
    os.makedirs(BENCH)
    Bench(parser.parse_args()).run()


if __name__ == '__main__':
    main()
