"""Connect my mailbox, end to end through the real Odoo HTTP server and the devstack
authorization server: in Chromium (Preferences -> Connect my mailbox -> the provider's
consent page -> back to Odoo -> connected -> first sync), and over plain HTTP for the
refusals (another address, a replayed or foreign state, another user's link)."""
import os
import re
import urllib.parse
import uuid
import xmlrpc.client

import pytest
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .jobs_run import run_jobs
from .ui import DOCS, Ui

CALLBACK = '/mail_sync/oauth/callback'


class Setup(object):
    """A delegated OAuth profile and users with mailboxes, committed through RPC."""

    def __init__(self, odoo_http, oauth, mail_servers):
        self.odoo, self.oauth, self.servers = odoo_http, oauth, mail_servers
        self.run = uuid.uuid4().hex[:6]
        self.client_id = 'odoo-%s' % self.run
        oauth.authority.add_client(self.client_id, 'cs-' + self.run,
                                   redirect_uris=[odoo_http.url + CALLBACK])
        self.rpc('ir.config_parameter', 'set_param', 'web.base.url', odoo_http.url)
        dovecot, smtp = mail_servers.dovecot, mail_servers.smtp
        self.server_id = self.rpc('mail.sync.server', 'create', {
            'name': 'OAuth UI %s' % self.run, 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': dovecot.ports['imap'], 'incoming_encryption': 'none',
            'outgoing_host': 'localhost', 'outgoing_port': smtp.port, 'outgoing_encryption': 'starttls',
            'timeout': 10, 'auth_method': 'oauth', 'oauth_provider': 'oidc',
            'oauth_issuer': oauth.issuer, 'oauth_client_id': self.client_id,
            'oauth_secret': 'cs-' + self.run, 'oauth_token_mode': 'delegated',
            'oauth_scopes': 'mail.access mail.send', 'credential_mode': 'mailbox'})
        self.users, self.boxes = [], []

    def rpc(self, model, method, *args, **kwargs):
        return self.odoo.rpc('admin', 'admin', model, method, *args, **kwargs)

    def user(self, name, approved=True):
        """(user id, Odoo login, Odoo password, mailbox id, address, provider password)."""
        address, _pw = self.servers.new_account()
        login, password = '%s-%s' % (name, self.run), 'pw-%s' % self.run
        uid = self.rpc('res.users', 'create', {
            'name': name.title(), 'login': login, 'password': password, 'email': address,
            'mail_sync_track': 'all',
            'groups_id': [(6, 0, [self.odoo.rpc('admin', 'admin', 'ir.model.data', 'xmlid_to_res_id',
                                                'base.group_user')])]})
        box = self.rpc('mail.sync.mailbox', 'create', {
            'user_id': uid, 'server_id': self.server_id, 'email': address, 'outgoing_enabled': True})
        if approved:
            self.rpc('mail.sync.mailbox', 'action_approve', [box])
        self.oauth.authority.add_user(address, 'idp-' + self.run)
        self.users.append(uid)
        self.boxes.append(box)
        return uid, login, password, box, address, 'idp-' + self.run

    def cleanup(self):
        if self.boxes:
            self.rpc('mail.sync.mailbox', 'unlink', self.boxes)
        self.rpc('mail.sync.server', 'unlink', [self.server_id])
        if self.users:
            self.rpc('res.users', 'write', self.users, {'active': False})


@pytest.fixture
def setup(odoo_http, oauth_server, mail_servers):
    value = Setup(odoo_http, oauth_server, mail_servers)
    try:
        yield value
    finally:
        value.cleanup()


def _session(odoo_http, login, password):
    session = requests.Session()
    session.trust_env = False
    answer = session.post(odoo_http.url + '/web/session/authenticate', timeout=30, json={
        'jsonrpc': '2.0', 'method': 'call',
        'params': {'db': odoo_http.db, 'login': login, 'password': password}})
    assert answer.json().get('result', {}).get('uid'), answer.text
    return session


def _start(session, odoo_http, mailbox_id):
    """Open the user's start link; returns the provider URL it redirects to."""
    answer = session.get(odoo_http.url + '/mail_sync/oauth/start?mailbox=%d' % mailbox_id,
                         allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers['Location']


def _consent(oauth, url, login, password):
    """The user's answer on the provider's page; returns the callback URL it sends back to."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    answer = requests.post(oauth.issuer + '/authorize', verify=oauth.cafile, timeout=30,
                           allow_redirects=False,
                           data=dict(params, login=login, password=password, action='accept'))
    assert answer.status_code == 302, answer.text
    return answer.headers['Location']


def test_connect_my_mailbox_in_chromium_then_first_sync(setup, odoo_http, browser, oauth_server,
                                                        mail_servers):
    uid, login, password, box, address, idp_password = setup.user('erin')
    mail_servers.dovecot.append(address, (
        'From: Customer <customer@example.org>\r\nTo: %s\r\nSubject: Hello OAuth %s\r\n'
        'Message-ID: <oauth-ui-%s@example.org>\r\n\r\nFirst email after connecting.\r\n'
        % (address, setup.run, setup.run)).encode('ascii'))
    ui = Ui(browser, odoo_http.url)
    # The provider's HTTPS certificate comes from the test CA, which Chromium's own store
    # lacks (Odoo trusts it through mail_sync_ca_file); for this test only.
    browser.execute_cdp_cmd('Security.setIgnoreCertificateErrors', {'ignore': True})
    try:
        ui.login(login, password)
        ui.click('.o_user_menu > a')
        ui.click('.o_user_menu a[data-menu="settings"]')
        ui.idle()
        ui.click('.modal button.o_mail_sync_oauth_connect')
        # The provider's consent page, with the address of the mailbox proposed.
        ui.wait.until(lambda d: d.current_url.startswith(oauth_server.issuer + '/authorize'))
        assert ui.find('input#login').get_attribute('value') == address
        assert 'mail.access' in ui.find('#scopes').text
        ui.find('input#password').send_keys(idp_password)
        ui.click('button#accept')
        result = ui.find('#mail_sync_oauth_result')
        assert 'Mailbox connected' in result.text, result.text
        assert 'connected and synchronizing' in result.text, result.text
        browser.save_screenshot(os.path.join(DOCS, 'oauth-connected.png'))
        ui.click('#mail_sync_oauth_back')
        ui.find('.o_main_navbar, .o_web_client')
        ui.idle()
        ui.click('.o_user_menu > a')
        ui.click('.o_user_menu a[data-menu="settings"]')
        shown = ui.find('.modal .o_mail_sync_oauth_email')
        ui.idle()
        assert shown.text.strip() == address
        assert ui.find('.modal button.o_mail_sync_oauth_disconnect').is_displayed()

        # First sync, as the user asks for it: the email arrives in Odoo.
        odoo_http.rpc(login, password, 'mail.sync.mailbox', 'action_sync_now', [box])
        run_jobs(odoo_http, 'mail_sync.incoming.%d' % box)  # as the job runner would
        found = setup.rpc('mail.sync.ledger', 'search_read',
                          [('mailbox_id', '=', box)], fields=['message_id', 'state'])
        assert [row['message_id'] for row in found] == ['<oauth-ui-%s@example.org>' % setup.run], found
        state = setup.rpc('mail.sync.mailbox', 'read', [box], ['state', 'incoming_status'])[0]
        assert (state['state'], state['incoming_status']) == ('enabled', 'ok')
        # What went over the wire: Dovecot logged the XOAUTH2 login.
        with open(os.path.join(mail_servers.dovecot.folder, 'dovecot.log'), errors='replace') as handle:
            assert re.search(r'Login: user=<%s>, method=XOAUTH2' % re.escape(address), handle.read())
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_failure.png'))
        raise
    finally:
        browser.execute_cdp_cmd('Security.setIgnoreCertificateErrors', {'ignore': False})
        browser.get(odoo_http.url + '/web/session/logout')


def test_connect_refuses_another_address_replays_and_foreign_links(setup, odoo_http, oauth_server):
    uid, login, password, box, address, idp_password = setup.user('finn')
    _uid2, login2, password2, box2, address2, _idp2 = setup.user('gina')
    session = _session(odoo_http, login, password)

    # Signed in at the provider as someone else: refused, nothing stored.
    back = _consent(oauth_server, _start(session, odoo_http, box), address2, idp_password)
    page = session.get(back, timeout=30)
    assert page.status_code == 400
    assert 'You signed in as %s, but your synchronized mailbox is %s' % (address2, address) in page.text
    assert setup.rpc('mail.sync.mailbox', 'read', [box], ['oauth_connected'])[0]['oauth_connected'] is False

    # The right account: connected; the same callback again is refused (single-use state).
    back = _consent(oauth_server, _start(session, odoo_http, box), address, idp_password)
    page = session.get(back, timeout=30)
    assert page.status_code == 200 and 'Mailbox connected' in page.text, page.text
    again = session.get(back, timeout=30)
    assert again.status_code == 400 and 'no longer valid' in again.text
    values = setup.rpc('mail.sync.mailbox', 'read', [box], ['oauth_connected', 'oauth_email'])[0]
    assert (values['oauth_connected'], values['oauth_email']) == (True, address)

    # A state started by one user is worthless in another user's session.
    url = _start(session, odoo_http, box)
    back = _consent(oauth_server, url, address, idp_password)
    other = _session(odoo_http, login2, password2)
    assert other.get(back, timeout=30).status_code == 400
    # ... and Gina cannot start the flow for Finn's mailbox.
    page = other.get(odoo_http.url + '/mail_sync/oauth/start?mailbox=%d' % box, allow_redirects=False,
                     timeout=30)
    assert page.status_code == 403 and 'another user' in page.text

    # Nothing secret in what the user can read back.
    values = odoo_http.rpc(login, password, 'res.users', 'read', [uid],
                           ['mail_sync_oauth_email', 'mail_sync_oauth_connected'])[0]
    assert values['mail_sync_oauth_email'] == address and values['mail_sync_oauth_connected']
    # Disconnect: the grant is forgotten.
    odoo_http.rpc(login, password, 'res.users', 'action_mail_sync_oauth_disconnect', [uid])
    assert setup.rpc('mail.sync.mailbox', 'read', [box], ['oauth_connected'])[0]['oauth_connected'] is False


def test_oauth_methods_through_rpc_check_their_caller(setup, odoo_http, oauth_server):
    uid, login, password, box, address, idp_password = setup.user('hana')
    uid2, login2, password2, box2, _address2, _idp2 = setup.user('ivan')
    session = _session(odoo_http, login, password)
    back = _consent(oauth_server, _start(session, odoo_http, box), address, idp_password)
    assert session.get(back, timeout=30).status_code == 200
    ivan = lambda model, method, *a, **k: odoo_http.rpc(login2, password2, model, method, *a, **k)  # noqa: E731
    for model, method, ids in (('mail.sync.mailbox', 'action_oauth_disconnect', [box]),
                               ('mail.sync.mailbox', 'action_oauth_connect', [box]),
                               ('res.users', 'action_mail_sync_oauth_disconnect', [uid]),
                               ('res.users', 'action_mail_sync_oauth_connect', [uid]),
                               ('mail.sync.mailbox', '_oauth_access_token', [box2]),
                               ('mail.sync.server', 'action_oauth_test', [setup.server_id])):
        with pytest.raises(xmlrpc.client.Fault):
            ivan(model, method, ids)
    # Hana's grant survived all that.
    assert setup.rpc('mail.sync.mailbox', 'read', [box], ['oauth_connected'])[0]['oauth_connected'] is True
