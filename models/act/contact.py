"""res.partner <-> canonical contact values.

Odoo keeps one name: Exchange's given name and surname are its first words and its last
word. The company is the parent company's name, else the contact's own company name."""
from .base import Adapter, text

PLAIN = (('job_title', 'function'), ('email', 'email'), ('phone', 'phone'), ('mobile', 'mobile'),
         ('street', 'street'), ('city', 'city'), ('zip', 'zip'))


class ContactAdapter(Adapter):
    kind = 'contact'
    model = 'res.partner'

    def read(self, partner):
        name = text(partner.name)
        first, _space, last = name.rpartition(' ')
        values = {'display_name': name, 'first_name': first, 'last_name': last,
                  'company': text(partner.parent_id.name if partner.parent_id else partner.company_name),
                  'state': text(partner.state_id.name), 'country': text(partner.country_id.name)}
        values.update((key, text(partner[field])) for key, field in PLAIN)
        return values

    def values(self, canonical):
        values = {field: canonical[key] or False for key, field in PLAIN if key in canonical}
        if {'display_name', 'first_name', 'last_name'} & set(canonical):
            name = canonical.get('display_name') or ' '.join(
                part for part in (canonical.get('first_name'), canonical.get('last_name')) if part)
            values['name'] = name or canonical.get('email') or '?'
        if 'company' in canonical:
            company = canonical['company']
            parent = company and self.env['res.partner'].sudo().search(
                [('is_company', '=', True), ('name', '=ilike', company)], limit=1)
            values.update(parent_id=parent.id if parent else False,
                          company_name=False if parent else (company or False))
        if 'country' in canonical:
            country = canonical['country'] and self.env['res.country'].sudo().search(
                ['|', ('name', '=ilike', canonical['country']), ('code', '=ilike', canonical['country'])],
                limit=1)
            values['country_id'] = country.id if country else False
        if 'state' in canonical:
            state = canonical['state'] and self.env['res.country.state'].sudo().search(
                ['|', ('name', '=ilike', canonical['state']), ('code', '=ilike', canonical['state'])],
                limit=1)
            values['state_id'] = state.id if state else False
        return values

    def create(self, canonical, remote):
        values = self.values(canonical)
        values.setdefault('user_id', self.user.id)  # the user becomes the salesperson
        return self.records.create(values)
