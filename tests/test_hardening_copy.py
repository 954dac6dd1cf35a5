"""A copy of the database never syncs (issue 13, item 9): a real copy (pg_dump of the test
database restored under another name, which keeps ``database.uuid``) whose cron lane runs in
a worker process of its own never connects to the mail server, while the original still
syncs; scripts/neutralize.sh pauses every mailbox of a copy and removes its passwords."""
import configparser
import os
import subprocess
import sys
import time

import odoo
import pytest

from devstack.postgres import _bin

from .common import enabled_mailbox
from .kill_driver import WORKER
from .test_incoming import raw_mail

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _pg_args():
    config = configparser.ConfigParser()
    config.read(os.environ['MAIL_SYNC_TEST_CONF'])
    options = config['options']
    return ['-h', options['db_host'], '-p', options['db_port'], '-U', options['db_user']]


def _psql(db, sql):
    return subprocess.run([_bin('psql')] + _pg_args() + ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
                          check=True, stdout=subprocess.PIPE, universal_newlines=True, timeout=120).stdout.strip()


def _cron(db, mailbox_id):
    """The incoming cron lane of ``db``, for this mailbox only, in a process of its own."""
    return subprocess.run([sys.executable, WORKER, os.environ['MAIL_SYNC_TEST_CONF'], db, str(mailbox_id), '--cron'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300).stdout


def _logins(mail_servers, login):
    """How many times Dovecot let ``login`` in (its log is the server's own account)."""
    with open(os.path.join(mail_servers.dovecot.folder, 'dovecot.log'), errors='replace') as handle:
        return handle.read().count('Login: user=<%s>' % login)


def _logins_settled(mail_servers, login):
    """The logins of ``login`` so far, once the log has caught up: a login of our own
    (a sentinel) is logged after the earlier ones; it is not counted."""
    before = _logins(mail_servers, login)
    mail_servers.dovecot.imap(login).logout()
    deadline = time.time() + 60
    while _logins(mail_servers, login) <= before:
        assert time.time() < deadline, 'Dovecot did not log the sentinel login'
        time.sleep(0.1)
    return _logins(mail_servers, login) - 1


@pytest.fixture(scope='module')
def original_and_copy(mail_servers):
    original = os.environ['MAIL_SYNC_TEST_DB']
    copy = '%s_copy' % original
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append(login, raw_mail('Customer <c@copy.test>', 'Before the copy', '<before@copy.test>'))
    registry = odoo.registry(original)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create({
            'name': 'Copy test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        box = enabled_mailbox(env, server.id, login, password, 'Copy Owner', 'copy-owner')
        cr.commit()
        ids = {'server': server.id, 'box': box.id, 'user': box.user_id.id}
    subprocess.run([_bin('createdb')] + _pg_args() + [copy], check=True, timeout=60)
    dump = subprocess.Popen([_bin('pg_dump')] + _pg_args() + ['--no-owner', original], stdout=subprocess.PIPE)
    subprocess.run([_bin('psql')] + _pg_args() + ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', copy],
                   stdin=dump.stdout, stdout=subprocess.DEVNULL, check=True, timeout=600)
    dump.stdout.close()
    assert dump.wait(timeout=60) == 0
    try:
        yield original, copy, login, ids
    finally:
        subprocess.run([_bin('dropdb')] + _pg_args() + ['--if-exists', copy], timeout=60)
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env['mail.sync.mailbox'].browse(ids['box']).unlink()
            env['mail.sync.server'].browse(ids['server']).unlink()
            env['res.users'].browse(ids['user']).write({'active': False})


def test_a_restored_copy_never_connects_and_the_original_still_syncs(original_and_copy, mail_servers):
    original, copy, login, ids = original_and_copy
    uuid_query = "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'"
    assert _psql(copy, uuid_query) == _psql(original, uuid_query), 'a dump keeps the uuid'
    states = ("SELECT string_agg(channel || ':' || status || ':' || failures, ',' ORDER BY channel) "
              "FROM mail_sync_channel WHERE mailbox_id = %d" % ids['box'])
    assert _psql(copy, states) == _psql(original, states) == 'act:ok:0,incoming:ok:0,outgoing:ok:0', \
        'a copy keeps the channel states'
    before = _logins_settled(mail_servers, login)
    output = _cron(copy, ids['box'])
    assert 'synced=0' in output, output[-3000:]
    assert _logins_settled(mail_servers, login) == before + 1, 'the copy logged in to the mail server'
    assert _psql(copy, 'SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %d' % ids['box']) == '0'
    # The copy says why, to anyone who looks at the mailbox there.
    status = subprocess.run(
        [os.path.join(ROOT, '.venv', 'bin', 'python'), '-c',
         'import odoo, sys\n'
         'odoo.tools.config.parse_config(["-c", sys.argv[1], "-d", sys.argv[2], "--log-level=warn"])\n'
         'with odoo.api.Environment.manage(), odoo.registry(sys.argv[2]).cursor() as cr:\n'
         '    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})\n'
         '    print("STATUS:" + env["mail.sync.mailbox"].browse(int(sys.argv[3])).status_message)\n',
         os.environ['MAIL_SYNC_TEST_CONF'], copy, str(ids['box'])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout
    assert 'STATUS:Paused: this database is a copy' in status, status[-3000:]
    # The original, same data, same worker: connects and imports.
    output = _cron(original, ids['box'])
    assert 'synced=1' in output, output[-3000:]
    assert _logins_settled(mail_servers, login) > before + 2, 'the original logged in'
    assert _psql(original, 'SELECT count(*) FROM mail_sync_ledger WHERE mailbox_id = %d' % ids['box']) == '1'


def test_neutralize_pauses_every_mailbox_and_removes_the_passwords(original_and_copy, mail_servers):
    original, copy, login, ids = original_and_copy
    count = "SELECT count(*) FROM mail_sync_mailbox WHERE password_crypt IS NOT NULL"
    assert _psql(copy, count) != '0'
    subprocess.run([os.path.join(ROOT, 'scripts', 'neutralize.sh'), copy] + _pg_args(), check=True, timeout=60)
    assert _psql(copy, count) == '0'
    assert _psql(copy, "SELECT count(*) FROM mail_sync_mailbox WHERE db_uuid IS NOT NULL") == '0'
    assert _psql(copy, "SELECT count(*) FROM mail_sync_server WHERE service_password_crypt IS NOT NULL") == '0'
    assert _psql(original, count) != '0', 'the original keeps its passwords'
    mail_servers.dovecot.append(login, raw_mail('Customer <c@copy.test>', 'After',
                                                '<after-%d@copy.test>' % time.time()))
    before = _logins_settled(mail_servers, login)
    assert 'synced=0' in _cron(copy, ids['box'])
    assert _logins_settled(mail_servers, login) == before + 1
