from . import mail_sync_mailbox_map
from . import mail_sync_track
