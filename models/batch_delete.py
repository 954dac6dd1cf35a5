"""Retention for the tables that grow with use (logs, conflicts): old rows are deleted in
batches, each in its own transaction, so that a large backlog never holds one long lock."""
import datetime


def delete_older(cr, table, column, days, batch, commit):
    """Delete the rows of ``table`` whose ``column`` is more than ``days`` days old, ``batch``
    rows per ``commit()``; returns how many. ``table`` and ``column`` are ours, never input."""
    cutoff = datetime.datetime.utcnow() - datetime.timedelta(days=days)
    deleted = 0
    while True:
        cr.execute('DELETE FROM "%s" WHERE id IN (SELECT id FROM "%s" WHERE "%s" < %%s LIMIT %%s)'
                   % (table, table, column), [cutoff, batch])
        count = cr.rowcount
        deleted += count
        commit()
        if count < batch:
            return deleted
