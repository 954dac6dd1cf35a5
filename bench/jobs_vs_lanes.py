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
/tmp/lanes 9ecce44``): it uses nothing but what both have. ``--commit 9ecce44`` does it from
here: the addon as of that commit, extracted with ``git archive``, without the job runner.

``--mail-queue``: only Odoo's own mail queue while all mailboxes sync, for MINUTES from the
server's start: an email queued every 15 s (sent by Odoo's cron to an SMTP sink) and when it
left the queue, the cron's lateness after each ``nextcall``, and how many mailboxes were
polled in the last minute (every 30 s). Users are copied by SQL (bench/scale.py), so 2,000
mailboxes are ready in about 3 minutes. Measured (2026-12-01, 2 CPUs at load 4 to 7 from other
work; README, "Running at scale"), 2,000 idle mailboxes, defaults, 8 minutes:

    2,000 mailboxes                          cron lanes (9ecce44)   jobs
    mail queue cron late, p50/p95/max        13.3/71.7/71.7 s       13.3/65.9/65.9 s
    emails queued to sent, p50/p95/max       39.6/58.1/69.8 s       35.4/54.6/64.0 s
    mailboxes polled per minute (median)     723 (1 lane)           469 (2 workers)

Neither delays Odoo's mail queue beyond its schedule (its cron runs within a cron thread's
one-minute wake-up); neither polls 2,000 mailboxes every minute on this machine.

Run: PYTHONPATH=. .venv/bin/python bench/jobs_vs_lanes.py [--mailboxes 20] [--minutes 5] [--rate 20]
     PYTHONPATH=. .venv/bin/python bench/jobs_vs_lanes.py --mailboxes 2000 --minutes 8 --mail-queue [--commit 9ecce44]
"""
import argparse
import datetime
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
from devstack.odoo import install, odoo_addons_dir, serve, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, ROOT, free_port, stop_pid, wait_port  # noqa: E402
from scale import copy_users  # noqa: E402  (bench/, this script's folder)

BENCH = os.path.join(BUILD, 'bench-jobs')
DB = 'mail_sync_jobs'
BATCH = 200  # mailboxes per transaction while populating
MARKER_EVERY = 15  # seconds between two emails queued in Odoo's own mail queue


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
        extra = {}
        if options.commit:  # the addon as of an older commit; no job runner
            extra = {'addons_path': '%s,%s' % (odoo_addons_dir(), extract_addon(options.commit)),
                     'server_wide_modules': 'web'}
        self.conf = write_config(os.path.join(BENCH, 'odoo.conf'), self.pg.params, os.path.join(BENCH, 'data'),
                                 **extra)
        self.sink = self.sink_server = None
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
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {
                'no_reset_password': True, 'mail_create_nosubscribe': True, 'tracking_disable': True,
                'mail_create_nolog': True, 'mail_notrack': True})
            partner = env['res.partner'].create({'name': 'Bench customer'})
            self.thread = partner.message_post(body='Quote', message_type='comment').message_id
            server = env['mail.sync.server'].create({
                'name': 'Bench', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
                'incoming_port': self.dovecot.ports['imap'], 'incoming_encryption': 'none'})
            uuid = env['mail.sync.mailbox']._current_db_uuid()
            users = copy_users(env, len(self.logins), 'Bench %03d', 'bench-%03d')
            cr.commit()
            for number, (address, password) in enumerate(sorted(self.logins.items())):
                box = env['mail.sync.mailbox'].create({
                    'user_id': users[number], 'server_id': server.id, 'email': address, 'password': password,
                    'state': 'enabled', 'approved': True, 'db_uuid': uuid})
                self.ids.append(box.id)
                self.emails[box.id] = address
                if len(self.ids) % BATCH == 0:
                    cr.commit()
                    print('bench: %d/%d mailboxes' % (len(self.ids), len(self.logins)), flush=True)
            if self.options.mail_queue:  # Odoo's own outgoing server: an SMTP sink
                self.sink_server = env['ir.mail_server'].create({
                    'name': 'Bench sink', 'smtp_host': '127.0.0.1', 'smtp_port': self.sink.port,
                    'smtp_encryption': 'none', 'sequence': 0}).id
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
            if 'mail.sync.channel' in env:  # the channel rows (issue 14) hold the due time
                cr.execute("UPDATE mail_sync_channel SET next_sync = NULL WHERE channel = 'incoming' "
                           "AND mailbox_id = ANY(%s)", [self.ids])
            else:
                cr.execute('UPDATE mail_sync_mailbox SET next_sync = NULL WHERE id = ANY(%s)', [self.ids])
            boxes = env['mail.sync.mailbox'].browse(self.ids)
            if hasattr(boxes, '_enqueue_cycle'):
                for box in boxes:
                    box._enqueue_cycle('incoming')
            cr.commit()

    def note_mail_cron(self, last, late, since=None):
        """The mail queue cron's nextcall; when it moved on (its run committed), how late
        after the planned ``last`` its run was seen done goes into ``late`` (runs planned
        before ``since``, a naive UTC datetime, are not counted)."""
        [(nextcall,)] = self.sql("SELECT nextcall FROM ir_cron WHERE id = %s", [self.mail_cron])
        if last is not None and nextcall != last:
            planned = datetime.datetime.strptime(last, '%Y-%m-%d %H:%M:%S')  # Odoo's cursor: text
            if since is None or planned >= since:
                late.append((datetime.datetime.utcnow() - planned).total_seconds())
        return nextcall

    def queue_marker(self, number):
        """One email in Odoo's own mail queue (sent by its cron through the SMTP sink)."""
        import odoo
        with odoo.api.Environment.manage(), self.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            mail = env['mail.mail'].create({
                'subject': 'Marker %d' % number, 'body_html': '<p>Marker %d</p>' % number,
                'email_from': 'admin@bench.test', 'email_to': 'customer@client.test', 'auto_delete': False,
                'mail_server_id': self.sink_server})
            cr.commit()
            return mail.id

    def mail_queue_run(self, first, began):
        """Odoo's mail queue while every mailbox syncs, from the server's start for MINUTES:
        an email queued every MARKER_EVERY seconds and when its cron sent it; the cron's
        lateness after each nextcall; mailboxes polled in the last minute (every 30 s)."""
        queued, done, late, polled = {}, {}, [], []
        end = began + self.options.minutes * 60
        last, number, next_marker, next_sample = None, 0, time.time(), time.time() + 60
        while time.time() < end or (len(done) < len(queued) and time.time() < end + 180):
            now = time.time()
            if now >= next_marker and now < end:
                queued[self.queue_marker(number)] = time.time()
                number += 1
                next_marker = now + MARKER_EVERY
            if queued:
                for mail_id, state in self.sql("SELECT id, state FROM mail_mail WHERE id = ANY(%s) "
                                               "AND state != 'outgoing'", [list(queued)]):
                    done.setdefault(mail_id, (now, state))
            last = self.note_mail_cron(last, late, since=first)
            if now >= next_sample and now < end:
                since = datetime.datetime.utcfromtimestamp(now - 60).replace(microsecond=0)
                polled.append(self.synced_since(since))
                next_sample = now + 30
            time.sleep(0.5)
        delays = [done[mail][0] - queued[mail] for mail in done]
        failed = sum(1 for seen, state in done.values() if state != 'sent')
        if failed:
            print('bench: an email failed: %s' % self.sql("SELECT failure_reason FROM mail_mail WHERE id = ANY(%s) "
                                                          "AND state = 'exception' LIMIT 1", [list(queued)]))
        return delays, len(queued), failed, late, polled

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
                last = self.note_mail_cron(last, late)
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
            if self.options.mail_queue:
                self.report_mail_queue(first, began)
                return
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
            if self.sink:
                self.sink.stop()
            self.dovecot.stop()
            self.pg.stop()

    def report_mail_queue(self, first, began):
        delays, queued, failed, late, polled = self.mail_queue_run(first, began)
        print('bench: %d mailboxes; %d synced at least once in %.1f min; mailboxes polled in the last minute '
              '(every 30 s from the second minute): %s' % (len(self.ids), self.synced_since(first),
                                                           self.options.minutes, ' '.join(map(str, polled))),
              flush=True)
        print('bench: Odoo mail queue cron, %d runs seen done: late p50 %.1f s, p95 %.1f s, max %.1f s after '
              'its nextcall' % (len(late), percentile(late, 0.5), percentile(late, 0.95), max(late or [0])),
              flush=True)
        print('bench: %d emails queued (one per %d s), %d left the queue (%d not sent): queued to sent p50 '
              '%.1f s, p95 %.1f s, max %.1f s' % (queued, MARKER_EVERY, len(delays), failed,
                                                  percentile(delays, 0.5), percentile(delays, 0.95),
                                                  max(delays or [0])), flush=True)


def extract_addon(commit):
    """The addon as of ``commit`` (git archive of this repository), in BENCH/addons-COMMIT."""
    folder = os.path.join(BENCH, 'addons-%s' % commit)
    target = os.path.join(folder, 'mail_sync')
    os.makedirs(target)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', '--format=tar', commit], check=True,
                             stdout=subprocess.PIPE, timeout=300)
    subprocess.run(['tar', '-x', '-C', target], input=archive.stdout, check=True, timeout=300)
    return folder


def start_sink():
    """An SMTP server on loopback that accepts every email and keeps none."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
    sink = Controller(Sink(), hostname='127.0.0.1', port=free_port())
    sink.start()
    return sink


def fields_now():
    return datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--mailboxes', type=int, default=20)
    parser.add_argument('--minutes', type=float, default=5)
    parser.add_argument('--rate', type=float, default=20, help='replies per minute over all mailboxes')
    parser.add_argument('--commit', help='run the addon as of this commit (e.g. 9ecce44, the cron lanes), '
                                         'extracted with git archive, instead of this checkout')
    parser.add_argument('--mail-queue', action='store_true',
                        help="only Odoo's own mail queue while the mailboxes sync, for MINUTES from the "
                             "server's start (emails to an SMTP sink); no replies, no sweeps")
    options = parser.parse_args()
    shutil.rmtree(BENCH, ignore_errors=True)
    os.makedirs(BENCH)
    bench = Bench(options)
    if options.mail_queue:
        bench.sink = start_sink()
    bench.run()


if __name__ == '__main__':
    main()
