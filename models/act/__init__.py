"""Adapters between Odoo records and the canonical values of sync/items.py, one per kind
of item synced with Exchange (appointments, contacts, tasks). Plain classes, not models:
the cycle (models/mail_sync_mailbox_act.py) uses them to read, create and write records."""
from .appointment import AppointmentAdapter
from .contact import ContactAdapter
from .task import TaskAdapter

ADAPTERS = {adapter.kind: adapter for adapter in (AppointmentAdapter, ContactAdapter, TaskAdapter)}
KINDS = ('appointment', 'contact', 'task')
