from odoo import fields, models

IMPORTANCE = [('low', 'Low'), ('normal', 'Normal'), ('high', 'High')]


class CalendarEvent(models.Model):
    _inherit = 'calendar.event'

    mail_sync_importance = fields.Selection(
        IMPORTANCE, string='Importance', default='normal', required=True,
        help='Synchronized with the importance of the appointment in Exchange (Outlook).')
