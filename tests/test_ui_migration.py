"""The migration wizard's dry run in the real web client (headless Chromium): an admin opens
Settings > Server-Side Sync > Migrate, previews, sees every proposal and conflict, and
nothing is written."""
import os
import time

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .ui import DOCS, Ui


def test_admin_previews_the_migration(odoo_http, browser):
    rpc = odoo_http.rpc
    stamp = int(time.time())
    domain = 'migration-ui-%d.test' % stamp

    def admin(model, method, *args, **kwargs):
        return rpc('admin', 'admin', model, method, *args, **kwargs)

    partner_model = admin('ir.model', 'search', [('model', '=', 'res.partner')])[0]
    users = [admin('res.users', 'create', {'name': '%s Migrate' % name.title(),
                                           'login': '%s@%s' % (name, domain),
                                           'email': '%s@%s' % (name, domain)})
             for name in ('uma', 'vic')]
    profile = admin('mail.sync.server', 'create', {
        'name': 'Existing %d' % stamp, 'server_type': 'imap',
        'incoming_host': 'mail.elsewhere-%d.test' % stamp, 'incoming_port': 993,
        'incoming_encryption': 'ssl'})
    box = admin('mail.sync.mailbox', 'create', {'user_id': users[1], 'server_id': profile,
                                                'email': 'vic.old@elsewhere-%d.test' % stamp})
    fetchmails = [admin('fetchmail.server', 'create', values) for values in (
        {'name': 'Uma', 'type': 'imap', 'server': 'imap.' + domain, 'port': 993, 'is_ssl': True,
         'user': 'uma@' + domain, 'password': 'uma-pw'},
        {'name': 'Vic', 'type': 'imap', 'server': 'imap.' + domain, 'port': 993, 'is_ssl': True,
         'user': 'vic@' + domain, 'password': 'vic-pw'},
        {'name': 'Sales inbox', 'type': 'pop', 'server': 'pop.' + domain, 'port': 110,
         'user': 'sales@' + domain, 'password': 'sales-pw', 'object_id': partner_model},
        {'name': 'Mail gateway', 'type': 'local'},
    )]
    smtp = admin('ir.mail_server', 'create', {
        'name': 'Company SMTP', 'smtp_host': 'smtp.' + domain, 'smtp_port': 587,
        'smtp_encryption': 'starttls', 'smtp_user': 'uma@' + domain, 'smtp_pass': 'uma-pw'})
    counts = lambda: [admin(model, 'search_count', []) for model in (  # noqa: E731
        'mail.sync.server', 'mail.sync.mailbox', 'mail.sync.migration')]
    before = counts()
    ui = Ui(browser, odoo_http.url)
    try:
        ui.login('admin', 'admin')
        ui.menu('base.menu_administration')
        ui.menu('mail_sync.menu_mail_sync_migration_wizard')
        ui.button('Preview (Dry Run)')
        ui.find('.modal .o_mail_sync_migration_lines tr.o_data_row')
        ui.idle()
        rows = {row.text for row in browser.find_elements(
            By.CSS_SELECTOR, '.modal .o_mail_sync_migration_lines tr.o_data_row')}
        text = '\n'.join(rows)

        def row(item):
            found = [r for r in rows if item in r]
            assert len(found) == 1, (item, text)
            return found[0]

        assert 'To Create' in row('imap.%s (IMAP)' % domain)
        assert 'Company SMTP (same domain)' in row('imap.%s (IMAP)' % domain)
        assert 'Warning: unencrypted' in row('pop.%s (POP3)' % domain)
        assert 'To Create' in row('uma@' + domain) and 'Uma Migrate' in row('uma@' + domain)
        assert 'By Login' in row('uma@' + domain)
        assert 'Conflict' in row('vic@' + domain)
        assert 'Vic Migrate already has a mailbox' in row('vic@' + domain)
        assert 'Map by Hand' in row('sales@' + domain) and 'Shared inbox' in row('sales@' + domain)
        assert 'Unsupported' in row('Mail gateway')
        summary = ui.find('.modal .o_mail_sync_migration_summary').text
        assert 'Profiles \u2014 To Create: 2' in summary and 'Conflict: 2' in summary, summary
        ui.click('.modal .o_mail_sync_migration_summary')  # closes the date picker
        ui.idle()
        os.makedirs(DOCS, exist_ok=True)
        browser.set_window_size(1400, 1500)
        try:
            browser.save_screenshot(os.path.join(DOCS, 'migration-preview.png'))
        finally:
            browser.set_window_size(1400, 1000)
        ui.button('Cancel')
        assert counts() == before, 'the dry run wrote something'
        assert not admin('mail.sync.mailbox', 'search', [('email', 'ilike', domain)])
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'),
                                             'mail_sync_ui_failure.png'))
        raise
    finally:
        browser.get(odoo_http.url + '/web/session/logout')
        admin('fetchmail.server', 'unlink', fetchmails)
        admin('ir.mail_server', 'unlink', [smtp])
        admin('mail.sync.mailbox', 'unlink', [box])
        admin('mail.sync.server', 'unlink', [profile])
        admin('res.users', 'write', users, {'active': False})
