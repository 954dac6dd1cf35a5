"""Track as New Lead in the real web client (headless Chromium): a salesperson turns an
untracked email of their mailbox (on the real Dovecot) into a lead in one click, and the
lead's chatter shows the email and where it came from."""
import os

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .jobs_run import run_jobs
from .test_incoming import raw_mail
from .test_ui_my_mailbox import _user_with_mailbox
from .ui import DOCS, Ui

ENQUIRY = ('Tom Becker <tom@deco-addict-ui.test>', 'Showroom furniture for our new store',
           '<showroom@deco-addict-ui.test>')


def test_salesperson_tracks_an_email_as_a_new_lead(odoo_http, browser, mail_servers):
    rpc = odoo_http.rpc
    admin = lambda model, method, *a, **k: rpc('admin', 'admin', model, method, *a, **k)
    if not admin('ir.module.module', 'search_count', [('name', '=', 'crm'), ('state', '=', 'installed')]):
        pytest.skip('crm is not installed in the test database')
    user_id, login, password, server_id, box_id, account = _user_with_mailbox(odoo_http, mail_servers)
    salesman = admin('ir.model.data', 'xmlid_to_res_id', 'sales_team.group_sale_salesman')
    admin('res.users', 'write', [user_id], {'groups_id': [(4, salesman)]})
    lead_ids = []
    ui = Ui(browser, odoo_http.url)
    try:
        mail_servers.dovecot.append(account, raw_mail(*ENQUIRY, to=account))
        assert rpc(login, password, 'mail.sync.mailbox', 'action_sync_now', [box_id])
        run_jobs(odoo_http, 'mail_sync.incoming.%d' % box_id)  # as the job runner would

        ui.login(login, password)
        browser.get(odoo_http.url + '/web#action=mail_sync.action_mail_sync_my_mailbox')
        assert len(ui.list_rows()) == 1
        assert 'Not Tracked' in ui.row_cells(ENQUIRY[1])
        ui.row(ENQUIRY[1]).find_element(By.CSS_SELECTOR, 'button[title="Track as New Lead"]').click()

        # The new lead opens at once, with the sender as its contact; the email reaches its
        # chatter when the Track job ran, and the lead on screen reloads by itself.
        ui.find('.o_form_view .o_chatter')
        ui.idle()
        assert list(run_jobs(odoo_http, 'mail_sync.track.%d' % box_id).values()) == ['done']
        lead_ids = admin('crm.lead', 'search', [('email_from', '=', 'tom@deco-addict-ui.test')])
        assert len(lead_ids) == 1
        lead = admin('crm.lead', 'read', lead_ids, ['name', 'contact_name', 'user_id'])[0]
        assert (lead['name'], lead['contact_name'], lead['user_id'][0]) == (ENQUIRY[1], 'Tom Becker', user_id)
        assert ENQUIRY[1] in ui.find('.o_form_view .oe_title').text
        message = ui.find_xpath('//div[contains(@class, "o_chatter")]//div[contains(@class, "o_thread_message")]'
                                '[.//*[contains(., "Body of %s")]]' % ENQUIRY[1])
        origin = message.find_element(By.CSS_SELECTOR, '.o_mail_sync_origin')
        assert origin.text == "Tracked by hand from %s's mailbox" % account
        browser.execute_script('arguments[0].scrollIntoView({block: "center"});', message)
        ui.idle()
        os.makedirs(DOCS, exist_ok=True)
        browser.save_screenshot(os.path.join(DOCS, 'track-as-new-lead.png'))
        rows = rpc(login, password, 'mail.sync.ledger', 'search_read', [('mailbox_id', '=', box_id)],
                   fields=['state', 'model', 'res_id'])
        assert [(r['state'], r['model'], r['res_id']) for r in rows] == [('imported', 'crm.lead', lead_ids[0])]
    except (AssertionError, WebDriverException):
        browser.save_screenshot(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'mail_sync_ui_crm_failure.png'))
        raise
    finally:
        browser.get(odoo_http.url + '/web/session/logout')  # before the user is archived
        admin('mail.sync.mailbox', 'unlink', [box_id])
        admin('mail.sync.server', 'unlink', [server_id])
        if lead_ids:
            admin('crm.lead', 'unlink', lead_ids)
        admin('res.users', 'write', [user_id], {'active': False})
