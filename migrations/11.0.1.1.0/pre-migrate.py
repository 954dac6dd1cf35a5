"""11.0.1.1.0 moves each mailbox's per-channel state (failures, next sync, last success, last
test) from columns of mail_sync_mailbox into rows of mail.sync.channel.

Before the new code loads: set the old columns aside under names no field uses, so that
nothing of the update touches them; post-migrate.py copies them into the rows, then drops them.
"""
import logging

_logger = logging.getLogger(__name__)

# The columns that move (the statuses stay: the mailbox keeps them, computed from the rows).
MOVED = ('incoming_failures', 'next_sync', 'incoming_last_success', 'incoming_test_state',
         'incoming_test_date', 'incoming_test_message',
         'outgoing_failures', 'outgoing_next_sync', 'outgoing_test_state', 'outgoing_test_date',
         'outgoing_test_message',
         'act_failures', 'act_next_sync', 'act_last_success', 'act_test_state', 'act_test_date',
         'act_test_message')
PREFIX = 'mail_sync_moved_'


def migrate(cr, version):
    if not version:
        return
    cr.execute("""SELECT column_name FROM information_schema.columns
                  WHERE table_name = 'mail_sync_mailbox' AND column_name IN %s""", [MOVED])
    present = {row[0] for row in cr.fetchall()}
    for column in MOVED:
        if column in present:
            cr.execute('ALTER TABLE mail_sync_mailbox RENAME COLUMN "%s" TO "%s%s"' % (column, PREFIX, column))
    _logger.info('mail_sync %s: set aside %d channel columns of mail_sync_mailbox', version, len(present))
