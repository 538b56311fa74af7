"""Acceptance experiment for `diff` with statistics (issue 12, item 2): false alarms and detection.

A CPU-bound workload with two functions (`hot`, 9/10 of the work by default (--hot-share), and
`cold`) is profiled with `python -m pyprof_carbon run --quiet` many times:
  - false alarms: COMPARISONS comparisons of RUNS vs RUNS runs of the unchanged workload;
    `diff --fail-if-increase 5` must exit 0 in at least 9 of 10;
  - detection: the same, the BEFORE groups against runs where `hot` does 25 % more work (the same
    file and function, an argument changes the loop count); `hot` must be flagged significant and
    the gate must exit non-zero in at least 9 of 10.
Runs of the three groups are interleaved (A, B, C, A, B, C, ...) so slow drift of a busy machine
hits all of them alike; `--order blocks` makes each group with one `run --repeat RUNS -o DIR` instead,
one group after the other, as a user comparing two versions would.

The machine's own noise decides what any test can detect, so the script also measures it: the
run-to-run spread of the program's CPU time within each group of 5 (standard deviation of its
logarithm, pooled over all groups), and the size of the change (the mean over all changed runs
against all unchanged ones). From those two it simulates (normal noise of that size on the log
scale, SIMULATIONS comparisons) what `diff`'s own test gives: its false-alarm and detection
rates when the machine is the only source of error. The measured rates should be near the
simulated ones; when detection is short of 9 in 10 in both, the machine's noise is the limit,
not the test.

    python benchmarks/diff_significance.py [--comparisons 10] [--runs 5] [--iterations 4000000]
                                           [--body arithmetic|objects|numpy] [--hot-share 0.9]
                                           [--order interleaved|blocks]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# hot() and cold() run the same loop, each as its own function so that the profiler tells them
# apart; only the work they are given differs. Three kinds of loop (--body): integer arithmetic,
# objects (strings, a dict, method calls: more memory traffic and calls per iteration) and numpy
# (200x200 matrix products: the work in BLAS, on its own threads where it has them).
BODIES = {
    "arithmetic": """

def {name}(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
""",
    "numpy": """

def {name}(n):
    import numpy as np
    a = np.arange(40000, dtype=np.float64).reshape(200, 200) / 40000
    for _ in range(n // 8000):
        a = np.tanh(a @ a)
    return float(a.sum())
""",
    "objects": """

def {name}(n):
    seen = {{}}
    for i in range(n // 4):
        key = "k" + str(i % 997)
        seen[key] = seen.get(key, 0) + len(key.upper())
    return len(seen)
""",
}


def workload(body: str) -> str:
    return ('"""diff_significance workload: hot() does SHARE (argv[3]) of the work, times FACTOR (argv[2])."""\n'
            "import sys\n" + "".join(BODIES[body].format(name=name) for name in ("hot", "cold")) + """

if __name__ == "__main__":
    n, factor, share = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    hot(int(share * n * factor))
    cold(int((1 - share) * n))
""")


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("PYPROF_CARBON_NO_CLOUD_METADATA", "1")
    return e


def program(script: str, args, factor: float) -> list:
    """The workload's command line: hot() does --hot-share of --iterations, times `factor`."""
    return [script, str(args.iterations), str(factor), str(args.hot_share)]


def profile(script: str, out: str, args, factor: float, repeat: int = 1) -> None:
    """One run into the file `out`, or (`repeat` > 1) `run --repeat` into the folder `out`."""
    many = ["--repeat", str(repeat)] if repeat > 1 else []
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "run", *many, "-o", out, "--quiet",
                        *program(script, args, factor)], env=env(), capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"run failed ({r.returncode}): {r.stderr[-800:]}")


def plain_cpu_s(script: str, args) -> float:
    """The unchanged workload's CPU time under plain python: the machine's own noise, no profiler."""
    p = subprocess.Popen([sys.executable, *program(script, args, 1.0)], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"plain run failed: {status}")
    return ru.ru_utime + ru.ru_stime


def diff(before: str, after: str, limit: float = 5.0, *extra: str):
    """(gate exit status, the JSON comparison)."""
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "diff", before, after, "--format", "json",
                        "--fail-if-increase", str(limit), *extra], env=env(), capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"diff failed ({r.returncode}): {r.stderr[-800:]}")
    return r.returncode, json.loads(r.stdout), r.stderr.strip()


def run_cpu_s(path: str):
    """(the program's CPU time in one recording (the `cpu` metric's total, before its factor), its
    speed probe's mean log2 time or None)."""
    sys.path.insert(0, ROOT)  # this checkout's package, as the runs use (env())
    from pyprof_carbon import load
    rec = load(path)
    s = rec.sched
    probe = rec.meta.get("speed_probe")
    return (float(s.process_cpu_ns[-1] - s.process_cpu_ns[0] - (s.profiler_cpu_ns[-1] - s.profiler_cpu_ns[0])) / 1e9,
            probe["log2_time"] if probe else None)


def speed_adjusted_log_sd(groups, speeds) -> float:
    """pooled_log_sd after removing what the speed probe explains: log CPU time regressed on the
    probe with one slope fitted within the groups (stats.common_slope, as `diff`'s adjustment)."""
    from pyprof_carbon import stats
    fits = [([math.log(v) for v in g], zs) for g, zs in zip(groups, speeds) if len(g) > 1 and None not in zs]
    _, ss, _, _ = stats.common_slope(fits)
    df = sum(len(ys) - 1 for ys, _ in fits) - 1
    return math.sqrt(ss / df) if df > 0 else float("nan")


def pooled_log_sd(groups) -> float:
    """Within-group standard deviation of log CPU time, pooled over groups (each group's own mean
    removed, so drift between comparisons does not count)."""
    ss = df = 0.0
    for g in groups:
        logs = [math.log(v) for v in g if v > 0]
        if len(logs) > 1:
            m = sum(logs) / len(logs)
            ss += sum((x - m) ** 2 for x in logs)
            df += len(logs) - 1
    return math.sqrt(ss / df) if df else float("nan")


def simulated_rates(sd: float, ratio: float, runs: int, limit: float, n: int, seed: int = 12):
    """(false-alarm rate, detection rate) of the gate (pyprof_carbon.stats.change, as `diff` calls
    it: one-sided at 95 %, and the rise above `limit` %) on runs whose values are exp(normal(0, sd)),
    times `ratio` on the changed side. Sampling error is left out (the runs' own spread contains it)."""
    from pyprof_carbon import stats
    rnd = random.Random(seed)
    draw = lambda f: [f * math.exp(rnd.gauss(0.0, sd)) for _ in range(runs)]
    zeros = [0.0] * runs

    def fails(f):
        c = stats.change(draw(1.0), zeros, draw(f), zeros, 0.95)
        return c["pct"] > limit and c["rise_significant"]
    return sum(fails(1.0) for _ in range(n)) / n, sum(fails(ratio) for _ in range(n)) / n


def alternatives(cpu, limit: float) -> dict:
    """The gate of another test on the same runs' CPU seconds: Welch's t on the values (what
    `diff` does with the `cpu` metric, without its sampling-error floor) and on their logarithms
    (a test of the ratio, natural when a busy machine slows a whole run by a factor). Every
    unchanged pair (A vs B, B vs A) counts for false alarms and every changed one (A vs C,
    B vs C) for detection: 20 of each in 10 comparisons."""
    from pyprof_carbon import stats
    zeros = lambda v: [0.0] * len(v)
    out = {}
    for name, f in (("welch", lambda v: v), ("welch_log", lambda v: [math.log(x) for x in v])):
        def fails(a, b):
            c = stats.change(f(a), zeros(a), f(b), zeros(b), 0.95)
            pct = 100 * (math.exp(c["delta"]) - 1) if name == "welch_log" else c["pct"]
            return int(pct > limit and c["rise_significant"])
        comps = list(zip(cpu["A"], cpu["B"], cpu["C"]))
        out[name] = {"false_alarms": sum(fails(a, b) + fails(b, a) for a, b, _ in comps),
                     "detected": sum(fails(a, c) + fails(b, c) for a, b, c in comps), "pairs": 2 * len(comps)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comparisons", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5, help="runs per side")
    ap.add_argument("--iterations", type=int, default=4_000_000, help="loop iterations of the workload (~0.45 s here)")
    ap.add_argument("--body", choices=sorted(BODIES), default="arithmetic", help="what the workload's loop does")
    ap.add_argument("--factor", type=float, default=1.25, help="work of hot() in the changed workload")
    ap.add_argument("--hot-share", type=float, default=0.9, help="hot()'s share of the unchanged workload's work")
    ap.add_argument("--order", choices=("interleaved", "blocks"), default="interleaved",
                    help="runs interleaved A, B, C, A, ... or each group made at once with run --repeat")
    ap.add_argument("--limit", type=float, default=5.0, help="--fail-if-increase PCT")
    ap.add_argument("--keep", metavar="DIR", help="keep the recordings here")
    ap.add_argument("--json", metavar="FILE", help="write the results here")
    ap.add_argument("--simulations", type=int, default=4000, help="simulated comparisons for the expected rates")
    ap.add_argument("--from-json", metavar="FILE", help="no runs: the noise, simulation and alternatives of a --json result")
    ap.add_argument("--simulate-sd", metavar="SD,SD,...",
                    help="no runs: the gate's simulated rates at these run-to-run SDs (of log CPU time), "
                         "for the change 1 + HOT_SHARE x (FACTOR - 1) with --runs per side")
    args = ap.parse_args(argv)
    if args.simulate_sd:
        ratio = 1 + args.hot_share * (args.factor - 1)
        for sd in (float(x) for x in args.simulate_sd.split(",")):
            fa, det = simulated_rates(sd, ratio, args.runs, args.limit, args.simulations)
            print(f"SD {sd:.3f}, x{ratio:.3f}, {args.runs} vs {args.runs} runs: false alarms {100 * fa:.1f}%, "
                  f"detection {100 * det:.1f}%")
        return 0
    if args.from_json:
        with open(args.from_json) as f:
            old = json.load(f)
        cpu = {g: [r["cpu_s"][g] for r in old["rows"]] for g in "ABC"}
        noise(cpu, old["runs_per_side"], old["limit_pct"], args.simulations, {})
        return 0
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        return measure(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="pcdiffsig-") as tmp:
        return measure(args, tmp)


def measure(args, tmp: str) -> int:
    """The experiment itself, its recordings in `tmp`; 0 when both targets are met."""
    script = os.path.join(tmp, "workload.py")
    with open(script, "w") as f:
        f.write(workload(args.body))
    t0 = time.time()
    false_alarms, detected, flagged, rows = 0, 0, 0, []
    cpu = {"A": [], "B": [], "C": []}  # per comparison, the runs' CPU seconds
    speed = {"A": [], "B": [], "C": []}  # and their speed probes
    unadjusted = {"false_alarms": 0, "detected": 0, "flagged": 0}  # the same diffs, --no-speed-adjust
    plain = []  # per comparison, plain python's CPU seconds of the unchanged workload, run between them
    for c in range(args.comparisons):
        dirs = {g: os.path.join(tmp, f"c{c:02d}-{g}") for g in ("A", "B", "C")}
        factors = {"A": 1.0, "B": 1.0, "C": args.factor}
        plain.append([])
        if args.order == "blocks":
            for g in dirs:
                profile(script, dirs[g], args, factors[g], repeat=args.runs)
            plain[-1] += [plain_cpu_s(script, args) for _ in range(args.runs)]
        else:
            for d in dirs.values():
                os.makedirs(d, exist_ok=True)
            for k in range(args.runs):
                for g in dirs:
                    profile(script, os.path.join(dirs[g], f"run-{k + 1:03d}.pcarbon"), args, factors[g])
                plain[-1].append(plain_cpu_s(script, args))
        for g in cpu:
            got = [run_cpu_s(os.path.join(dirs[g], f)) for f in sorted(os.listdir(dirs[g])) if f.endswith(".pcarbon")]
            cpu[g].append([c for c, _ in got])
            speed[g].append([z for _, z in got])
        same_rc, same, same_line = diff(dirs["A"], dirs["B"], args.limit)
        more_rc, more, more_line = diff(dirs["A"], dirs["C"], args.limit)
        hot_of = lambda cmp: next(r for r in cmp["functions"] if r["qualname"] == "hot" and r["file"] == script)
        hot = hot_of(more)
        hot_flag = hot["significant"] and hot["delta"] > 0
        raw_same_rc = diff(dirs["A"], dirs["B"], args.limit, "--no-speed-adjust")[0]
        raw_more_rc, raw_more, _ = diff(dirs["A"], dirs["C"], args.limit, "--no-speed-adjust")
        unadjusted["false_alarms"] += raw_same_rc != 0
        unadjusted["detected"] += raw_more_rc != 0
        unadjusted["flagged"] += hot_of(raw_more)["significant"] and hot_of(raw_more)["delta"] > 0
        false_alarms += same_rc != 0
        detected += more_rc != 0
        flagged += hot_flag
        rows.append({"comparison": c, "unchanged_exit": same_rc, "unchanged_pct": same["total"]["pct"],
                     "unchanged_ci": [same["total"]["pct_lo"], same["total"]["pct_hi"]],
                     "changed_exit": more_rc, "changed_pct": more["total"]["pct"],
                     "changed_ci": [more["total"]["pct_lo"], more["total"]["pct_hi"]],
                     "hot_pct": hot["pct"], "hot_significant": hot_flag, "metric": more["metric"],
                     "speed_adjusted": more["speed_adjusted"], "speed": {g: speed[g][-1] for g in speed},
                     "loadavg_1min": os.getloadavg()[0],
                     "cpu_s": {g: cpu[g][-1] for g in cpu},
                     "log_sd": {g: pooled_log_sd([cpu[g][-1]]) for g in cpu}})
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
        "body": args.body, "hot_share": args.hot_share, "order": args.order,
        "limit_pct": args.limit, "metric": rows[0]["metric"] if rows else None,
        "gate_ok_unchanged": n - false_alarms, "gate_failed_changed": detected, "hot_flagged": flagged,
        "unadjusted": unadjusted, "rows": rows,
    }
    print(f"unchanged: gate exit 0 in {n - false_alarms}/{n} (target >= 9); "
          f"hot x{args.factor:g}: gate failed in {detected}/{n}, hot flagged in {flagged}/{n} (target >= 9); "
          f"{summary['seconds']} s")
    print(f"the same comparisons with --no-speed-adjust: gate exit 0 in {n - unadjusted['false_alarms']}/{n}; "
          f"gate failed in {unadjusted['detected']}/{n}, hot flagged in {unadjusted['flagged']}/{n}")
    noise(cpu, args.runs, args.limit, args.simulations, summary)
    groups = [cpu[g][i] for g in cpu for i in range(len(cpu[g]))]
    summary["speed_adjusted_log_sd"] = speed_adjusted_log_sd(groups, [speed[g][i] for g in speed for i in range(len(speed[g]))])
    print(f"after the speed adjustment: run-to-run SD of log CPU time {summary['speed_adjusted_log_sd']:.3f}")
    summary["plain_run_to_run_log_sd"] = pooled_log_sd(plain)
    print(f"plain python, the unchanged workload run between the profiled ones: run-to-run SD of log CPU "
          f"time {summary['plain_run_to_run_log_sd']:.3f} (within groups of {args.runs}): the machine's own noise")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if (n - false_alarms) * 10 >= 9 * n and min(detected, flagged) * 10 >= 9 * n else 1


def noise(cpu, runs: int, limit: float, simulations: int, summary: dict) -> None:
    """Prints (and adds to `summary`) the machine's run-to-run noise, the change measured over all
    runs, the simulated rates of the gate at that noise, and the alternatives' rates."""
    sd = pooled_log_sd(cpu["A"] + cpu["B"] + cpu["C"])
    unchanged = [v for g in ("A", "B") for r in cpu[g] for v in r]
    changed = [v for r in cpu["C"] for v in r]
    ratio = (sum(changed) / len(changed)) / (sum(unchanged) / len(unchanged))
    sim_fa, sim_det = simulated_rates(sd, ratio, runs, limit, simulations)
    alt = alternatives(cpu, limit)
    summary.update(run_to_run_log_sd=sd, measured_change_ratio=ratio, alternatives=alt,
                   simulated={"false_alarm_rate": sim_fa, "detection_rate": sim_det, "comparisons": simulations})
    print(f"machine noise: run-to-run SD of log CPU time {sd:.3f} (within groups of {runs}); "
          f"measured change x{ratio:.3f}; the same test on simulated runs with that noise: "
          f"false alarms {100 * sim_fa:.1f}%, detection {100 * sim_det:.1f}% "
          f"(expected in 10 comparisons: {10 * sim_det:.1f})")
    for name, a in alt.items():
        print(f"  {name} on the runs' CPU seconds: false alarms {a['false_alarms']}/{a['pairs']}, "
              f"detected {a['detected']}/{a['pairs']}")


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
