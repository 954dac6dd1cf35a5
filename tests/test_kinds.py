"""Kinds in one registry (sync/kinds.py): the Odoo side maps each kind to a model and an
adapter and takes the rest from the registry; the two-way cycle asks the adapter instead
of testing which kind it runs."""
import os
import re

from ..models.act import ADAPTERS
from ..models.mail_sync_field_map import canonical_fields
from ..models.mail_sync_link import KINDS as LINK_KINDS
from ..sync import items
from ..sync.kinds import KINDS

ADDON = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def test_every_kind_has_one_adapter_and_one_definition():
    assert list(KINDS) == [name for name, _label in LINK_KINDS] == list(items.KINDS)
    for name, kind in KINDS.items():
        adapter = ADAPTERS[name]
        assert adapter.kind == name and 'folder' not in vars(adapter), name
        assert sorted(canonical_fields(name)) == sorted(kind.fields) == sorted(items.FIELDS[name]), name


def test_adoption_identity_comes_from_the_registry():
    assert KINDS['appointment'].identify({'subject': 'x'}, 'uid-1@odoo') == ('uid-1@odoo',)
    assert KINDS['contact'].identify({'display_name': 'Ada', 'email': 'ada@x.test', 'city': 'London'}) == \
        ('Ada', 'ada@x.test')


def test_the_cycle_never_tests_the_kind():
    with open(os.path.join(ADDON, 'models', 'mail_sync_mailbox_act.py')) as source:
        text = source.read()
    assert re.findall(r"kind\s*[!=]=|'(?:appointment|contact|task)'", text) == []
