"""Upgrade in place (issue 14, item 9): a database made by the addon as it was before the
channel states had their own model (commit 9ecce44, taken from this repository's history) is
updated with ``-u mail_sync``; every mailbox's channel state arrives in mail.sync.channel and
nothing else changes (mailboxes, ledger, links, log, folders keep every value)."""
import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from devstack.odoo import install, odoo_addons_dir, write_config
from devstack.postgres import _bin

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
OLD_COMMIT = '9ecce44'
# Old mailbox columns that became fields of a channel's row: channel -> {row field: old column}.
MOVED = {
    'incoming': {'status': 'incoming_status', 'failures': 'incoming_failures', 'next_sync': 'next_sync',
                 'last_success': 'incoming_last_success', 'test_state': 'incoming_test_state',
                 'test_date': 'incoming_test_date', 'test_message': 'incoming_test_message'},
    'outgoing': {'status': 'outgoing_status', 'failures': 'outgoing_failures',
                 'next_sync': 'outgoing_next_sync', 'last_success': None,
                 'test_state': 'outgoing_test_state', 'test_date': 'outgoing_test_date',
                 'test_message': 'outgoing_test_message'},
    'act': {'status': 'act_status', 'failures': 'act_failures', 'next_sync': 'act_next_sync',
            'last_success': 'act_last_success', 'test_state': 'act_test_state', 'test_date': 'act_test_date',
            'test_message': 'act_test_message'},
}
# What an empty old column becomes (the old ORM left integers it was not given empty).
DEFAULTS = {'status': 'ok', 'failures': '0', 'test_state': 'not_run'}
ROW_FIELDS = ('status', 'failures', 'next_sync', 'last_success', 'test_state', 'test_date', 'test_message')
UNCHANGED_TABLES = ('mail_sync_ledger', 'mail_sync_link', 'mail_sync_log', 'mail_sync_folder',
                    'mail_sync_server')

# Run by the old code's Odoo: mailboxes in several channel states, with ledger rows, links
# and log rows, all through its ORM.
POPULATE = r'''
import sys
import odoo
odoo.tools.config.parse_config(['-c', sys.argv[1], '-d', sys.argv[2], '--log-level=warn'])
with odoo.api.Environment.manage(), odoo.registry(sys.argv[2]).cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    server = env['mail.sync.server'].create({
        'name': 'Upgrade profile', 'server_type': 'imap', 'incoming_host': 'localhost', 'incoming_port': 10143,
        'incoming_encryption': 'none', 'outgoing_host': 'localhost', 'outgoing_port': 10025})
    cases = [
        ('retrying', {'state': 'enabled', 'incoming_status': 'retrying', 'incoming_failures': 3,
                      'next_sync': '2031-05-01 10:20:30', 'sync_interval': 7,
                      'incoming_last_success': '2026-11-30 08:00:00', 'incoming_test_state': 'success',
                      'incoming_test_date': '2026-11-01 09:00:00',
                      'incoming_test_message': 'Connected and logged in; 4 messages in the Inbox.'}),
        ('suspended', {'state': 'suspended', 'outgoing_status': 'suspended', 'outgoing_failures': 10,
                       'outgoing_next_sync': '2026-11-29 12:00:00', 'outgoing_test_state': 'failure',
                       'outgoing_test_date': '2026-11-02 10:00:00',
                       'outgoing_test_message': 'The server refused the login.',
                       'incoming_status': 'suspended', 'incoming_failures': 1}),
        ('healthy', {'state': 'enabled', 'incoming_last_success': '2026-11-30 23:59:59',
                     'next_sync': '2026-12-01 00:05:00', 'sync_interval': 12, 'last_sync': '2026-11-30 23:59:59',
                     'act_status': 'retrying', 'act_failures': 2, 'act_next_sync': '2026-12-01 01:00:00',
                     'act_last_success': '2026-11-29 07:00:00', 'act_test_state': 'success',
                     'act_test_date': '2026-11-03 11:00:00', 'act_test_message': 'Connected to https://ews.test'}),
        ('fresh', {}),
    ]
    for name, values in cases:
        user = env['res.users'].with_context(no_reset_password=True).create(
            {'name': 'Upgrade %s' % name, 'login': 'upgrade-%s' % name})
        box = env['mail.sync.mailbox'].create({'user_id': user.id, 'server_id': server.id,
                                               'email': '%s@upgrade.test' % name, 'outgoing_enabled': True})
        box.write(values)
        for number in range(3):
            env['mail.sync.ledger'].create({
                'mailbox_id': box.id, 'folder': 'INBOX', 'uidvalidity': 9, 'uid': number + 1,
                'message_id': '<%s-%d@upgrade.test>' % (name, number), 'state': 'indexed'})
        partner = env['res.partner'].create({'name': 'Contact of %s' % name})
        env['mail.sync.link'].create({'mailbox_id': box.id, 'kind': 'contact', 'item_id': 'item-%s' % name,
                                      'res_model': 'res.partner', 'res_id': partner.id})
        env['mail.sync.log'].create({'mailbox_id': box.id, 'server_id': server.id, 'channel': 'incoming',
                                     'code': 'timeout', 'severity': 'warning', 'error_class': 'transient',
                                     'message': 'The server did not answer in time (%s).' % name})
    cr.commit()
print('POPULATED')
'''


def _pg_args():
    config = configparser.ConfigParser()
    config.read(os.environ['MAIL_SYNC_TEST_CONF'])
    options = config['options']
    return ['-h', options['db_host'], '-p', options['db_port'], '-U', options['db_user']]


def _db_params():
    config = configparser.ConfigParser()
    config.read(os.environ['MAIL_SYNC_TEST_CONF'])
    return {key: config['options'][key] for key in ('db_host', 'db_port', 'db_user', 'db_password')}


def _rows(db, sql):
    """Rows of ``sql`` as lists of text (NULL as None), through psql."""
    out = subprocess.run([_bin('psql')] + _pg_args() + ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', db,
                                                      '-F', '\x1f', '-R', '\x1e', '-P', 'null=\\N', '-c', sql],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True, timeout=120).stdout
    return [[None if value == '\\N' else value for value in row.split('\x1f')]
            for row in out.rstrip('\n').split('\x1e') if row.strip('\n')]


def _columns(db, table):
    return [row[0] for row in _rows(db, "SELECT column_name FROM information_schema.columns WHERE "
                                        "table_name = '%s' ORDER BY ordinal_position" % table)]


def _table(db, table, columns):
    return _rows(db, 'SELECT %s FROM %s ORDER BY id' % (', '.join('"%s"' % c for c in columns), table))


def _old_addon(folder):
    """The addon as it was at OLD_COMMIT, extracted from this repository's history."""
    target = os.path.join(folder, 'mail_sync')
    os.makedirs(target)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', '--format=tar', OLD_COMMIT],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if archive.returncode != 0:
        pytest.fail('commit %s is not in the repository at %s (a full clone has it): %s'
                    % (OLD_COMMIT, ROOT, archive.stderr.decode(errors='replace')))
    subprocess.run(['tar', '-x', '-C', target], input=archive.stdout, check=True, timeout=300)
    return target


@pytest.fixture(scope='module')
def old_database():
    """A database with the old addon installed and populated; dropped afterwards."""
    folder = tempfile.mkdtemp(prefix='mail_sync_upgrade_')
    db = '%s_upgrade' % os.environ['MAIL_SYNC_TEST_DB']
    try:
        _old_addon(os.path.join(folder, 'addons'))
        conf = write_config(os.path.join(folder, 'old.conf'), _db_params(), os.path.join(folder, 'data'),
                            addons_path='%s,%s' % (odoo_addons_dir(), os.path.join(folder, 'addons')))
        started = time.time()
        install(conf, db, os.path.join(folder, 'old.log'))
        print('upgrade: old addon installed in %.0f s' % (time.time() - started))
        out = subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'python'), '-c', POPULATE, conf, db],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=600)
        assert 'POPULATED' in out.stdout, out.stdout[-3000:]
        yield db, folder
    finally:
        subprocess.run([_bin('dropdb')] + _pg_args() + ['--if-exists', db], timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_update_moves_every_channel_state_into_its_row_and_keeps_the_rest(old_database):
    db, folder = old_database
    assert _rows(db, "SELECT latest_version FROM ir_module_module WHERE name = 'mail_sync'") == [['11.0.1.0.0']]
    mailbox_columns = _columns(db, 'mail_sync_mailbox')
    moved = {column for fields in MOVED.values() for column in fields.values() if column}
    assert moved <= set(mailbox_columns), 'the old schema has every moved column'
    before_boxes = _table(db, 'mail_sync_mailbox', ['id'] + [c for c in MOVED['incoming'].values() if c] +
                          [c for c in MOVED['outgoing'].values() if c] + [c for c in MOVED['act'].values() if c])
    assert len(before_boxes) == 4
    expected = []
    for row in before_boxes:
        values = dict(zip(['id'] + [c for ch in ('incoming', 'outgoing', 'act') for c in MOVED[ch].values() if c],
                          row))
        for channel in ('act', 'incoming', 'outgoing'):
            row = [values[MOVED[channel][field]] if MOVED[channel][field] else None for field in ROW_FIELDS]
            expected.append([values['id'], channel] + [
                DEFAULTS.get(field) if value is None else value for field, value in zip(ROW_FIELDS, row)])
    # The states set up are really there, old style (not all defaults).
    assert ['retrying', '3', '2031-05-01 10:20:30'] in [e[2:5] for e in expected]
    assert ['suspended', '10', '2026-11-29 12:00:00'] in [e[2:5] for e in expected]
    kept_columns = [c for c in mailbox_columns if c not in moved and c not in ('write_date', 'write_uid')]
    kept = {'mail_sync_mailbox': (kept_columns, _table(db, 'mail_sync_mailbox', kept_columns))}
    for table in UNCHANGED_TABLES:
        columns = _columns(db, table)
        kept[table] = (columns, _table(db, table, columns))
    assert len(kept['mail_sync_ledger'][1]) == 12 and len(kept['mail_sync_link'][1]) == 4
    assert len(kept['mail_sync_log'][1]) >= 4

    install(os.environ['MAIL_SYNC_TEST_CONF'], db, os.path.join(folder, 'update.log'), update=True)

    assert _rows(db, "SELECT latest_version FROM ir_module_module WHERE name = 'mail_sync'") == [['11.0.1.1.0']]
    rows = _rows(db, 'SELECT mailbox_id, channel, %s FROM mail_sync_channel ORDER BY mailbox_id, channel'
                 % ', '.join(ROW_FIELDS))
    assert rows == expected
    statuses = {MOVED[channel]['status'] for channel in MOVED}
    assert not (moved - statuses) & set(_columns(db, 'mail_sync_mailbox')), 'the moved columns are gone'
    assert statuses <= set(_columns(db, 'mail_sync_mailbox')), 'the statuses stay, for grouping'
    for table, (columns, values) in kept.items():
        assert _table(db, table, columns) == values, '%s changed' % table
