"""The exactly-once method (mbsync's): a worker process (tests/kill_worker.py) is killed
with SIGKILL just before or just after its Nth commit, then resumed, and the end state
must be the one an uninterrupted run reaches. Shared by the kill tests of every channel."""
import os
import subprocess
import sys

WORKER = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'kill_worker.py')


def worker_args(mailbox_ids, *options):
    """Command line of a worker on ``mailbox_ids`` (an id, or ids joined by commas)."""
    return [sys.executable, WORKER, os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB'],
            str(mailbox_ids)] + [str(option) for option in options]


def run_worker(mailbox_ids, *options):
    """Run a worker to its end (or its kill); its output."""
    return subprocess.run(worker_args(mailbox_ids, *options), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300).stdout


def commits(output):
    """How many commits a worker that ran to its end made."""
    assert 'commits=' in output, output[-3000:]
    return int(output.split('commits=')[1].split()[0])


def kill_then_resume(mailbox_id, kill_at, when, *options):
    """Kill a worker ``when`` ('before'/'after') its commit ``kill_at``, then run it again
    to its end."""
    killed = run_worker(mailbox_id, '--kill-at', kill_at, '--when', when, *options)
    assert 'commits=' not in killed, 'worker was not killed %s commit %d' % (when, kill_at)
    commits(run_worker(mailbox_id, *options))


def at_each_commit(new_mailbox, end_state, expected, when, minimum, *options):
    """Count the commits of an uninterrupted run; then, for each of them, a fresh mailbox
    (``new_mailbox(tag)``) whose worker is killed there and resumed must reach
    ``expected(tag)`` (compared with ``end_state(mailbox, tag)``)."""
    count = commits(run_worker(new_mailbox('count-%s' % when), *options))
    assert count >= minimum, count
    for kill_at in range(1, count + 1):
        tag = 'k%s%d' % (when, kill_at)
        box = new_mailbox(tag)
        kill_then_resume(box, kill_at, when, *options)
        assert end_state(box, tag) == expected(tag), 'killed %s commit %d' % (when, kill_at)
