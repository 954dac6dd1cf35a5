"""Small process and port helpers."""
import hashlib
import os
import signal
import socket
import stat
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, '.build')


def _servers_folder():
    """Where the servers' folders go (databases, mailboxes, logs): ``.build``, unless we
    are root in a checkout other users cannot enter (e.g. inside ``mktemp -d``). Root
    starts PostgreSQL as ``postgres`` and Dovecot's processes as unprivileged users, who
    must reach their folders; then a folder of this checkout's own under /var/tmp."""
    if os.geteuid() != 0:
        return BUILD
    folder = ROOT
    while True:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            digest = hashlib.sha1(ROOT.encode('utf-8')).hexdigest()[:12]
            return os.path.join('/var/tmp', 'mail_sync-' + digest)
        parent = os.path.dirname(folder)
        if parent == folder:
            return BUILD
        folder = parent


SERVERS = _servers_folder()
# Several test runs can share a checkout when each has its own folder.
TEST_DIR = os.environ.get('MAIL_SYNC_TEST_DIR') or os.path.join(SERVERS, 'test')


def free_ports(count):
    """``count`` distinct free loopback ports (all held open while choosing)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(('127.0.0.1', 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port():
    return free_ports(1)[0]


def port_open(port, host='127.0.0.1'):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, timeout=20.0, proc=None, what='server', log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = ''
    if log and os.path.exists(log):
        with open(log, errors='replace') as handle:
            tail = handle.read()[-2000:]
    raise RuntimeError('%s did not listen on 127.0.0.1:%s\n%s' % (what, port, tail))


def stop_pid(proc, timeout=10.0):
    """Stop a child we started (SIGTERM, then SIGKILL), by its PID only."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def run_as(user, args, **kwargs):
    """Run a command as ``user`` when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        args = ['runuser', '-u', user, '--'] + list(args)
        kwargs.setdefault('cwd', '/')  # ours may be a folder ``user`` cannot enter (paths are absolute)
    return subprocess.run(args, check=True, **kwargs)
