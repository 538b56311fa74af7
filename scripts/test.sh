#!/usr/bin/env bash
# Installs everything the tests need (Debian and PyPI packages; run as root on a fresh machine),
# then runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python -m pytest -q -ra "$@"
