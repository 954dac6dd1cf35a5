"""The demo's CRM (`make run`): its pipeline, seeded through a real Odoo HTTP server like
devstack/run.py does, receives the demo emails from the real Dovecot: the reply to the quote
sent from an opportunity lands on it, email from the contacts of open leads and opportunities
on them, and the rest waits untracked in My Mailbox."""
import time

import pytest

from devstack.crm_demo import seed_pipeline
from devstack.demo_mail import QUOTE_MESSAGE_ID, demo_messages

from .jobs_run import run_jobs


def test_demo_email_lands_on_the_demo_pipeline(odoo_http, mail_servers):
    admin = lambda model, method, *a, **k: odoo_http.rpc('admin', 'admin', model, method, *a, **k)
    if not admin('ir.module.module', 'search_count', [('name', '=', 'crm'), ('state', '=', 'installed')]):
        pytest.skip('crm is not installed in the test database')
    account, account_password = mail_servers.new_account()
    login, password = 'demo-seller-%d' % time.time(), 'demo-seller-pw'
    user = admin('res.users', 'create', {'name': 'Demo Seller', 'login': login, 'password': password,
                                         'email': account, 'mail_sync_track': 'contacts'})
    leads, server, box = {}, None, None
    try:
        leads = seed_pipeline(admin, user)
        assert seed_pipeline(admin, user) == leads, 'seeding twice creates nothing new'
        stages = {lead['name']: (lead['type'], lead['stage_id'][1], lead['probability'])
                  for lead in admin('crm.lead', 'read', list(leads.values()), ['name', 'type', 'stage_id',
                                                                                  'probability'])}
        assert stages['12 ergonomic office chairs'] == ('opportunity', 'Proposition', 70)
        assert stages['Reception desk'] == ('opportunity', 'Won', 100)
        assert stages['Meeting room refurbishment'][0] == 'lead'

        server = admin('mail.sync.server', 'create', {
            'name': 'CRM demo Dovecot', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        box = admin('mail.sync.mailbox', 'create', {'user_id': user, 'server_id': server, 'email': account,
                                                   'login': account, 'password': account_password})
        admin('mail.sync.mailbox', 'action_approve', [box])
        admin('mail.sync.mailbox', 'action_test_enable', [box])
        mail_servers.dovecot.append_many(account, list(demo_messages(account)))
        assert odoo_http.rpc(login, password, 'mail.sync.mailbox', 'action_sync_now', [box])
        run_jobs(odoo_http, 'mail_sync.incoming.%d' % box)  # as the job runner would

        rows = odoo_http.rpc(login, password, 'mail.sync.ledger', 'search_read', [('mailbox_id', '=', box)],
                             fields=['subject', 'state', 'track_reason', 'model', 'res_id', 'can_create_lead'])
        landed = {row['subject']: (row['state'], row['track_reason'], row['model'] or False, row['res_id'])
                  for row in rows}
        assert landed == {
            'Re: Your quote for 12 ergonomic office chairs':
                ('imported', 'reply', 'crm.lead', leads['12 ergonomic office chairs']),
            'Meeting next Tuesday?': ('imported', 'known_lead', 'crm.lead', leads['2027 framework contract']),
            'Floor plans of our meeting rooms':
                ('imported', 'known_lead', 'crm.lead', leads['Meeting room refurbishment']),
            'Showroom furniture for our new store': ('indexed', False, False, 0),
            'Office Trends weekly: 5 ideas for hybrid work': ('indexed', False, False, 0),
        }
        assert all(row['can_create_lead'] for row in rows), 'the demo user may create leads'
    finally:
        # The HTTP server commits: leave the shared test database as it was.
        if box:
            admin('mail.sync.mailbox', 'unlink', [box])
        if server:
            admin('mail.sync.server', 'unlink', [server])
        admin('crm.lead', 'unlink', list(leads.values()))
        admin('mail.message', 'unlink', admin('mail.message', 'search', [('message_id', '=', QUOTE_MESSAGE_ID)]))
        admin('res.users', 'write', [user], {'active': False})
