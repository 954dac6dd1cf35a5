"""Track On only where the user may post (issue 13, item 3), as an ordinary user over XML-RPC
against a real Odoo HTTP server: not into a private channel she is not a member of, not on a
colleague's mailbox record, only on the business documents managers list, with her rights."""
import os
import time
import xmlrpc.client

import odoo
import pytest

from .jobs_run import run_jobs
from .test_incoming import raw_mail


@pytest.fixture(scope='module')
def track_world(odoo_http, mail_servers):
    """Committed data (the HTTP server is another process): Ann's mailbox with two indexed
    emails, Ben's mailbox and his private channel."""
    stamp = int(time.time() * 1000) % 10 ** 9
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    ann_account, ann_pw = mail_servers.new_account()
    ben_account, ben_pw = mail_servers.new_account()
    mail_servers.dovecot.append_many(ann_account, [
        raw_mail('Prospect <p@track.test>', 'Secret plans %d' % n, '<track-%d-%d@track.test>' % (stamp, n))
        for n in range(3)])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'no_reset_password': True})
        groups = [env.ref('base.group_user').id, env.ref('base.group_partner_manager').id]
        ann, ben = [env['res.users'].create({
            'name': '%s Tracker' % name, 'login': '%s-track-%d' % (name.lower(), stamp),
            'password': 'track-pw', 'groups_id': [(6, 0, groups)]}) for name in ('Ann', 'Ben')]
        server = env['mail.sync.server'].create({
            'name': 'Track test %d' % stamp, 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        Mailbox = env['mail.sync.mailbox']
        ann_box = Mailbox.create({'user_id': ann.id, 'server_id': server.id, 'email': ann_account,
                                  'password': ann_pw})
        ben_box = Mailbox.create({'user_id': ben.id, 'server_id': server.id, 'email': ben_account,
                                  'password': ben_pw})
        for box in ann_box | ben_box:
            box.write({'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid()})
        ann.mail_sync_track = 'none'
        ann_box._sync_incoming()
        rows = env['mail.sync.ledger'].search([('mailbox_id', '=', ann_box.id)], order='uid')
        assert rows.mapped('state') == ['indexed'] * 3, rows.mapped('state')
        channel = env['mail.channel'].create({'name': 'ben-private-%d' % stamp, 'public': 'private',
                                              'channel_partner_ids': [(4, ben.partner_id.id)]})
        customer = env['res.partner'].create({'name': 'Customer %d' % stamp})
        cr.commit()
        ids = {'ann': ann.id, 'ann_login': ann.login, 'rows': rows.ids, 'channel': channel.id,
               'ben_box': ben_box.id, 'customer': customer.id, 'boxes': (ann_box | ben_box).ids,
               'server': server.id, 'users': (ann | ben).ids}
    try:
        yield odoo_http, ids
    finally:
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env['mail.channel'].browse(ids['channel']).unlink()
            env['mail.sync.mailbox'].browse(ids['boxes']).unlink()
            env['mail.sync.server'].browse(ids['server']).unlink()
            env['res.users'].browse(ids['users']).write({'active': False})
            env['ir.config_parameter'].set_param('mail_sync.track_models', False)


def _track(http, ids, row, target):
    ann = lambda model, method, *a, **k: http.rpc(ids['ann_login'], 'track-pw', model, method, *a, **k)  # noqa
    wizard = ann('mail.sync.track', 'create', {'ledger_ids': [(6, 0, [row])], 'target': target})
    return ann('mail.sync.track', 'action_track', [wizard])


def _row(http, ids, row):
    return http.rpc('admin', 'admin', 'mail.sync.ledger', 'read', [row], ['state', 'model', 'res_id'])[0]


def test_rpc_no_tracking_into_a_private_channel_or_a_colleagues_mailbox(track_world):
    http, ids = track_world
    for n, target in enumerate(('mail.channel,%d' % ids['channel'], 'mail.sync.mailbox,%d' % ids['ben_box'])):
        with pytest.raises(xmlrpc.client.Fault) as info:
            _track(http, ids, ids['rows'][n], target)
        assert 'business documents only' in info.value.faultString, info.value.faultString
        assert _row(http, ids, ids['rows'][n])['state'] == 'indexed'
    posted = http.rpc('admin', 'admin', 'mail.message', 'search_count', [
        '|', '&', ('model', '=', 'mail.channel'), ('res_id', '=', ids['channel']),
        '&', ('model', '=', 'mail.sync.mailbox'), ('res_id', '=', ids['ben_box']),
        ('message_id', 'like', '@track.test')])
    assert posted == 0


def test_rpc_business_documents_only_in_the_managers_order(track_world):
    http, ids = track_world
    ann = lambda model, method, *a, **k: http.rpc(ids['ann_login'], 'track-pw', model, method, *a, **k)  # noqa
    offered = [key for key, _label in ann('mail.sync.track', 'fields_get', ['target'])['target']['selection']]
    assert offered[0] == 'res.partner' and 'calendar.event' in offered
    assert not [name for name in offered if name.startswith(('mail.', 'ir.', 'res.users'))], offered
    # A manager puts meetings first, and cannot list a technical model.
    admin = lambda model, method, *a, **k: http.rpc('admin', 'admin', model, method, *a, **k)  # noqa
    settings = admin('res.config.settings', 'create', {'mail_sync_track_models': 'calendar.event, res.partner'})
    admin('res.config.settings', 'execute', [settings])
    offered = [key for key, _label in ann('mail.sync.track', 'fields_get', ['target'])['target']['selection']]
    assert offered == ['calendar.event', 'res.partner']
    refused = admin('res.config.settings', 'create', {'mail_sync_track_models': 'res.partner,mail.channel'})
    with pytest.raises(xmlrpc.client.Fault) as info:
        admin('res.config.settings', 'execute', [refused])
    assert 'mail.channel' in info.value.faultString
    # Where she may post, it works: Being Tracked at once, tracked there once its job ran.
    _track(http, ids, ids['rows'][2], 'res.partner,%d' % ids['customer'])
    assert _row(http, ids, ids['rows'][2])['state'] == 'tracking'
    assert set(run_jobs(http, 'mail_sync.track.%d' % ids['boxes'][0]).values()) == {'done'}
    assert _row(http, ids, ids['rows'][2]) == {'id': ids['rows'][2], 'state': 'imported', 'model': 'res.partner',
                                               'res_id': ids['customer']}


def test_rpc_a_listed_document_she_may_not_post_on_is_refused(track_world):
    http, ids = track_world
    admin = lambda model, method, *a, **k: http.rpc('admin', 'admin', model, method, *a, **k)  # noqa
    # A private meeting she does not attend: Odoo lets her see it as "Busy", not write it.
    event = admin('calendar.event', 'create', {
        'name': 'Board only', 'start': '2030-01-07 09:00:00', 'stop': '2030-01-07 10:00:00',
        'privacy': 'private', 'partner_ids': [(6, 0, [])]})
    try:
        admin('ir.config_parameter', 'set_param', 'mail_sync.track_models', 'res.partner,calendar.event')
        with pytest.raises(xmlrpc.client.Fault):
            _track(http, ids, ids['rows'][1], 'calendar.event,%d' % event)
        assert _row(http, ids, ids['rows'][1])['state'] == 'indexed'
    finally:
        admin('calendar.event', 'unlink', [event])
