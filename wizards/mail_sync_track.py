from odoo import api, fields, models


class MailSyncTrack(models.TransientModel):
    """Track emails from "My Mailbox", where the rules say or on a record the user picks."""

    _name = 'mail.sync.track'
    _description = 'Track Email in Odoo'

    @api.model
    def _target_models(self):
        models_ = self.env['ir.model'].sudo().search([('is_mail_thread', '=', True),
                                                     ('transient', '=', False)])
        return [(m.model, m.name) for m in models_]

    ledger_ids = fields.Many2many('mail.sync.ledger', string='Emails',
                                  default=lambda self: self.env.context.get('active_ids'))
    target = fields.Reference(selection='_target_models', string='Post On',
                              help='Leave empty to post where the tracking rules would: the '
                                   'thread it replies to, or the sender\'s contact.')

    def action_track(self):
        self.ledger_ids._track_now(target=self.target or None)
        return {'type': 'ir.actions.act_window_close'}
