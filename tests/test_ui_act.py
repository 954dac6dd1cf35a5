"""Appointments, contacts and tasks in the real web client (headless Chromium): a user finds
the conflicts of her own mailbox under Discuss > My Sync Conflicts (and nobody else's); a
manager turns a field of the mapping into one-way under Settings > Server-Side Sync."""
import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .ui import DOCS, Ui


def _user_with_mailbox(rpc, server_id, name, stamp):
    login = '%s-%d' % (name.split()[0].lower(), stamp)
    user_id = rpc('admin', 'admin', 'res.users', 'create', {
        'name': name, 'login': login, 'password': 'conflict-pw', 'email': login + '@example.test'})
    box_id = rpc('admin', 'admin', 'mail.sync.mailbox', 'create', {
        'user_id': user_id, 'server_id': server_id, 'email': login + '@example.test', 'act_enabled': True})
    return user_id, login, box_id


def _conflict(rpc, box_id, event_id, field, odoo_value, exchange_value, winner):
    link_id = rpc('admin', 'admin', 'mail.sync.link', 'create', {
        'mailbox_id': box_id, 'kind': 'appointment', 'res_model': 'calendar.event', 'res_id': event_id,
        'item_id': 'item-%d-%d' % (box_id, event_id), 'state': 'linked'})
    return rpc('admin', 'admin', 'mail.sync.conflict', 'create', {
        'mailbox_id': box_id, 'link_id': link_id, 'kind': 'appointment', 'res_model': 'calendar.event',
        'res_id': event_id, 'record_name': 'Quarterly review', 'field': field, 'odoo_value': odoo_value,
        'exchange_value': exchange_value, 'winner': winner, 'rule': 'recent'})


def test_user_sees_her_conflicts_and_manager_sets_a_field_one_way(odoo_http, browser):
    rpc = odoo_http.rpc
    stamp = int(time.time())
    server_id = rpc('admin', 'admin', 'mail.sync.server', 'create', {
        'name': 'Exchange UI %d' % stamp, 'server_type': 'exchange', 'ews_locate': 'url',
        'ews_url': 'https://exchange.example.test/EWS/Exchange.asmx'})
    ana = _user_with_mailbox(rpc, server_id, 'Ana Conflict', stamp)
    ben = _user_with_mailbox(rpc, server_id, 'Ben Other', stamp)
    event_id = rpc('admin', 'admin', 'calendar.event', 'create', {
        'name': 'Quarterly review %d' % stamp, 'start': '2027-01-12 09:00:00', 'stop': '2027-01-12 10:00:00',
        'duration': 1.0, 'user_id': ana[0]})
    _conflict(rpc, ana[2], event_id, 'subject', 'Quarterly review (Odoo)', 'QBR (Outlook)', 'exchange')
    _conflict(rpc, ben[2], event_id, 'location', 'Ben\'s room', 'Elsewhere', 'odoo')
    location_row = rpc('admin', 'admin', 'mail.sync.field.map', 'search',
                       [('kind', '=', 'appointment'), ('field', '=', 'location')])
    ui = Ui(browser, odoo_http.url)
    try:
        ui.login(ana[1], 'conflict-pw')
        ui.menu('mail.mail_channel_menu_root_chat')
        ui.menu('mail_sync.menu_mail_sync_my_conflicts')
        rows = [row.text for row in ui.list_rows()]
        assert len(rows) == 1, rows
        assert 'QBR (Outlook)' in rows[0] and 'Quarterly review (Odoo)' in rows[0], rows
        assert 'Elsewhere' not in ' '.join(rows), 'another user\'s conflict is not shown'
        os.makedirs(DOCS, exist_ok=True)
        browser.save_screenshot(os.path.join(DOCS, 'sync-conflicts.png'))

        browser.get(odoo_http.url + '/web/session/logout')
        ui.login('admin', 'admin')
        ui.menu('base.menu_administration')
        ui.menu('mail_sync.menu_mail_sync_field_map')
        ui.list_rows()
        ui.row('Location').find_element(By.XPATH, 'td[normalize-space()="Location"]').click()
        ui.idle()
        Select(ui.find('.o_list_view tr.o_selected_row select')).select_by_value('"to_odoo"')
        ui.click('.o_list_button_save')
        ui.idle()
        assert 'Exchange to Odoo' in ' '.join(ui.row_cells('Location'))
        browser.save_screenshot(os.path.join(DOCS, 'field-mapping.png'))
        direction = rpc('admin', 'admin', 'mail.sync.field.map', 'read', location_row, ['direction'])
        assert direction[0]['direction'] == 'to_odoo'
    finally:
        rpc('admin', 'admin', 'mail.sync.field.map', 'write', location_row, {'direction': 'both'})
