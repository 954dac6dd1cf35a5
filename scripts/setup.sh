#!/usr/bin/env bash
# Install everything mail_sync needs on a fresh Debian 12 machine:
# Debian packages (PostgreSQL, Dovecot, lessc, Chromium) and a Python 3.7
# virtual environment in .venv with Odoo 11 and the pinned dependencies.
# A second run checks and returns in a second or two, downloading nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

DEB_PACKAGES=(postgresql-15 node-less dovecot-core dovecot-imapd dovecot-pop3d
              dovecot-lmtpd chromium chromium-driver openssl)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    # Keep the packages from starting system services on 143/110/25/5432.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY37="$(pyenv prefix 3.7.16 2>/dev/null || true)/bin/python3.7"
if [ ! -x "$PY37" ]; then
    PY37="$(command -v python3.7 || true)"
fi
if [ -z "$PY37" ] || [ ! -x "$PY37" ]; then
    echo "setup: Python 3.7 not found (expected pyenv's 3.7.16)" >&2
    exit 1
fi
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $PY37"
    "$PY37" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(cat requirements.txt constraints.txt odoo-packages.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "setup: installing Python packages into $VENV (log: .build/pip.log)"
    mkdir -p "$ROOT/.build"
    pip() { "$VENV/bin/pip" "$@" >> "$ROOT/.build/pip.log" 2>&1 || { tail -40 "$ROOT/.build/pip.log"; exit 1; }; }
    : > "$ROOT/.build/pip.log"
    pip install "setuptools<58" wheel
    # vatnumber's setup.py uses use_2to3, which needs setuptools<58 in the venv itself.
    pip install --no-build-isolation -c constraints.txt vatnumber
    pip install -c constraints.txt -r requirements.txt
    pip install --no-deps -r odoo-packages.txt
    "$VENV/bin/python" scripts/prune_addons.py
    echo "$WANT" > "$STAMP"
fi

# Odoo finds the addon by its folder name: .build/addons/mail_sync holds links to
# this checkout's entries, leaving out .venv and .build (Odoo walks an addon's
# files when it exports translations).
ADDON="$ROOT/.build/addons/mail_sync"
rm -rf "$ADDON"
mkdir -p "$ADDON"
for entry in "$ROOT"/*; do
    ln -s "$entry" "$ADDON/$(basename "$entry")"
done
echo "setup: ready"
