from . import mail_sync_mailbox_map
from . import mail_sync_track
from . import mail_sync_migration_wizard_line
from . import mail_sync_migration_wizard
from . import mail_sync_notice
