"""The whole test suite: a fresh throwaway database with mail_sync, then pytest.

PostgreSQL is started here (pytest-odoo needs it before collection); Dovecot,
the SMTP server, Odoo's HTTP server and Chromium are started by the fixtures in
``devstack/pytest_plugin.py`` for the tests that need them. Everything started
is stopped by PID at the end, pass or fail.
"""
import os
import shutil
import subprocess
import sys
import time

from .odoo import install, write_config
from .postgres import Postgres
from .procs import BUILD, ROOT, SERVERS, TEST_DIR, free_port



def main(argv):
    os.makedirs(TEST_DIR, exist_ok=True)
    if SERVERS != BUILD:
        print('test: servers\' folders in %s (the postgres user cannot enter this checkout)' % TEST_DIR,
              flush=True)
    for stale in ('data', 'dovecot', 'odoo.log', 'http.log'):
        path = os.path.join(TEST_DIR, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    pg = Postgres(os.path.join(TEST_DIR, 'pg'), free_port(), durable=False)
    db = 'mail_sync_test_%d' % int(time.time())
    conf = write_config(os.path.join(TEST_DIR, 'odoo.conf'), pg.params,
                        os.path.join(TEST_DIR, 'data'),
                        mail_sync_ca_file=os.path.join(TEST_DIR, 'tls', 'ca.pem'))
    try:
        pg.start()
        print('test: installing mail_sync into a fresh database %s' % db, flush=True)
        started = time.time()
        # crm too (a few seconds more), so the bridge to leads is tested for real.
        install(conf, db, os.path.join(TEST_DIR, 'odoo.log'), modules='mail_sync,crm')
        print('test: installed in %.0f s; running pytest' % (time.time() - started), flush=True)
        addon = os.path.join(BUILD, 'addons', 'mail_sync')
        env = dict(os.environ, PYTHONPATH=ROOT, MAIL_SYNC_TEST_CONF=conf, MAIL_SYNC_TEST_DB=db,
                   PYTHONWARNINGS='ignore::DeprecationWarning')
        args = [os.path.join(ROOT, '.venv', 'bin', 'python'), '-m', 'pytest',
                '-p', 'devstack.pytest_plugin', '--odoo-config', conf, '--odoo-database', db,
                '-o', 'cache_dir=%s' % os.path.join(TEST_DIR, 'pytest_cache'),
                '-rfEs', '--durations=5', '-W', 'ignore:Requiring AUTH while not requiring TLS',
                os.path.join(addon, 'sync', 'tests'), os.path.join(addon, 'tests')] + argv
        return subprocess.call(args, cwd=ROOT, env=env)
    finally:
        if pg.started:
            try:
                pg.psql('DROP DATABASE IF EXISTS "%s"' % db)
            except subprocess.CalledProcessError:
                pass
        pg.stop()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
