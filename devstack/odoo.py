"""Odoo configuration files and Odoo commands for the demo and the tests."""
import os
import subprocess
import sys

from .procs import BUILD, ROOT

ODOO = os.path.join(ROOT, 'scripts', 'odoo')


def odoo_addons_dir():
    import importlib.util
    spec = importlib.util.find_spec('odoo')
    return os.path.join(os.path.dirname(spec.origin), 'addons')


# Job channel capacities (OCA queue_job) of one Odoo host: sync never takes every worker.
JOB_CHANNELS = ('root:4,root.mail_sync.incoming:2,root.mail_sync.outgoing:1,'
                'root.mail_sync.act:1,root.mail_sync.housekeeping:1,root.mail_sync.test:2,'
                'root.mail_sync.track:2')


def write_config(path, db_params, data_dir, job_channels=JOB_CHANNELS, **extra):
    """Write an odoo.conf; ``extra`` adds options such as mail_sync_ca_file. The job runner
    of OCA queue_job starts with the server (server-wide module) with ``job_channels``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = {
        'addons_path': '%s,%s' % (odoo_addons_dir(), os.path.join(BUILD, 'addons')),
        'data_dir': data_dir,
        'admin_passwd': 'admin',
        'list_db': 'True',
        'without_demo': 'all',
        'http_interface': '127.0.0.1',
        'longpolling_port': '0',
        'server_wide_modules': 'web,queue_job',
    }
    options.update(db_params)
    options.update({key: str(value) for key, value in extra.items()})
    with open(path, 'w') as handle:
        handle.write('[options]\n')
        for key, value in sorted(options.items()):
            handle.write('%s = %s\n' % (key, value))
        handle.write('\n[queue_job]\nchannels = %s\n' % job_channels)
    return path


def install(conf, db, log_path, update=False, modules='mail_sync'):
    """Create or update ``db`` with mail_sync installed; raise with the log tail on failure."""
    flag = '-u' if update else '-i'
    with open(log_path, 'ab') as log:
        code = subprocess.call([ODOO, '-c', conf, '-d', db, flag, modules, '--stop-after-init',
                                '--log-level=warn'], stdout=log, stderr=subprocess.STDOUT)
    if code:
        with open(log_path, errors='replace') as handle:
            sys.stderr.write(handle.read()[-4000:])
        raise RuntimeError('Odoo could not install mail_sync (log: %s)' % log_path)


def serve(conf, db, port, log_path=None, extra_args=()):
    """Start an Odoo HTTP server process; the caller stops it by PID."""
    args = [ODOO, '-c', conf, '-d', db, '--db-filter', '^%s$' % db, '--http-port', str(port)]
    args += list(extra_args)
    out = open(log_path, 'ab') if log_path else None
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if out else None,
                            start_new_session=True)  # stopped by our runner, not by Ctrl-C
