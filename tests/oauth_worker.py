"""An Odoo worker process that needs a mailbox's OAuth token, for the concurrency test.

Waits until DIR/go exists (so that several workers ask at the same moment), gets the
token through ``_oauth_access_token`` and logs in to IMAP with it, then prints
``token=<hash> imap=<result>``.
"""
import argparse
import hashlib
import os
import time
import warnings

warnings.simplefilter('ignore')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('conf')
    parser.add_argument('db')
    parser.add_argument('mailbox_id', type=int)
    parser.add_argument('signal_dir')
    args = parser.parse_args()
    import odoo
    odoo.tools.config.parse_config(['-c', args.conf, '-d', args.db, '--log-level=warn'])
    registry = odoo.registry(args.db)
    open(os.path.join(args.signal_dir, 'ready-%d' % os.getpid()), 'w').close()
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(args.signal_dir, 'go')) and time.time() < deadline:
        time.sleep(0.01)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = env['mail.sync.mailbox'].browse(args.mailbox_id)
        token = box._oauth_access_token()
        summary = box._connector('incoming').check()
    print('token=%s imap=%s' % (hashlib.sha256(token.encode()).hexdigest()[:16], summary['messages']))


if __name__ == '__main__':
    main()
