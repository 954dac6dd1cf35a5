from odoo import fields, models

# The status of an Exchange task (canonical values of sync/items.py).
TASK_STATUS = [
    ('NotStarted', 'Not Started'),
    ('InProgress', 'In Progress'),
    ('Completed', 'Completed'),
    ('WaitingOnOthers', 'Waiting on Someone Else'),
    ('Deferred', 'Deferred'),
]


class MailActivity(models.Model):
    """Activities sync with Exchange tasks: the task fields Odoo activities lack."""

    _inherit = 'mail.activity'

    mail_sync_start = fields.Date(string='Start Date', help='Start date of the task in Exchange (Outlook).')
    mail_sync_percent = fields.Float(string='% Complete', default=0.0,
                                     help='Progress of the task, from 0 to 100.')
    mail_sync_status = fields.Selection(TASK_STATUS, string='Task Status', default='NotStarted',
                                        required=True)

    _sql_constraints = [
        ('mail_sync_percent_range', 'CHECK(mail_sync_percent BETWEEN 0 AND 100)',
         'The percentage complete must be between 0 and 100.'),
    ]
