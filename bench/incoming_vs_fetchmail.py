"""Incoming mail throughput: mail_sync vs Odoo 11's fetchmail vs the floor, same run, same data.

1,000 realistic replies to an Odoo thread (so every one is routable), with distinct
Message-IDs, are imported by (1) mail_sync's incoming cycle from a Dovecot mailbox, (2)
fetchmail's IMAP fetch from another, (3) Odoo's message_process on the same bytes with no
network (the floor). After a warm-up, it goes in rounds of 200 delivered to both mailboxes,
the importers' order rotating from round to round. Also prints, for an idle mailbox, the
round trips to the IMAP server and the SQL queries of one cycle, and the peak Python memory
for a 30 MB message with the profile's maximum email size at 25 MB (listed from its headers,
not downloaded) and at 50 MB (imported).

Run: make setup && PYTHONPATH=. .venv/bin/python bench/incoming_vs_fetchmail.py [COUNT]
"""
import imaplib
import os
import shutil
import sys
import time
import tracemalloc
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.dovecot import Dovecot  # noqa: E402
from devstack.odoo import install, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port  # noqa: E402

BENCH = os.path.join(BUILD, 'bench')
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ROUND = 200


def realistic(n, tag, thread_id):
    body = ('Hello,\r\n\r\nThanks for the quote. About item %d: could you confirm the delivery '
            'date and whether the price includes installation?\r\n\r\n' % n) * 6
    return ('From: Customer %d <customer%d@client.test>\r\nTo: sales@company.test\r\n'
            'Subject: Re: Quote %d\r\nDate: Sat, 28 Nov 2026 09:%02d:00 +0100\r\n'
            'Message-ID: <%s-%d@client.test>\r\nIn-Reply-To: %s\r\nReferences: %s\r\n'
            'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s'
            % (n, n, n, n % 60, tag, n, thread_id, thread_id, body)).encode('utf-8')


class RoundTrips(object):
    """Counts round trips: each time imaplib reads after having written, it waited for
    the server. The greeting (read before any write) and a LOGOUT sent without waiting
    for the goodbye are not round trips."""

    def __init__(self):
        self.count = 0
        self.commands = 0
        self.originals = (imaplib.IMAP4.send, imaplib.IMAP4.readline)

    def __enter__(self):
        bench, (send, readline) = self, self.originals
        state = {'sent': False}

        def counting_send(client, data):
            state['sent'] = True
            bench.commands += data.count(b'\r\n')
            return send(client, data)

        def counting_readline(client):
            if state['sent']:
                bench.count += 1
                state['sent'] = False
            return readline(client)
        imaplib.IMAP4.send, imaplib.IMAP4.readline = counting_send, counting_readline
        return self

    def __exit__(self, *exc):
        imaplib.IMAP4.send, imaplib.IMAP4.readline = self.originals


def main():
    shutil.rmtree(os.path.join(BENCH, 'dovecot'), ignore_errors=True)
    pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
    users = {'%s@company.test' % name: 'pw-' + name for name in ('sync', 'fetch', 'idle', 'big', 'huge')}
    dovecot = Dovecot(os.path.join(BENCH, 'dovecot'), users=users)
    db = 'mail_sync_bench'
    conf = write_config(os.path.join(BENCH, 'odoo.conf'), pg.params, os.path.join(BENCH, 'data'))
    try:
        pg.start()
        dovecot.start()
        pg.psql('DROP DATABASE IF EXISTS %s' % db)
        print('bench: installing mail_sync and fetchmail into %s...' % db, flush=True)
        install(conf, db, os.path.join(BENCH, 'install.log'), modules='mail_sync,fetchmail')
        import odoo
        odoo.tools.config.parse_config(['-c', conf, '-d', db, '--log-level=critical'])
        registry = odoo.registry(db)
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            run(env, dovecot, users)
    finally:
        dovecot.stop()
        pg.stop()


def run(env, dovecot, users):
    cr = env.cr
    partner = env['res.partner'].create({'name': 'Bench Customer'})
    thread_id = partner.message_post(body='Quote', message_type='comment').message_id
    server = env['mail.sync.server'].create({
        'name': 'Bench', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
        'incoming_port': dovecot.ports['imap'], 'incoming_encryption': 'none'})

    def mailbox(login, name):
        user = env['res.users'].with_context(no_reset_password=True).create({'name': name, 'login': name})
        return env['mail.sync.mailbox'].create({'user_id': user.id, 'server_id': server.id,
                                                'email': login, 'password': users[login]})
    sync_box = mailbox('sync@company.test', 'bench-sync')
    idle_box = mailbox('idle@company.test', 'bench-idle')
    big_box = mailbox('big@company.test', 'bench-big')
    huge_box = mailbox('huge@company.test', 'bench-huge')
    fetch = env['fetchmail.server'].create({
        'name': 'Bench fetchmail', 'server': '127.0.0.1', 'port': dovecot.ports['imap'], 'type': 'imap',
        'is_ssl': False, 'user': 'fetch@company.test', 'password': users['fetch@company.test'],
        'state': 'done'})
    cr.commit()

    dovecot.append_many('idle@company.test', [realistic(n, 'idle', thread_id) for n in range(20)])

    # Warm-up, not timed: the first messages through a fresh registry pay for its caches,
    # which would otherwise count against whichever importer runs first.
    for n in range(20):
        env['mail.thread'].message_process(None, realistic(n, 'warmup', thread_id))
    cr.commit()

    def imported(tag):
        cr.execute("SELECT count(*) FROM mail_message WHERE message_id LIKE %s", ['<%s-%%' % tag])
        return cr.fetchone()[0]

    def run_sync(_raws):
        sync_box._sync_incoming()

    def run_fetchmail(_raws):
        fetch.fetch_mail()

    def run_floor(raws):
        for raw in raws:
            env['mail.thread'].message_process(None, raw)
        cr.commit()

    # Rounds of ROUND messages, the importers' order rotating from round to round, so
    # that neither warm caches nor the growing thread favour one of them.
    importers = [('sync', run_sync), ('fetch', run_fetchmail), ('floor', run_floor)]
    seconds = dict.fromkeys(('sync', 'fetch', 'floor'), 0.0)
    for first in range(0, COUNT, ROUND):
        numbers = range(first, min(COUNT, first + ROUND))
        dovecot.append_many('sync@company.test', [realistic(n, 'sync', thread_id) for n in numbers])
        dovecot.append_many('fetch@company.test', [realistic(n, 'fetch', thread_id) for n in numbers])
        floor_raws = [realistic(n, 'floor', thread_id) for n in numbers]
        turn = (first // ROUND) % len(importers)
        for name, importer in importers[turn:] + importers[:turn]:
            start = time.perf_counter()
            importer(floor_raws)
            seconds[name] += time.perf_counter() - start
    sync_s, fetch_s, floor_s = seconds['sync'], seconds['fetch'], seconds['floor']

    rows = [('mail_sync (IMAP, ledger, batches of 50)', sync_s, imported('sync')),
            ('Odoo 11 fetchmail (IMAP, UNSEEN, commit per message)', fetch_s, imported('fetch')),
            ('floor: message_process on the same bytes, no network', floor_s, imported('floor'))]
    print('\n%d messages, all replies routed to one Odoo thread (Python %s, this machine)\n'
          % (COUNT, sys.version.split()[0]))
    print('| Importer | Seconds | Messages/s | Imported | vs floor |')
    print('|---|---|---|---|---|')
    for name, seconds, done in rows:
        print('| %s | %.1f | %.0f | %d | %.2fx |' % (name, seconds, done / seconds, done, seconds / floor_s))
    print('\nmail_sync is %.2fx faster than fetchmail.' % (fetch_s / sync_s))

    # An idle mailbox: one cycle after everything is known.
    idle_box._sync_incoming()
    with RoundTrips() as imap:
        before = cr.sql_log_count
        idle_box._sync_incoming()
        queries = cr.sql_log_count - before
    print('Idle mailbox cycle: %d round trip(s) to the IMAP server (%d commands: login and STATUS '
          'pipelined, LOGOUT not awaited), %d SQL queries.' % (imap.count, imap.commands, queries))

    # Peak Python memory for one 30 MB message.
    attachment = os.urandom(22 * 1024 * 1024)
    import base64
    big = (b'From: Big <big@client.test>\r\nTo: sales@company.test\r\nSubject: Re: plans\r\n'
           b'Message-ID: <big-1@client.test>\r\nIn-Reply-To: ' + thread_id.encode() +
           b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b'Content-Type: text/plain\r\n\r\nPlans attached.\r\n--b\r\nContent-Type: application/pdf\r\n'
           b'Content-Disposition: attachment; filename="plans.pdf"\r\nContent-Transfer-Encoding: base64'
           b'\r\n\r\n' + base64.encodebytes(attachment).replace(b'\n', b'\r\n') + b'--b--\r\n')
    for login, box, limit in (('big@company.test', big_box, 25), ('huge@company.test', huge_box, 50)):
        server.max_message_mb = limit
        dovecot.append(login, big)
        tracemalloc.start()
        stats = box._sync_incoming()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        outcome = 'imported' if stats['imported'] else 'listed from its headers and set aside'
        print('A %.0f MB message with the maximum email size at %d MB: %s, peak Python memory %.0f MB.'
              % (len(big) / 2.0 ** 20, limit, outcome, peak / 2.0 ** 20))


if __name__ == '__main__':
    main()
