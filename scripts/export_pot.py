"""Regenerate i18n/mail_sync.pot: install the addon into a throwaway database on a private
PostgreSQL and export its terms with Odoo's own exporter.

Run: make setup && PYTHONPATH=. .venv/bin/python scripts/export_pot.py
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.odoo import install, write_config  # noqa: E402
from devstack.postgres import Postgres  # noqa: E402
from devstack.procs import BUILD, ROOT, free_port  # noqa: E402


def main():
    folder = os.path.join(BUILD, 'pot')
    shutil.rmtree(folder, ignore_errors=True)
    pg = Postgres(os.path.join(folder, 'pg'), free_port(), durable=False)
    conf = write_config(os.path.join(folder, 'odoo.conf'), pg.params, os.path.join(folder, 'data'))
    try:
        pg.start()
        install(conf, 'pot', os.path.join(folder, 'install.log'))
        po = os.path.join(folder, 'mail_sync.po')
        subprocess.check_call([os.path.join(ROOT, 'scripts', 'odoo'), '-c', conf, '-d', 'pot',
                               '--i18n-export=%s' % po, '--modules=mail_sync', '--stop-after-init'])
        shutil.copy(po, os.path.join(ROOT, 'i18n', 'mail_sync.pot'))
        print('i18n/mail_sync.pot written')
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()
