"""A sync worker in its own process, for the kill and concurrency tests.

Runs one cycle of a channel of a mailbox (with --job, as the service does: as its queue_job
job, see ``_run_job``; or, with --cron, the due jobs of the given mailboxes run here one
after another (``_cron_sync``: each claims its mailbox and takes a connection slot first,
or leaves it to a retry); or, with --channel
housekeeping, the housekeeping cron, whose batches commit) and prints what it did: its
commits, its network side effects, the mailboxes it synced, how many times it found no
free connection slot (busy) and how long the sync call took (seconds).

The kill points are hooked from here, never in the code under test:
- a commit point is a commit of any database cursor of this process that wrote something
  (an empty transaction ending changes nothing a kill could reveal): the wrapper sits on
  Odoo's Cursor.commit, so it holds however the models reach their commits;
- a network side effect is a call of a connector method that changes the remote side
  (``EFFECTS``: SMTP submission, IMAP APPEND and MOVE, Exchange/Graph create, update,
  delete, send, move, category), wrapped on every connector class of ``sync/``.
--kill-at N kills the process with SIGKILL just before or just after its Nth commit;
--fail-at N raises an error in place of its Nth commit (the cycle fails there);
--kill-after-effect N kills it just after its Nth side effect returned (before whatever
the caller commits next); --pause-at N stops after the Nth commit until the file
DIR/go exists (DIR/paused tells it is waiting).

With --job the cycle runs through queue_job's own execution path, the one the job runner's
HTTP call takes (``RunJobController.runjob``): its job (the mailbox's pending one, or one
``_enqueue_cycle`` adds) is marked enqueued as the runner does, then started and committed,
performed, done and committed. Its commits are kill points like the cycle's. With
--after-kill (the previous worker on this mailbox was killed) the worker first recovers
the way production does: the runner sets a job still 'enqueued' back to pending (its HTTP
call failed), and the schedule cron's ``_requeue_dead_jobs`` sets a 'started' one whose
claim died with its worker back to pending, once it is old enough (its start is moved
back by ``DEAD_AFTER``: the time that passes in production). It prints the states of
the mailbox's jobs of that channel at the end (``jobs=done:2,pending:1``).

``kill_worker.py --serve CONF DB`` loads Odoo once and forks the workers it is asked
for (tests/kill_driver.py uses it: the kill tests start hundreds of workers).
"""
import argparse
import contextlib
import datetime
import functools
import importlib
import json
import os
import pkgutil
import random
import signal
import sys
import time
import traceback
import warnings

warnings.simplefilter('ignore')

# Connector methods that change the remote side (names shared by the connectors of sync/).
EFFECTS = ('send', 'append', 'move', 'set_category', 'create_record', 'update_record', 'delete_record',
           'delete')


def _kill(sites=None):
    if sites:  # where it dies: the driver tells a job's own start and end from the cycle's commits
        print('killed-at=%d:%s' % (len(sites), sites[-1]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def _commit_site():
    """Where a commit comes from: the innermost mail_sync function (or queue_job's) past the
    commit funnel, for the output of a run (a kill test whose runs differ says where)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        name = frame.filename
        if ('/mail_sync/' in name or '/queue_job/' in name) and '/tests/' not in name \
                and not name.endswith('/transaction.py'):
            return '%s:%s' % (os.path.basename(name)[:-3], frame.name)
    return '?'


def _hook_commits(args, counter, sites):
    """Count the writing commits of every cursor, with the kill and pause points around them."""
    from odoo import sql_db
    original = sql_db.Cursor.commit

    def commit(self):
        try:
            self._obj.execute('SELECT txid_current_if_assigned()')
            wrote = self._obj.fetchone()[0] is not None
        except Exception:  # an aborted transaction: its COMMIT is a rollback, still a point
            wrote = True
        if not wrote:  # nothing written: not a commit point
            return original(self)
        counter[0] += 1
        sites.append(_commit_site())
        if counter[0] == args.fail_at:
            raise RuntimeError('failure injected at commit %d' % counter[0])
        if counter[0] == args.kill_at and args.when == 'before':
            _kill(sites)
        result = original(self)
        if counter[0] == args.kill_at and args.when == 'after':
            _kill(sites)
        if counter[0] == args.pause_at:
            open(os.path.join(args.signal_dir, 'paused'), 'w').close()
            while not os.path.exists(os.path.join(args.signal_dir, 'go')):
                time.sleep(0.05)
        return result
    sql_db.Cursor.commit = commit


def _connector_classes():
    """Every connector class of sync/ (its modules imported first: the registry imports
    some only when a connector of their type is built)."""
    from odoo.addons.mail_sync import sync
    from odoo.addons.mail_sync.sync.connector import Connector
    for module in pkgutil.iter_modules(sync.__path__):
        if not module.ispkg:
            importlib.import_module('%s.%s' % (sync.__name__, module.name))
    found, todo = [], [Connector]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _hook_effects(args, counter):
    """Count the remote side effects; kill right after the chosen one."""
    def counted(method):
        @functools.wraps(method)
        def effect(*call_args, **kwargs):
            try:
                return method(*call_args, **kwargs)
            finally:
                counter[0] += 1
                if counter[0] == args.kill_after_effect:
                    _kill()
        effect.kill_worker_counted = True
        return effect
    for cls in _connector_classes():
        for name in EFFECTS:
            method = cls.__dict__.get(name)  # only where defined, so nothing is counted twice
            if callable(method) and not getattr(method, 'kill_worker_counted', False):
                setattr(cls, name, counted(method))


def _parser():
    parser = argparse.ArgumentParser()
    parser.add_argument('conf')
    parser.add_argument('db')
    parser.add_argument('mailbox_ids', help='one id, or several separated by commas (with --cron)')
    parser.add_argument('--kill-at', type=int, default=0)
    parser.add_argument('--when', choices=('before', 'after'), default='after')
    parser.add_argument('--kill-after-effect', type=int, default=0)
    parser.add_argument('--cron', action='store_true')
    parser.add_argument('--job', action='store_true', help='run the cycle as its queue_job job')
    parser.add_argument('--after-kill', action='store_true',
                        help='with --job: the previous worker was killed, recover its job first')
    parser.add_argument('--channel', default='incoming',
                        choices=('incoming', 'outgoing', 'act', 'housekeeping', 'track'),
                        help='housekeeping: run the housekeeping cron instead (mailbox ids unused); '
                             'track (with --job): the mailbox\'s Track job')
    parser.add_argument('--pause-at', type=int, default=0)
    parser.add_argument('--fail-at', type=int, default=0,
                        help='raise an error in place of the Nth commit point (the cycle fails there)')
    parser.add_argument('--signal-dir')
    return parser


_loaded = {}  # (conf, db): the registry this process loaded (a forked worker inherits it)


def _load(conf, db):
    import odoo
    if (conf, db) not in _loaded:
        odoo.tools.config.parse_config(['-c', conf, '-d', db, '--log-level=warn'])
        _loaded[(conf, db)] = odoo.registry(db)
    return _loaded[(conf, db)]


def serve(conf, db):
    """Load Odoo and the registry once, then fork a worker per request (one JSON line on
    stdin: its arguments and the file for its output); answer each with its pid, then its
    wait status. This is how Odoo's own prefork server reuses a loaded process; each
    worker is still a process of its own that a SIGKILL ends. The parent holds no database
    connection when it forks."""
    import odoo
    _load(conf, db)
    odoo.sql_db.close_all()
    print('ready', flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                out = os.open(request['output'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, 1)
                os.dup2(out, 2)
                random.seed()
                main(request['argv'])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({'pid': pid}), flush=True)
        _pid, status = os.waitpid(pid, 0)
        print(json.dumps({'status': status}), flush=True)


def _prepare_job(registry, channel, mailbox_id, after_kill):
    """What the job runner and the schedule cron do before the worker runs the job (other
    processes in production: not counted as kill points). Returns (job uuid or None, how
    many dead jobs were requeued)."""
    import odoo
    from odoo.addons.mail_sync.models.mail_sync_mailbox_jobs import DEAD_AFTER, identity
    from odoo.addons.mail_sync.models.mail_sync_mailbox_scheduler import CLAIM_CLASS
    from odoo.addons.mail_sync.models.mail_sync_mailbox_track import TRACK_CLAIM_CLASS
    claim_class = TRACK_CLAIM_CLASS if channel == 'track' else CLAIM_CLASS[channel]
    key = identity(channel, mailbox_id)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Mailbox = env['mail.sync.mailbox']
        requeued = 0
        if after_kill:
            # The runner: the HTTP call of a job killed before it started failed.
            cr.execute("""UPDATE queue_job SET state = 'pending', date_enqueued = NULL, date_started = NULL
                          WHERE identity_key = %s AND state = 'enqueued'""", [key])
            # The dead worker's claim goes with its database connection (at once, but polled).
            deadline = time.monotonic() + 60
            while True:
                cr.execute("""SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
                              AND classid = %s AND objid = %s""", [claim_class, mailbox_id])
                if not cr.fetchone()[0]:
                    break
                assert time.monotonic() < deadline, 'the killed worker still holds mailbox %d' % mailbox_id
                time.sleep(0.05)
            # The schedule cron, DEAD_AFTER seconds later.
            cr.execute("""UPDATE queue_job SET date_started = date_started - %s
                          WHERE identity_key = %s AND state = 'started'""",
                       [datetime.timedelta(seconds=DEAD_AFTER + 1), key])
            requeued = Mailbox._requeue_dead_jobs(channel, claim_class=claim_class)
        if channel == 'track':  # the one the click enqueued, or the safety net's (as the owner)
            job = Mailbox.browse(mailbox_id)._enqueue_track()
        else:
            job = Mailbox.browse(mailbox_id)._enqueue_cycle(channel)
        if job:  # the runner hands it to a worker: jobrunner's Database.set_job_enqueued
            cr.execute("""UPDATE queue_job SET state = 'enqueued',
                                 date_enqueued = date_trunc('seconds', now() at time zone 'utc')
                          WHERE uuid = %s AND state = 'pending'""", [job.uuid])
        cr.commit()
        return job.uuid or None, requeued


def _run_job(env, uuid):
    """Run the job as queue_job's controller does for the runner's HTTP call: its own
    ``runjob`` code (set_started, store, commit, perform, set_done, store, commit; a
    RetryableJobError postponed, a failure stored and raised), with the request it reads
    (its database cursor, a session) stood in for that module alone. Returns the job's
    state and result."""
    import types
    from odoo.addons.queue_job.controllers import main as controller
    request = types.SimpleNamespace(env=env, session=types.SimpleNamespace())
    real_http = controller.http
    controller.http = types.SimpleNamespace(request=request)
    try:
        # The route's own function (its HTTP wrapper only turns the answer into a response).
        controller.RunJobController.runjob.__wrapped__(controller.RunJobController(), env.cr.dbname, uuid)
    finally:
        controller.http = real_http
    env.cr.execute('SELECT state, result FROM queue_job WHERE uuid = %s', [uuid])
    return env.cr.fetchone()


def _job_states(env, channel, mailbox_id):
    from odoo.addons.mail_sync.models.mail_sync_mailbox_jobs import identity
    env.cr.execute("""SELECT state, count(*) FROM queue_job WHERE identity_key = %s
                      GROUP BY state ORDER BY state""", [identity(channel, mailbox_id)])
    return ','.join('%s:%d' % row for row in env.cr.fetchall())


def main(argv=None):
    args = _parser().parse_args(argv)
    import odoo
    registry = _load(args.conf, args.db).check_signaling()
    # A forked worker starts with no cached data, as a new process would.
    registry.clear_caches()
    registry.cache_invalidated = False
    from odoo.addons.mail_sync.models import mail_sync_mailbox_scheduler as scheduler
    ids = [int(value) for value in args.mailbox_ids.split(',')]
    if args.job:
        uuid, requeued = _prepare_job(registry, args.channel, ids[0], args.after_kill)
    commits, effects, sites = [0], [0], []
    _hook_commits(args, commits, sites)
    _hook_effects(args, effects)
    original_slot = scheduler.MailSyncMailboxScheduler._connection_slot
    busy = [0]

    @contextlib.contextmanager
    def connection_slot(self, channel):
        with original_slot(self, channel) as slot:
            busy[0] += slot is None
            yield slot
    scheduler.MailSyncMailboxScheduler._connection_slot = connection_slot
    started = time.monotonic()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Mailbox = env['mail.sync.mailbox']
        jobs = ''
        if args.job:
            state, result = _run_job(env, uuid) if uuid else ('none', 'no job to run')
            synced = int(state == 'done' and (result or '').startswith('synced'))
            jobs = ' job=%s requeued=%d jobs=%s' % (state, requeued, _job_states(env, args.channel, ids[0]))
        elif args.channel == 'housekeeping':
            Mailbox._cron_housekeeping()
            synced = 0
        elif args.cron:
            synced = Mailbox._cron_sync(args.channel, mailbox_ids=ids)
        else:
            Mailbox.browse(ids[0])._run_cycle(args.channel)
            synced = 1
    print('commits=%d synced=%d busy=%d seconds=%.1f effects=%d%s sites=%s' % (
        commits[0], synced, busy[0], time.monotonic() - started, effects[0], jobs, ','.join(sites)))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--serve']:
        serve(*sys.argv[2:4])
    else:
        main()
