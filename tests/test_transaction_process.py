"""mail_sync's commit funnel (models/transaction.py) as production runs it: in a worker
process of its own (tests/kill_worker.py through the cron entry), where commits, the
rollback of a failed cycle and the fresh snapshots between cycles are real. In-process
tests only ever see the savepoint stand-in of devstack/transaction_harness.py."""
import os
import re

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import commits, run_worker
from .test_incoming import raw_mail

COUNT = 120  # three IMAP batches: 50, 50, 20
ADDON = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@pytest.fixture
def mailbox(mail_servers):
    """A committed IMAP mailbox holding COUNT replies to an Odoo thread (all imported)."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    login, password = mail_servers.new_account()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Funnel test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        partner = env['res.partner'].create({'name': 'Funnel test customer'})
        thread = partner.message_post(body='Initial quote', message_type='comment')
        box = enabled_mailbox(env, server.id, login, password, 'Funnel', 'funnel-%s' % login)
        cr.commit()
        ids = (server.id, box.id, box.user_id.id, partner.id, thread.message_id)
    mail_servers.dovecot.append_many(login, [
        raw_mail('Customer <c@funnel.test>', 'Reply %d' % n, '<funnel-%d-%d@funnel.test>' % (ids[1], n), ids[4])
        for n in range(COUNT)])
    yield registry, ids[1]
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids[1]).unlink()
        env['mail.sync.server'].browse(ids[0]).unlink()
        env['res.users'].browse(ids[2]).unlink()
        env['res.partner'].browse(ids[3]).unlink()  # and its thread's messages


def _state(registry, box_id):
    """(ledger UIDs, imported message count, folder's last UID, status, failures, log codes)."""
    with registry.cursor() as cr:
        cr.execute('SELECT uid FROM mail_sync_ledger WHERE mailbox_id = %s ORDER BY uid', [box_id])
        uids = [row[0] for row in cr.fetchall()]
        cr.execute('SELECT count(*) FROM mail_message WHERE message_id LIKE %s', ['<funnel-%d-%%' % box_id])
        messages = cr.fetchone()[0]
        cr.execute("SELECT max(last_uid) FROM mail_sync_folder WHERE mailbox_id = %s", [box_id])
        last_uid = cr.fetchone()[0]
        cr.execute("SELECT status, failures FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'incoming'",
                   [box_id])
        status, failures = cr.fetchone()
        cr.execute('SELECT code, details FROM mail_sync_log WHERE mailbox_id = %s ORDER BY id', [box_id])
        logs = cr.fetchall()
    return uids, messages, last_uid, status, failures or 0, logs


def test_a_failed_cycle_keeps_what_it_committed_and_nothing_else(mailbox):
    """The cycle fails in place of its second commit point: the first batch (ledger rows,
    imported messages, the folder's high-water mark) was committed and stays; the second
    batch was written but not committed, and the rollback leaves none of it; the failure
    itself is recorded and committed. The next cycle imports the rest, each message once."""
    registry, box_id = mailbox
    logs_before = _state(registry, box_id)[-1]  # the mapping's own event
    out = run_worker(box_id, '--cron', '--fail-at', 2)
    assert 'synced=1' in out and 'failure injected at commit 2' in out, out[-3000:]
    uids, messages, last_uid, status, failures, logs = _state(registry, box_id)
    assert (uids, messages, last_uid) == (list(range(1, 51)), 50, 50), (len(uids), messages, last_uid)
    assert (status, failures) == ('retrying', 1)
    new = logs[len(logs_before):]
    assert logs[:len(logs_before)] == logs_before and [code for code, _text in new] == ['unexpected'], logs
    assert 'failure injected at commit 2' in (new[0][1] or '')
    commits(run_worker(box_id))
    uids, messages, last_uid, status, failures, logs = _state(registry, box_id)
    assert (uids, messages, last_uid) == (list(range(1, COUNT + 1)), COUNT, COUNT)
    assert (status, failures) == ('ok', 0)


def test_production_code_has_no_test_mode_branch():
    """Commit points go through the funnel, and no model asks whether it runs in a test:
    cursors commit directly only where a method opened them itself."""
    own_cursors = {'mail_sync_mailbox.py', 'mail_sync_mailbox_oauth.py', 'mail_sync_oauth_token.py'}
    found = []
    for folder in ('models', 'sync'):
        for name in sorted(os.listdir(os.path.join(ADDON, folder))):
            if not name.endswith('.py') or name == 'transaction.py':
                continue
            with open(os.path.join(ADDON, folder, name)) as source:
                text = source.read()
            if re.search(r"['\"]testing['\"]\s*,\s*False|\.testing\b|_testing\(", text):
                found.append('%s/%s asks whether it is tested' % (folder, name))
            if name not in own_cursors and re.search(r'\bcr\.(commit|rollback)\(', text):
                found.append('%s/%s commits or rolls back outside the funnel' % (folder, name))
            if re.search(r'\bcr\.[a-z_]+\s*=[^=]', text):
                found.append('%s/%s sets an attribute on a cursor' % (folder, name))
    assert found == []
