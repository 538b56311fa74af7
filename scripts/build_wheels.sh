#!/usr/bin/env bash
# The wheel job: manylinux wheels for CPython 3.10-3.13 on x86_64 and aarch64 into wheelhouse/,
# each installed and tested by profiling examples/hotspots.py (pyproject.toml [tool.cibuildwheel]).
# Needs Docker (or Podman: CIBW_CONTAINER_ENGINE=podman); aarch64 on an x86_64 host also needs
# QEMU binfmt handlers (docker run --privileged --rm tonistiigi/binfmt --install arm64).
# Extra arguments go to cibuildwheel, e.g. --archs x86_64 or --only cp311-manylinux_x86_64.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check "cibuildwheel>=2.22"
python -m cibuildwheel --platform linux --output-dir wheelhouse "$@"
