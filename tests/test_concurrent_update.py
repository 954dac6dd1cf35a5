"""Two workers on one mailbox row: a concurrent update (PostgreSQL's serialization
failure under Odoo's repeatable read) is a quiet retry, not a failure of the mailbox."""
import os
import subprocess
import time

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import commits, run_worker, worker_args
from .test_incoming import raw_mail


@pytest.fixture
def mailbox(mail_servers):
    """A committed IMAP mailbox holding one email (the worker is another process)."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append(login, raw_mail('Stranger <s@race.test>', 'Offer', '<race-1@race.test>'))
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create({
            'name': 'Race test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        box = enabled_mailbox(env, server.id, login, password, 'Race', 'race-%s' % login)
        cr.commit()
        ids = (server.id, box.id, box.user_id.id)
    yield registry, ids[1]
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids[1]).unlink()
        env['mail.sync.server'].browse(ids[0]).unlink()
        env['res.users'].browse(ids[2]).unlink()


def _state(registry, box_id):
    with registry.cursor() as cr:
        cr.execute("""SELECT status, failures, next_sync IS NULL OR next_sync <= now() at time zone 'UTC'
                      FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'incoming'""", [box_id])
        status = cr.fetchone()
        cr.execute('SELECT code, count FROM mail_sync_log WHERE mailbox_id = %s ORDER BY id', [box_id])
        logs = cr.fetchall()
        cr.execute('SELECT message_id, state FROM mail_sync_ledger WHERE mailbox_id = %s', [box_id])
        return status, logs, cr.fetchall()


def test_a_concurrent_update_is_a_quiet_retry(mailbox):
    """Another transaction updates the mailbox row while the worker's cycle runs and commits
    once the worker waits on that row: PostgreSQL refuses the worker's update
    ("could not serialize access due to concurrent update")."""
    registry, box_id = mailbox
    _status, logs_before, _ledger = _state(registry, box_id)  # the mapping's own event
    with registry.cursor() as other:
        other.execute('SELECT pg_backend_pid()')
        other_pid = other.fetchone()[0]
        other.execute("UPDATE mail_sync_mailbox SET outgoing_status = outgoing_status WHERE id = %s", [box_id])
        worker = subprocess.Popen(worker_args(box_id, '--cron'), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, universal_newlines=True)
        try:
            deadline = time.time() + 180
            with registry.cursor() as watch:
                while True:  # the worker is blocked by our row lock: its snapshot predates our commit
                    watch.execute("""SELECT count(*) FROM pg_stat_activity
                                     WHERE datname = current_database() AND pid != %s
                                       AND wait_event_type = 'Lock' AND query ILIKE '%%mail_sync_mailbox%%'""",
                                  [other_pid])
                    if watch.fetchone()[0]:
                        break
                    watch.commit()
                    assert worker.poll() is None, worker.stdout.read()[-3000:]
                    assert time.time() < deadline, 'the worker never waited on the mailbox row'
                    time.sleep(0.05)
            other.commit()
            out, _err = worker.communicate(timeout=300)
        finally:
            if worker.poll() is None:
                worker.kill()
    # Odoo's cursor still prints the refused statement ("bad query"), as for any SQL error;
    # the cycle itself reports nothing: no unexpected error, no failure, no log entry.
    assert 'synced=1' in out and 'could not serialize' in out, out[-3000:]
    assert 'mail_sync: unexpected error' not in out and 'Traceback' not in out, out[-3000:]
    (status, failures, due), logs, ledger = _state(registry, box_id)
    assert (failures or 0, logs) == (0, logs_before), (status, failures, logs)
    assert status != 'retrying' and due, status  # not backed off: still due for the next turn
    assert ledger == [('<race-1@race.test>', 'indexed')]  # what the cycle committed stands
    # The next turn syncs it as usual.
    commits(run_worker(box_id, '--cron'))
    (status, failures, due), logs, ledger = _state(registry, box_id)
    assert (status, failures or 0, logs, due) == ('ok', 0, logs_before, False)
    assert ledger == [('<race-1@race.test>', 'indexed')]
