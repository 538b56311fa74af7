#!/usr/bin/env bash
# The peers benchmarks/overhead.py measures pyprof-carbon against, from PyPI: py-spy (a Rust
# binary wheel), pyinstrument, vmprof and scalene (run there as `scalene run --cpu-only`). Any
# that cannot be installed here is left out: overhead.py prints a row saying so and goes on.
# Idempotent and quiet. Not part of scripts/setup.sh: the tests need none of them.
set -uo pipefail
for pkg in py-spy pyinstrument vmprof scalene; do
  python -m pip show -q "$pkg" >/dev/null 2>&1 ||
    python -m pip install -q --disable-pip-version-check "$pkg" >/dev/null 2>&1 ||
    echo "setup: could not install $pkg; overhead.py reports it as unavailable"
done
echo "setup: benchmark peers: $(python -m pip list --disable-pip-version-check 2>/dev/null | grep -iE '^(py-spy|pyinstrument|vmprof|scalene) ' | tr -s ' ' | tr '\n' ' ')"
