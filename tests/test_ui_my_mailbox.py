"""A user tracks and untracks email from "My Mailbox" in the real web client (headless
Chromium), against a mailbox on the real Dovecot; the chatter of the document says where
the email came from."""
import os
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .jobs_run import run_jobs
from .test_incoming import raw_mail
from .ui import DOCS, Ui

PRICING = ('Paula Prospect <paula@prospect-ui.test>', 'Pricing for 40 seats', '<pricing@prospect-ui.test>')
PROPOSAL = ('Oscar Other <oscar@other-ui.test>', 'Partnership proposal', '<proposal@other-ui.test>')


def _user_with_mailbox(odoo_http, mail_servers):
    """An internal user (with a password) whose mailbox on the test Dovecot is enabled."""
    rpc = odoo_http.rpc
    account, account_password = mail_servers.new_account()
    login, password = 'mia-%d' % time.time(), 'mia-password'
    user_id = rpc('admin', 'admin', 'res.users', 'create', {
        'name': 'Mia Mailbox', 'login': login, 'password': password, 'email': account})
    server_id = rpc('admin', 'admin', 'mail.sync.server', 'create', {
        'name': 'My Mailbox UI Dovecot', 'server_type': 'imap', 'incoming_host': 'localhost',
        'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
        'outgoing_host': 'localhost', 'outgoing_port': mail_servers.smtp.port,
        'outgoing_encryption': 'starttls'})
    box_id = rpc('admin', 'admin', 'mail.sync.mailbox', 'create', {
        'user_id': user_id, 'server_id': server_id, 'email': account, 'login': account,
        'password': account_password})
    rpc('admin', 'admin', 'mail.sync.mailbox', 'action_approve', [box_id])
    rpc('admin', 'admin', 'mail.sync.mailbox', 'action_test_enable', [box_id])
    state = rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id], ['state'])[0]['state']
    assert state == 'enabled'
    return user_id, login, password, server_id, box_id, account


def test_user_tracks_and_untracks_from_my_mailbox(odoo_http, browser, mail_servers):
    rpc = odoo_http.rpc
    user_id, login, password, server_id, box_id, account = _user_with_mailbox(odoo_http, mail_servers)
    chosen_id = rpc('admin', 'admin', 'res.partner', 'create', {'name': 'Chosen Account UI'})
    ui = Ui(browser, odoo_http.url)
    try:
        mail_servers.dovecot.append_many(account, [raw_mail(*PRICING, to=account),
                                                   raw_mail(*PROPOSAL, to=account)])
        assert rpc(login, password, 'mail.sync.mailbox', 'action_sync_now', [box_id])
        run_jobs(odoo_http, 'mail_sync.incoming.%d' % box_id)  # as the job runner would

        ui.login(login, password)
        # Discuss is this user's only app, where the web client opens: My Mailbox is in
        # its side menu.
        ui.find('.o_mail_chat')
        ui.menu('mail_sync.menu_mail_sync_my_mailbox')
        assert len(ui.list_rows()) == 2
        for subject in (PRICING[1], PROPOSAL[1]):
            assert 'Not Tracked' in ui.row_cells(subject)

        # Track: Being Tracked at once; when its job ran (on a new contact for the unknown
        # sender) the user is told and the list reloads by itself.
        ui.row(PRICING[1]).find_element(By.CSS_SELECTOR, 'button[title="Track"]').click()
        ui.wait.until(lambda d: 'Being Tracked' in ui.row_cells(PRICING[1]))
        assert rpc('admin', 'admin', 'mail.message', 'search_count', [('message_id', '=', PRICING[2])]) == 0, \
            'the click tracked nothing itself'
        assert list(run_jobs(odoo_http, 'mail_sync.track.%d' % box_id).values()) == ['done']
        notes = ui.wait.until(lambda d: [n for n in d.find_elements(By.CSS_SELECTOR, '.o_notification')
                                         if 'Track' in n.text])
        assert '"%s" is tracked.' % PRICING[1] in notes[0].text, notes[0].text
        ui.wait.until(lambda d: 'Tracked manually' in ui.row_cells(PRICING[1]))
        ui.idle()
        for close in browser.find_elements(By.CSS_SELECTOR, '.o_notification .o_close'):
            close.click()
        assert 'Not Tracked' in ui.row_cells(PROPOSAL[1])
        os.makedirs(DOCS, exist_ok=True)
        browser.save_screenshot(os.path.join(DOCS, 'my-mailbox.png'))

        ui.row(PRICING[1]).find_element(By.CSS_SELECTOR, 'button[title="Open Document"]').click()
        ui.find('.o_form_view .o_field_widget[name=email]')
        contact = rpc('admin', 'admin', 'res.partner', 'search_read',
                      [('email', '=', 'paula@prospect-ui.test')], fields=['name'])
        assert [c['name'] for c in contact] == ['Paula Prospect']
        assert 'Paula Prospect' in ui.find('.o_form_view .oe_title').text
        message = ui.find_xpath('//div[contains(@class, "o_chatter")]//div[contains(@class, "o_thread_message")]'
                                '[.//*[contains(., "Body of %s")]]' % PRICING[1])
        origin = message.find_element(By.CSS_SELECTOR, '.o_mail_sync_origin')
        assert origin.text == "Tracked by hand from %s's mailbox" % account
        browser.execute_script('arguments[0].scrollIntoView({block: "center"});', message)
        ui.idle()
        browser.save_screenshot(os.path.join(DOCS, 'chatter-origin.png'))

        # Untrack: the row is not tracked any more, the Odoo message stays.
        ui.click('.breadcrumb li:first-child a')
        ui.row(PRICING[1]).find_element(By.CSS_SELECTOR, 'button[title="Untrack"]').click()
        # What went and what stayed (Odoo 11 lists ask no confirmation; the form does).
        notice = ui.find('.modal .o_mail_sync_notice').text
        assert '"%s" is no longer tracked' % PRICING[1] in notice
        assert 'Kept: the message in the history of Paula Prospect' in notice
        ui.click('//div[contains(@class, "modal-footer")]//button[normalize-space()="OK"]', by=By.XPATH)
        ui.wait.until(lambda d: 'Not Tracked' in ui.row_cells(PRICING[1]))
        ui.idle()
        assert rpc('admin', 'admin', 'mail.message', 'search_count',
                   [('message_id', '=', PRICING[2]), ('model', '=', 'res.partner'),
                    ('res_id', '=', contact[0]['id'])]) == 1
        rows = rpc(login, password, 'mail.sync.ledger', 'search_read', [('mailbox_id', '=', box_id)],
                   fields=['subject', 'state', 'mail_message_id'])
        assert sorted((r['subject'], r['state'], r['mail_message_id']) for r in rows) == [
            (PROPOSAL[1], 'indexed', False), (PRICING[1], 'indexed', False)]

        # Track On...: the user picks the record the email goes to.
        ui.row(PROPOSAL[1]).find_element(By.XPATH, 'td[normalize-space()="%s"]' % PROPOSAL[1]).click()
        ui.button('Track On...')
        Select(ui.find('.modal .o_form_view div[name=target] select')).select_by_value('res.partner')
        ui.idle()
        ui.many2one('target', 'Chosen Account UI')
        ui.click('//div[contains(@class, "modal-footer")]//button[normalize-space()="Track"]', by=By.XPATH)
        ui.wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '.o_form_view .o_statusbar_status .btn-primary').text.strip() == 'Being Tracked')
        run_jobs(odoo_http, 'mail_sync.track.%d' % box_id)
        ui.wait.until(lambda d: d.find_element(  # the form on screen reloads when told
            By.CSS_SELECTOR, '.o_form_view .o_statusbar_status .btn-primary').text.strip() == 'Tracked')
        ui.idle()
        ui.button('Open Document')
        assert 'Chosen Account UI' in ui.find('.o_form_view .oe_title').text
        ui.find_xpath('//div[contains(@class, "o_chatter")]//div[contains(@class, "o_thread_message")]'
                      '[.//*[contains(., "Body of %s")]]//*[contains(@class, "o_mail_sync_origin")]'
                      % PROPOSAL[1])
        assert rpc('admin', 'admin', 'mail.message', 'search_count',
                   [('message_id', '=', PROPOSAL[2]), ('model', '=', 'res.partner'),
                    ('res_id', '=', chosen_id)]) == 1
        rows = rpc(login, password, 'mail.sync.ledger', 'search_read', [('mailbox_id', '=', box_id)],
                   fields=['subject', 'state', 'res_id'])
        assert sorted((r['subject'], r['state'], r['res_id']) for r in rows) == [
            (PROPOSAL[1], 'imported', chosen_id), (PRICING[1], 'indexed', 0)], \
            'Track On... tracks the email on screen only'
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_failure.png'))
        raise
    finally:
        browser.get(odoo_http.url + '/web/session/logout')
        rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', [box_id])
        rpc('admin', 'admin', 'mail.sync.server', 'unlink', [server_id])
        partners = rpc('admin', 'admin', 'res.partner', 'search', [
            '|', ('id', '=', chosen_id), ('email', 'in', ['paula@prospect-ui.test', 'oscar@other-ui.test'])])
        rpc('admin', 'admin', 'res.partner', 'unlink', partners)
        rpc('admin', 'admin', 'res.users', 'write', [user_id], {'active': False})
