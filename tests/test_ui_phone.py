"""mail_sync in a real Chromium at desktop size (1366x900) and phone size (390x844): My
Mailbox as cards with Track on a phone, Test & Enable in the background with live
progress (the page stays usable against a silent server), and its result at the top."""
import os
import re
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .jobs_run import JobsInBackground, run_jobs
from .test_incoming import raw_mail
from .test_ui_my_mailbox import _user_with_mailbox
from .ui import DOCS, Ui

DESKTOP, PHONE = (1366, 900), (390, 844)
DEFAULT_SIZE = (1400, 1000)  # the browser fixture's window
QUOTE = ('Quinn Quote <quinn@quote-phone.test>', 'Quote for the spring order', '<quote@quote-phone.test>')


def _card(ui, subject):
    return ui.find_xpath('//div[contains(@class, "o_mail_sync_email_card")]'
                         '[.//*[contains(., "%s")]]' % subject)


def _fail(browser):
    path = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_phone_failure.png')
    browser.save_screenshot(path)
    print('failure at %s, screenshot %s' % (browser.current_url, path))


def _fits(browser, element):
    """The element lies within the window's width (nothing clipped on the right)."""
    right = browser.execute_script('var r = arguments[0].getBoundingClientRect(); return r.right;', element)
    width = browser.execute_script('return document.documentElement.clientWidth;')
    return right <= width + 1


def test_my_mailbox_is_cards_with_track_on_a_phone_and_a_list_on_a_desktop(odoo_http, browser, mail_servers):
    rpc = odoo_http.rpc
    user_id, login, password, server_id, box_id, account = _user_with_mailbox(odoo_http, mail_servers)
    ui = Ui(browser, odoo_http.url)
    os.makedirs(DOCS, exist_ok=True)
    try:
        mail_servers.dovecot.append_many(account, [raw_mail(*QUOTE, to=account)])
        assert rpc(login, password, 'mail.sync.mailbox', 'action_sync_now', [box_id])
        run_jobs(odoo_http, 'mail_sync.incoming.%d' % box_id)  # as the job runner would
        browser.get(odoo_http.url + '/web/session/logout')  # whoever the last test left logged in
        ui.login(login, password)

        browser.set_window_size(*DESKTOP)
        browser.get(odoo_http.url + '/web#action=mail_sync.action_mail_sync_my_mailbox')
        assert any(QUOTE[1] in row.text for row in ui.list_rows())
        assert not browser.find_elements(By.CSS_SELECTOR, '.o_mail_sync_email_card')
        # Sizes come with their unit.
        assert any(re.match(r'^\d+\.\d\d (Bytes|Kb)$', cell) for cell in ui.row_cells(QUOTE[1])), \
            ui.row_cells(QUOTE[1])

        browser.set_window_size(*PHONE)
        # One full load at the phone's size, straight on the action (a hash change while
        # the web client still opens its first screen can be lost).
        browser.get(odoo_http.url + '/web?size=phone#action=mail_sync.action_mail_sync_my_mailbox')
        card = _card(ui, QUOTE[1])
        ui.idle()
        assert not browser.find_elements(By.CSS_SELECTOR, '.o_list_view'), 'a phone gets cards'
        assert 'Quinn Quote' in card.text and 'Not Tracked' in card.text
        track = card.find_element(By.CSS_SELECTOR, 'button.o_mail_sync_track')
        assert track.is_displayed() and _fits(browser, track), 'Track is on screen'
        browser.save_screenshot(os.path.join(DOCS, 'phone-my-mailbox.png'))
        track.click()
        ui.wait.until(lambda d: 'Being Tracked' in _card(ui, QUOTE[1]).text)
        run_jobs(odoo_http, 'mail_sync.track.%d' % box_id)
        ui.wait.until(lambda d: 'Tracked manually' in _card(ui, QUOTE[1]).text
                      and 'Not Tracked' not in _card(ui, QUOTE[1]).text)
        notes = ui.wait.until(lambda d: [n for n in d.find_elements(By.CSS_SELECTOR, '.o_notification')
                                         if 'is tracked' in n.text])
        for close in notes[0].find_elements(By.CSS_SELECTOR, '.o_close'):  # it covers the top bar
            close.click()
        ui.wait.until(lambda d: not [n for n in d.find_elements(By.CSS_SELECTOR, '.o_notification')
                                     if 'is tracked' in n.text])
        ui.idle()
        row = rpc(login, password, 'mail.sync.ledger', 'search_read',
                  [('mailbox_id', '=', box_id), ('message_id', '=', QUOTE[2])], fields=['state'])
        assert [r['state'] for r in row] == ['imported']
        assert not _card(ui, QUOTE[1]).find_elements(By.CSS_SELECTOR, 'button.o_mail_sync_track')

        # The owner's Preferences on a phone: status, health and alerts, nothing clipped.
        ui.click('.navbar-toggle')  # on a phone the top bar folds its menus behind this button
        ui.click('.o_user_menu > a')
        ui.click('.o_user_menu a[data-menu="settings"]')
        status = ui.find('.modal .o_field_widget[name=mail_sync_state]')
        ui.idle()
        assert status.text.strip() == rpc(login, password, 'mail.sync.mailbox', 'read', [box_id],
                                          ['status_message'])[0]['status_message']
        alerts = ui.find('.modal .o_mail_sync_alerts')
        assert 'Mailbox enabled' in alerts.text
        assert _fits(browser, status) and _fits(browser, alerts)
        browser.execute_script('arguments[0].scrollIntoView({block: "start"});',
                               ui.find('.modal .o_mail_sync_health_box'))
        ui.idle()
        browser.save_screenshot(os.path.join(DOCS, 'phone-preferences.png'))
    except (AssertionError, WebDriverException):
        _fail(browser)
        raise
    finally:
        browser.set_window_size(*DEFAULT_SIZE)
        browser.get(odoo_http.url + '/web/session/logout')
        rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', [box_id])
        rpc('admin', 'admin', 'mail.sync.server', 'unlink', [server_id])
        rpc('admin', 'admin', 'res.users', 'write', [user_id], {'active': False})


def _summary_line(browser, channel):
    lines = browser.find_elements(By.CSS_SELECTOR, '.o_mail_sync_test_progress '
                                                   '.o_mail_sync_test_line[data-channel=%s]' % channel)
    return lines[0] if lines and lines[0].is_displayed() else None


def test_test_enable_runs_in_the_background_against_a_silent_server(odoo_http, browser, mail_servers,
                                                                     silent_port):
    rpc = odoo_http.rpc
    account, account_password = mail_servers.new_account()
    stamp = int(time.time())
    user_id = rpc('admin', 'admin', 'res.users', 'create', {
        'name': 'Sam Silent', 'login': 'sam-%d' % stamp, 'email': account})
    timeout = 8
    server_id = rpc('admin', 'admin', 'mail.sync.server', 'create', {
        'name': 'Silent Server UI', 'server_type': 'imap', 'incoming_host': '127.0.0.1',
        'incoming_port': silent_port, 'incoming_encryption': 'none', 'timeout': timeout,
        'outgoing_host': 'localhost', 'outgoing_port': mail_servers.smtp.port,
        'outgoing_encryption': 'starttls'})
    box_id = rpc('admin', 'admin', 'mail.sync.mailbox', 'create', {
        'user_id': user_id, 'server_id': server_id, 'email': account, 'login': account,
        'password': account_password})
    ui = Ui(browser, odoo_http.url)
    os.makedirs(DOCS, exist_ok=True)
    try:
        browser.get(odoo_http.url + '/web/session/logout')  # whoever the last test left logged in
        ui.login('admin', 'admin')
        # Our own errors come in a dialog with our name, not "Odoo".
        rpc('admin', 'admin', 'mail.sync.mailbox', 'write', [box_id], {'incoming_enabled': False})
        browser.set_window_size(*DESKTOP)
        browser.get(odoo_http.url + '/web#action=mail_sync.action_mail_sync_mailbox&id=%d&view_type=form'
                    % box_id)
        ui.find('.o_form_view .o_mail_sync_status')
        ui.idle()
        ui.button('Test & Enable')
        dialog = ui.find('.modal .o_mail_sync_dialog')
        assert 'Turn on at least one channel' in dialog.text
        assert ui.find('.modal .modal-title').text == 'Server-Side Sync'
        ui.click('.modal .modal-footer .btn-primary')
        rpc('admin', 'admin', 'mail.sync.mailbox', 'write', [box_id], {'incoming_enabled': True})

        for size in (DESKTOP, PHONE):
            browser.set_window_size(*size)
            form_url = odoo_http.url + '/web#action=mail_sync.action_mail_sync_mailbox&id=%d&view_type=form' % box_id
            browser.get(odoo_http.url + '/web')
            # The home action (Discuss) shown first: the form then replaces it. (Opened while
            # Discuss still loads, the form could end up stacked on it, Discuss first in the
            # breadcrumbs.)
            ui.find('.o_mail_chat')
            ui.idle()
            browser.get(form_url)
            ui.find('.o_form_view .o_mail_sync_status')
            ui.idle()
            started = time.monotonic()
            ui.button('Test & Enable')
            # The click returns at once: the form shows the channel being tested (in place of
            # the previous round's result, once the click's answer is in).
            running = ui.wait.until(lambda d: _summary_line(d, 'incoming') and _summary_line(
                d, 'incoming').get_attribute('data-state') == 'running' and _summary_line(d, 'incoming'))
            assert 'Testing' in running.text
            assert time.monotonic() - started < timeout, 'the page did not wait for the server'
            assert 'Testing the connection' in ui.find('.o_mail_sync_status').text
            if size == PHONE:
                browser.save_screenshot(os.path.join(DOCS, 'phone-test-enable-running.png'))
            state = rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id],
                        ['test_running', 'test_started'])[0]
            assert state['test_running'], 'still talking to the silent server'
            # A second start while it runs starts nothing.
            assert rpc('admin', 'admin', 'mail.sync.mailbox', 'action_test_enable', [box_id],
                       context={'mail_sync_background': True})
            again = rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id], ['test_started'])[0]
            assert again['test_started'] == state['test_started']

            # The page stays usable: go to the list and back while the test runs.
            ui.idle()
            ui.click('.breadcrumb li:first-child a')
            ui.find('.o_list_view, .o_kanban_view')
            ui.idle()
            assert rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id], ['test_running'])[0][
                'test_running'], 'the list loaded while the test still ran'
            # The job runs now (as the job runner would; the shared server has none): it lasts
            # the silent server's timeout, so nothing above raced it.
            job = JobsInBackground(odoo_http, 'mail_sync.test.%d' % box_id)
            browser.get(form_url)

            # The result arrives by itself: at the top of the form, and as a notification.
            ui.wait = type(ui.wait)(browser, 4 * timeout + 30, ignored_exceptions=ui.wait._ignored_exceptions)
            failed = ui.wait.until(lambda d: (_summary_line(d, 'incoming') or None) and
                                   _summary_line(d, 'incoming').get_attribute('data-state') == 'failure'
                                   and _summary_line(d, 'incoming'))
            assert list(job.result().values()) == ['done']
            assert 'did not answer in time' in failed.text
            assert 'Failure' in failed.text
            # At the top: first thing in the sheet, on screen without scrolling.
            top = browser.execute_script('return arguments[0].getBoundingClientRect().bottom;', failed)
            assert 0 <= top < size[1], 'the result is on screen (%s px)' % top
            first = browser.execute_script(
                'return document.querySelector(".o_form_sheet").firstElementChild'
                '.querySelector(".o_mail_sync_test_line") !== null;')
            assert first, 'the result is the first thing in the form'
            assert _fits(browser, failed)
            status = ui.find('.o_mail_sync_status').text
            assert 'connection test failed' in status, status
            notes = ui.wait.until(lambda d: [n for n in d.find_elements(By.CSS_SELECTOR, '.o_notification')
                                             if 'Test & Enable' in n.text])
            assert 'the test failed' in notes[0].text and status in notes[0].text, notes[0].text
            if size == PHONE:
                browser.save_screenshot(os.path.join(DOCS, 'phone-test-enable-failed.png'))
            ui.wait = type(ui.wait)(browser, 30, ignored_exceptions=ui.wait._ignored_exceptions)
            values = rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id],
                         ['state', 'test_running', 'incoming_test_state'])[0]
            assert (values['state'], values['test_running'], values['incoming_test_state']) == (
                'draft', False, 'failure')
            for close in browser.find_elements(By.CSS_SELECTOR, '.o_notification .o_close'):
                if close.is_displayed():
                    close.click()
    except (AssertionError, WebDriverException):
        _fail(browser)
        raise
    finally:
        browser.set_window_size(*DEFAULT_SIZE)
        browser.get(odoo_http.url + '/web/session/logout')
        rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', [box_id])
        rpc('admin', 'admin', 'mail.sync.server', 'unlink', [server_id])
        rpc('admin', 'admin', 'res.users', 'write', [user_id], {'active': False})
