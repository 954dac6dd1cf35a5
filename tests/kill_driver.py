"""The exactly-once method (mbsync's): a worker process (tests/kill_worker.py) is killed
with SIGKILL just before or just after its Nth commit, or just after its Nth network side
effect, then resumed, and the end state must be the one an uninterrupted run reaches. The
points are enumerated, never guessed: an uninterrupted run counts them, then each is
killed in turn. A resumed run (the recovery paths: settling an interrupted sending,
adopting an item, re-reading) is killed again at each of its own commit points. Shared by
the kill tests of every channel.

With ``--job`` among the options, every run is the mailbox's queue_job job run as the job
runner runs it, killed at its commits too (started, done), and a run after a kill first
recovers the dead worker's job as production does (``kill_worker.py --after-kill``); each
finished run must leave the mailbox's jobs settled: none started, enqueued or failed, at
most one pending (the next cycle)."""
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

from devstack.procs import TEST_DIR

WORKER = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'kill_worker.py')
TIMEOUT = 300  # seconds a worker may take (a busy 2-CPU machine)
_servers = {}


def worker_args(mailbox_ids, *options):
    """Command line of a worker on ``mailbox_ids`` (an id, or ids joined by commas)."""
    return [sys.executable, WORKER, os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'],
            str(mailbox_ids)] + [str(option) for option in options]


def _server():
    """The process that loaded Odoo once and forks the workers (``kill_worker.py --serve``)."""
    key = (os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'])
    server = _servers.get(key)
    if server is None or server.poll() is not None:
        server = subprocess.Popen([sys.executable, WORKER, '--serve'] + list(key), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, bufsize=0)
        server.pending = b''
        _servers[key] = server
        atexit.register(_stop, server)
        assert _reply(server, time.monotonic() + TIMEOUT) == 'ready', 'the worker server did not start'
    return server


def _stop(server):
    if server.poll() is None:
        server.stdin.close()  # its loop ends
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _reply(server, deadline):
    """The server's next line (read from its pipe directly: a buffered reader could hold
    a line that select() no longer sees), or None at the deadline."""
    while b'\n' not in server.pending:
        if not select.select([server.stdout], [], [], max(0, deadline - time.monotonic()))[0]:
            return None
        chunk = os.read(server.stdout.fileno(), 65536)
        assert chunk, 'the worker server ended'
        server.pending += chunk
    line, server.pending = server.pending.split(b'\n', 1)
    line = line.decode().strip()
    return line if line == 'ready' else json.loads(line)


def run_worker(mailbox_ids, *options):
    """Run a worker to its end (or its kill); its output. The worker is a process forked
    from one that has Odoo loaded already (its own process all the same: killed alone)."""
    server = _server()
    with tempfile.NamedTemporaryFile(prefix='kill-worker-', suffix='.out') as output:
        deadline = time.monotonic() + TIMEOUT
        server.stdin.write(json.dumps({'argv': worker_args(mailbox_ids, *options)[2:],
                                       'output': output.name}).encode() + b'\n')
        pid = _reply(server, deadline)['pid']
        status = _reply(server, deadline)
        if status is None:  # stuck: stop it, as subprocess.run(timeout=) would
            os.kill(pid, signal.SIGKILL)
            status = _reply(server, time.monotonic() + 60)
            raise AssertionError('worker %s did not end within %d s' % (' '.join(map(str, options)), TIMEOUT))
        with open(output.name) as out:
            return out.read()


def _tally(kind, count):
    """Note how many kill points a test enumerated (``kill-points.txt`` in the test folder):
    the figures of the suite's report, not an assert."""
    if os.path.isdir(TEST_DIR):
        with open(os.path.join(TEST_DIR, 'kill-points.txt'), 'a') as tally:
            tally.write('%s %s %d\n' % (os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0], kind, count))


def _figure(output, name):
    assert name + '=' in output, output[-3000:]
    return int(output.split(name + '=')[1].split()[0])


def commits(output):
    """How many commits (that wrote something) a worker that ran to its end made (with
    --job, its jobs settled, or the test fails)."""
    if ' jobs=' in output:
        states = dict((state, int(count)) for state, count in (
            part.split(':') for part in output.split(' jobs=')[1].split()[0].split(',') if part))
        assert 'job=done' in output and set(states) <= {'done', 'pending'} and states.get('pending', 0) <= 1 \
            and states.get('done'), 'jobs not settled: %s' % output[-3000:]
    return _figure(output, 'commits')


def effects(output):
    """How many network side effects a worker that ran to its end had."""
    return _figure(output, 'effects')


def kill_worker(mailbox_id, kill, *options):
    """Run a worker that ``kill`` (its kill options) must kill."""
    out = run_worker(mailbox_id, *(tuple(kill) + options))
    assert 'commits=' not in out, 'worker was not killed (%s): %s' % (' '.join(map(str, kill)), out[-3000:])
    return out


def _after_kill(options):
    """The options of a run that follows a killed one on the same mailbox."""
    return options + (('--after-kill',) if '--job' in options else ())


def resume(mailbox_id, *options):
    """Run a worker to its end after one was killed on the mailbox; its output."""
    return run_worker(mailbox_id, *_after_kill(options))


def kill_then_resume(mailbox_id, kill_at, when, *options, after_kill=False):
    """Kill a worker ``when`` ('before'/'after') its commit ``kill_at`` (a worker that
    itself follows a killed one, with ``after_kill``), then run it again to its end; the
    output of that run."""
    killed = kill_worker(mailbox_id, ('--kill-at', kill_at, '--when', when),
                         *(_after_kill(options) if after_kill else options))
    out = resume(mailbox_id, *options)
    commits(out)
    return out, killed


def _job_left_unfinished(killed, when):
    """Whether a worker killed in a job (``killed``: its output) left that job started: not
    when it died before the job's start commit or after its end commit (queue_job's own
    commits, told by where the worker died: the first or a later one of ``runjob``'s)."""
    number, site = killed.split('killed-at=')[1].split()[0].split(':', 1)
    if site != 'main:_try_perform_job':
        return True
    return not ((when == 'before' and number == '1') or (when == 'after' and number != '1'))


def at_each_commit(new_mailbox, end_state, expected, when, minimum, *options):
    """Count the commits of an uninterrupted run; then, for each of them, a fresh mailbox
    (``new_mailbox(tag)``) whose worker is killed there and resumed must reach
    ``expected(tag)`` (compared with ``end_state(mailbox, tag)``). Returns the count."""
    counted = run_worker(new_mailbox('count-%s' % when), *options)
    count = commits(counted)
    assert count >= minimum, count
    print('counted run: %s' % counted.strip().splitlines()[-1])  # shown when a kill point is missed
    for kill_at in range(1, count + 1):
        tag = 'k%s%d' % (when, kill_at)
        box = new_mailbox(tag)
        if kill_at == count:
            # The counted run may have made a one-time commit (e.g. the profile's first OAuth
            # token row) that later runs do not: a run that ends one commit short of its
            # last point ran whole, and its end state is checked all the same.
            whole = run_worker(box, '--kill-at', kill_at, '--when', when, *options)
            if 'commits=' in whole:
                assert commits(whole) == count - 1, 'not killed at %d: %s' % (kill_at, whole[-3000:])
                assert end_state(box, tag) == expected(tag), 'run whole after the count'
                continue
            out = resume(box, *options)
            commits(out)
            killed = whole
        else:
            out, killed = kill_then_resume(box, kill_at, when, *options)
        if '--job' in options and _job_left_unfinished(killed, when):
            # Killed between the job's start and its end: the resume went through the requeue.
            assert ' requeued=1 ' in out, 'killed %s commit %d: %s' % (when, kill_at, out[-3000:])
        assert end_state(box, tag) == expected(tag), 'killed %s commit %d' % (when, kill_at)
    _tally('%s-commit' % when, count)
    return count


def at_each_effect(new_mailbox, end_state, expected, minimum, *options):
    """Like ``at_each_commit``, killed right after each network side effect of a run (the
    remote side changed, nothing committed about it yet). Returns the count."""
    count = effects(run_worker(new_mailbox('count-effect'), *options))
    assert count >= minimum, count
    for effect in range(1, count + 1):
        tag = 'e%d' % effect
        box = new_mailbox(tag)
        kill_worker(box, ('--kill-after-effect', effect), *options)
        commits(resume(box, *options))
        assert end_state(box, tag) == expected(tag), 'killed after side effect %d' % effect
    _tally('after-effect', count)
    return count


def killed_again(new_mailbox, end_state, expected, first, minimum, *options, whens=('before', 'after'),
                 name='again'):
    """A worker killed at ``first`` (its kill options) leaves work to a recovery path; the
    resumed run's commits are counted on one mailbox, then, on fresh ones, each resumed
    run is killed ``whens`` each of its own commits and resumed once more: the end state
    is still ``expected(tag)``. Returns the resumed run's commit count."""
    box = new_mailbox(name)
    kill_worker(box, first, *options)
    count = commits(resume(box, *options))
    assert end_state(box, name) == expected(name), 'killed at %s, resumed' % (first,)
    assert count >= minimum, count
    for when in whens:
        for kill_at in range(1, count + 1):
            tag = '%s%s%d' % (name, when, kill_at)
            box = new_mailbox(tag)
            kill_worker(box, first, *options)
            kill_then_resume(box, kill_at, when, *options, after_kill=True)
            assert end_state(box, tag) == expected(tag), 'killed at %s, then %s commit %d of the resumed run' % (
                first, when, kill_at)
    _tally('resumed-%s' % '+'.join(whens), count * len(whens))
    return count
