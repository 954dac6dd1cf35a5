"""pytest plugin for the engine's tests without the project's devstack:
``python -m pytest -p sync.tests.standalone --pyargs sync.tests``.

From the project root (``make test``, ``devstack.testrun``) every test runs
against the real servers devstack starts, and this plugin is not loaded. With
the engine installed on its own (``pip install ./sync``, see README) there is
no devstack: the tests that need its servers are reported as skipped, and the
pure ones run. (Not a conftest.py: inside the addon, pytest would import a
conftest under the addon's package name and so load the Odoo models a second
time, outside ``odoo.addons``.)
"""
import importlib.util
import os

import pytest

HAVE_DEVSTACK = importlib.util.find_spec('devstack') is not None

# devstack's fixtures that start (or stand for) a real server.
SERVER_FIXTURES = frozenset(['mail_servers', 'silent_port', 'servers_on_class', 'ews_server', 'oauth_server',
                             'graph_server', 'graph_no_bugs',
                             'odoo_http', 'browser'])
HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_REASON = 'needs the real servers of devstack: run from the project root (make test)'


def _loads_devstack_plugin(name):
    """A module naming devstack fixtures in ``pytest_plugins`` cannot even be imported."""
    with open(os.path.join(HERE, name), encoding='utf-8') as source:
        return any(line.startswith('pytest_plugins') and 'devstack' in line for line in source)


collect_ignore = [] if HAVE_DEVSTACK else sorted(
    name for name in os.listdir(HERE)
    if name.startswith('test_') and name.endswith('.py') and _loads_devstack_plugin(name))


def pytest_ignore_collect(path, config):
    if os.path.dirname(str(path)) == HERE and os.path.basename(str(path)) in collect_ignore:
        return True
    return None


def pytest_report_header(config):
    if not HAVE_DEVSTACK:
        return 'mail-sync-engine without devstack: server tests skipped, %d modules not collected (%s)' % (
            len(collect_ignore), ', '.join(collect_ignore))


def pytest_collection_modifyitems(config, items):
    if HAVE_DEVSTACK:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if str(item.fspath).startswith(HERE) and SERVER_FIXTURES & set(getattr(item, 'fixturenames', ())):
            item.add_marker(skip)
