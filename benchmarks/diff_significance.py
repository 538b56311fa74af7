"""Acceptance experiment for `diff` with statistics (issue 12, item 2): false alarms and detection.

A CPU-bound workload with two functions (`hot`, 9/10 of the work, and `cold`) is profiled
with `python -m pyprof_carbon run -o DIR/run-00k.pcarbon --quiet` many times:
  - false alarms: COMPARISONS comparisons of RUNS vs RUNS runs of the unchanged workload;
    `diff --fail-if-increase 5` must exit 0 in at least 9 of 10;
  - detection: the same, the BEFORE groups against runs where `hot` does 25 % more work (the same
    file and function, an argument changes the loop count); `hot` must be flagged significant and
    the gate must exit non-zero in at least 9 of 10.
Runs of the three groups are interleaved (A, B, C, A, B, C, ...) so slow drift of a busy machine
hits all of them alike.

    python benchmarks/diff_significance.py [--comparisons 10] [--runs 5] [--iterations 4000000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKLOAD = '''"""diff_significance workload: hot() does 9/10 of the work, times FACTOR (argv[2])."""
import sys


def hot(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cold(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


if __name__ == "__main__":
    n, factor = int(sys.argv[1]), float(sys.argv[2])
    hot(int(0.9 * n * factor))
    cold(int(0.1 * n))
'''


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("PYPROF_CARBON_NO_CLOUD_METADATA", "1")
    return e


def profile(script: str, out: str, n: int, factor: float) -> None:
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "run", "-o", out, "--quiet", script, str(n), str(factor)],
                       env=env(), capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"run failed ({r.returncode}): {r.stderr[-800:]}")


def diff(before: str, after: str, limit: float = 5.0):
    """(gate exit status, the JSON comparison)."""
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "diff", before, after, "--format", "json",
                        "--fail-if-increase", str(limit)], env=env(), capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"diff failed ({r.returncode}): {r.stderr[-800:]}")
    return r.returncode, json.loads(r.stdout), r.stderr.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comparisons", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5, help="runs per side")
    ap.add_argument("--iterations", type=int, default=4_000_000, help="loop iterations of the workload (~0.45 s here)")
    ap.add_argument("--factor", type=float, default=1.25, help="work of hot() in the changed workload")
    ap.add_argument("--limit", type=float, default=5.0, help="--fail-if-increase PCT")
    ap.add_argument("--keep", metavar="DIR", help="keep the recordings here")
    ap.add_argument("--json", metavar="FILE", help="write the results here")
    args = ap.parse_args(argv)
    tmp = args.keep or tempfile.mkdtemp(prefix="pcdiffsig-")
    script = os.path.join(tmp, "workload.py")
    os.makedirs(tmp, exist_ok=True)
    with open(script, "w") as f:
        f.write(WORKLOAD)
    t0 = time.time()
    false_alarms, detected, flagged, rows = 0, 0, 0, []
    for c in range(args.comparisons):
        dirs = {g: os.path.join(tmp, f"c{c:02d}-{g}") for g in ("A", "B", "C")}
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        for k in range(args.runs):
            for g, factor in (("A", 1.0), ("B", 1.0), ("C", args.factor)):
                profile(script, os.path.join(dirs[g], f"run-{k:03d}.pcarbon"), args.iterations, factor)
        same_rc, same, same_line = diff(dirs["A"], dirs["B"], args.limit)
        more_rc, more, more_line = diff(dirs["A"], dirs["C"], args.limit)
        hot = next(r for r in more["functions"] if r["qualname"] == "hot" and r["file"] == script)
        hot_flag = hot["significant"] and hot["delta"] > 0
        false_alarms += same_rc != 0
        detected += more_rc != 0
        flagged += hot_flag
        rows.append({"comparison": c, "unchanged_exit": same_rc, "unchanged_pct": same["total"]["pct"],
                     "unchanged_ci": [same["total"]["pct_lo"], same["total"]["pct_hi"]],
                     "changed_exit": more_rc, "changed_pct": more["total"]["pct"],
                     "changed_ci": [more["total"]["pct_lo"], more["total"]["pct_hi"]],
                     "hot_pct": hot["pct"], "hot_significant": hot_flag, "metric": more["metric"],
                     "loadavg_1min": os.getloadavg()[0]})
        print(f"[{c + 1}/{args.comparisons}] unchanged: exit {same_rc}, {same['total']['pct']:+.1f}% "
              f"({same['total']['pct_lo']:+.1f} .. {same['total']['pct_hi']:+.1f}); "
              f"hot x{args.factor:g}: exit {more_rc}, {more['total']['pct']:+.1f}% "
              f"({more['total']['pct_lo']:+.1f} .. {more['total']['pct_hi']:+.1f}), hot {hot['pct']:+.1f}% "
              f"{'significant' if hot_flag else 'NOT significant'}; load average {os.getloadavg()[0]:.1f}", flush=True)
    n = args.comparisons
    summary = {
        "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - t0),
        "machine": {"cpu": _cpu(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "os": platform.platform()},
        "comparisons": n, "runs_per_side": args.runs, "iterations": args.iterations, "factor": args.factor,
        "limit_pct": args.limit, "metric": rows[0]["metric"] if rows else None,
        "gate_ok_unchanged": n - false_alarms, "gate_failed_changed": detected, "hot_flagged": flagged,
        "rows": rows,
    }
    print(f"unchanged: gate exit 0 in {n - false_alarms}/{n} (target >= 9); "
          f"hot x{args.factor:g}: gate failed in {detected}/{n}, hot flagged in {flagged}/{n} (target >= 9); "
          f"{summary['seconds']} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if (n - false_alarms) * 10 >= 9 * n and min(detected, flagged) * 10 >= 9 * n else 1


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
