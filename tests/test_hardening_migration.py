"""The migration never hands a mailbox to the wrong user (issue 13, item 8), through a real
Odoo HTTP server and XML-RPC: a user who sets her address to a colleague's in Preferences
gets neither his mailbox nor its password; users are matched by login, each row says how,
and a stored password is attached only to a row the manager confirmed."""
import time

import pytest


@pytest.fixture
def corp(odoo_http):
    """Users and incoming servers of a domain of this test's own."""
    stamp = int(time.time() * 1000) % 10 ** 9
    domain = 'corp-%d.test' % stamp
    admin = lambda model, method, *a, **k: odoo_http.rpc('admin', 'admin', model, method, *a, **k)  # noqa: E731
    group_user = admin('ir.model.data', 'xmlid_to_res_id', 'base.group_user')
    # Only this test's incoming servers are migrated; the others are put back afterwards.
    others = admin('fetchmail.server', 'search', [])
    admin('fetchmail.server', 'write', others, {'active': False})
    users = {}
    for key, name, login in (('abby', 'Abby Attacker', 'abby-%d' % stamp),
                             ('zack', 'Zack Colleague', 'zack-%d' % stamp),
                             ('yul', 'Yul Login', 'yul@' + domain),
                             ('xia', 'Xia Login', 'xia@' + domain)):
        users[key] = admin('res.users', 'create', {
            'name': name, 'login': login, 'password': login + '-pw', 'email': '%s@%s' % (key, domain),
            'groups_id': [(6, 0, [group_user])]})
    fetchmails = [admin('fetchmail.server', 'create', {
        'name': 'Migrate %s' % key, 'type': 'imap', 'server': 'imap.' + domain, 'port': 993, 'is_ssl': True,
        'user': '%s@%s' % (key, domain), 'password': 'Stored-%s-Secret' % key}) for key in ('zack', 'yul', 'xia')]
    try:
        yield odoo_http, admin, users, domain
    finally:
        boxes = admin('mail.sync.mailbox', 'search', [('user_id', 'in', list(users.values()))])
        admin('mail.sync.mailbox', 'unlink', boxes)
        profiles = admin('mail.sync.server', 'search', [('incoming_host', '=', 'imap.' + domain)])
        admin('mail.sync.server', 'unlink', profiles)
        admin('fetchmail.server', 'unlink', fetchmails)
        admin('fetchmail.server', 'write', others, {'active': True})
        admin('res.users', 'write', list(users.values()), {'active': False})


def _preview(admin):
    wizard = admin('mail.sync.migration.wizard', 'create', {'mode': 'servers', 'test_enable': False})
    admin('mail.sync.migration.wizard', 'action_preview', [wizard])
    line_ids = admin('mail.sync.migration.wizard', 'read', [wizard], ['line_ids'])[0]['line_ids']
    lines = admin('mail.sync.migration.wizard.line', 'read', line_ids,
                  ['name', 'action', 'user_id', 'match', 'has_password', 'confirmed', 'message'])
    return wizard, {line['name']: line for line in lines}


def test_rpc_a_user_who_takes_a_colleagues_address_gets_nothing(corp):
    http, admin, users, domain = corp
    zack_address = 'zack@' + domain
    # Abby, an ordinary user, sets her address to Zack's in Preferences (her own record).
    abby_login = admin('res.users', 'read', [users['abby']], ['login'])[0]['login']
    http.rpc(abby_login, abby_login + '-pw', 'res.users', 'write', [users['abby']], {'email': zack_address})
    # Zack's address is also his own, but no login is: nobody is matched, whatever the emails say.
    wizard, lines = _preview(admin)
    row = lines[zack_address]
    assert (row['action'], row['user_id']) == ('manual', False), row
    assert 'Abby Attacker' in row['message'] and 'no proof' in row['message'], row['message']
    admin('mail.sync.migration.wizard', 'action_apply', [wizard])
    assert admin('mail.sync.mailbox', 'search', [('user_id', '=', users['abby'])]) == []
    assert admin('mail.sync.mailbox', 'search', [('email', '=ilike', zack_address)]) == []


def test_rpc_a_stored_password_is_attached_only_to_a_confirmed_row(corp):
    http, admin, users, domain = corp
    wizard, lines = _preview(admin)
    yul, xia = lines['yul@' + domain], lines['xia@' + domain]
    for row, key in ((yul, 'yul'), (xia, 'xia')):
        assert (row['action'], row['user_id'][0], row['match']) == ('create', users[key], 'login'), row
        assert row['has_password'] and not row['confirmed']
        assert 'Matched by login' in row['message']
    admin('mail.sync.migration.wizard.line', 'write', [yul['id']], {'confirmed': True})
    action = admin('mail.sync.migration.wizard', 'action_apply', [wizard])
    boxes = {box['user_id'][0]: box for box in admin(
        'mail.sync.mailbox', 'search_read', [('user_id', 'in', [users['yul'], users['xia']])],
        fields=['user_id', 'email', 'password_set'])}
    assert boxes[users['yul']]['password_set'] is True, 'confirmed: the stored password is attached'
    assert boxes[users['xia']]['password_set'] is False, 'not confirmed: no password'
    report = admin('mail.sync.migration', 'read', [action['res_id']], ['line_ids'])[0]['line_ids']
    messages = {line['email']: line['message'] for line in admin(
        'mail.sync.migration.line', 'read', report, ['email', 'message'])}
    assert 'Stored password not attached' in messages['xia@' + domain]
    assert 'Stored password not attached' not in messages['yul@' + domain]
