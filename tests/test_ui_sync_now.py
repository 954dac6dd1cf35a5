"""Sync Now in the real web client (headless Chromium): the click returns at once with the
sync requested on the form's status line, nothing synced yet; when the job has run (here as
the job runner runs it, the shared server has none) the user is notified and the form shows
the result by itself."""
import os

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .jobs_run import run_jobs
from .test_incoming import raw_mail
from .test_ui_my_mailbox import _user_with_mailbox
from .ui import Ui

NEWS = ('Nina News <nina@news-ui.test>', 'Fresh news for Sync Now', '<sync-now@news-ui.test>')


def test_sync_now_returns_at_once_and_the_form_updates_when_its_job_ran(odoo_http, browser, mail_servers):
    rpc = odoo_http.rpc
    user_id, login, password, server_id, box_id, account = _user_with_mailbox(odoo_http, mail_servers)
    ui = Ui(browser, odoo_http.url)
    try:
        mail_servers.dovecot.append(account, raw_mail(*NEWS, to=account))
        browser.get(odoo_http.url + '/web/session/logout')  # whoever the last test left logged in
        ui.login('admin', 'admin')
        browser.get(odoo_http.url + '/web#action=mail_sync.action_mail_sync_mailbox&id=%d&view_type=form' % box_id)
        ui.find('.o_form_view .o_mail_sync_status')
        ui.idle()
        ui.button('Sync Now')
        ui.wait.until(lambda d: 'Sync Now requested' in d.find_element(By.CSS_SELECTOR, '.o_mail_sync_status').text)
        assert rpc('admin', 'admin', 'mail.sync.ledger', 'search_count', [('mailbox_id', '=', box_id)]) == 0, \
            'the click synced nothing itself'

        assert list(run_jobs(odoo_http, 'mail_sync.incoming.%d' % box_id).values()) == ['done']
        notes = ui.wait.until(lambda d: [n for n in d.find_elements(By.CSS_SELECTOR, '.o_notification')
                                         if 'Sync Now' in n.text])
        assert 'synchronized' in notes[0].text, notes[0].text
        ui.wait.until(lambda d: 'Sync Now requested' not in d.find_element(
            By.CSS_SELECTOR, '.o_mail_sync_status').text)  # the form reloaded by itself
        count = ui.find('.o_form_view .o_field_widget[name=last_sync_count]').text.strip()
        assert count == '1', count
        assert rpc('admin', 'admin', 'mail.sync.ledger', 'search_count', [('mailbox_id', '=', box_id)]) == 1
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_sync_now_failure.png'))
        raise
    finally:
        browser.get(odoo_http.url + '/web/session/logout')
        rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', [box_id])
        rpc('admin', 'admin', 'mail.sync.server', 'unlink', [server_id])
        rpc('admin', 'admin', 'res.users', 'write', [user_id], {'active': False})
