"""A mailbox's channels: their state rows (mail.sync.channel), and the mailbox fields that
show them under the names the views, the RPC clients and the tests know (``incoming_status``,
``next_sync``, ``act_failures``...).

The rows hold the state; the mailbox fields only read them (the statuses are also stored on
the mailbox, computed from the rows, so lists can be grouped by them). Writing one of these
fields changes the row, and only the superuser (the sync, or a test acting as Odoo) may.
"""
from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError

from .mail_sync_channel import CHANNEL_STATES, CHANNELS, TEST_STATES

# The mailbox fields that show a field of one channel's row: name -> (channel, field of the row).
STATE_FIELDS = {
    'incoming_status': ('incoming', 'status'),
    'outgoing_status': ('outgoing', 'status'),
    'act_status': ('act', 'status'),
    'incoming_failures': ('incoming', 'failures'),
    'outgoing_failures': ('outgoing', 'failures'),
    'act_failures': ('act', 'failures'),
    'next_sync': ('incoming', 'next_sync'),
    'outgoing_next_sync': ('outgoing', 'next_sync'),
    'act_next_sync': ('act', 'next_sync'),
    'incoming_last_success': ('incoming', 'last_success'),
    'act_last_success': ('act', 'last_success'),
    'incoming_test_state': ('incoming', 'test_state'),
    'outgoing_test_state': ('outgoing', 'test_state'),
    'act_test_state': ('act', 'test_state'),
    'incoming_test_date': ('incoming', 'test_date'),
    'outgoing_test_date': ('outgoing', 'test_date'),
    'act_test_date': ('act', 'test_date'),
    'incoming_test_message': ('incoming', 'test_message'),
    'outgoing_test_message': ('outgoing', 'test_message'),
    'act_test_message': ('act', 'test_message'),
}
ROW_DEFAULTS = {'status': 'ok', 'failures': 0, 'test_state': 'not_run'}
ROW_DEPENDS = ['channel_ids.channel'] + ['channel_ids.%s' % attr for attr in (
    'status', 'failures', 'next_sync', 'last_success', 'test_state', 'test_date', 'test_message')]


def _search(name):
    channel, attr = STATE_FIELDS[name]

    def search(mailboxes, operator, value):
        rows = mailboxes.env['mail.sync.channel'].sudo().search(
            [('channel', '=', channel), (attr, operator, value)])
        return [('id', 'in', rows.mapped('mailbox_id').ids)]
    return search


def _state_field(name, kind, **options):
    """A mailbox field showing one field of a channel's row (searchable, written by the sync)."""
    return kind(compute='_compute_channel_fields', search=_search(name), readonly=True, copy=False,
                **options)


def _status_field(string):
    return fields.Selection(CHANNEL_STATES, string=string, compute='_compute_channel_status',
                            store=True, readonly=True, copy=False)


class MailSyncMailboxChannels(models.Model):
    _inherit = 'mail.sync.mailbox'

    channel_ids = fields.One2many('mail.sync.channel', 'mailbox_id', string='Channel States',
                                  readonly=True, copy=False)
    # Stored: the health lists group and pivot by them.
    incoming_status = _status_field('Incoming Status')
    outgoing_status = _status_field('Outgoing Status')
    act_status = _status_field('Appointments Status')
    incoming_failures = _state_field('incoming_failures', fields.Integer, string='Consecutive Failures')
    outgoing_failures = _state_field('outgoing_failures', fields.Integer,
                                     string='Consecutive Outgoing Failures')
    act_failures = _state_field('act_failures', fields.Integer,
                                string='Consecutive Appointments Failures')
    next_sync = _state_field('next_sync', fields.Datetime, string='Next Sync')
    outgoing_next_sync = _state_field('outgoing_next_sync', fields.Datetime,
                                      string='Next Outgoing Attempt')
    act_next_sync = _state_field('act_next_sync', fields.Datetime, string='Next Appointments Sync')
    incoming_last_success = _state_field('incoming_last_success', fields.Datetime,
                                         string='Last Successful Sync')
    act_last_success = _state_field('act_last_success', fields.Datetime, string='Last Appointments Sync')
    incoming_test_state = _state_field('incoming_test_state', fields.Selection, selection=TEST_STATES,
                                       string='Incoming Test')
    outgoing_test_state = _state_field('outgoing_test_state', fields.Selection, selection=TEST_STATES,
                                       string='Outgoing Test')
    act_test_state = _state_field('act_test_state', fields.Selection, selection=TEST_STATES,
                                  string='Appointments Test')
    incoming_test_date = _state_field('incoming_test_date', fields.Datetime, string='Incoming Tested On')
    outgoing_test_date = _state_field('outgoing_test_date', fields.Datetime, string='Outgoing Tested On')
    act_test_date = _state_field('act_test_date', fields.Datetime, string='Appointments Tested On')
    incoming_test_message = _state_field('incoming_test_message', fields.Text,
                                         string='Incoming Test Result')
    outgoing_test_message = _state_field('outgoing_test_message', fields.Text,
                                         string='Outgoing Test Result')
    act_test_message = _state_field('act_test_message', fields.Text, string='Appointments Test Result')

    @api.model
    def create(self, vals):
        states = {name: vals[name] for name in STATE_FIELDS if name in vals}
        mailbox = super(MailSyncMailboxChannels, self).create(
            {key: value for key, value in vals.items() if key not in states})
        mailbox._channel_states()  # one row per channel from the start
        mailbox._write_channel_states(states)
        return mailbox

    def write(self, vals):
        states = {name: vals[name] for name in STATE_FIELDS if name in vals}
        if not states:
            return super(MailSyncMailboxChannels, self).write(vals)
        self._write_channel_states(states)
        rest = {key: value for key, value in vals.items() if key not in states}
        return super(MailSyncMailboxChannels, self).write(rest) if rest else True

    def _write_channel_states(self, states):
        """Write mailbox fields of STATE_FIELDS (``{name: value}``) into their rows: what the
        sync's transitions do, for code and tests that set a state directly (superuser only)."""
        if not states:
            return
        if self.env.uid != SUPERUSER_ID:
            raise AccessError(_('Only the synchronization changes the state of a channel.'))
        by_channel = {}
        for name, value in states.items():
            channel, attr = STATE_FIELDS[name]
            by_channel.setdefault(channel, {})[attr] = value
        for mailbox in self:
            rows = mailbox._channel_states()
            for channel, values in by_channel.items():
                rows[channel]._set(values)

    def _channel_state(self, channel):
        """The state row of ``channel`` of this mailbox (as superuser), created if missing."""
        self.ensure_one()
        if channel not in dict(CHANNELS):
            raise ValueError(channel)
        return self._channel_states()[channel]

    def _channel_states(self):
        """{channel: state row} of this mailbox, every channel (rows created if missing)."""
        self.ensure_one()
        mailbox = self.sudo()
        rows = {row.channel: row for row in mailbox.channel_ids}
        missing = [channel for channel, _label in CHANNELS if channel not in rows]
        Channel = self.env['mail.sync.channel'].sudo()
        if missing and isinstance(self.id, models.NewId):  # a form not saved yet: defaults
            return dict(rows, **{channel: Channel.new({'channel': channel}) for channel in missing})
        if missing:
            for channel in missing:
                rows[channel] = Channel.create({'mailbox_id': self.id, 'channel': channel})
            mailbox.invalidate_cache(['channel_ids'], self.ids)
        return rows

    @api.depends(*ROW_DEPENDS)
    def _compute_channel_fields(self):
        for mailbox in self:
            rows = {row.channel: row for row in mailbox.sudo().channel_ids}
            for name, (channel, attr) in STATE_FIELDS.items():
                if attr == 'status':
                    continue  # stored, computed below
                row = rows.get(channel)
                mailbox[name] = row[attr] if row else ROW_DEFAULTS.get(attr, False)

    @api.depends('channel_ids.channel', 'channel_ids.status')
    def _compute_channel_status(self):
        for mailbox in self:
            statuses = {row.channel: row.status for row in mailbox.sudo().channel_ids}
            mailbox.incoming_status = statuses.get('incoming', 'ok')
            mailbox.outgoing_status = statuses.get('outgoing', 'ok')
            mailbox.act_status = statuses.get('act', 'ok')
