"""mail.activity <-> canonical task values.

An activity hangs on a record; a task made in Outlook lands on the user's own contact
record as a to-do. Completing the task in Outlook marks the activity done (Odoo posts it
and removes the activity), which ends the link."""
import datetime

from odoo import _
from odoo.tools import plaintext2html

from .base import Adapter, SYNC_CONTEXT, plain, text


def _date(value):
    return datetime.datetime.strptime(value, '%Y-%m-%d').date() if value else None


class TaskAdapter(Adapter):
    kind = 'task'
    model = 'mail.activity'

    def recent_domain(self, since):
        return [('date_deadline', '>=', since.date().isoformat())] if since else []

    def read(self, activity):
        return {
            'subject': text(activity.summary or activity.activity_type_id.name),
            'due': _date(activity.date_deadline), 'start': _date(activity.mail_sync_start),
            'status': activity.mail_sync_status or 'NotStarted',
            'percent': float(activity.mail_sync_percent or 0.0), 'notes': plain(activity.note),
        }

    def values(self, canonical):
        values = {}
        if 'subject' in canonical:
            values['summary'] = canonical['subject'] or False
        if 'due' in canonical and canonical['due']:
            values['date_deadline'] = canonical['due'].isoformat()
        if 'start' in canonical:
            values['mail_sync_start'] = canonical['start'] and canonical['start'].isoformat()
        if 'status' in canonical:
            values['mail_sync_status'] = canonical['status'] or 'NotStarted'
        if 'percent' in canonical:
            values['mail_sync_percent'] = canonical['percent'] or 0.0
        if 'notes' in canonical:
            values['note'] = plaintext2html(canonical['notes']) if canonical['notes'] else False
        return values

    def create(self, canonical, remote):
        values = self.values(canonical)
        values.setdefault('date_deadline', (canonical.get('start') or datetime.date.today()).isoformat())
        partner = self.user.partner_id
        values.update({
            'res_model_id': self.env['ir.model'].sudo()._get('res.partner').id, 'res_id': partner.id,
            'user_id': self.user.id,
            'activity_type_id': self.env.ref('mail.mail_activity_data_todo').id,
        })
        return self.records.create(values)

    def completed(self, remote):
        return remote.values.get('status') == 'Completed'

    def complete(self, activity):
        activity.with_context(SYNC_CONTEXT).sudo(self.user).action_feedback(
            feedback=_('Completed in Outlook'))

    def archive(self, activity):
        """Deleted in Outlook: the activity stays in Odoo, only the link ends."""
