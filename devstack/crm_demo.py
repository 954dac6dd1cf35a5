"""The demo's small sales pipeline (`make run` installs Odoo's CRM app): customers whose
addresses appear in the demo emails, and their leads and opportunities. Idempotent."""
import datetime

from .demo_mail import QUOTE_MESSAGE_ID

COMPANIES = [
    # (company, contact, email)
    ('Azure Interior', 'Maria Lopez', 'maria.lopez@azure-interior.example'),
    ('Gemini Furniture', 'Aiko Tanaka', 'aiko.tanaka@gemini-furniture.example'),
    ('Wood Corner', 'Paul Martin', 'paul.martin@wood-corner.example'),
    ('Bright Office', 'Sofia Rossi', 'sofia.rossi@bright-office.example'),
]
PIPELINE = [
    # (name, type, stage, expected revenue, contact email, values)
    ('12 ergonomic office chairs', 'opportunity', 'crm.stage_lead3', 5400,
     'maria.lopez@azure-interior.example', {}),
    ('2027 framework contract', 'opportunity', 'crm.stage_lead2', 48000,
     'aiko.tanaka@gemini-furniture.example', {}),
    ('Standing desks for 40 people', 'opportunity', 'crm.stage_lead1', 22000,
     'sofia.rossi@bright-office.example', {}),
    ('Reception desk', 'opportunity', 'crm.stage_lead4', 3900, 'paul.martin@wood-corner.example', {}),
    ('Meeting room refurbishment', 'lead', None, 12000, 'lars.nilsen@ready-mat.example',
     {'contact_name': 'Lars Nilsen', 'partner_name': 'Ready Mat'}),
]


def seed_pipeline(rpc, user_id):
    """Create the customers and the pipeline of ``user_id`` (a salesperson), and the quote
    the demo's first email replies to. ``rpc(model, method, *args, **kwargs)`` as admin."""
    # A salesperson who works with leads, not only opportunities (set on the user rather than
    # through the settings, which would rewrite every other setting too).
    rpc('res.users', 'write', [user_id], {'groups_id': [
        (4, rpc('ir.model.data', 'xmlid_to_res_id', xmlid))
        for xmlid in ('sales_team.group_sale_salesman', 'crm.group_use_lead')]})
    contacts = {}
    for company, name, email in COMPANIES:
        parent = _find_or_create(rpc, 'res.partner', [('name', '=', company), ('is_company', '=', True)],
                                 {'name': company, 'is_company': True})
        contacts[email] = _find_or_create(rpc, 'res.partner', [('email', '=', email)],
                                          {'name': name, 'email': email, 'parent_id': parent})
    leads = {}
    for name, lead_type, stage, revenue, email, values in PIPELINE:
        values = dict(values, name=name, type=lead_type, planned_revenue=revenue, email_from=email,
                      user_id=user_id, partner_id=contacts.get(email, False))
        if stage:  # the stage's probability too (create does not apply it)
            values['stage_id'] = rpc('ir.model.data', 'xmlid_to_res_id', stage)
            values['probability'] = rpc('crm.stage', 'read', [values['stage_id']],
                                        ['probability'])[0]['probability']
        leads[name] = _find_or_create(rpc, 'crm.lead', [('name', '=', name)], values)
    if not rpc('mail.message', 'search', [('message_id', '=', QUOTE_MESSAGE_ID)]):
        author = rpc('res.users', 'read', [user_id], ['partner_id'])[0]['partner_id'][0]
        sent = datetime.datetime.utcnow() - datetime.timedelta(days=2)
        rpc('mail.message', 'create', {
            'model': 'crm.lead', 'res_id': leads['12 ergonomic office chairs'],
            'message_type': 'email', 'author_id': author, 'message_id': QUOTE_MESSAGE_ID,
            'email_from': 'Demo User <demo@example.test>',
            'partner_ids': [(4, contacts['maria.lopez@azure-interior.example'])],
            'subject': 'Your quote for 12 ergonomic office chairs',
            'body': '<p>Dear Maria,</p><p>Please find our quote for 12 ergonomic office chairs: '
                    '450 EUR each, delivered to Barcelona within two weeks.</p><p>Demo User</p>',
            'date': sent.strftime('%Y-%m-%d %H:%M:%S')})
    return leads


def _find_or_create(rpc, model, domain, values):
    found = rpc(model, 'search', domain, limit=1)
    return found[0] if found else rpc(model, 'create', values)
