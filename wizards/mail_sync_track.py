from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

# Business documents with a chatter, most useful first; managers adjust the list in Settings
# (models not installed are left out).
TRACK_MODELS_PARAM = 'mail_sync.track_models'
DEFAULT_TRACK_MODELS = ('res.partner,crm.lead,project.task,calendar.event,sale.order,account.invoice,'
                        'purchase.order,hr.applicant,project.project')
# Never offered, whatever the list says: technical models, Discuss channels, mailboxes.
TECHNICAL_PREFIXES = ('ir.', 'mail.', 'base.', 'bus.', 'web.', 'report.', 'fetchmail.', 'res.users',
                      'res.groups', 'res.company', 'res.config')


class MailSyncTrack(models.TransientModel):
    """Track emails from "My Mailbox", where the rules say or on a record the user picks."""

    _name = 'mail.sync.track'
    _description = 'Track Email in Odoo'

    @api.model
    def _track_model_names(self, text=None):
        """The models email can be tracked on (the configured list, in its order), and the
        names of the list that are refused (technical, or without a chatter). Models not
        installed are left out, not refused: they count once their module is installed."""
        if text is None:
            text = self.env['ir.config_parameter'].sudo().get_param(TRACK_MODELS_PARAM) or DEFAULT_TRACK_MODELS
        IrModel = self.env['ir.model'].sudo()
        names, refused = [], []
        for name in (part.strip() for part in text.split(',')):
            if not name or name in names:
                continue
            if name.startswith(TECHNICAL_PREFIXES):
                refused.append(name)
                continue
            if name not in self.env:
                continue
            model = IrModel._get(name)
            if not model.is_mail_thread or model.transient:
                refused.append(name)
            else:
                names.append(name)
        return names, refused

    @api.model
    def _target_models(self):
        IrModel = self.env['ir.model'].sudo()
        return [(name, IrModel._get(name).name) for name in self._track_model_names()[0]]

    ledger_ids = fields.Many2many('mail.sync.ledger', string='Emails',
                                  default=lambda self: self.env.context.get('active_ids'))
    target = fields.Reference(selection='_target_models', string='Post On',
                              help='Leave empty to post where the tracking rules would: the '
                                   'thread it replies to, or the sender\'s contact.')

    def action_track(self):
        if self.target:
            self._check_target(self.target)
        self.ledger_ids._request_track(target=self.target or None)
        return {'type': 'ir.actions.act_window_close'}

    def _check_target(self, target):
        """The user at the keyboard may read ``target`` and post on it (Odoo's own rule:
        a follower, or the document's post access), and it is a business document."""
        if target._name not in self._track_model_names()[0]:
            raise AccessError(_('Email can be tracked on business documents only, not on %s.')
                              % target._name)
        record = self.env[target._name].browse(target.id)
        if not record.exists():
            raise UserError(_('The record to track the email on no longer exists.'))
        record.check_access_rights('read')
        record.check_access_rule('read')
        following = self.env['mail.followers'].sudo().search_count([
            ('res_model', '=', record._name), ('res_id', '=', record.id),
            ('partner_id', '=', self.env.user.partner_id.id)])
        if not following:
            record.check_mail_message_access(record.ids, 'create')
