"""calendar.event <-> canonical appointment values.

Odoo 11 keeps all-day events as dates (``start_date``/``stop_date``, last day included)
and timed ones in naive UTC; Exchange's end of an all-day event is the next midnight, so
the canonical end is the day after ``stop_date``. Odoo has no per-event time zone: the
user's is sent with every write (all-day midnights, recurrence)."""
import datetime

from ...sync.items import TIME_FIELDS, get_zone, normalize_recurrence
from .base import Adapter, odoo_datetime, text, utc

DAY = datetime.timedelta(days=1)
SHOW_AS = {'free': 'free', 'busy': 'busy', 'tentative': 'busy', 'oof': 'busy', 'workingelsewhere': 'busy'}
WEEKDAYS = ('mo', 'tu', 'we', 'th', 'fr', 'sa', 'su')
OPEN_ENDED_YEARS = 2  # Odoo 11 has no series without end: Exchange's open series end after this


class AppointmentAdapter(Adapter):
    kind = 'appointment'
    model = 'calendar.event'

    @property
    def records(self):
        return super(AppointmentAdapter, self).records.with_context(virtual_id=False)

    def selectable(self):
        return super(AppointmentAdapter, self).selectable().with_context(virtual_id=False)

    def visible_domain(self):
        """Odoo shows a private meeting only to its organizer and attendees (others read
        "Busy"): others' private meetings never reach her calendar."""
        return ['|', ('privacy', '!=', 'private'), '|', ('user_id', '=', self.user.id),
                ('partner_ids', 'in', self.user.partner_id.ids)]

    def own_item_domain(self):
        """A detached occurrence (moved, edited or cancelled) is part of its series: it
        syncs as the series' exception, never as an appointment of its own (which would
        show it twice in Outlook)."""
        return ['|', ('recurrent_id', '=', False), ('recurrent_id', '=', 0)]

    def recent_domain(self, since):
        """Appointments ending after the profile's "process after" (not the whole past)."""
        from odoo import fields
        return [('stop', '>=', fields.Datetime.to_string(since))] if since else []

    def read(self, event):
        organizer = event.user_id.partner_id
        if event.allday:
            start = datetime.datetime.strptime(event.start_date, '%Y-%m-%d').date()
            end = datetime.datetime.strptime(event.stop_date, '%Y-%m-%d').date() + DAY
        else:
            start, end = utc(event.start_datetime or event.start), utc(event.stop_datetime or event.stop)
        attendees = tuple(sorted(
            (partner.email.strip().lower(), partner.name or '', 'required')
            for partner in event.partner_ids if partner.email and partner != organizer))
        return {
            'subject': text(event.name), 'start': start, 'end': end, 'all_day': bool(event.allday),
            'location': text(event.location), 'body': text(event.description),
            'attendees': attendees, 'organizer': (organizer.email or '').strip().lower(),
            'show_as': event.show_as or 'busy', 'importance': event.mail_sync_importance or 'normal',
            'recurrence': self._recurrence(event, start),
        }

    def refusal(self, canonical):
        """Odoo 11 repeats a yearly series on its start date and a "second Tuesday" monthly
        series on one weekday. A series Outlook repeats otherwise (every second Tuesday of
        March, the first weekday of each month) is refused, not imported: as single events
        its occurrences would lose the series (and a change of it in Outlook); as an Odoo
        series its days would be wrong. It stays as it is in Outlook."""
        from odoo import _
        rule = canonical.get('recurrence')
        if not rule:
            return None
        if rule['freq'] == 'yearly' and rule.get('week'):
            return _('it repeats every year on a weekday of a month (such as the second Tuesday of '
                     'March), which an Odoo series cannot express')
        if rule['freq'] in ('monthly', 'yearly') and rule.get('week') and len(rule.get('weekdays') or ()) > 1:
            return _('it repeats every month on one of several weekdays (such as the first working day), '
                     'which an Odoo series cannot express')
        return None

    def accepted(self, canonical, base):
        """A linked series changed in Outlook to a pattern Odoo cannot express keeps its
        Odoo pattern (the rest of the change is taken)."""
        reason = self.refusal(canonical)
        if not reason:
            return canonical, None
        return dict(canonical, recurrence=(base or {}).get('recurrence')), reason

    def _recurrence(self, event, start):
        """Odoo's rule of a recurring event as a canonical recurrence (None if it is single)."""
        if not event.recurrency or not event.rrule_type:
            return None
        rule = {'freq': event.rrule_type, 'interval': event.interval or 1,
                'start': start if not isinstance(start, datetime.datetime) else
                start.astimezone(get_zone(self.tz)).date()}
        if event.rrule_type == 'weekly':
            rule['weekdays'] = [day.upper() for day in WEEKDAYS if event[day]]
        elif event.rrule_type == 'monthly' and event.month_by == 'day' and event.byday and event.week_list:
            rule.update(week=-1 if event.byday in ('5', '-1') else int(event.byday),
                        weekdays=[event.week_list.upper()])
        elif event.rrule_type == 'monthly':
            rule['day'] = event.day
        if event.end_type == 'count':
            rule['count'] = event.count
        elif event.final_date:
            rule['until'] = datetime.datetime.strptime(event.final_date, '%Y-%m-%d').date()
        return normalize_recurrence(rule)

    def values(self, canonical):
        values = {}
        if 'subject' in canonical:
            values['name'] = canonical['subject'] or '(no subject)'
        if {'start', 'end', 'all_day'} & set(canonical):
            values.update(self._time_values(canonical))
        for field, name in (('location', 'location'), ('body', 'description')):
            if field in canonical:
                values[name] = canonical[field] or False
        if 'show_as' in canonical:
            values['show_as'] = SHOW_AS.get(canonical['show_as'], 'busy')
        if 'importance' in canonical:
            values['mail_sync_importance'] = canonical['importance'] or 'normal'
        if 'organizer' in canonical:
            user = self._user_of(canonical['organizer'])
            if user:
                values['user_id'] = user.id
        if 'attendees' in canonical:
            partners = self._partners(email for email, _name, _kind in canonical['attendees'] or ())
            organizer = self._user_of(canonical.get('organizer')) or self.user
            values['partner_ids'] = [(6, 0, (partners | organizer.partner_id).ids)]
        if canonical.get('recurrence'):
            values.update(self._recurrence_values(canonical['recurrence']))
        return values

    def _time_values(self, canonical):
        start, end = canonical.get('start'), canonical.get('end')
        if canonical.get('all_day'):
            last = end - DAY if end and end > start else start
            return {'allday': True, 'start': start.isoformat() + ' 00:00:00', 'stop': last.isoformat() + ' 00:00:00',
                    'start_date': start.isoformat(), 'stop_date': last.isoformat(),
                    'start_datetime': False, 'stop_datetime': False}
        return {'allday': False, 'start': odoo_datetime(start), 'stop': odoo_datetime(end),
                'start_datetime': odoo_datetime(start), 'stop_datetime': odoo_datetime(end),
                'duration': (end - start).total_seconds() / 3600.0}

    def _recurrence_values(self, rule):
        values = {'recurrency': True, 'rrule_type': rule['freq'], 'interval': rule.get('interval') or 1}
        weekdays = {day.lower() for day in rule.get('weekdays') or ()}
        values.update({day: day in weekdays for day in WEEKDAYS})
        if rule['freq'] == 'monthly' and rule.get('week') and rule.get('weekdays'):
            values.update(month_by='day', byday=str(rule['week']), week_list=rule['weekdays'][0])
        elif rule['freq'] == 'monthly' and rule.get('day'):
            values.update(month_by='date', day=rule['day'])
        if rule.get('count'):
            values.update(end_type='count', count=rule['count'])
        else:
            until = rule.get('until') or (rule['start'] + datetime.timedelta(days=365 * OPEN_ENDED_YEARS))
            values.update(end_type='end_date', final_date=until.isoformat())
        return values

    def remote_values(self, canonical, local):
        """The organizer is Exchange's own; times go together, in the user's time zone (Odoo
        has no per-event zone)."""
        values = {key: value for key, value in canonical.items() if key not in ('organizer', 'timezone')}
        if set(TIME_FIELDS) & set(canonical):
            values.update({key: local[key] for key in ('start', 'end', 'all_day')}, timezone=self.tz)
        return values

    def may_delete_remote(self, event):
        """Only future appointments the user organizes are deleted in Exchange."""
        if not event.exists() or event.user_id != self.user:
            return False
        start = utc(event.start_datetime or event.start) if not event.allday else \
            datetime.datetime.strptime(event.start_date, '%Y-%m-%d').replace(tzinfo=datetime.timezone.utc)
        return start > datetime.datetime.now(datetime.timezone.utc)

    # ------------------------------------------------------------------ people
    def _user_of(self, email):
        if not email:
            return self.env['res.users']
        Users = self.env['res.users'].sudo()
        mailbox = self.env['mail.sync.mailbox'].sudo().search([('email', '=ilike', email)], limit=1)
        return mailbox.user_id or Users.search([('partner_id.email', '=ilike', email)], limit=1) or \
            Users.search([('login', '=ilike', email)], limit=1)

    def _partners(self, emails):
        Partner = self.env['res.partner'].sudo()
        found = Partner
        for email in emails:
            user = self._user_of(email)
            partner = user.partner_id or Partner.search([('email', '=ilike', email)], order='id', limit=1)
            found |= partner or Partner.create({'name': email, 'email': email})
        return found

    # ------------------------------------------------------------------ series
    def series_ids(self, res_ids):
        """Those of ``res_ids`` that are recurring series (archived ones included)."""
        return self.records.search([('id', 'in', list(res_ids)), ('recurrency', '=', True)]).ids

    def occurrence_events(self, master):
        """Detached occurrences (moved or cancelled) of ``master`` by original start (naive UTC)."""
        events = self.records.search([('recurrent_id', '=', master.id)])
        return {event.recurrent_id_date: event for event in events}

    def apply_exceptions(self, master, exceptions):
        """Mirror Exchange's modified and cancelled occurrences as Odoo detached events
        (found again by their original start: no duplicates on reruns)."""
        known = self.occurrence_events(master)
        for occurrence in exceptions:
            original = odoo_datetime(occurrence.original_start)
            event = known.get(original)
            if occurrence.cancelled:
                values = {'active': False}
            else:
                values = self.values(dict(occurrence.values, recurrence=None))
                values.pop('partner_ids', None)
                values['active'] = True
            if event:
                event.with_context(self.records.env.context).write(values)
            else:
                base = {'name': master.name, 'recurrent_id': master.id, 'recurrent_id_date': original,
                        'recurrency': False, 'user_id': master.user_id.id, 'allday': master.allday,
                        'partner_ids': [(6, 0, master.partner_ids.ids)], 'show_as': master.show_as,
                        'location': master.location, 'description': master.description}
                if occurrence.cancelled:
                    duration = utc(master.stop) - utc(master.start)
                    base.update(start=original, stop=odoo_datetime(occurrence.original_start + duration),
                                start_datetime=original,
                                stop_datetime=odoo_datetime(occurrence.original_start + duration))
                base.update(values)
                self.records.create(base)
