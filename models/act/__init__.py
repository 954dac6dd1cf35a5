"""Adapters between Odoo records and the canonical values of sync/items.py, one per kind
of item synced with Exchange (appointments, contacts, tasks). Plain classes, not models:
the cycle (models/mail_sync_mailbox_act.py) uses them to read, create and write records."""
from .appointment import AppointmentAdapter
from .contact import ContactAdapter
from .task import TaskAdapter

from ...sync.kinds import NAMES as KINDS

# kind (sync/kinds.py) -> its Odoo adapter: every kind of the registry has one.
ADAPTERS = {adapter.kind: adapter for adapter in (AppointmentAdapter, ContactAdapter, TaskAdapter)}
assert set(ADAPTERS) == set(KINDS), 'an adapter per kind of sync/kinds.py'
