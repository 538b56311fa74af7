"""The observer engine against the perf engine (issue 14, item 3): cost to the program and accuracy.

For 1 and 2 busy threads at each rate, runs the same fixed work plain, under `--engine perf` and
under `--engine observer`, in rotation (plain, perf, observer, plain, ...) so slow drift of the
machine hits all three. The program times its own work (the profiler's start-up and hand-over are
not the question here) and reports its process CPU time, which includes the observer's thread
(the collector runs inside the program) and the signal handlers. Printed per case, medians over
the rotations:

  wall x    the work's wall time over plain python's
  cpu x     the program process's CPU time over plain python's (the observer's thread included)
  thr x     the working threads' own CPU time over plain python's: what sampling costs the
            program's threads themselves (signal delivery and handler for perf), whatever the load
  prof      the collector thread's CPU per CPU-second of the program (the observer runs there)
  share     `light`'s share of the CPU time of light + heavy (the leaf function), per engine
  error     observer's share minus perf's, per rotation: median and largest |error|
  sd        the sampling sd of one share, sqrt(s (1 - s) / N), N the perf run's samples
  torn      observer samples whose reads never agreed (kept as "[stack changing]"), as a fraction
  late      observer: CPU time past what one sample carries (2 periods: the observer ran late),
            left to "CPU time no sample covers", as a fraction of the working threads' CPU
  rate      achieved samples per CPU-second

    python benchmarks/observer_eval.py [--rounds 3] [--work 1.0] [--rates 997,10000] [--threads 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
sys.path.insert(0, ROOT)

# Fixed work (so wall time measures cost), split over THREADS threads that each run light and heavy.
WORKLOAD = textwrap.dedent("""
    import json, sys, threading, time
    THREADS, ITERS = int(sys.argv[1]), int(sys.argv[2])
    def light(n):
        s = 0
        for i in range(n):
            s += i
        return s
    def heavy(n):
        s = 0
        for i in range(n):
            s += i * i % 7
        return s
    spent = []
    def work():
        for _ in range(ITERS // THREADS):
            light(2000)
            heavy(4000)
        spent.append(time.thread_time())  # this thread's CPU (user + system: signal delivery too)
    c0, t0 = time.process_time(), time.perf_counter()
    ts = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "threads_cpu": sum(spent)}))
""")


def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
                PYPROF_CARBON_NO_CLOUD_METADATA="1")


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def light_share(path):
    """light's share of the CPU time of the samples whose leaf is light or heavy; samples; meta."""
    from pyprof_carbon import load
    rec = load(path)
    names = [f.qualname for f in rec.functions]
    cpu = {"light": 0, "heavy": 0}
    for sid, q in zip(rec.samples["stack"], rec.samples["cpu_ns"]):
        st = rec.stacks[sid]
        if st and names[st[-1][0]] in cpu:
            cpu[names[st[-1][0]]] += int(q)
    total = cpu["light"] + cpu["heavy"]
    return (cpu["light"] / total if total else float("nan")), len(rec.samples["stack"]), rec.meta


def calibrate(seconds):
    """Iterations of light+heavy that take about `seconds` of plain python here."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "w.py")
        open(script, "w").write(WORKLOAD)
        r = run([PY, script, "1", "200"])
    return max(200, int(200 * seconds / r["wall"]))


def case(threads, rate, iters, rounds, tmp):
    script = os.path.join(tmp, "w.py")
    open(script, "w").write(WORKLOAD)
    ratios = {"perf": ([], [], []), "observer": ([], [], [])}
    prof = {"perf": [], "observer": []}
    shares = {"perf": [], "observer": []}
    errors, sds, torn, late, rates = [], [], [], [], {"perf": [], "observer": []}
    for _ in range(rounds):
        plain = run([PY, script, str(threads), str(iters)])
        got = {}
        for engine in ("perf", "observer"):
            out = os.path.join(tmp, f"{engine}.pcarbon")
            r = run([PY, "-m", "pyprof_carbon", "run", "-q", "--meter", "model", "--engine", engine,
                     "--rate", str(rate), "-o", out, script, str(threads), str(iters)])
            ratios[engine][0].append(r["wall"] / plain["wall"])
            ratios[engine][1].append(r["cpu"] / plain["cpu"])
            ratios[engine][2].append(r["threads_cpu"] / plain["threads_cpu"])
            share, n, meta = light_share(out)
            got[engine] = share
            shares[engine].append(share)
            rates[engine].append(meta["rate_hz"]["achieved"])
            prof[engine].append(meta["collector_cpu_s"] / r["threads_cpu"])
            if engine == "perf":
                sds.append((share * (1 - share) / max(n, 1)) ** 0.5)
            else:
                torn.append(meta.get("sampling", {}).get("torn", 0) / max(n, 1))
                late.append(meta.get("sampling", {}).get("late_cpu_ns", 0) / 1e9 / r["threads_cpu"])
        errors.append(got["observer"] - got["perf"])
    med = statistics.median
    row = {"threads": threads, "rate": rate}
    for e in ("perf", "observer"):
        row[f"{e}_wall_x"] = med(ratios[e][0])
        row[f"{e}_cpu_x"] = med(ratios[e][1])
        row[f"{e}_share"] = med(shares[e])
        row[f"{e}_thr_x"] = med(ratios[e][2])
        row[f"{e}_prof"] = med(prof[e])
        row[f"{e}_rate"] = med(rates[e])
    row.update(error_med=med(errors), error_max=max(errors, key=abs), sd=med(sds), torn=med(torn), late=med(late))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=float, default=1.0, help="seconds of plain-python work per run")
    ap.add_argument("--rates", default="997,10000")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    iters = calibrate(args.work)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in map(int, args.threads.split(",")):
            for rate in map(float, args.rates.split(",")):
                rows.append(case(threads, rate, iters, args.rounds, tmp))
                if args.json:
                    continue
                r = rows[-1]
                print(f"{threads} thread(s) {rate:>6g} Hz | wall x perf {r['perf_wall_x']:.3f} observer "
                      f"{r['observer_wall_x']:.3f} | cpu x perf {r['perf_cpu_x']:.3f} observer "
                      f"{r['observer_cpu_x']:.3f} | thr x perf {r['perf_thr_x']:.3f} observer "
                      f"{r['observer_thr_x']:.3f} | prof perf {r['perf_prof']:.3f} observer "
                      f"{r['observer_prof']:.3f} | share perf {r['perf_share']:.4f} observer "
                      f"{r['observer_share']:.4f} error med {r['error_med']:+.4f} max {r['error_max']:+.4f} "
                      f"(sd {r['sd']:.4f}) | torn {r['torn']:.4%} late {r['late']:.2%} | rate perf {r['perf_rate']:.0f} "
                      f"observer {r['observer_rate']:.0f}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
