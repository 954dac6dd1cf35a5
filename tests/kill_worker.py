"""A sync worker in its own process, for the kill and concurrency tests.

Runs one incoming cycle of a mailbox (or, with --cron, the incoming cron lane restricted
to the given mailboxes, which claims each and takes a connection slot first) and prints
what it did. --kill-at N kills the
process with SIGKILL just before or just after its Nth commit; --pause-at N stops
after the Nth commit until the file DIR/go exists (DIR/paused tells it is waiting).
"""
import argparse
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
    parser.add_argument('--channel', default='incoming', choices=('incoming', 'outgoing', 'act'))
    parser.add_argument('--pause-at', type=int, default=0)
    parser.add_argument('--signal-dir')
    args = parser.parse_args()

    import odoo
    odoo.tools.config.parse_config(['-c', args.conf, '-d', args.db, '--log-level=warn'])
    registry = odoo.registry(args.db)
    from odoo.addons.mail_sync.models import mail_sync_mailbox_scheduler as scheduler
    original = scheduler.MailSyncMailboxScheduler._commit
    commits = [0]

    def commit(self):
        commits[0] += 1
        if commits[0] == args.kill_at and args.when == 'before':
            os.kill(os.getpid(), signal.SIGKILL)
        original(self)
        if commits[0] == args.kill_at and args.when == 'after':
            os.kill(os.getpid(), signal.SIGKILL)
        if commits[0] == args.pause_at:
            open(os.path.join(args.signal_dir, 'paused'), 'w').close()
            while not os.path.exists(os.path.join(args.signal_dir, 'go')):
                time.sleep(0.05)
    scheduler.MailSyncMailboxScheduler._commit = commit
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Mailbox = env['mail.sync.mailbox']
        ids = [int(value) for value in args.mailbox_ids.split(',')]
        if args.cron:
            synced = Mailbox._cron_sync(args.channel, mailbox_ids=ids)
        else:
            Mailbox.browse(ids[0])._run_cycle(args.channel)
            synced = 1
    print('commits=%d synced=%d' % (commits[0], synced))


if __name__ == '__main__':
    main()
