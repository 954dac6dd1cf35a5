"""sync/pyproject.toml declares what the engine needs, in ranges that hold the
project's pins (constraints.txt). Runs in the project checkout; an installed
mail-sync-engine has no pyproject.toml to read, so these tests skip there."""
import ast
import importlib.util
import os
import sysconfig

import pytest

SYNC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(SYNC_DIR, 'pyproject.toml')
IN_CHECKOUT = os.path.exists(os.path.join(os.path.dirname(SYNC_DIR), '__manifest__.py'))
CONSTRAINTS = os.path.join(os.path.dirname(SYNC_DIR), 'constraints.txt')
# The import name of each declared distribution, where the two differ.
IMPORT_NAMES = {'backports.zoneinfo': 'backports', 'pyjwt': 'jwt'}
# Standard modules of later Pythons, imported with a fallback to a declared backport.
LATER_STDLIB = {'zoneinfo'}

pytestmark = pytest.mark.skipif(not IN_CHECKOUT, reason='an installed package has no pyproject.toml')


def _project():
    tomli = pytest.importorskip('tomli')
    with open(PYPROJECT, 'rb') as source:
        return tomli.load(source)['project']


def _requirements(specs):
    requirements = pytest.importorskip('packaging.requirements')
    return [requirements.Requirement(spec) for spec in specs]


def _third_party_imports(folder):
    """Top-level names imported by the modules of ``folder`` that are not the standard library."""
    stdlib = os.path.realpath(sysconfig.get_paths()['stdlib'])
    names = set()
    for name in os.listdir(folder):
        if not name.endswith('.py'):
            continue
        with open(os.path.join(folder, name), encoding='utf-8') as source:
            tree = ast.parse(source.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.add(node.module.split('.')[0])
    def is_stdlib(name):
        spec = importlib.util.find_spec(name)
        if spec is None:
            return False
        if spec.origin in (None, 'built-in', 'frozen'):
            return True
        origin = os.path.realpath(spec.origin)
        return origin.startswith(stdlib) and 'site-packages' not in origin

    return {name for name in names if not is_stdlib(name)}


def test_every_third_party_import_is_a_declared_dependency():
    project = _project()
    declared = {IMPORT_NAMES.get(r.name.lower(), r.name.lower())
                for r in _requirements(project['dependencies'])}
    imported = _third_party_imports(SYNC_DIR) - LATER_STDLIB
    assert 'exchangelib' in imported  # the scan itself works
    assert imported <= declared, 'imported but not declared: %s' % sorted(imported - declared)
    assert 'odoo' not in imported


def test_tests_need_only_pytest_beyond_the_runtime_dependencies():
    project = _project()
    declared = {IMPORT_NAMES.get(r.name.lower(), r.name.lower()) for r in _requirements(
        project['dependencies'] + project['optional-dependencies']['test'])}
    # devstack is the project's own server harness: the tests that use it skip without it.
    imported = _third_party_imports(os.path.join(SYNC_DIR, 'tests')) - {'devstack'}
    assert imported <= declared, 'tests import undeclared packages: %s' % sorted(imported - declared)


def test_ranges_hold_the_project_pins():
    if not os.path.exists(CONSTRAINTS):
        pytest.skip('no constraints.txt beside sync/')
    pins = {}
    with open(CONSTRAINTS, encoding='utf-8') as source:
        for line in source:
            name, _, version = line.strip().partition('==')
            if version:
                pins[name.lower()] = version
    project = _project()
    for requirement in _requirements(project['dependencies'] + project['optional-dependencies']['test']):
        pin = pins.get(requirement.name.lower())
        assert pin, '%s is not pinned in constraints.txt' % requirement.name
        assert requirement.specifier.contains(pin, prereleases=True), (requirement, pin)
    assert _project()['requires-python'] == '>=3.7'
