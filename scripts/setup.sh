#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine of this kind (run as root),
# then the package itself in editable mode. Each piece lives in scripts/setup.d/ (run in order).
set -euo pipefail
cd "$(dirname "$0")/.."
for part in scripts/setup.d/*.sh; do
  echo "== setup: $part"
  bash "$part"
done
