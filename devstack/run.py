"""`make run`: the product with an embedded demo, on loopback.

Starts PostgreSQL (a private cluster in .build/run/pg unless PGHOST names a
server), Dovecot and an SMTP server with a demo account holding a few emails,
creates or updates the database ``mail_sync_demo`` with the addon and Odoo's CRM
app, seeds a small sales pipeline whose customers wrote the demo emails, maps the
demo user's mailbox to that account and enables it, and serves Odoo on
http://localhost:8069. Ctrl-C stops everything it started.
"""
import os
import signal
import sys
import xmlrpc.client

from .crm_demo import seed_pipeline
from .demo_mail import demo_messages
from .dovecot import Dovecot
from .odoo import install, serve, write_config
from .postgres import Postgres
from .procs import SERVERS, port_open, stop_pid, wait_port
from .smtpd import SmtpServer

RUN_DIR = os.path.join(SERVERS, 'run')
DB = os.environ.get('MAIL_SYNC_DB', 'mail_sync_demo')
HTTP_PORT = int(os.environ.get('MAIL_SYNC_HTTP_PORT', '8069'))
PG_PORT = 54329
DEMO_ACCOUNT = ('demo@example.test', 'demo-mail-pw')
PORTS = {'imap': 10143, 'imaps': 10993, 'pop3': 10110, 'pop3s': 10995, 'lmtp': 10024}
SMTP_PORT, SMTPS_PORT = 10587, 10465


def _rpc(url, model, method, *args, **kwargs):
    common = xmlrpc.client.ServerProxy(url + '/xmlrpc/2/common', allow_none=True)
    uid = common.authenticate(DB, 'admin', 'admin', {})
    proxy = xmlrpc.client.ServerProxy(url + '/xmlrpc/2/object', allow_none=True)
    return proxy.execute_kw(DB, uid, 'admin', model, method, list(args), kwargs)


def seed_demo(url):
    """Idempotently create the demo profile, user and mailbox, and Test & Enable it."""
    profile = _rpc(url, 'mail.sync.server', 'search', [('name', '=', 'Demo mail server')])
    values = {'name': 'Demo mail server', 'server_type': 'imap', 'incoming_host': 'localhost',
              'incoming_port': PORTS['imap'], 'incoming_encryption': 'starttls',
              'outgoing_host': 'localhost', 'outgoing_port': SMTP_PORT,
              'outgoing_encryption': 'starttls'}
    if profile:
        _rpc(url, 'mail.sync.server', 'write', profile, values)
        profile = profile[0]
    else:
        profile = _rpc(url, 'mail.sync.server', 'create', values)
    user = _rpc(url, 'res.users', 'search', [('login', '=', 'demo')])
    if user:
        user = user[0]
    else:
        user = _rpc(url, 'res.users', 'create', {
            'name': 'Demo User', 'login': 'demo', 'password': 'demo', 'email': DEMO_ACCOUNT[0]})
    # Email from the customers of the pipeline lands on their leads and opportunities.
    _rpc(url, 'res.users', 'write', [user], {'mail_sync_track': 'contacts'})
    seed_pipeline(lambda model, method, *args, **kwargs: _rpc(url, model, method, *args, **kwargs), user)
    admin = _rpc(url, 'res.users', 'search', [('login', '=', 'admin')])
    _rpc(url, 'res.users', 'write', admin, {'groups_id': [  # admin sees the Leads menu too
        (4, _rpc(url, 'ir.model.data', 'xmlid_to_res_id', 'crm.group_use_lead'))]})
    mailbox = _rpc(url, 'mail.sync.mailbox', 'search', [('user_id', '=', user)])
    values = {'user_id': user, 'server_id': profile, 'email': DEMO_ACCOUNT[0],
              'login': DEMO_ACCOUNT[0], 'password': DEMO_ACCOUNT[1], 'outgoing_enabled': True}
    if mailbox:
        _rpc(url, 'mail.sync.mailbox', 'write', mailbox, values)
    else:
        mailbox = [_rpc(url, 'mail.sync.mailbox', 'create', values)]
    _rpc(url, 'mail.sync.mailbox', 'action_approve', mailbox)
    _rpc(url, 'mail.sync.mailbox', 'action_test_enable', mailbox)
    return _rpc(url, 'mail.sync.mailbox', 'read', mailbox, ['state', 'status_message'])[0]


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main():
    # Ctrl-C, and SIGTERM (or SIGINT to a run started in the background, which would
    # otherwise ignore it), stop everything this run started.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    os.makedirs(RUN_DIR, exist_ok=True)
    pg = Postgres(os.path.join(RUN_DIR, 'pg'), PG_PORT)
    dovecot = Dovecot(os.path.join(RUN_DIR, 'dovecot'), users=dict([DEMO_ACCOUNT]), ports=PORTS)
    smtp = odoo_proc = None
    conf = write_config(os.path.join(RUN_DIR, 'odoo.conf'), pg.params, os.path.join(RUN_DIR, 'data'),
                        mail_sync_ca_file=os.path.join(RUN_DIR, 'dovecot', 'tls', 'ca.pem'))
    try:
        if port_open(HTTP_PORT):
            sys.exit('run: port %d is already in use (another Odoo?): stop it first' % HTTP_PORT)
        pg.start()
        dovecot.start()
        smtp = SmtpServer(dovecot.users, PORTS['lmtp'], dovecot.certs, SMTP_PORT, SMTPS_PORT).start()
        seeded = os.path.join(RUN_DIR, 'dovecot', '.demo-mail-delivered')
        if not os.path.exists(seeded):
            for raw in demo_messages(DEMO_ACCOUNT[0]):
                dovecot.append(DEMO_ACCOUNT[0], raw)
            open(seeded, 'w').close()
        exists = pg.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % DB).strip() == '1'
        print('run: %s database %s (about a minute the first time)...' % (
            'updating' if exists else 'creating', DB), flush=True)
        log = os.path.join(RUN_DIR, 'install.log')
        if exists:
            install(conf, DB, log, update=True)
            install(conf, DB, log, modules='crm')  # does nothing once the CRM app is there
        else:
            install(conf, DB, log, modules='mail_sync,crm')
        odoo_proc = serve(conf, DB, HTTP_PORT)
        wait_port(HTTP_PORT, timeout=120, proc=odoo_proc, what='Odoo')
        url = 'http://localhost:%d' % HTTP_PORT
        mailbox = seed_demo(url)
        print('\n'.join([
            '',
            'mail_sync is running: %s' % url,
            '  administrator (Server-Side Sync manager): admin / admin',
            '  demo user: demo / demo, mailbox %s: %s' % (DEMO_ACCOUNT[0], mailbox['status_message']),
            '  demo mail server on localhost: IMAP %d (STARTTLS), IMAPS %d, POP3 %d, POP3S %d,'
            % (PORTS['imap'], PORTS['imaps'], PORTS['pop3'], PORTS['pop3s']),
            '    SMTP %d (STARTTLS), SMTPS %d; account %s / %s'
            % (SMTP_PORT, SMTPS_PORT, DEMO_ACCOUNT[0], DEMO_ACCOUNT[1]),
            'Press Ctrl-C to stop everything.', ''
        ]), flush=True)
        odoo_proc.wait()
    except KeyboardInterrupt:
        print('\nrun: stopping...', flush=True)
    finally:
        stop_pid(odoo_proc)
        if smtp:
            smtp.stop()
        dovecot.stop()
        pg.stop()


if __name__ == '__main__':
    main()
