"""Run the jobs a button enqueued, as OCA queue_job's job runner does: mark the job
enqueued in the database, then GET ``/queue_job/runjob`` on the Odoo server, which loads
and performs it in a worker of its own (as the user who enqueued it).

The shared ``odoo_http`` fixture runs without a job runner on purpose (other tests drive
cycles themselves and must not race one): its browser tests run the jobs of their buttons
with this, by identity key, and nothing else."""
import os
import threading
import time
from contextlib import closing

import requests

from odoo.sql_db import db_connect

ENQUEUE_SQL = """UPDATE queue_job SET state = 'enqueued',
                        date_enqueued = date_trunc('seconds', now() AT TIME ZONE 'utc')
                 WHERE uuid = %s AND state = 'pending'"""  # the runner's own statement


def _query(sql, params):
    with closing(db_connect(os.environ['MAIL_SYNC_TEST_DB']).cursor()) as cr:
        cr.autocommit(True)
        cr.execute(sql, params)
        return cr.fetchall() if cr.description else cr.rowcount


def jobs(key):
    """{uuid: (state, due)} of the jobs whose identity key matches ``key`` (SQL LIKE)."""
    rows = _query("""SELECT uuid, state, eta IS NULL OR eta <= now() AT TIME ZONE 'utc'
                     FROM queue_job WHERE identity_key LIKE %s""", [key])
    return {uuid: (state, due) for uuid, state, due in rows}


def run_jobs(odoo_http, key, timeout=180):
    """Wait for a due pending job with identity key ``key``, run it and every other job of
    that key due then, until each is done or failed (a retry runs again when its eta comes).
    Returns {uuid: final state}. A condition polled with a generous deadline."""
    deadline = time.monotonic() + timeout
    wanted = set()
    with requests.Session() as session:
        session.get(odoo_http.url + '/queue_job/session', timeout=30).raise_for_status()
        while True:
            found = jobs(key)
            if not wanted:
                wanted = {uuid for uuid, (state, due) in found.items() if state == 'pending' and due}
            states = {uuid: found.get(uuid, ('gone', False)) for uuid in wanted}
            if wanted and all(state in ('done', 'failed', 'gone') for state, _due in states.values()):
                return {uuid: state for uuid, (state, _due) in states.items()}
            for uuid, (state, due) in states.items():
                if state == 'pending' and due and _query(ENQUEUE_SQL, [uuid]):
                    # Answers when the job is done (the runner does not wait for it).
                    session.get(odoo_http.url + '/queue_job/runjob',
                                params={'db': odoo_http.db, 'job_uuid': uuid}, timeout=max(30, timeout))
            if time.monotonic() > deadline:
                raise AssertionError('the jobs %s did not run: %s' % (key, states or found))
            time.sleep(0.2)


class JobsInBackground(threading.Thread):
    """``run_jobs`` in a thread, for a test that watches the page while the job runs;
    ``result()`` joins it and raises what it raised."""

    def __init__(self, odoo_http, key, timeout=180):
        super(JobsInBackground, self).__init__(daemon=True, name='run jobs %s' % key)
        self.args_ = (odoo_http, key, timeout)
        self.outcome, self.error = None, None
        self.start()

    def run(self):
        try:
            self.outcome = run_jobs(*self.args_)
        except Exception as exc:  # handed to the test by result()
            self.error = exc

    def result(self):
        self.join(self.args_[2] + 60)
        if self.error:
            raise self.error
        return self.outcome
