"""The one place where mail_sync ends a transaction of the cursor it was called with.

Three moves, each a plain function called through this module (``transaction.commit(cr)``),
so that nothing else in ``models/`` commits, rolls back or starts a snapshot on its own:

- ``commit``: a commit point; what was written so far stays, whatever happens next;
- ``fresh_snapshot``: end an (empty) transaction, so the next query sees what other
  workers committed meanwhile (Odoo's transactions are REPEATABLE READ);
- ``undo_on_failure``: around a cycle, roll back what it wrote since its last commit point
  when it fails (what it committed stays valid), then let the error go on.

They always commit and roll back for real: production code has no test-mode branch.
In-process tests, whose whole test runs in one transaction that is never committed,
replace these functions from the outside (``devstack/transaction_harness.py``).

A cursor a method opens for itself (``registry.cursor()``: the OAuth token row, the
background Test & Enable) is a separate transaction by design, in tests as in production:
it commits directly and is not a commit point of the caller's work.
"""
import contextlib


def commit(cr):
    """Commit point: make what ``cr`` wrote so far durable."""
    cr.commit()


def fresh_snapshot(cr):
    """End the current (read-only) transaction of ``cr``: the next query starts a new one."""
    cr.commit()


@contextlib.contextmanager
def undo_on_failure(env):
    """Roll ``env``'s cursor back to its last commit point when the block raises, and forget
    the cached values the rollback made wrong; the exception goes on."""
    try:
        yield
    except Exception:
        env.cr.rollback()
        env.clear()
        raise
