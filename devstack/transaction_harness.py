"""In-process tests' stand-in for mail_sync's commit funnel (``models/transaction.py``).

An Odoo test (pytest-odoo's TransactionCase) runs in one transaction that is rolled back
at its end, on the thread that pytest-odoo marks ``testing``; a real commit there would
leave its data in the shared test database. On that thread each commit point of a cycle
moves a savepoint instead, so that a failed cycle undoes exactly what a real rollback
would undo, and a fresh snapshot or a commit outside a cycle does nothing. Every other
thread (a test's own worker thread with its own cursor) keeps the real funnel.

Production code knows nothing of this: ``install()`` replaces the funnel's functions from
the outside, once per test session (see ``devstack/pytest_plugin.py``). The tests that
must see real commits, rollbacks and snapshots run a worker in its own process
(``tests/kill_worker.py``), where this module is never installed.
"""
import contextlib
import threading

SAVEPOINT = 'mail_sync_cycle'


def _testing():
    return getattr(threading.current_thread(), 'testing', False)


class SavepointFunnel(object):
    """Savepoint variants of ``commit``, ``fresh_snapshot`` and ``undo_on_failure``."""

    def __init__(self, real):
        self.real = real
        self.in_cycle = set()  # ids of the cursors inside a cycle's savepoint

    def commit(self, cr):
        if not _testing():
            return self.real['commit'](cr)
        if id(cr) in self.in_cycle:
            cr.execute('RELEASE SAVEPOINT %s' % SAVEPOINT)
            cr.execute('SAVEPOINT %s' % SAVEPOINT)

    def fresh_snapshot(self, cr):
        if not _testing():
            return self.real['fresh_snapshot'](cr)

    @contextlib.contextmanager
    def undo_on_failure(self, env):
        if not _testing():
            with self.real['undo_on_failure'](env):
                yield
            return
        cr = env.cr
        cr.execute('SAVEPOINT %s' % SAVEPOINT)
        self.in_cycle.add(id(cr))
        try:
            yield
        except Exception:
            cr.execute('ROLLBACK TO SAVEPOINT %s' % SAVEPOINT)
            env.clear()
            raise
        finally:
            self.in_cycle.discard(id(cr))
            cr.execute('RELEASE SAVEPOINT %s' % SAVEPOINT)


def install():
    """Put the savepoint funnel in place of the real one; returns a function that undoes it."""
    from odoo.addons.mail_sync.models import transaction
    names = ('commit', 'fresh_snapshot', 'undo_on_failure')
    real = {name: getattr(transaction, name) for name in names}
    funnel = SavepointFunnel(real)
    for name in names:
        setattr(transaction, name, getattr(funnel, name))

    def uninstall():
        for name in names:
            setattr(transaction, name, real[name])
    return uninstall
