"""Which fields of appointments, contacts and tasks sync, and in which direction."""
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .mail_sync_link import KINDS

DIRECTIONS = [
    ('both', 'Both Ways'),
    ('to_exchange', 'Odoo to Exchange'),
    ('to_odoo', 'Exchange to Odoo'),
    ('none', 'Not Synced'),
]

# Canonical fields of each kind (the contract of sync/items.py), grouped as the mapping
# rows show them: a row sets the direction of every canonical field of its group.
FIELD_GROUPS = {
    'appointment': {
        'subject': ('subject',),
        'time': ('start', 'end', 'all_day', 'timezone', 'recurrence'),
        'location': ('location',),
        'body': ('body',),
        'attendees': ('attendees',),
        'organizer': ('organizer',),
        'show_as': ('show_as',),
        'importance': ('importance',),
    },
    'contact': {
        'name': ('first_name', 'last_name', 'display_name'),
        'company': ('company',),
        'job_title': ('job_title',),
        'email': ('email',),
        'email2': ('email2',),
        'email3': ('email3',),
        'phone': ('phone',),
        'mobile': ('mobile',),
        'home_phone': ('home_phone',),
        'address': ('street', 'city', 'state', 'zip', 'country'),
    },
    'task': {
        'subject': ('subject',),
        'due': ('due',),
        'start': ('start',),
        'status': ('status',),
        'percent': ('percent',),
        'notes': ('notes',),
    },
}
DEFAULT_DIRECTION = 'both'


def canonical_fields(kind):
    """Every canonical field of ``kind``, in the order of the mapping rows."""
    return tuple(name for group in FIELD_GROUPS[kind].values() for name in group)


class MailSyncFieldMap(models.Model):
    """One row of the field mapping (as Dynamics' "Synchronize fields" settings):
    for one kind, a field or group of fields and the direction it syncs in."""

    _name = 'mail.sync.field.map'
    _description = 'Server-Side Sync: Field Mapping'
    _order = 'kind, sequence, id'

    kind = fields.Selection(KINDS, required=True, readonly=True)
    field = fields.Char(string='Technical Name', required=True, readonly=True,
                        help='Canonical field, or group of fields, of the Exchange item.')
    name = fields.Char(string='Field', required=True, translate=True)
    sequence = fields.Integer(default=10)
    direction = fields.Selection(
        DIRECTIONS, required=True, default=DEFAULT_DIRECTION,
        help='Both Ways: a change on either side is copied to the other (a conflict is settled '
             'by the profile\'s conflict rule). Odoo to Exchange / Exchange to Odoo: only '
             'changes on that side are copied. Not Synced: the field is left alone on both sides.')
    canonical_fields = fields.Char(compute='_compute_canonical_fields', string='Covers')

    _sql_constraints = [
        ('kind_field_uniq', 'UNIQUE(kind, field)', 'Each field has one mapping row per kind.'),
    ]

    @api.depends('kind', 'field')
    def _compute_canonical_fields(self):
        for row in self:
            # In words: the canonical names are keys (``is_all_day``), not labels.
            row.canonical_fields = ', '.join(name.replace('_', ' ')
                                             for name in FIELD_GROUPS.get(row.kind, {}).get(row.field, ()))

    @api.constrains('kind', 'field')
    def _check_field(self):
        for row in self:
            if row.field not in FIELD_GROUPS.get(row.kind, {}):
                raise ValidationError(_('"%s" is not a field of %s that sync knows; known: %s.') % (
                    row.field, row.kind, ', '.join(sorted(FIELD_GROUPS.get(row.kind, {})))))

    @api.model
    def _directions(self, kind):
        """{canonical field: direction} for every canonical field of ``kind``; a grouped
        row gives its direction to each field it covers, a field without a row syncs
        both ways."""
        if kind not in FIELD_GROUPS:
            raise ValueError('unknown kind %r' % (kind,))
        result = dict.fromkeys(canonical_fields(kind), DEFAULT_DIRECTION)
        for row in self.sudo().search([('kind', '=', kind)]):
            for name in FIELD_GROUPS[kind].get(row.field, ()):
                result[name] = row.direction
        return result
