"""The ``graph_server`` fixture: one in-process Microsoft Graph endpoint for the session.

It yields a started ``GraphServer`` (see server.py); ``graph_no_bugs`` fails a test
during which the endpoint itself broke (an exception in its code).
"""
import os

import pytest

from ..procs import TEST_DIR
from .server import GraphServer


@pytest.fixture(scope='session')
def graph_server():
    server = GraphServer(os.path.join(TEST_DIR, 'tls')).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def graph_no_bugs(graph_server):
    yield
    errors, graph_server.errors[:] = list(graph_server.errors), []
    assert not errors, 'the Graph endpoint failed:\n' + '\n'.join(errors)
