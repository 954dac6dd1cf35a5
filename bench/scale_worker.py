"""One sync worker process of bench/scale.py.

Loads the registry, touches DIR/ready-NAME, waits for DIR/go, then either

- ``sweep``: runs the incoming lane (``_cron_sync``) over the given mailboxes until none of
  them is due any more (a lane ends when every due mailbox is claimed by someone else or had
  no free connection slot, so it is called again until the sweep is complete), or
- ``cron``: sweeps the due mailboxes every second until it is stopped by signal (it ran
  the cron lane with ``follow`` before issue 20 replaced the lanes by jobs; the figures in
  the README were measured with the lane).

Prints one JSON line: what it synced, when it started and ended (``time.time()``), how
often it found all of the profile's connection slots taken, and the error that stopped it.
"""
import argparse
import contextlib
import json
import os
import time
import warnings

warnings.simplefilter('ignore')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('conf')
    parser.add_argument('db')
    parser.add_argument('mode', choices=('sweep', 'cron'))
    parser.add_argument('signal_dir')
    parser.add_argument('name')
    parser.add_argument('--ids-file', help='mailbox ids, comma-separated (sweep)')
    args = parser.parse_args()

    import odoo
    from odoo import fields
    odoo.tools.config.parse_config(['-c', args.conf, '-d', args.db, '--log-level=warn'])
    registry = odoo.registry(args.db)
    from odoo.addons.mail_sync.models import mail_sync_mailbox_scheduler as scheduler

    misses = [0]
    original_slot = scheduler.MailSyncMailboxScheduler._connection_slot

    @contextlib.contextmanager
    def counted_slot(self, channel):
        with original_slot(self, channel) as slot:
            misses[0] += slot is None
            yield slot
    scheduler.MailSyncMailboxScheduler._connection_slot = counted_slot
    open(os.path.join(args.signal_dir, 'ready-' + args.name), 'w').close()
    go = os.path.join(args.signal_dir, 'go')
    while not os.path.exists(go):
        time.sleep(0.01)
    start, cpu = time.time(), time.process_time()
    done = {'synced': 0, 'runs': 0}
    error = None
    try:
        with odoo.api.Environment.manage(), registry.cursor() as cr:
            Mailbox = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})['mail.sync.mailbox']
            if args.mode == 'sweep':
                with open(args.ids_file) as handle:
                    ids = [int(value) for value in handle.read().split(',')]
                sweep(Mailbox, ids, done, fields.Datetime.now)
            else:
                cron(Mailbox, int(args.name), done)
    except Exception as exc:  # reported to the bench, which decides
        while exc.__context__ is not None:  # the first error, not what failed while handling it
            exc = exc.__context__
        error = '%s: %s' % (type(exc).__name__, (str(exc).strip().splitlines() or [''])[0])
    print(json.dumps(dict(done, name=args.name, start=start, end=time.time(), slot_misses=misses[0],
                          cpu=time.process_time() - cpu, error=error)), flush=True)


def sweep(Mailbox, ids, done, now):
    """Call the lane until none of ``ids`` is due: a lane returns early when the rest is
    claimed by other workers or found no free connection slot."""
    cr = Mailbox.env.cr
    while True:
        synced = Mailbox._cron_sync('incoming', mailbox_ids=ids)
        done['synced'] += synced
        done['runs'] += 1
        cr.commit()
        cr.execute("""SELECT count(*) FROM mail_sync_channel WHERE mailbox_id = ANY(%s) AND channel = 'incoming'
                      AND (next_sync IS NULL OR next_sync <= %s)""", [ids, now()])
        if not cr.fetchone()[0]:
            return
        if not synced:
            time.sleep(0.5)  # the rest is claimed by others or waits for a slot: as a following lane


def cron(Mailbox, number, done):
    """What syncs the due mailboxes: before issue 20, Odoo 11's cron thread running the
    incoming lane; since, jobs at each mailbox's due time. Emulated here by a sweep of the
    due mailboxes every second. Runs until the process is stopped."""
    while True:
        done['synced'] += Mailbox._cron_sync('incoming')
        done['runs'] += 1
        Mailbox.env.cr.commit()
        time.sleep(1)

if __name__ == '__main__':
    main()
