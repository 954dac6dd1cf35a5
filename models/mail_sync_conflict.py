"""A field changed on both sides since the last sync, and how it was settled."""
import datetime

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .mail_sync_field_map import FIELD_GROUPS
from .mail_sync_link import KINDS

CONFLICT_RULES = [
    ('recent', 'Most Recent Change Wins'),
    ('odoo', 'Odoo Wins'),
    ('exchange', 'Exchange Wins'),
]
WINNERS = [('odoo', 'Odoo'), ('exchange', 'Exchange')]
VALUE_MAX = 2000  # characters kept of each side's value


def describe_value(value, yes='Yes', no='No'):
    """A short, readable text of a canonical value, for people (not to be parsed back).

    ``yes``/``no`` are the (translated) words for booleans."""
    if value is None or value == '':
        return ''
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, datetime.datetime):
        return value.strftime('%Y-%m-%d %H:%M:%S %Z').strip()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return '; '.join(describe_value(item, yes, no) for item in value)
    if isinstance(value, dict):
        return ', '.join('%s: %s' % (key, describe_value(item, yes, no))
                         for key, item in sorted(value.items())
                         if item not in (None, ''))
    return str(value)


class MailSyncConflict(models.Model):
    """Both the Odoo record and the Exchange item changed a field since the last sync:
    one value won by the profile's conflict rule; the other is kept here for the user."""

    _name = 'mail.sync.conflict'
    _description = 'Server-Side Sync: Conflict'
    _order = 'date desc, id desc'
    _rec_name = 'field_label'

    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox', required=True,
                                 ondelete='cascade', index=True, readonly=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', string='User', store=True, readonly=True,
                              index=True)
    link_id = fields.Many2one('mail.sync.link', string='Link', ondelete='set null', readonly=True)
    kind = fields.Selection(KINDS, required=True, readonly=True)
    res_model = fields.Char(string='Odoo Model', readonly=True)
    res_id = fields.Integer(string='Odoo Record ID', readonly=True)
    record_name = fields.Char(string='Record', readonly=True,
                              help='Name of the record when the conflict happened.')
    field = fields.Char(string='Technical Field', required=True, readonly=True)
    field_label = fields.Char(string='Field', compute='_compute_field_label')
    odoo_value = fields.Text(string='Odoo Value', readonly=True)
    exchange_value = fields.Text(string='Exchange Value', readonly=True)
    winner = fields.Selection(WINNERS, required=True, readonly=True,
                              help='The side whose value both sides now have.')
    rule = fields.Selection(CONFLICT_RULES, string='Rule Applied', required=True, readonly=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True, index=True)

    @api.depends('kind', 'field')
    def _compute_field_label(self):
        rows = self.env['mail.sync.field.map'].sudo().search([('kind', 'in', list(set(self.mapped('kind'))))])
        labels = {}
        for row in rows:
            for name in FIELD_GROUPS.get(row.kind, {}).get(row.field, ()):
                # A row covering several fields: say which one of them.
                labels[(row.kind, name)] = row.name if name == row.field else '%s (%s)' % (row.name, name)
        for conflict in self:
            conflict.field_label = labels.get((conflict.kind, conflict.field), conflict.field)

    @api.model
    def _record(self, link, field, odoo_value, exchange_value, winner, rule, record_name=None):
        """Log a settled conflict of ``field`` on ``link`` (values are canonical values)."""
        return self.sudo().create({
            'mailbox_id': link.mailbox_id.id, 'link_id': link.id, 'kind': link.kind,
            'res_model': link.res_model, 'res_id': link.res_id,
            'record_name': record_name if record_name is not None else link.sudo().res_name,
            'field': field, 'winner': winner, 'rule': rule,
            'odoo_value': describe_value(odoo_value, _('Yes'), _('No'))[:VALUE_MAX] or False,
            'exchange_value': describe_value(exchange_value, _('Yes'), _('No'))[:VALUE_MAX] or False,
        })

    def action_open_record(self):
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            raise UserError(_('This conflict is not linked to an Odoo record.'))
        record = self.env[self.res_model].browse(self.res_id).exists()
        if not record:
            raise UserError(_('The Odoo record of this conflict no longer exists.'))
        return {'type': 'ir.actions.act_window', 'res_model': self.res_model, 'res_id': record.id,
                'view_mode': 'form', 'target': 'current'}
