from . import mail_sync_secret_mixin
from . import mail_sync_log
from . import mail_sync_server
from . import mail_sync_mailbox
from . import mail_sync_mailbox_incoming
from . import mail_sync_ledger
from . import res_users
from . import res_config_settings
