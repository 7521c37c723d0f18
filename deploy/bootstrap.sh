#!/usr/bin/env bash
# Creates the virtual environment and installs the project into it (called by make).
# On a fresh Debian/Ubuntu machine, as root, it installs python3-venv if venv is missing.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "nuanliu needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      rm -rf "$venv"
      apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
      "$python" -m venv "$venv"
    else
      echo "python venv is missing: install python3-venv (e.g. sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'

# Printed papers (introduction letters, activity cards): weasyprint draws with Pango, subsets
# fonts with HarfBuzz (fontTools instead takes seconds a page) and needs the Noto CJK fonts.
print_packages="fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0"
if command -v dpkg-query >/dev/null; then
  missing=""
  for package in $print_packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
        || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; }
    else
      echo "PDFs need:$missing (e.g. sudo apt-get install$missing)" >&2
    fi
  fi
fi
