"""Outgoing throughput: email sent through one user's mailbox by mail_sync vs Odoo 11's own
mail queue (mail.mail through ir.mail_server), to the same SMTP server, same run.

A salesperson posts COUNT emails to a customer: with the outgoing sync on, they leave
through the salesperson's mailbox (SMTP with its credentials, plus the copy appended to
its Sent folder over IMAP); a colleague without it posts as many, which Odoo's queue
sends through an outgoing mail server on the same SMTP server. Both go in rounds of 100
with the order rotating, so neither warm caches nor a growing table favour one. The SMTP
server relays every message into Dovecot over LMTP, as a real submission server would.

Run: make setup && PYTHONPATH=. .venv/bin/python bench/outgoing_vs_odoo_queue.py [COUNT]
"""
import os
import shutil
import sys
import time
import warnings

warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.dovecot import Dovecot  # noqa: E402
from devstack.odoo import install, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, free_port  # noqa: E402
from devstack.smtpd import SmtpServer  # noqa: E402

BENCH = os.path.join(BUILD, 'bench-outgoing')
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUND = 100


def main():
    shutil.rmtree(os.path.join(BENCH, 'dovecot'), ignore_errors=True)
    pg = Postgres(os.path.join(BENCH, 'pg'), free_port(), durable=False)
    users = {'%s@company.test' % name: 'pw-' + name for name in ('rep', 'odoo', 'customer')}
    dovecot = Dovecot(os.path.join(BENCH, 'dovecot'), users=users)
    db = 'mail_sync_bench_out'
    conf = write_config(os.path.join(BENCH, 'odoo.conf'), pg.params, os.path.join(BENCH, 'data'))
    smtp = None
    try:
        pg.start()
        dovecot.start()
        smtp = SmtpServer(dovecot.users, dovecot.ports['lmtp'], dovecot.certs).start()
        pg.psql('DROP DATABASE IF EXISTS %s' % db)
        print('bench: installing mail_sync into %s...' % db, flush=True)
        install(conf, db, os.path.join(BENCH, 'install.log'))
        import odoo
        odoo.tools.config.parse_config(['-c', conf, '-d', db, '--log-level=critical'])
        registry = odoo.registry(db)
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
            run(env, dovecot, smtp, users)
    finally:
        if smtp:
            smtp.stop()
        dovecot.stop()
        pg.stop()


def run(env, dovecot, smtp, users):
    cr = env.cr
    groups = [(6, 0, [env.ref('base.group_user').id, env.ref('base.group_partner_manager').id])]
    server = env['mail.sync.server'].create({
        'name': 'Bench', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
        'incoming_port': dovecot.ports['imap'], 'incoming_encryption': 'none',
        'outgoing_host': '127.0.0.1', 'outgoing_port': smtp.port, 'outgoing_encryption': 'none'})
    rep = env['res.users'].with_context(no_reset_password=True).create(
        {'name': 'Rep', 'login': 'rep', 'email': 'rep@company.test', 'groups_id': groups})
    colleague = env['res.users'].with_context(no_reset_password=True).create(
        {'name': 'Colleague', 'login': 'colleague', 'email': 'colleague@company.test', 'groups_id': groups})
    box = env['mail.sync.mailbox'].create({'user_id': rep.id, 'server_id': server.id,
                                           'email': 'rep@company.test', 'password': users['rep@company.test'],
                                           'outgoing_enabled': True})
    box.write({'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid()})
    env['ir.mail_server'].create({
        'name': 'Bench SMTP', 'sequence': 1, 'smtp_host': '127.0.0.1', 'smtp_port': smtp.port, 'smtp_encryption': 'none',
        'smtp_user': 'odoo@company.test', 'smtp_pass': users['odoo@company.test']})
    customer = env['res.partner'].create({'name': 'Customer', 'email': 'customer@company.test'})
    cr.commit()

    def post(user, count, tag):
        # Queued, not sent during the post: each sender then works through its queue.
        record = customer.sudo(user).with_context(mail_notify_force_send=False)
        for n in range(count):
            record.message_post(body='<p>Offer %s %d</p>' % (tag, n) + '<p>Details of the offer.</p>' * 20,
                                subject='Offer %d' % n, message_type='comment', subtype='mail.mt_comment',
                                partner_ids=[customer.id])
        cr.commit()

    def sync(_count):
        box._run_cycle('outgoing')

    def queue(_count):
        env['mail.mail'].process_email_queue()

    seconds = {'sync': 0.0, 'queue': 0.0}
    importers = [('sync', sync, rep), ('queue', queue, colleague)]
    for first in range(0, COUNT, ROUND):
        count = min(ROUND, COUNT - first)
        for name, _send, user in importers:
            post(user, count, name)
        turn = (first // ROUND) % 2
        for name, send, _user in importers[turn:] + importers[:turn]:
            start = time.perf_counter()
            send(count)
            seconds[name] += time.perf_counter() - start

    cr.execute("SELECT count(*) FROM mail_sync_outbox WHERE state = 'sent'")
    sent_sync = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM mail_mail WHERE state = 'outgoing'")
    left = cr.fetchone()[0]
    delivered = len(smtp.handler.received)
    sent_copies = _count(dovecot, 'rep@company.test', 'Sent')
    inbox = _count(dovecot, 'customer@company.test', 'INBOX')
    print('\n%d emails each, one recipient, to the same SMTP server (Python %s, this machine)\n'
          % (COUNT, sys.version.split()[0]))
    print('| Sender | Seconds | Emails/s | Notes |')
    print('|---|---|---|---|')
    print('| mail_sync through the rep\'s mailbox | %.1f | %.0f | %d sent, %d copies in Sent |'
          % (seconds['sync'], sent_sync / seconds['sync'], sent_sync, sent_copies))
    print('| Odoo 11 mail queue (ir.mail_server) | %.1f | %.0f | %d left in the queue |'
          % (seconds['queue'], (COUNT - left) / seconds['queue'], left))
    print('\nSMTP server received %d messages; the customer\'s inbox holds %d.' % (delivered, inbox))
    print('mail_sync / Odoo queue time: %.2fx' % (seconds['sync'] / seconds['queue']))


def _count(dovecot, login, folder):
    client = dovecot.imap(login)
    try:
        typ, data = client.select(folder, readonly=True)
        return int(data[0])
    finally:
        client.logout()


if __name__ == '__main__':
    main()
