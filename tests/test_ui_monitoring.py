"""Monitoring in the real web client (headless Chromium): a manager opens Mailbox Health,
Errors and Throughput under Settings > Server-Side Sync > Monitoring; a user sees their
mailbox's health in Preferences."""
import datetime
import os
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .ui import DOCS, Ui


def _utc(**delta):
    return (datetime.datetime.utcnow() + datetime.timedelta(**delta)).strftime('%Y-%m-%d %H:%M:%S')


def _mailbox(rpc, mail_servers, server_id, name, stamp, **values):
    """A user with a password and an enabled mailbox on the test Dovecot, then ``values``
    written on the mailbox to put it in the situation under test."""
    account, account_password = mail_servers.new_account()
    login = '%s-%d' % (name.split()[0].lower(), stamp)
    user_id = rpc('admin', 'admin', 'res.users', 'create', {
        'name': name, 'login': login, 'password': 'monitor-pw', 'email': account})
    box_id = rpc('admin', 'admin', 'mail.sync.mailbox', 'create', {
        'user_id': user_id, 'server_id': server_id, 'email': account, 'login': account,
        'password': account_password})
    rpc('admin', 'admin', 'mail.sync.mailbox', 'action_approve', [box_id])
    rpc('admin', 'admin', 'mail.sync.mailbox', 'action_test_enable', [box_id])
    assert rpc('admin', 'admin', 'mail.sync.mailbox', 'read', [box_id], ['state'])[0]['state'] == 'enabled'
    rpc('admin', 'admin', 'mail.sync.mailbox', 'write', [box_id], values)
    return user_id, login, box_id


def _no_error_dialog(driver):
    dialogs = [d.text for d in driver.find_elements(By.CSS_SELECTOR, '.modal') if d.is_displayed()]
    assert not dialogs, dialogs


def test_manager_monitors_mailboxes_and_user_sees_health(odoo_http, browser, mail_servers):
    rpc = odoo_http.rpc
    stamp = int(time.time())
    server_id = rpc('admin', 'admin', 'mail.sync.server', 'create', {
        'name': 'Monitoring UI Dovecot', 'server_type': 'imap', 'incoming_host': 'localhost',
        'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
        'outgoing_host': 'localhost', 'outgoing_port': mail_servers.smtp.port,
        'outgoing_encryption': 'starttls'})
    users, boxes = [], []
    ui = Ui(browser, odoo_http.url)
    try:
        for name, values in [
                ('Olga Okay', {'incoming_last_success': _utc(hours=-2), 'next_sync': _utc(minutes=5)}),
                ('Sven Suspended', {'state': 'suspended', 'incoming_status': 'suspended',
                                    'incoming_last_success': _utc(hours=-30), 'next_sync': False}),
                ('Rita Retrying', {'incoming_status': 'retrying', 'incoming_failures': 3,
                                   'incoming_last_success': _utc(hours=-1), 'next_sync': _utc(minutes=8)})]:
            user_id, login, box_id = _mailbox(rpc, mail_servers, server_id, name, stamp, **values)
            users.append((user_id, login))
            boxes.append(box_id)
        problems = [
            (boxes[1], 'auth_failed', 'error', 'permanent',
             'The server refused the login or password of sven@example.test.'),
            (boxes[2], 'timeout', 'warning', 'transient', 'The server did not answer in time (60 s).'),
        ]
        for box_id, code, severity, error_class, message in problems:
            rpc('admin', 'admin', 'mail.sync.log', 'create', {
                'mailbox_id': box_id, 'server_id': server_id, 'channel': 'incoming', 'code': code,
                'severity': severity, 'error_class': error_class, 'message': message})
        # Throughput: rows of this hour and of earlier hours (the sync's own API is private).
        now = datetime.datetime.utcnow().replace(minute=0, second=0, microsecond=0)
        for channel, items in (('incoming', 12), ('incoming', 30), ('outgoing', 4)):
            assert rpc('admin', 'admin', 'mail.sync.stat', 'create', {
                'hour': now.strftime('%Y-%m-%d %H:%M:%S'), 'server_id': server_id, 'channel': channel,
                'items': items, 'cycles': 1})
        for hours_back, incoming, outgoing in ((1, 55, 9), (2, 18, 3), (3, 70, 12), (4, 25, 6), (5, 40, 2)):
            hour = (now - datetime.timedelta(hours=hours_back)).strftime('%Y-%m-%d %H:%M:%S')
            for channel, items in (('incoming', incoming), ('outgoing', outgoing)):
                rpc('admin', 'admin', 'mail.sync.stat', 'create', {
                    'hour': hour, 'server_id': server_id, 'channel': channel, 'items': items,
                    'cycles': 12})

        # Mailbox Health: worst lag first, each with its health in its colour.
        ui.login('admin', 'admin')
        ui.menu('base.menu_administration')
        ui.menu('mail_sync.menu_mail_sync_monitoring')
        ui.menu('mail_sync.menu_mail_sync_monitoring_health')
        rows = [row.text for row in ui.list_rows()]
        positions = [next(i for i, text in enumerate(rows) if name in text)
                     for name in ('Sven Suspended', 'Olga Okay', 'Rita Retrying')]
        assert positions == sorted(positions), rows
        for name, health, colour, status in (('Olga Okay', 'OK', 'text-success', 'Synchronizing.'),
                                             ('Sven Suspended', 'Error', 'text-danger', 'Suspended'),
                                             ('Rita Retrying', 'Warning', 'text-warning', 'retrying')):
            assert ui.row_cells(name)[-2] == health
            assert status in ui.row_cells(name)[-1], 'the status line of the mailbox, in words'
            assert colour in ui.row(name).get_attribute('class').split()
        assert 'Suspended' in ui.row_cells('Sven Suspended')
        assert '30:0' in ' '.join(ui.row_cells('Sven Suspended')), 'lag of 30 hours shown as 30:0x'
        _no_error_dialog(browser)
        os.makedirs(DOCS, exist_ok=True)
        browser.save_screenshot(os.path.join(DOCS, 'monitoring-health.png'))

        # A mailbox's form says the same, with the cause and what to do.
        ui.row('Sven Suspended').find_element(By.XPATH, 'td[normalize-space()="Sven Suspended"]').click()
        alert = ui.find('.o_form_view .o_mail_sync_health.alert-danger')
        ui.idle()
        assert 'The server refused the login or password of sven@example.test.' in alert.text
        assert 'Test & Enable' in alert.text
        ui.click('.breadcrumb li:first-child a')
        ui.list_rows()

        # The same mailboxes by state and channel status.
        ui.click('.o_cp_switch_pivot')
        ui.find('.o_pivot table')
        ui.idle()
        assert 'Suspended by Errors' in ui.find('.o_pivot table').text
        _no_error_dialog(browser)

        # Errors: by type over time.
        ui.menu('mail_sync.menu_mail_sync_monitoring_errors')
        ui.find('.o_graph_svg_container svg .nv-multiBarWithLegend')
        ui.idle()
        legend = ui.find('.o_graph_svg_container svg .nv-legend').text
        # Problems in words, not codes (the graph's legend cuts labels at 20 characters).
        assert 'Wrong login or passw' in legend and 'Server did not answe' in legend, legend
        assert 'auth_failed' not in legend and 'timeout' not in legend, legend
        _no_error_dialog(browser)
        ui.click('.o_cp_switch_pivot')
        ui.idle()
        pivot = ui.find('.o_pivot table').text
        assert 'Wrong login or password' in pivot and 'auth_failed' not in pivot, pivot
        assert 'Monitoring UI Dovecot' in ui.find('.o_pivot table').text

        # Throughput: items per hour by channel.
        ui.menu('mail_sync.menu_mail_sync_monitoring_throughput')
        ui.find('.o_graph_svg_container svg .nv-lineChart .nv-line')
        ui.idle()
        legend = ui.find('.o_graph_svg_container svg .nv-legend').text
        assert 'Incoming email' in legend and 'Outgoing email' in legend, legend
        _no_error_dialog(browser)
        browser.save_screenshot(os.path.join(DOCS, 'monitoring-throughput.png'))
        ui.click('.o_cp_switch_pivot')
        ui.idle()
        pivot = ui.find('.o_pivot table').text
        # Incoming items of the profile over the six hours: 12 + 30 this hour, 250 in all.
        assert 'Monitoring UI Dovecot' in pivot and '250' in pivot.split(), pivot

        # A user's Preferences: the health of her mailbox, the message and the next sync.
        browser.get(odoo_http.url + '/web/session/logout')
        ui.login(users[2][1], 'monitor-pw')
        ui.click('.o_user_menu > a')
        ui.click('.o_user_menu a[data-menu="settings"]')
        health = ui.find('.modal .o_mail_sync_health.alert-warning')
        ui.idle()
        assert 'Warning' in health.text
        assert 'Retrying after 3 failures' in health.text
        assert 'The server did not answer in time (60 s).' in health.text
        assert ui.find('.modal .o_field_widget[name=mail_sync_next_sync]').text.strip()
        assert not [e for e in browser.find_elements(By.CSS_SELECTOR, '.modal .o_mail_sync_health')
                    if e.is_displayed() and e != health]
        browser.save_screenshot(os.path.join(DOCS, 'preferences-health.png'))
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_failure.png'))
        raise
    finally:
        browser.get(odoo_http.url + '/web/session/logout')
        if boxes:
            rpc('admin', 'admin', 'mail.sync.mailbox', 'unlink', boxes)
        rpc('admin', 'admin', 'mail.sync.server', 'unlink', [server_id])  # its stats and logs go too
        if users:
            rpc('admin', 'admin', 'res.users', 'write', [u for u, _ in users], {'active': False})
