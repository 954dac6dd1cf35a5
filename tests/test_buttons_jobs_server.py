"""Test & Enable and Sync Now on a real threaded Odoo server with OCA queue_job's job
runner (as `make run` starts it), over XML-RPC as the form's buttons call them: the
manager's click returns, a job tests the mailbox as that manager and enables it; the
owner's Sync Now returns, a job imports the new email and the owner is told over the bus;
the owner's Track and the manager's Test & Enable All are jobs too.
Data is committed: the server is another process."""
import json
import os
import uuid
import xmlrpc.client

import odoo
import pytest

from devstack.odoo import serve
from devstack.procs import TEST_DIR, free_port, stop_pid, wait_port

from .test_incoming import raw_mail
from .test_jobs_server import wait_for

_RUN = uuid.uuid4().hex[:8]


def query(registry, sql, params=()):
    with registry.cursor() as cr:
        cr.execute(sql, list(params))
        return cr.fetchall()


class Rpc(object):
    def __init__(self, url, db, login, password):
        self.db, self.password = db, password
        self.uid = xmlrpc.client.ServerProxy(url + '/xmlrpc/2/common', allow_none=True).authenticate(
            db, login, password, {})
        assert self.uid, login
        self.proxy = xmlrpc.client.ServerProxy(url + '/xmlrpc/2/object', allow_none=True)

    def __call__(self, model, method, *args, **kwargs):
        return self.proxy.execute_kw(self.db, self.uid, self.password, model, method, list(args), kwargs)


@pytest.fixture
def setup(mail_servers):
    """A committed IMAP/SMTP profile, a manager and an owner who log in, the owner's mailbox
    (not tested yet); only its jobs can run (the runner runs whatever is due in the database)."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    account, account_password = mail_servers.new_account()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'no_reset_password': True})
        env['mail.sync.mailbox'].search([]).write({'next_sync': '2999-01-01 00:00:00'})
        cr.execute("DELETE FROM queue_job WHERE state IN ('pending', 'enqueued', 'started')")
        server = env['mail.sync.server'].create({
            'name': 'Buttons %s' % _RUN, 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
            'outgoing_host': 'localhost', 'outgoing_port': mail_servers.smtp.port,
            'outgoing_encryption': 'starttls', 'timeout': 30})
        groups = [env.ref('base.group_user').id]
        manager = env['res.users'].create({
            'name': 'Button Manager', 'login': 'button-manager-%s' % _RUN, 'password': 'manager-pw',
            'groups_id': [(6, 0, groups + [env.ref('mail_sync.group_mail_sync_manager').id])]})
        owner = env['res.users'].create({'name': 'Button Owner', 'login': 'button-owner-%s' % _RUN,
                                         'password': 'owner-pw', 'email': account, 'groups_id': [(6, 0, groups)]})
        box = env['mail.sync.mailbox'].create({
            'user_id': owner.id, 'server_id': server.id, 'email': account, 'login': account,
            'password': account_password, 'outgoing_enabled': True, 'approved': True})
        made = {'registry': registry, 'server': server.id, 'box': box.id, 'account': account,
                'manager': manager.id, 'owner': owner.id, 'owner_partner': owner.partner_id.id,
                'manager_partner': manager.partner_id.id}
        cr.commit()
    yield made
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        cr.execute("DELETE FROM queue_job WHERE identity_key LIKE %s", ['mail_sync.%%.%d' % made['box']])
        env['mail.sync.mailbox'].browse(made['box']).unlink()
        env['mail.sync.server'].browse(made['server']).unlink()
        env['res.users'].browse([made['manager'], made['owner']]).write({'active': False})
        cr.commit()


def bus(registry, partner, kind):
    rows = query(registry, "SELECT message FROM bus_bus WHERE channel = %s ORDER BY id",
                 [json.dumps([os.environ['MAIL_SYNC_TEST_DB'], 'res.partner', partner], separators=(',', ':'))])
    return [message for message in (json.loads(row[0]) for row in rows) if message.get('type') == kind]


def test_test_enable_and_sync_now_run_as_jobs_on_a_server_with_the_job_runner(setup, mail_servers):
    registry, box = setup['registry'], setup['box']
    port = free_port()
    log = os.path.join(TEST_DIR, 'buttons-jobs.log')
    proc = serve(os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'], port, log,
                 extra_args=['--max-cron-threads', '0'])  # no cron: whatever runs, a job ran
    try:
        wait_port(port, timeout=120, proc=proc, what='Odoo with the job runner', log=log)
        url, db = 'http://127.0.0.1:%d' % port, os.environ['MAIL_SYNC_TEST_DB']
        manager = Rpc(url, db, 'button-manager-%s' % _RUN, 'manager-pw')
        owner = Rpc(url, db, 'button-owner-%s' % _RUN, 'owner-pw')

        # Test & Enable, as the form's button calls it.
        assert manager('mail.sync.mailbox', 'action_test_enable', [box], context={'mail_sync_background': True})
        wait_for(lambda: manager('mail.sync.mailbox', 'read', [box], ['state', 'test_running'])[0]['state'] == 'enabled'
                 and not manager('mail.sync.mailbox', 'read', [box], ['test_running'])[0]['test_running'],
                 what='the test job enabling the mailbox')
        [(state, user, channel)] = wait_for(lambda: query(
            registry, """SELECT state, user_id, channel FROM queue_job WHERE identity_key = %s AND state = 'done'""",
            ['mail_sync.test.%d' % box]), what='the test job marked done')  # after the test's own commit
        assert (state, user, channel) == ('done', setup['manager'], 'root.mail_sync.test')
        told = bus(registry, setup['manager_partner'], 'mail_sync_test')
        assert [(m['channel'], m['done']) for m in told] == [('incoming', False), ('outgoing', False), (None, True)]
        assert told[-1]['passed']
        # Its first cycle ran as a job too; the next one waits for its time.
        wait_for(lambda: query(registry, """SELECT count(*) FROM queue_job WHERE identity_key = %s AND state = 'done'""",
                               ['mail_sync.incoming.%d' % box])[0][0] == 1, what='the first cycle')

        # Sync Now, by the owner: the new email arrives through a job, and the owner is told.
        mail_servers.dovecot.append(setup['account'], raw_mail('X <x@buttons.test>', 'Synced now',
                                                               '<now-%s@buttons.test>' % _RUN))
        def done_jobs():
            return dict(query(registry, """SELECT id, result FROM queue_job WHERE identity_key = %s
                                           AND state = 'done'""", ['mail_sync.incoming.%d' % box]))
        before = done_jobs()
        assert owner('mail.sync.mailbox', 'action_sync_now', [box])
        wait_for(lambda: owner('mail.sync.ledger', 'search_count', [('mailbox_id', '=', box)]) == 1,
                 what='the email indexed by the Sync Now job')
        # The cycle commits the row before queue_job marks its job done.
        done = wait_for(lambda: {job: result for job, result in done_jobs().items() if job not in before},
                        what='the Sync Now job done')
        assert len(done) == 1 and "'indexed': 1" in list(done.values())[0], done
        told = wait_for(lambda: bus(registry, setup['owner_partner'], 'mail_sync_sync'), what='the owner told')
        assert (told[0]['mailbox_id'], told[0]['channel'], told[0]['failed']) == (box, 'incoming', False)
        status = owner('mail.sync.mailbox', 'read', [box], ['status_message'])[0]['status_message']
        assert 'Sync Now requested' not in status

        # Track, by the owner: a job fetches and posts the email as the owner, who is told.
        [row] = owner('mail.sync.ledger', 'search', [('mailbox_id', '=', box)])
        assert owner('mail.sync.ledger', 'action_track', [row])
        wait_for(lambda: owner('mail.sync.ledger', 'read', [row], ['state'])[0]['state'] == 'imported',
                 what='the email tracked by the Track job')
        [(user, channel)] = wait_for(lambda: query(
            registry, "SELECT user_id, channel FROM queue_job WHERE identity_key = %s AND state = 'done'",
            ['mail_sync.track.%d' % box]), what='the Track job marked done')
        assert (user, channel) == (setup['owner'], 'root.mail_sync.track')
        told = wait_for(lambda: bus(registry, setup['owner_partner'], 'mail_sync_track'), what='the owner told')
        assert (told[0]['failed'], told[0]['text']) == (False, '"Synced now" is tracked.')

        # Test & Enable All, by the manager: a job per mailbox, then one summary.
        assert manager('mail.sync.server', 'action_test_enable_all', [setup['server']])
        told = wait_for(lambda: [m for m in bus(registry, setup['manager_partner'], 'mail_sync_test')
                                 if m.get('server_id') == setup['server']], what='the summary of Test & Enable All')
        assert told[0]['text'] == 'Buttons %s: 1 of 1 mailboxes passed the test and are enabled.' % _RUN, told
    finally:
        stop_pid(proc)
