"""Hourly throughput counters of server-side sync, for the managers' monitoring views.

One row per hour (UTC), email server profile and channel. Sync cycles add to the
current hour's row with a single upsert, so concurrent workers never race to create
it and the table grows by at most a few rows per profile and hour.
"""
import datetime
import os
import threading

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError

STAT_CHANNELS = [
    ('incoming', 'Incoming email'),
    ('outgoing', 'Outgoing email'),
    ('act', 'Appointments, contacts and tasks'),
]
RETENTION_DAYS = 90


class MailSyncStat(models.Model):
    _name = 'mail.sync.stat'
    _description = 'Server-Side Sync Hourly Statistics'
    _order = 'hour desc, server_id, channel'
    _rec_name = 'hour_label'

    hour = fields.Datetime(required=True, readonly=True, index=True,
                           help='Start of the hour (UTC) these counters cover.')
    # Odoo 11 groups datetimes by day at the finest: the graph groups by this label instead.
    hour_label = fields.Char(string='Hour (UTC)', compute='_compute_hour_label', store=True,
                             readonly=True)
    server_id = fields.Many2one('mail.sync.server', string='Email Server Profile', required=True,
                                readonly=True, ondelete='cascade', index=True)
    channel = fields.Selection(STAT_CHANNELS, required=True, readonly=True)
    items = fields.Integer(string='Items Synced', readonly=True,
                           help='Messages or items handled by the cycles of this hour.')
    cycles = fields.Integer(readonly=True, help='Sync cycles run in this hour, failed ones included.')
    failures = fields.Integer(readonly=True, help='Sync cycles that failed in this hour.')
    worker = fields.Char(readonly=True, help='The process and thread that counted these cycles.')

    # One row per worker too: a row that lanes running at once all update would make their
    # transactions (repeatable read) fail on each other. Views add the workers' rows up.
    _sql_constraints = [
        ('hour_server_channel_uniq', 'unique(hour, server_id, channel, worker)',
         'There is one statistics row per hour, profile, channel and worker.'),
    ]

    @api.depends('hour')
    def _compute_hour_label(self):
        for stat in self:
            stat.hour_label = stat.hour and stat.hour[:13] + ':00'

    @api.model
    @api.returns('self', lambda stat: stat.id)
    def _record(self, server_id, channel, items=0, failures=0, cycles=1):
        """Count ``cycles`` cycles of ``channel`` on profile ``server_id`` in the current hour.

        Sync code calls it with ``sudo()``; other callers must be managers (the model is
        read-only for them otherwise).
        """
        if self.env.uid != SUPERUSER_ID and \
                not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only the server-side sync itself or a manager can record '
                                'statistics.'))
        if channel not in dict(STAT_CHANNELS):
            raise ValueError('unknown channel %r' % (channel,))
        self.env.cr.execute("""
            INSERT INTO mail_sync_stat (hour, hour_label, server_id, channel, worker, items, cycles,
                                        failures, create_uid, create_date, write_uid, write_date)
            SELECT h, to_char(h, 'YYYY-MM-DD HH24:00'), %(server)s, %(channel)s, %(worker)s, %(items)s, %(cycles)s,
                   %(failures)s, %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
            FROM date_trunc('hour', now() AT TIME ZONE 'UTC') AS h
            ON CONFLICT (hour, server_id, channel, worker) DO UPDATE SET
                items = mail_sync_stat.items + EXCLUDED.items,
                cycles = mail_sync_stat.cycles + EXCLUDED.cycles,
                failures = mail_sync_stat.failures + EXCLUDED.failures,
                write_uid = EXCLUDED.write_uid,
                write_date = EXCLUDED.write_date
            RETURNING id
        """, {'server': int(server_id), 'channel': channel, 'items': int(items or 0),
              'failures': int(failures or 0), 'cycles': int(cycles), 'uid': self.env.uid,
              'worker': '%d-%d' % (os.getpid(), threading.get_ident())})
        stat_id = self.env.cr.fetchone()[0]
        self.invalidate_cache(ids=[stat_id])
        return self.browse(stat_id)

    @api.model
    def _gc(self, days=RETENTION_DAYS):
        """Delete the rows of hours older than ``days`` days; return how many."""
        cutoff = datetime.datetime.utcnow() - datetime.timedelta(days=days)
        self.env.cr.execute('DELETE FROM mail_sync_stat WHERE hour < %s',
                            [fields.Datetime.to_string(cutoff)])
        deleted = self.env.cr.rowcount
        self.invalidate_cache()
        return deleted
