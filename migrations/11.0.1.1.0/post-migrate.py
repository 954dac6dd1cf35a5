"""11.0.1.1.0: one mail.sync.channel row per (mailbox, channel), made from the columns that
pre-migrate.py set aside; then those columns go. Ledgers, links, logs and the statuses stay
where they are."""
import logging

_logger = logging.getLogger(__name__)

PREFIX = 'mail_sync_moved_'
# channel -> the old column of each field of its row (None: the old schema had none).
SOURCES = {
    'incoming': {'status': 'incoming_status', 'failures': PREFIX + 'incoming_failures',
                 'next_sync': PREFIX + 'next_sync', 'last_success': PREFIX + 'incoming_last_success',
                 'test_state': PREFIX + 'incoming_test_state', 'test_date': PREFIX + 'incoming_test_date',
                 'test_message': PREFIX + 'incoming_test_message'},
    'outgoing': {'status': 'outgoing_status', 'failures': PREFIX + 'outgoing_failures',
                 'next_sync': PREFIX + 'outgoing_next_sync', 'last_success': None,
                 'test_state': PREFIX + 'outgoing_test_state', 'test_date': PREFIX + 'outgoing_test_date',
                 'test_message': PREFIX + 'outgoing_test_message'},
    'act': {'status': 'act_status', 'failures': PREFIX + 'act_failures', 'next_sync': PREFIX + 'act_next_sync',
            'last_success': PREFIX + 'act_last_success', 'test_state': PREFIX + 'act_test_state',
            'test_date': PREFIX + 'act_test_date', 'test_message': PREFIX + 'act_test_message'},
}
DEFAULTS = {'status': "'ok'", 'failures': '0', 'test_state': "'not_run'"}
FIELDS = ('status', 'failures', 'next_sync', 'last_success', 'test_state', 'test_date', 'test_message')


def migrate(cr, version):
    if not version:
        return
    cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'mail_sync_mailbox'")
    present = {row[0] for row in cr.fetchall()}
    for channel, sources in SOURCES.items():
        values = []
        for field in FIELDS:
            column = sources[field]
            value = '"%s"' % column if column in present else 'NULL'
            values.append('COALESCE(%s, %s)' % (value, DEFAULTS[field]) if field in DEFAULTS else value)
        cr.execute("""
            INSERT INTO mail_sync_channel (mailbox_id, channel, %s,
                                           create_uid, create_date, write_uid, write_date)
            SELECT id, %%s, %s, 1, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC'
            FROM mail_sync_mailbox
            ON CONFLICT (mailbox_id, channel) DO NOTHING
        """ % (', '.join(FIELDS), ', '.join(values)), [channel])
        _logger.info('mail_sync %s: %d %s channel states moved', version, cr.rowcount, channel)
    for column in sorted(present):
        if column.startswith(PREFIX):
            cr.execute('ALTER TABLE mail_sync_mailbox DROP COLUMN "%s"' % column)
