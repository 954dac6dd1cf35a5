#!/usr/bin/env bash
# Neutralize a copy of an Odoo database for mail_sync: pause every mailbox and remove the
# stored mail passwords (data/neutralize.sql). Usage:
#   scripts/neutralize.sh COPY_DATABASE [psql connection options, e.g. -h HOST -p PORT -U USER]
set -euo pipefail
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 COPY_DATABASE [psql options]" >&2
    exit 2
fi
DB="$1"
shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
exec psql -X -q -v ON_ERROR_STOP=1 "$@" -d "$DB" -f "$ROOT/data/neutralize.sql"
