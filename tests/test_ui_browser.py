"""A manager sets up a profile and a mailbox in the real web client (headless Chromium)
and enables it with Test & Enable against the real Dovecot and SMTP server."""
import os

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .jobs_run import run_jobs
from .ui import DOCS, Ui


def test_manager_creates_profile_and_mailbox_and_enables_it(odoo_http, browser, mail_servers):
    login, password = mail_servers.new_account()
    user_id = odoo_http.rpc('admin', 'admin', 'res.users', 'create', {
        'name': 'Dana Browser', 'login': 'dana-browser', 'email': login})
    ui = Ui(browser, odoo_http.url)
    try:
        ui.login('admin', 'admin')

        # The profile: IMAP with SMTP on the test servers.
        ui.open_action('mail_sync.action_mail_sync_server')
        ui.click('.o_list_button_add')
        ui.type('name', 'Local Dovecot')
        ui.type('incoming_host', 'localhost')
        ui.select('incoming_encryption', 'starttls')
        assert ui.find('input[name=incoming_port]').get_attribute('value') == '143'
        ui.type('incoming_port', mail_servers.dovecot.ports['imap'])
        ui.click('.o_notebook li:nth-child(2) a')
        ui.select('outgoing_encryption', 'starttls')
        ui.type('outgoing_port', mail_servers.smtp.port)
        ui.save()

        # The mailbox of Dana, on that profile.
        ui.open_action('mail_sync.action_mail_sync_mailbox')
        ui.click('.o_list_button_add')
        ui.many2one('user_id', 'Dana Browser')
        assert ui.find('input[name=email]').get_attribute('value') == login
        ui.many2one('server_id', 'Local Dovecot')
        ui.type('password', password)
        ui.find('div[name=outgoing_enabled] input').click()
        ui.idle()
        ui.save()
        ui.click('//div[contains(@class, "o_statusbar_buttons")]//button[normalize-space()="Test & Enable"]',
                 by=By.XPATH)
        # The test runs in the background (a job); the form updates itself when it is done.
        [box_id] = odoo_http.rpc('admin', 'admin', 'mail.sync.mailbox', 'search', [('user_id', '=', user_id)])
        assert list(run_jobs(odoo_http, 'mail_sync.test.%d' % box_id).values()) == ['done']
        ui.wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '.o_statusbar_status .btn-primary').text.strip() == 'Enabled')
        ui.idle()
        message = ui.find('.o_form_view .o_mail_sync_test_line[data-channel=incoming]').text
        assert 'Connected and logged in' in message
        os.makedirs(DOCS, exist_ok=True)
        browser.save_screenshot(os.path.join(DOCS, 'mailbox-form.png'))

        rows = odoo_http.rpc('admin', 'admin', 'mail.sync.mailbox', 'search_read',
                             [('user_id', '=', user_id)],
                             fields=['state', 'incoming_test_state', 'outgoing_test_state', 'email'])
        assert [(r['state'], r['incoming_test_state'], r['outgoing_test_state'], r['email'])
                for r in rows] == [('enabled', 'success', 'success', login)]
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_failure.png'))
        raise
    finally:
        boxes = odoo_http.rpc('admin', 'admin', 'mail.sync.mailbox', 'search', [('user_id', '=', user_id)])
        odoo_http.rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', boxes)
        servers = odoo_http.rpc('admin', 'admin', 'mail.sync.server', 'search', [('name', '=', 'Local Dovecot')])
        odoo_http.rpc('admin', 'admin', 'mail.sync.server', 'unlink', servers)
        odoo_http.rpc('admin', 'admin', 'res.users', 'write', [user_id], {'active': False})
