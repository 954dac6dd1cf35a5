"""Housekeeping in a worker process of its own, where its batches really commit (in-process
tests turn those commits into nothing): killed after its first batch of old log entries,
that batch stays deleted and the next run deletes the rest."""
import os

import odoo

from ..models.mail_sync_mailbox_housekeeping import DELETE_BATCH
from .kill_driver import commits, run_worker

OLD = 2 * DELETE_BATCH + 100  # three batches


def _old_logs(registry, tag=None):
    with registry.cursor() as cr:
        cr.execute("""SELECT count(*) FROM mail_sync_log WHERE last_seen < now() at time zone 'UTC' - interval '31 days'
                      AND (%s::text IS NULL OR code = %s)""", [tag, tag])
        return cr.fetchone()[0]


def test_killed_between_batches_keeps_what_it_committed():
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    tag = 'hk-process-test'
    with registry.cursor() as cr:
        cr.execute("""INSERT INTO mail_sync_log (channel, severity, error_class, code, message, first_seen,
                                                  last_seen, count)
                      SELECT 'general', 'info', 'event', %s, 'old entry ' || n,
                             now() at time zone 'UTC' - interval '40 days',
                             now() at time zone 'UTC' - interval '40 days', 1
                      FROM generate_series(1, %s) AS n""", [tag, OLD])
        cr.execute("INSERT INTO mail_sync_log (channel, severity, error_class, code, message, first_seen, "
                   "last_seen, count) VALUES ('general', 'info', 'event', %s, 'recent', "
                   "now() at time zone 'UTC', now() at time zone 'UTC', 1)",
                   [tag + '-recent'])
        cr.commit()
    try:
        before = _old_logs(registry)
        # The worker counts commits that wrote something: with the unusable mailboxes already
        # disabled (whatever other tests left), its first one is the first batch.
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})['mail.sync.mailbox']._disable_unusable()
            cr.commit()
        killed = run_worker(0, '--channel', 'housekeeping', '--kill-at', 1, '--when', 'after')
        assert 'commits=' not in killed, killed[-3000:]
        assert _old_logs(registry) == before - DELETE_BATCH, 'the committed batch stays deleted'
        commits(run_worker(0, '--channel', 'housekeeping'))
        assert (_old_logs(registry), _old_logs(registry, tag)) == (0, 0)
        with registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM mail_sync_log WHERE code = %s", [tag + '-recent'])
            assert cr.fetchone()[0] == 1, 'a recent entry is kept'
    finally:
        with registry.cursor() as cr:
            cr.execute("DELETE FROM mail_sync_log WHERE code IN %s", [(tag, tag + '-recent')])
            cr.commit()
