from . import mail_sync_mailbox_map
