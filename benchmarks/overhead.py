"""Overhead of pyprof-carbon against plain python and peers, in the same run (issue 2, item 7).

Runs each workload plain and under each tool, alternating (plain, tool, plain, tool, ...) so slow
drift of the machine hits both sides, and prints median ratios of wall time and of total CPU time
(user + system of the whole process tree, so a profiler's own process counts), the achieved
sampling rate, the time `report` takes on a recording of one million samples, and first the
start-up and fixed cost of `run` on an empty script with each scheduler backend (wall time, how
much later the program starts, peak RSS of profiler + program, against plain python).

    python benchmarks/overhead.py [--pairs 5] [--quick] [--startup]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable


def timed(cmd, env=None):
    """Wall seconds and CPU seconds (children rusage: the tool and what it runs)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-500:]}")
    return wall, ru.ru_utime + ru.ru_stime


def tools(rate, tmp, subprocesses=False):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
               PYPROF_CARBON_NO_CLOUD_METADATA="1")
    out = os.path.join(tmp, "bench.pcarbon")
    t = {f"pyprof-carbon {rate:g} Hz": ([PY, "-m", "pyprof_carbon", "run", "-q", "--rate", str(rate), "-o", out], env)}
    if shutil.which("py-spy"):
        t[f"py-spy {rate:g} Hz"] = (["py-spy", "record", "-r", str(int(rate)), "-f", "raw", "-o",
                                     os.path.join(tmp, "spy.txt"), *(["--subprocesses"] if subprocesses else []),
                                     "--", PY], None)
    if shutil.which("pyinstrument"):
        t[f"pyinstrument {1 / rate * 1e3:.2g} ms"] = (["pyinstrument", "-i", f"{1 / rate:.6f}", "-r", "text", "-o",
                                                        os.path.join(tmp, "pyi.txt")], None)
    return t, out


def achieved_rate(recording):
    sys.path.insert(0, ROOT)
    from pyprof_carbon.recording import load
    m = load(recording).meta
    return m["rate_hz"]["achieved"], m["engine"], m["lost_samples"]


def bench(workload, args, rates, pairs, subprocesses=False):
    script = [os.path.join(HERE, "workloads", workload), *args]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            for name, (prefix, env) in tools(rate, tmp, subprocesses)[0].items():
                walls, cpus = [], []
                for _ in range(pairs):
                    pw, pc = timed([PY, *script])
                    tw, tc = timed(prefix + script, env)
                    walls.append(tw / pw)
                    cpus.append(tc / pc)
                row = {"workload": workload, "tool": name, "wall_ratio": statistics.median(walls),
                       "cpu_ratio": statistics.median(cpus)}
                if name.startswith("pyprof-carbon"):
                    rate_got, engine, lost = achieved_rate(tools(rate, tmp)[1])
                    row.update(achieved_hz=rate_got, requested_hz=rate, engine=engine, lost=lost)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def big_recording(path, n=1_000_000):
    """A synthetic recording of n samples over 200 distinct stacks and 4 threads."""
    sys.path.insert(0, ROOT)
    import numpy as np
    from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline

    rng = np.random.default_rng(1)
    funcs = [FunctionInfo(f"f{i}", f"mod.f{i}", f"/src/mod{i % 7}.py", 10 * i) for i in range(60)]
    stacks = [tuple((int(f), int(10 * f + 3)) for f in rng.integers(0, 60, size=rng.integers(3, 25)))
              for _ in range(200)]
    dur_ns = int(n / 1000 * 1e9 / 2)  # two threads at 1 kHz
    t = np.sort(rng.integers(0, dur_ns, size=n)).astype(np.int64)
    ticks = np.arange(0, dur_ns + 10_000_000, 10_000_000, dtype=np.int64)
    busy = np.cumsum(np.full(len(ticks), 2 * 9_000_000)); busy[0] = 0
    proc = np.cumsum(np.full(len(ticks), 2 * 8_000_000)); proc[0] = 0
    prof = np.cumsum(np.full(len(ticks), 50_000)); prof[0] = 0
    sched = SchedTimeline(ticks, busy, proc, prof, ncpu=2, backend="procfs")
    energy = {"package": EnergySeries(ticks, np.linspace(0, dur_ns / 1e9 * 8, len(ticks)))}
    samples = {"t_ns": t, "cpu_ns": np.full(n, 1_000_000, np.int64), "tid": rng.integers(100, 104, n).astype(np.int32),
               "cpu": rng.integers(0, 2, n).astype(np.int16), "stack": rng.integers(0, 200, n).astype(np.int32)}
    from pyprof_carbon.carbon import intensity
    meta = {"tool_version": "bench", "command": ["synthetic"], "start_unix_s": time.time(), "start_monotonic_ns": 0,
            "duration_s": dur_ns / 1e9, "threads": [], "intensity": intensity(region="FR").to_meta()}
    Recording(meta, funcs, stacks, samples, [Domain("package", "model", False, "cpu", "synthetic")], energy,
              sched).save(path)


# The "empty" script: when it started, and at its end its own peak RSS (VmHWM, of its own address
# space: ru_maxrss of a child also counts the address space it was forked from, the profiler's).
STARTED = ("import sys, time\nt = time.monotonic_ns()\n"
           "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
           "open(sys.argv[1], 'w').write(f'{t} {hwm}')\n")


def startup_env(tmp):
    """Both sides import compiled modules, as an installed package does: bytecode is written to a
    cache in `tmp` (this project's environment sets PYTHONDONTWRITEBYTECODE, which would make every
    run compile the package's sources again and charge that to start-up)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
               PYPROF_CARBON_NO_CLOUD_METADATA="1", PYTHONPYCACHEPREFIX=os.path.join(tmp, "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def startup_once(cmd, stamp, env, probe=None):
    """(wall s, s from the start until the program's first line, peak RSS of the profiler in kB,
    of the program in kB, CPU s of every process of the run) of one run; plain python has no
    profiler (0)."""
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.monotonic_ns() - t0) / 1e9
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-500:]}")
    with open(stamp) as f:
        t, hwm = (int(v) for v in f.read().split())
    started = (t - t0) / 1e9
    cpu = ru.ru_utime + ru.ru_stime  # the profiler's, and the program's it waited for
    if probe is None:
        return wall, started, 0, hwm, cpu
    with open(probe) as f:
        kb = json.load(f)
    return wall, started, kb["profiler_kb"], hwm, cpu


def startup(pairs, backends=("procfs", "perf", "ebpf", "auto")):
    """Start-up and fixed cost of `run` on an (almost) empty script, per scheduler backend:
    alternating plain python and `run --sched B`, medians of the differences. `to program` is
    how much later the program's first line runs than under plain python; `wall` the whole run
    (after the program: numpy, attribution, saving, the summary); RSS is the sum of the peaks of
    the profiler (its getrusage) and the program (its VmHWM as the script ends); the two peaks need
    not coincide: an upper bound of the pair's. (What the program's bootstrap does after the
    script's last line, handing its last samples over at exit, is not in its VmHWM: little for
    a script that takes no samples.) `extra_cpu_s`, the CPU time of the whole run less plain
    python's, is what a machine with no CPU to spare would add to the wall time; on a loaded one it
    is the steadier figure of the three."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "empty.py")
        with open(script, "w") as f:
            f.write(STARTED)
        stamp, probe, out = (os.path.join(tmp, n) for n in ("stamp", "probe.json", "r.pcarbon"))
        env = startup_env(tmp)
        plain = [PY, script, stamp]

        def tool(b):
            return [PY, os.path.join(HERE, "_startup_probe.py"), probe, "run", "-q", "--sched", b, "-o", out,
                    script, stamp]

        for b in backends:  # warm the bytecode cache and the page cache
            startup_once(tool(b), stamp, env, probe)
        startup_once(plain, stamp, env)
        for b in backends:
            d_wall, d_start, d_rss, d_cpu, base = [], [], [], [], []
            prof_kb, prog_kb = [], []
            for _ in range(pairs):
                pw, ps, _, prss, pc = startup_once(plain, stamp, env)
                tw, ts, tprof, tprog, tc = startup_once(tool(b), stamp, env, probe)
                d_wall.append(tw - pw)
                d_start.append(ts - ps)
                d_cpu.append(tc - pc)
                d_rss.append((tprof + tprog - prss) / 1024)
                base.append(pw)
                prof_kb.append(tprof)
                prog_kb.append(tprog)
            row = {"startup": b, "plain_wall_s": round(statistics.median(base), 3),
                   "extra_wall_s": round(statistics.median(d_wall), 3),
                   "extra_to_program_s": round(statistics.median(d_start), 3),
                   "extra_cpu_s": round(statistics.median(d_cpu), 3),
                   "extra_rss_mb": round(statistics.median(d_rss), 1),
                   "profiler_rss_mb": round(statistics.median(prof_kb) / 1024, 1),
                   "program_rss_mb": round(statistics.median(prog_kb) / 1024, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def report_time(fmt):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.pcarbon")
        big_recording(path)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        t0 = time.perf_counter()
        subprocess.run([PY, "-m", "pyprof_carbon", "report", path, "--format", fmt, "-o", os.path.join(tmp, "out")],
                       check=True, env=env, capture_output=True)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one workload size smaller, 3 pairs")
    ap.add_argument("--startup", action="store_true", help="only the start-up section (empty script, per backend)")
    a = ap.parse_args()
    pairs = 3 if a.quick else a.pairs
    cpu_scale, thr_scale = (["40"], ["40"]) if a.quick else (["130"], ["100"])  # about 4.4 s plain
    print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} python {sys.version.split()[0]} "
          f"cpus {os.cpu_count()}; median of {pairs} alternating pairs", flush=True)
    startup(pairs)
    if a.startup:
        return
    bench("cpu_bound.py", cpu_scale, [997, 10000], pairs)
    bench("threaded.py", thr_scale, [997], pairs)
    # every process profiled (pyprof-carbon's default; py-spy with --subprocesses)
    bench("multiprocessing_pool.py", ["30"] if a.quick else ["100"], [997], pairs, subprocesses=True)
    for fmt in ("text", "json", "collapsed"):
        print(json.dumps({"report_1M_samples": fmt, "seconds": round(report_time(fmt), 2)}), flush=True)


if __name__ == "__main__":
    main()
