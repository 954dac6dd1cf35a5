"""OAuth over time: two worker processes share one refresh; a grant revoked between cycles
suspends the channel, tells the user and resumes after reconnecting without losing or
duplicating email; a password profile switched to OAuth keeps its ledger; the migration
CSV accepts OAuth profiles."""
import base64
import os
import subprocess
import sys
import time

import odoo
import pytest

from .common import enabled_mailbox
from .oauth_common import OAuthCase, connect_delegated, oauth_on_class  # noqa: F401 (fixture)
from .test_incoming import raw_mail

WORKER = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'oauth_worker.py')


def test_two_workers_refresh_an_expired_token_exactly_once(oauth_server, mail_servers, tmp_path):
    authority = oauth_server.authority
    client_id = 'two-workers-%d' % os.getpid()
    authority.add_client(client_id, 'tw-secret', redirect_uris=['http://127.0.0.1/mail_sync/oauth/callback'])
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    login, password = mail_servers.new_account()
    authority.add_user(login, 'idp-pw')
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create({
            'name': 'Two workers', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
            'auth_method': 'oauth', 'oauth_provider': 'oidc', 'oauth_issuer': oauth_server.issuer,
            'oauth_client_id': client_id, 'oauth_secret': 'tw-secret', 'oauth_token_mode': 'delegated',
            'oauth_scopes': 'mail.access'})
        box = enabled_mailbox(env, server.id, login, None, 'Two Workers', 'two-workers-%d' % os.getpid())
        cr.commit()
        connect_delegated(oauth_server, box, login, 'idp-pw')
        ids = server.id, box.id
    try:
        # Our cache says the token is due for refresh; the provider is slow to answer.
        with registry.cursor() as cr:
            cr.execute('UPDATE mail_sync_oauth_token SET expires_at = 1 WHERE mailbox_key = %s', [ids[1]])
        authority.set_token_delay(1.5)
        before = len(authority.token_requests(client_id=client_id))
        args = [sys.executable, WORKER, os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'],
                str(ids[1]), str(tmp_path)]
        workers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    universal_newlines=True) for _ in range(2)]
        deadline = time.time() + 120
        while len([n for n in os.listdir(str(tmp_path)) if n.startswith('ready-')]) < 2:
            assert time.time() < deadline and all(w.poll() is None for w in workers), 'workers did not start'
            time.sleep(0.05)
        (tmp_path / 'go').write_text('')
        outputs = [w.communicate(timeout=180)[0] for w in workers]
        lines = [[l for l in out.splitlines() if l.startswith('token=')] for out in outputs]
        assert all(lines), outputs
        tokens = {l[-1].split()[0] for l in lines}
        assert len(tokens) == 1, 'both workers use the one new token: %s' % outputs
        assert all(l[-1].endswith('imap=0') for l in lines), outputs
        made = authority.token_requests(client_id=client_id)[before:]
        assert [(r['grant_type'], r['error']) for r in made] == [('refresh_token', None)]
    finally:
        authority.set_token_delay(0)
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env['mail.sync.mailbox'].browse(ids[1]).unlink()
            env['mail.sync.server'].browse(ids[0]).unlink()


class TestOAuthFlow(OAuthCase):

    def _delegated(self, server=None):
        if server is None:
            client_id, secret = self.new_client()
            server = self.make_oauth_server(client_id, secret, mode='delegated')
        user = self.make_user('flow%s' % self.id()[-6:])
        mailbox = self.make_mailbox(user, server, outgoing_enabled=True)
        mailbox.write({'state': 'enabled', 'approved': True, 'db_uuid': mailbox._current_db_uuid()})
        login, password = self.oauth_user(mailbox.email)
        return mailbox, login, password

    def _message_ids(self, mailbox):
        return sorted(self.env['mail.sync.ledger'].search([('mailbox_id', '=', mailbox.id)]).mapped('message_id'))

    def test_revoked_grant_suspends_the_channel_tells_the_user_and_resumes_after_reconnecting(self):
        mailbox, login, password = self._delegated()
        self.user_track_all(mailbox)
        client_id = mailbox.server_id.oauth_client_id
        self.connect_delegated(mailbox, login, password)
        self.servers.dovecot.append(login, raw_mail('A <a@x.test>', 'First', '<first-%s@x.test>' % login))
        mailbox._run_cycle('incoming')
        self.assertEqual(self._message_ids(mailbox), ['<first-%s@x.test>' % login])

        # The user withdraws consent at the provider; email keeps arriving.
        self.oauth.authority.revoke_consent(login, client_id)
        self.servers.dovecot.append(login, raw_mail('A <a@x.test>', 'Second', '<second-%s@x.test>' % login))
        mailbox._run_cycle('incoming')
        self.assertEqual(mailbox.incoming_status, 'suspended')
        self.assertEqual(mailbox.outgoing_status, 'ok', 'only the channel that failed is suspended')
        log = self.Log.search([('mailbox_id', '=', mailbox.id), ('channel', '=', 'incoming'),
                               ('resolved', '=', False)])
        self.assertEqual(log.code, 'oauth_invalid_grant')
        self.assertIn('invalid_grant', log.message, 'the provider\'s code is kept')
        self.assertIn('Connect my mailbox', log.message)
        told = mailbox.message_ids.filtered(lambda m: 'is suspended' in (m.body or ''))
        self.assertTrue(told and 'Connect my mailbox' in told[0].body)
        self.assertIn(mailbox.user_id.partner_id, told[0].partner_ids)
        self.assertFalse(mailbox.oauth_connected)

        # Reconnecting resumes: the email that arrived meanwhile is imported once.
        self.connect_delegated(mailbox, login, password)
        mailbox._oauth_after_connect()
        self.assertEqual(mailbox.incoming_status, 'ok')
        self.assertEqual(mailbox.state, 'enabled')
        mailbox._run_cycle('incoming')
        mailbox._run_cycle('incoming')
        self.assertEqual(self._message_ids(mailbox),
                         sorted(['<first-%s@x.test>' % login, '<second-%s@x.test>' % login]))

    def user_track_all(self, mailbox):
        mailbox.user_id.sudo().mail_sync_track = 'all'

    def test_password_profile_switched_to_oauth_keeps_its_ledger(self):
        server = self.make_server()
        user = self.make_user('switch%s' % self.id()[-6:])
        mailbox = self.make_mailbox(user, server)
        self.user_track_all(mailbox)
        login = mailbox.email
        self.servers.dovecot.append(login, raw_mail('A <a@x.test>', 'Before', '<before-%s@x.test>' % login))
        mailbox._run_cycle('incoming')
        self.assertEqual(self._message_ids(mailbox), ['<before-%s@x.test>' % login])

        client_id, secret = self.new_client()
        server.sudo(self.manager).write({
            'auth_method': 'oauth', 'oauth_provider': 'oidc', 'oauth_issuer': self.oauth.issuer,
            'oauth_client_id': client_id, 'oauth_secret': secret, 'oauth_token_mode': 'delegated',
            'oauth_scopes': self.SCOPES})
        _login, idp_password = self.oauth_user(login)
        self.connect_delegated(mailbox, login, idp_password)
        self.servers.dovecot.append(login, raw_mail('A <a@x.test>', 'After', '<after-%s@x.test>' % login))
        stats = mailbox._run_cycle('incoming')
        self.assertEqual(stats['imported'] + stats['indexed'] + stats['linked'], 1, stats)
        self.assertEqual(self._message_ids(mailbox),
                         sorted(['<before-%s@x.test>' % login, '<after-%s@x.test>' % login]))
        self.assertIn(mailbox.email, open(os.path.join(self.servers.dovecot.folder, 'dovecot.log')).read())

    def test_migration_csv_accepts_oauth_profiles_without_passwords(self):
        client_id, secret = self.new_client()
        server = self.make_oauth_server(client_id, secret, mode='delegated', name='OAuth CSV %s' % client_id)
        user = self.make_user('csv%s' % self.id()[-6:])
        text = 'email,user_login,profile,login,password\ncsv-%s@example.test,%s,%s,,\n' % (
            client_id, user.login, server.name)
        wizard = self.env['mail.sync.migration.wizard'].sudo(self.manager).create({
            'mode': 'csv', 'csv_file': base64.b64encode(text.encode('utf-8'))})
        plan = wizard._plan_csv()
        self.assertEqual([item['action'] for item in plan], ['create'], plan)
