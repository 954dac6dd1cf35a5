"""Appointments: the importance synced with Exchange, and meeting cancellations when
Odoo sends the invitations of a Microsoft 365 organizer (``graph_invitations`` = Odoo).

Odoo 11 sends no cancellation when a meeting is deleted, and Microsoft 365 cannot send one
either: those meetings are written to Outlook without attendees. So Odoo sends one to each
attendee when the organizer deletes the meeting in Odoo, or in Outlook (the sync then
archives it in Odoo); a meeting archived that way and deleted later is not cancelled twice.
When Microsoft 365 sends the invitations, it sends the cancellations too: none from Odoo."""
from odoo import api, fields, models

from .calendar_attendee import graph_organizers

IMPORTANCE = [('low', 'Low'), ('normal', 'Normal'), ('high', 'High')]
CANCELLATION = 'mail_sync.calendar_template_meeting_cancellation'


class CalendarEvent(models.Model):
    _inherit = 'calendar.event'

    mail_sync_importance = fields.Selection(
        IMPORTANCE, string='Importance', default='normal', required=True,
        help='Synchronized with the importance of the appointment in Exchange (Outlook).')

    @api.multi
    def unlink(self, can_be_deleted=True):
        if not self.env.context.get('no_mail_to_attendees'):
            self._mail_sync_send_cancellations()
        return super(CalendarEvent, self).unlink(can_be_deleted=can_be_deleted)

    @api.multi
    def write(self, values):
        if 'active' in values and not values['active'] and self.env.context.get('mail_sync_writing'):
            self._mail_sync_send_cancellations()  # deleted in Outlook, archived by the sync
        return super(CalendarEvent, self).write(values)

    def _mail_sync_send_cancellations(self):
        """Queue one cancellation per attendee (the organizer aside) of the active, real
        meetings here whose organizer's invitations Odoo sends for Microsoft 365."""
        events = self.browse([event_id for event_id in self.ids if isinstance(event_id, int)])
        events = events.sudo().with_context(active_test=False).filtered('active')
        if not events:
            return
        organizers = graph_organizers(self.env, events.mapped('user_id'), 'odoo')
        template = self.env.ref(CANCELLATION, raise_if_not_found=False)
        if not organizers or not template:
            return
        for event in events.filtered(lambda e: e.user_id in organizers):
            own = (event.user_id.email or '').lower()
            for attendee in event.attendee_ids:
                if (attendee.email or '').lower() != own and (attendee.email or attendee.partner_id.email):
                    template.sudo().send_mail(attendee.id)
