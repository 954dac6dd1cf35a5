"""What every adapter shares: the mailbox, its user and the context sync writes run in."""
import datetime

from odoo import fields
from odoo.tools import html2plaintext

from ...sync.kinds import KINDS

# Writes by the sync never notify anyone (no invitations, no followers' mail) and are
# recognisable in overrides.
SYNC_CONTEXT = {'no_mail_to_attendees': True, 'mail_create_nosubscribe': True,
                'mail_notrack': True, 'tracking_disable': True, 'mail_sync_writing': True}


class Adapter(object):
    """The Odoo side of one kind (``kind``, a name of sync/kinds.py): its ``model`` and how
    records read and write. What the kind is (folder, history, shared UID, series, delete
    policy, identity) comes from the registry, as ``spec``."""
    kind = None
    model = None

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.user = mailbox.user_id
        self.tz = self.user.tz or 'UTC'
        self.env = mailbox.env

    @property
    def spec(self):
        return KINDS[self.kind]

    @property
    def folder(self):
        """The mail.sync.folder role that keeps the kind's sync state (its folder's name)."""
        return self.spec.folder

    @property
    def records(self):
        """The model, as superuser with the sync context (the cycle runs for every user)."""
        return self.env[self.model].sudo().with_context(SYNC_CONTEXT, active_test=False)

    def selectable(self):
        """The model with the mailbox user's rights: what her filter may select."""
        return self.env[self.model].sudo(self.user).with_context(SYNC_CONTEXT, active_test=False)

    def visible_domain(self):
        """What the user may see beyond the record rules (a model hiding some records'
        contents in ``read`` rather than by a rule adds it here)."""
        return []

    def own_item_domain(self):
        """The records that may become an Exchange item of their own (the rest are parts of
        another record's item)."""
        return []

    def recent_domain(self, since):
        """Records old enough to stay out of a first sync (the profile's "process after")."""
        return [('write_date', '>=', fields.Datetime.to_string(since))] if since else []

    def read(self, record):
        """Canonical values of ``record`` (the Odoo side)."""
        raise NotImplementedError

    def values(self, canonical):
        """Odoo values for the canonical fields given."""
        raise NotImplementedError

    def create(self, canonical, remote):
        return self.records.create(self.values(canonical))

    def write(self, record, canonical):
        values = self.values(canonical)
        if values:
            record.with_context(SYNC_CONTEXT).write(values)

    def archive(self, record):
        """Exchange deleted the item: archive, never delete."""
        if 'active' in record._fields:
            record.with_context(SYNC_CONTEXT).write({'active': False})

    def is_gone(self, record):
        """Deleted or archived in Odoo."""
        return not record.exists() or ('active' in record._fields and not record.active)

    def refusal(self, canonical):
        """Why an Exchange item with these values cannot be created in Odoo (a translated
        sentence), or None when it can."""
        return None

    def accepted(self, canonical, base):
        """Exchange's values of a linked item as Odoo can take them, and why not all of
        them (None when it can): what it cannot is taken as unchanged (its ``base``)."""
        return canonical, None

    def may_delete_remote(self, record):
        """Whether an Odoo deletion deletes the Exchange item (else it is only unlinked)."""
        return False

    def identity(self, values, uid=None):
        """What tells an item created by an interrupted cycle apart from others."""
        return self.spec.identify(values, uid)

    def completed(self, remote):
        """Whether the Exchange item ``remote`` says the work is done (then ``complete``
        closes the record and the link ends)."""
        return False

    def may_delete_remote_gone(self, synced):
        """For a record deleted in Odoo, whose last synced canonical values were
        ``synced``: whether its item is deleted too (the kind's delete policy)."""
        if self.spec.delete_policy != 'future_own':
            return False
        start = synced.get('start')
        if isinstance(start, datetime.datetime):
            future = start > datetime.datetime.now(datetime.timezone.utc)
        elif isinstance(start, datetime.date):
            future = start > datetime.date.today()
        else:
            future = False
        return future and synced.get('organizer') == (self.user.partner_id.email or '').strip().lower()

    def remote_values(self, canonical, local):
        """What to write to Exchange for the changed values ``canonical`` (``local``: all of
        the record's canonical values)."""
        return dict(canonical)


def text(value):
    return (value or '').strip()


def plain(html):
    return html2plaintext(html).strip() if html else ''


def utc(value):
    """Odoo's naive UTC datetime string -> aware UTC datetime."""
    return fields.Datetime.from_string(value).replace(tzinfo=datetime.timezone.utc) if value else None


def odoo_datetime(value):
    """Aware datetime -> Odoo's naive UTC string."""
    return fields.Datetime.to_string(value.astimezone(datetime.timezone.utc).replace(tzinfo=None))
