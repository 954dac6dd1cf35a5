"""Incoming mail through Exchange (EWS) vs IMAP: same messages, same run, same Odoo.

The same COUNT realistic replies to an Odoo thread (so every one is imported) are put
in an Exchange mailbox on our EWS test endpoint (a process of its own, plain HTTP like
the plain IMAP it is compared with, Basic auth) and in a Dovecot mailbox, then imported
by mail_sync's incoming cycle through each, in rounds whose order alternates. Then, for
an idle mailbox of each kind, the round trips and SQL queries of one cycle: EWS requests
are counted at the endpoint (one HTTP request each with Basic), IMAP round trips as in
bench/incoming_vs_fetchmail.py. "Cold" is the first cycle in a new worker process
(exchangelib then asks the server for its version first).

Run: make setup && PYTHONPATH=. .venv/bin/python bench/ews_vs_imap.py [COUNT]
"""
import os
import shutil
import sys
import time
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.incoming_vs_fetchmail import RoundTrips, realistic  # noqa: E402
from devstack.certs import make_certs  # noqa: E402
from devstack.dovecot import Dovecot  # noqa: E402
from devstack.ews.control import RemoteEwsServer  # noqa: E402
from devstack.odoo import install, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port  # noqa: E402

BENCH = os.path.join(BUILD, 'bench-ews')
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ROUND = 200


def main():
    shutil.rmtree(os.path.join(BENCH, 'dovecot'), ignore_errors=True)
    certs = os.path.join(BENCH, 'tls')
    make_certs(certs)
    pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
    users = {'%s@company.test' % name: 'pw-' + name for name in ('imap', 'imapidle')}
    dovecot = Dovecot(os.path.join(BENCH, 'dovecot'), users=users, certs_dir=certs)
    ews = None
    db = 'mail_sync_bench_ews'
    conf = write_config(os.path.join(BENCH, 'odoo.conf'), pg.params, os.path.join(BENCH, 'data'),
                        mail_sync_ca_file=os.path.join(certs, 'ca.pem'))
    try:
        pg.start()
        dovecot.start()
        ews = RemoteEwsServer.spawn(certs, os.path.join(BENCH, 'ews.log'))
        pg.psql('DROP DATABASE IF EXISTS %s' % db)
        print('bench: installing mail_sync into %s...' % db, flush=True)
        install(conf, db, os.path.join(BENCH, 'install.log'))
        import odoo
        odoo.tools.config.parse_config(['-c', conf, '-d', db, '--log-level=critical'])
        registry = odoo.registry(db)
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            run(env, dovecot, ews, users)
    finally:
        if ews is not None:
            ews.stop()
        dovecot.stop()
        pg.stop()


def run(env, dovecot, ews, users):
    cr = env.cr
    partner = env['res.partner'].create({'name': 'Bench Customer'})
    thread_id = partner.message_post(body='Quote', message_type='comment').message_id
    imap_server = env['mail.sync.server'].create({
        'name': 'Bench IMAP', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
        'incoming_port': dovecot.ports['imap'], 'incoming_encryption': 'none', 'cycle_cap': 100000})
    ews_server = env['mail.sync.server'].create({
        'name': 'Bench EWS', 'server_type': 'exchange', 'ews_locate': 'url', 'ews_url': ews.http_url,
        'cycle_cap': 100000})
    for address in ('ews@company.test', 'ewsidle@company.test'):
        ews.add_account(address, 'pw-' + address.split('@')[0])
        users[address] = 'pw-' + address.split('@')[0]

    def mailbox(login, name, server):
        user = env['res.users'].with_context(no_reset_password=True).create({'name': name, 'login': name})
        box = env['mail.sync.mailbox'].create({'user_id': user.id, 'server_id': server.id,
                                               'email': login, 'password': users[login]})
        box._test_and_enable()
        assert box.state == 'enabled', box.incoming_test_message
        return box
    imap_box = mailbox('imap@company.test', 'bench-imap', imap_server)
    imap_idle = mailbox('imapidle@company.test', 'bench-imap-idle', imap_server)
    ews_box = mailbox('ews@company.test', 'bench-ews', ews_server)
    ews_idle = mailbox('ewsidle@company.test', 'bench-ews-idle', ews_server)
    cr.commit()

    # Warm-up, not timed: a fresh registry's caches would count against whoever runs first.
    for n in range(20):
        env['mail.thread'].message_process(None, realistic(n, 'warmup', thread_id))
    cr.commit()

    def imported(tag):
        cr.execute("SELECT count(*) FROM mail_message WHERE message_id LIKE %s", ['<%s-%%' % tag])
        return cr.fetchone()[0]

    calls_before = len(ews.calls)
    importers = [('ews', ews_box), ('imap', imap_box)]
    seconds = dict.fromkeys(('ews', 'imap'), 0.0)
    for first in range(0, COUNT, ROUND):
        numbers = range(first, min(COUNT, first + ROUND))
        for n in numbers:
            ews.store.deliver('ews@company.test', realistic(n, 'ews', thread_id))
        dovecot.append_many('imap@company.test', [realistic(n, 'imap', thread_id) for n in numbers])
        turn = (first // ROUND) % len(importers)
        for name, box in importers[turn:] + importers[:turn]:
            start = time.perf_counter()
            box._sync_incoming()
            seconds[name] += time.perf_counter() - start
    ews_requests = len(ews.calls) - calls_before

    print('\n%d messages, all replies routed to one Odoo thread (Python %s, this machine)\n'
          % (COUNT, sys.version.split()[0]))
    print('| Import through | Seconds | Messages/s | Imported |')
    print('|---|---|---|---|')
    for label, name in (('Exchange: EWS SyncFolderItems + GetItem MimeContent, pages of 50', 'ews'),
                        ('IMAP: Dovecot, UID FETCH in batches of 50', 'imap')):
        done = imported(name)
        print('| %s | %.1f | %.0f | %d |' % (label, seconds[name], done / seconds[name], done))
    print('\nEWS requests for the import: %d (%.1f per 50 messages).' % (ews_requests,
                                                                        ews_requests * 50.0 / COUNT))

    # Idle mailboxes: everything known, nothing new.
    for n in range(20):
        ews.store.deliver('ewsidle@company.test', realistic(n, 'ewsidle', thread_id))
    dovecot.append_many('imapidle@company.test', [realistic(n, 'imapidle', thread_id) for n in range(20)])
    ews_idle._sync_incoming()
    imap_idle._sync_incoming()
    print('\n| Idle mailbox, one cycle | Round trips | SQL queries |')
    print('|---|---|---|')
    for label, cold in (('warm worker', False), ('cold worker (first cycle in a process)', True)):
        if cold:
            import exchangelib
            exchangelib.protocol.CachingProtocol.clear_cache()
        before, queries = len(ews.calls), cr.sql_log_count
        ews_idle._sync_incoming()
        queries = cr.sql_log_count - queries
        operations = [call[0] for call in ews.calls[before:]]
        print('| Exchange (EWS), %s | %d (%s) | %d |' % (label, len(operations), ', '.join(operations),
                                                          queries))
    with RoundTrips() as imap:
        queries = cr.sql_log_count
        imap_idle._sync_incoming()
        queries = cr.sql_log_count - queries
    print('| IMAP | %d (%d commands) | %d |' % (imap.count, imap.commands, queries))


if __name__ == '__main__':
    main()
