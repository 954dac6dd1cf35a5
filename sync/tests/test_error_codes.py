"""Error codes are data: every code raised in sync/ (and, in the project checkout,
in the Odoo layer) is enumerated in sync/errors.py with a default user text."""
import os
import re

from .. import errors

SYNC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON_DIR = os.path.dirname(SYNC_DIR)
ERROR_CLASSES = ('SyncError', 'TransientError', 'AuthError', 'ConfigError', 'PermanentError',
                 'SyncStateInvalid', 'ConflictError')
# An error built with a literal code, across line breaks: PermanentError(\n 'protocol', ...
RAISED = re.compile(r"\b(?:%s)\(\s*'([^']*)'" % '|'.join(ERROR_CLASSES))


def _sources():
    """sync/'s modules, plus models/ and wizards/ when the addon is around this package
    (not in an installed mail-sync-engine)."""
    folders = [SYNC_DIR]
    if os.path.exists(os.path.join(ADDON_DIR, '__manifest__.py')):
        folders += [os.path.join(ADDON_DIR, name) for name in ('models', 'wizards')]
    for folder in folders:
        for parent, dirs, files in os.walk(folder):
            dirs[:] = [name for name in dirs if name not in ('tests', 'build', '__pycache__')]
            for name in files:
                if name.endswith('.py'):
                    yield os.path.join(parent, name)


def _raised_codes():
    found = {}
    for path in _sources():
        with open(path, encoding='utf-8') as source:
            for code in RAISED.findall(source.read()):
                found.setdefault(code, path)
    return found


def test_every_raised_code_is_enumerated():
    raised = _raised_codes()
    assert 'protocol' in raised and 'auth_failed' in raised  # the scan itself works
    missing = {code: path for code, path in raised.items() if code not in errors.DEFAULT_TEXTS}
    assert not missing, 'codes raised but not enumerated in sync/errors.py: %s' % missing


def test_every_code_has_a_constant_and_a_default_text():
    constants = {value for name, value in vars(errors).items()
                 if name.isupper() and isinstance(value, str)}
    assert constants == set(errors.DEFAULT_TEXTS)
    for code, text in errors.DEFAULT_TEXTS.items():
        assert re.match(r'^[a-z][a-z_]*$', code), code
        assert text.strip().endswith('.'), code
    assert errors.default_text(errors.TIMEOUT) == errors.DEFAULT_TEXTS['timeout']
    assert errors.default_text('no_such_code') == errors.DEFAULT_TEXTS['unexpected']
