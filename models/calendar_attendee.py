"""Meeting invitations exactly once with Microsoft 365: when the organizer's Microsoft 365
profile says Microsoft 365 sends them (``graph_invitations``), Odoo sends none of its own
invitations or date changes for her meetings: the sync writes the meeting to Outlook with
its attendees and Microsoft 365 sends them. Reminders are not invitations: untouched."""
from odoo import models


def graph_organizers(env, users, policy):
    """The ``users`` whose enabled Microsoft 365 mailbox syncs appointments under the
    invitation ``policy`` ('microsoft' or 'odoo')."""
    if not users:
        return users
    return env['mail.sync.mailbox'].sudo().search([
        ('user_id', 'in', users.ids), ('act_enabled', '=', True), ('state', '=', 'enabled'),
        ('server_id.server_type', '=', 'graph'), ('server_id.graph_invitations', '=', policy)]).mapped('user_id')

SENT_BY_MICROSOFT = ('calendar.calendar_template_meeting_invitation',
                     'calendar.calendar_template_meeting_changedate')


class CalendarAttendee(models.Model):
    _inherit = 'calendar.attendee'

    def _send_mail_to_attendees(self, template_xmlid, force_send=False):
        if template_xmlid in SENT_BY_MICROSOFT:
            microsoft = graph_organizers(self.env, self.mapped('event_id.user_id'), 'microsoft')
            self = self.filtered(lambda attendee: attendee.event_id.user_id not in microsoft)
        return super(CalendarAttendee, self)._send_mail_to_attendees(template_xmlid, force_send=force_send)
