"""A sync worker in its own process, for the kill tests: runs one incoming cycle of a
mailbox and, when asked, kills itself with SIGKILL just before or just after its Nth
commit. Usage: kill_worker.py CONF DB MAILBOX_ID [KILL_AT before|after]"""
import os
import signal
import sys
import warnings

warnings.simplefilter('ignore')


def main(conf, db, mailbox_id, kill_at=0, when='after'):
    import odoo
    odoo.tools.config.parse_config(['-c', conf, '-d', db, '--log-level=warn'])
    registry = odoo.registry(db)
    from odoo.addons.mail_sync.models import mail_sync_mailbox_incoming as incoming
    original = incoming.MailSyncMailboxIncoming._commit
    commits = [0]

    def commit(self):
        commits[0] += 1
        if commits[0] == kill_at and when == 'before':
            os.kill(os.getpid(), signal.SIGKILL)
        original(self)
        if commits[0] == kill_at and when == 'after':
            os.kill(os.getpid(), signal.SIGKILL)
    incoming.MailSyncMailboxIncoming._commit = commit
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(mailbox_id)._run_incoming_cycle()
    print('commits=%d' % commits[0])


if __name__ == '__main__':
    args = sys.argv[1:]
    main(args[0], args[1], int(args[2]), int(args[3]) if len(args) > 3 else 0,
         args[4] if len(args) > 4 else 'after')
