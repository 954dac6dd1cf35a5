"""A sync worker in its own process, for the kill and concurrency tests.

Runs one incoming cycle of a mailbox (or, with --cron, the incoming cron lane restricted
to the given mailboxes, which claims each and takes a connection slot first; or, with
--channel housekeeping, the housekeeping cron, whose batches commit) and prints
what it did: its commits, the mailboxes it synced, how many times it found no free
connection slot (busy) and how long the sync call took (seconds). --kill-at N kills the
process with SIGKILL just before or just after its Nth commit; --fail-at N raises an
error instead of making its Nth commit; --pause-at N stops
after the Nth commit until the file DIR/go exists (DIR/paused tells it is waiting).
"""
import argparse
import contextlib
import os
import signal
import time
import warnings

warnings.simplefilter('ignore')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('conf')
    parser.add_argument('db')
    parser.add_argument('mailbox_ids', help='one id, or several separated by commas (with --cron)')
    parser.add_argument('--kill-at', type=int, default=0)
    parser.add_argument('--when', choices=('before', 'after'), default='after')
    parser.add_argument('--cron', action='store_true')
    parser.add_argument('--channel', default='incoming',
                        choices=('incoming', 'outgoing', 'act', 'housekeeping'),
                        help='housekeeping: run the housekeeping cron instead (mailbox ids unused)')
    parser.add_argument('--kill-before-copy', action='store_true',
                        help='SIGKILL once the SMTP server accepted an email, before its Sent copy')
    parser.add_argument('--pause-at', type=int, default=0)
    parser.add_argument('--fail-at', type=int, default=0,
                        help='raise an error in place of the Nth commit (the cycle fails there)')
    parser.add_argument('--signal-dir')
    args = parser.parse_args()

    import odoo
    odoo.tools.config.parse_config(['-c', args.conf, '-d', args.db, '--log-level=warn'])
    registry = odoo.registry(args.db)
    from odoo.addons.mail_sync.models import mail_sync_mailbox_scheduler as scheduler
    from odoo.addons.mail_sync.models import mail_sync_mailbox_housekeeping as housekeeping
    commits = [0]

    def counted(original):
        """``original`` commit method, counted, with the kill and pause points around it."""
        def commit(self):
            commits[0] += 1
            if commits[0] == args.fail_at:
                raise RuntimeError('failure injected at commit %d' % commits[0])
            if commits[0] == args.kill_at and args.when == 'before':
                os.kill(os.getpid(), signal.SIGKILL)
            original(self)
            if commits[0] == args.kill_at and args.when == 'after':
                os.kill(os.getpid(), signal.SIGKILL)
            if commits[0] == args.pause_at:
                open(os.path.join(args.signal_dir, 'paused'), 'w').close()
                while not os.path.exists(os.path.join(args.signal_dir, 'go')):
                    time.sleep(0.05)
        return commit
    scheduler.MailSyncMailboxScheduler._commit = counted(scheduler.MailSyncMailboxScheduler._commit)
    housekeeping.MailSyncMailboxHousekeeping._commit_housekeeping = counted(
        housekeeping.MailSyncMailboxHousekeeping._commit_housekeeping)
    if args.kill_before_copy:  # a network side effect with no commit after it yet
        from odoo.addons.mail_sync.models import mail_sync_mailbox_outgoing as outgoing
        outgoing._SentCopies.save = lambda copies, raw: os.kill(os.getpid(), signal.SIGKILL)
    original_slot = scheduler.MailSyncMailboxScheduler._connection_slot
    busy = [0]

    @contextlib.contextmanager
    def connection_slot(self, channel):
        with original_slot(self, channel) as slot:
            busy[0] += slot is None
            yield slot
    scheduler.MailSyncMailboxScheduler._connection_slot = connection_slot
    started = time.monotonic()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Mailbox = env['mail.sync.mailbox']
        ids = [int(value) for value in args.mailbox_ids.split(',')]
        if args.channel == 'housekeeping':
            Mailbox._cron_housekeeping()
            synced = 0
        elif args.cron:
            synced = Mailbox._cron_sync(args.channel, mailbox_ids=ids)
        else:
            Mailbox.browse(ids[0])._run_cycle(args.channel)
            synced = 1
    print('commits=%d synced=%d busy=%d seconds=%.1f' % (commits[0], synced, busy[0],
                                                         time.monotonic() - started))


if __name__ == '__main__':
    main()
