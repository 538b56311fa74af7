"""The long run of the recording fuzz test (tests/unit/test_recording_fuzz.py): the same four
mutation families as CI, with a large budget and random (not derandomized) examples.

    python benchmarks/fuzz_recordings.py [--examples N]

N examples per family (default 3000: 12000 mutated recordings, about 7 minutes on a 2-core VM).
Prints the test's own count line (`fuzz: N mutated recordings, M refused with the one line`) and
pytest's result; exit status is pytest's. docs/reliability.md records the runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=3000, help="examples per mutation family")
    args = p.parse_args()
    env = dict(os.environ, PYPROF_CARBON_FUZZ_EXAMPLES=str(args.examples), PYPROF_CARBON_FUZZ_RANDOM="1")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                        "tests/unit/test_recording_fuzz.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = (r.stdout + r.stderr).splitlines()
    print("\n".join(line for line in lines if line.startswith("fuzz:") or " passed" in line or " failed" in line
                    or line.startswith(("FAILED", "E "))))
    print(f"{args.examples} examples per family, {time.monotonic() - t0:.0f} s, {time.strftime('%Y-%m-%d')}, "
          f"{platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}), exit {r.returncode}")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
