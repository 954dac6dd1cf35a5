"""The memory of appointment, contact and task sync: one row per Exchange item and Odoo record."""
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError

from ..sync import canonical_json
from .rpc_guard import superuser_only

KINDS = [('appointment', 'Appointment'), ('contact', 'Contact'), ('task', 'Task')]
LINK_STATES = [
    ('pending', 'Being Created in Exchange'),
    ('linked', 'Linked'),
    ('archived', 'Archived'),
    ('unlinked', 'Unlinked'),
]
BASE_SIDES = ('local', 'remote')


class MailSyncLink(models.Model):
    """One Exchange item of a mailbox linked to one Odoo record (event, contact, activity).

    ``base_local`` and ``base_remote`` hold the canonical values of each side as they
    were at the last sync (JSON from ``sync/canonical_json.py``): a field that differs
    from its base changed on that side since, which is how the cycle tells an Odoo
    change from an Exchange change and a conflict from both. Read and write them with
    :meth:`get_base` / :meth:`set_base`, never as text.
    """

    _name = 'mail.sync.link'
    _description = 'Server-Side Sync: Linked Item'
    _order = 'mailbox_id, kind, id'
    _rec_name = 'item_id'

    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox', required=True,
                                 ondelete='cascade', index=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', string='User', readonly=True)
    kind = fields.Selection(KINDS, required=True)
    res_model = fields.Char(string='Odoo Model', required=True)
    res_id = fields.Integer(string='Odoo Record ID', required=True)
    res_name = fields.Char(string='Odoo Record', compute='_compute_res_name')
    item_id = fields.Char(string='Exchange Item ID', help='Empty while the item is being created.')
    change_key = fields.Char(string='Exchange Change Key')
    uid = fields.Char(string='iCalendar UID', index=True,
                      help='Appointments: the same UID is in the organizer\'s and every '
                           'attendee\'s copy of a meeting.')
    base_local = fields.Text(string='Odoo Values at Last Sync', readonly=True)
    base_remote = fields.Text(string='Exchange Values at Last Sync', readonly=True)
    local_write_date = fields.Datetime(string='Odoo Record Updated On',
                                       help='Last update of the Odoo record when it was last synced.')
    remote_modified = fields.Datetime(string='Exchange Item Updated On',
                                      help='LastModifiedTime of the Exchange item when it was last synced.')
    state = fields.Selection(LINK_STATES, required=True, default='linked', index=True,
                             help='Archived: the Odoo record is archived or the item left the '
                                  'filter. Unlinked: one side was deleted; the other is no '
                                  'longer synchronized.')

    _sql_constraints = [
        ('mailbox_item_uniq', 'UNIQUE(mailbox_id, item_id)',
         'An Exchange item is linked at most once per mailbox.'),
    ]

    @api.model_cr
    def init(self):
        superuser_only(self.env)
        super(MailSyncLink, self).init()
        self.env.cr.execute("""
            CREATE INDEX IF NOT EXISTS mail_sync_link_res_idx ON mail_sync_link (res_model, res_id)
        """)
        # A cycle's push selects a mailbox's live links of one kind (joined to their records).
        self.env.cr.execute("""
            CREATE INDEX IF NOT EXISTS mail_sync_link_mailbox_kind_state_idx
                ON mail_sync_link (mailbox_id, kind, state)
        """)

    # ------------------------------------------------------------------ display
    def _compute_res_name(self):
        for link in self:
            record = link._record()
            try:
                link.res_name = record.display_name if record else False
            except (AccessError, MissingError):
                link.res_name = _('%s #%s (not accessible)') % (link.res_model, link.res_id)

    def name_get(self):
        kinds = dict(self._fields['kind']._description_selection(self.env))
        return [(link.id, '%s: %s' % (kinds.get(link.kind, link.kind), link.res_name or link.item_id))
                for link in self]

    # ------------------------------------------------------------------ the linked record
    def _record(self):
        """The linked Odoo record (empty when its model is gone or it was deleted)."""
        self.ensure_one()
        if self.res_model not in self.env or not self.res_id:
            return None
        return self.env[self.res_model].browse(self.res_id).exists()

    @api.model
    def _links_of(self, records):
        """The links of these Odoo records (all mailboxes)."""
        if not records:
            return self.browse()
        return self.search([('res_model', '=', records._name), ('res_id', 'in', records.ids)])

    def action_open_record(self):
        self.ensure_one()
        record = self._record()
        if not record:
            raise UserError(_('The linked Odoo record no longer exists.'))
        return {'type': 'ir.actions.act_window', 'res_model': self.res_model, 'res_id': record.id,
                'view_mode': 'form', 'target': 'current'}

    # ------------------------------------------------------------------ base values
    @staticmethod
    def _base_field(side):
        if side not in BASE_SIDES:
            raise ValueError('side is %s, not %r' % (' or '.join(BASE_SIDES), side))
        return 'base_' + side

    def _get_base(self, side):
        """Canonical values of ``side`` ('local': Odoo, 'remote': Exchange) at the last sync,
        as a dict with dates, aware UTC datetimes and tuples restored."""
        self.ensure_one()
        return canonical_json.loads(self[self._base_field(side)])

    def _set_base(self, side, values):
        """Remember ``values`` (a dict of canonical values) as ``side``'s base."""
        field = self._base_field(side)
        text = canonical_json.dumps(values)
        self.write({field: text})
        return True
