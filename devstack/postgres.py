"""A private PostgreSQL cluster on loopback, or the server named by PGHOST."""
import glob
import os
import shutil
import subprocess

from .procs import port_open, run_as, wait_port


def _bin(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/' + name))
    if not candidates:
        raise RuntimeError('PostgreSQL binary %s not found (run scripts/setup.sh)' % name)
    return candidates[-1]


class Postgres(object):
    """Start a cluster in ``folder`` (created on first use), with an ``odoo`` role.

    When the environment names a server (PGHOST), nothing is started and that
    server is used with PGPORT/PGUSER/PGPASSWORD.
    """

    def __init__(self, folder, port, durable=True):
        self.durable = durable  # tests trade crash safety for speed (fsync off)
        self.folder = os.path.abspath(folder)
        self.port = port
        self.started = False
        self.external = bool(os.environ.get('PGHOST'))

    @property
    def params(self):
        if self.external:
            return {'db_host': os.environ['PGHOST'], 'db_port': os.environ.get('PGPORT', '5432'),
                    'db_user': os.environ.get('PGUSER', 'odoo'),
                    'db_password': os.environ.get('PGPASSWORD', 'False')}
        return {'db_host': '127.0.0.1', 'db_port': str(self.port), 'db_user': 'odoo',
                'db_password': 'False'}

    def start(self):
        if self.external:
            return self
        data = os.path.join(self.folder, 'data')
        os.makedirs(self.folder, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, 'postgres', 'postgres')
        if not os.path.exists(os.path.join(data, 'PG_VERSION')):
            run_as('postgres', [_bin('initdb'), '-D', data, '-U', 'postgres', '--auth=trust',
                                '-E', 'UTF8', '--locale=C'], stdout=subprocess.DEVNULL)
        if port_open(self.port):
            raise RuntimeError('port %s is taken: another PostgreSQL runs there' % self.port)
        log = os.path.join(self.folder, 'postgres.log')
        run_as('postgres', [_bin('pg_ctl'), '-D', data, '-l', log, '-w', '-o',
                            '-k %s -p %s -h 127.0.0.1%s' % (self.folder, self.port,
                                                                  '' if self.durable else ' -c fsync=off'),
                            'start'], stdout=subprocess.DEVNULL)
        self.started = True
        wait_port(self.port, what='PostgreSQL', log=log)
        self.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo') "
                  "THEN CREATE ROLE odoo LOGIN CREATEDB; END IF; END$$;")
        return self

    def psql(self, sql, db='postgres', user='postgres'):
        return subprocess.run(
            [_bin('psql'), '-h', '127.0.0.1', '-p', str(self.port), '-U', user, '-d', db,
             '-v', 'ON_ERROR_STOP=1', '-qAtc', sql],
            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout

    def stop(self):
        if self.started:
            run_as('postgres', [_bin('pg_ctl'), '-D', os.path.join(self.folder, 'data'),
                                '-m', 'fast', '-w', 'stop'], stdout=subprocess.DEVNULL)
            self.started = False
