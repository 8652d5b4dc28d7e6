#!/usr/bin/env bash
# Create bench/.venv-splink with Splink 5.0.0 (DuckDB backend) for bench/splink_run.py.
# Usage: bash bench/setup_splink.sh   (idempotent; PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-splink"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements-splink.txt"
"$venv/bin/python" -c "import splink, duckdb; print('splink', splink.__version__, 'duckdb', duckdb.__version__)"
