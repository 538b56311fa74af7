"""Overhead of pyprof-carbon against plain python, the signal floor and peers, in the same run
(issue 2, item 7; issue 14, items 4 and 5).

Runs each workload (CPU-bound, two threads, numpy + Python + a thread, a multiprocessing pool)
plain and under each tool in pairs (plain, tool) so slow drift of the machine hits both sides,
every tool's first pair, then every tool's second, and so on, so that it hits every row alike,
and prints per row the median ratios of wall time, of the program's own
time (each workload times itself from its first line to its end, workloads/own_time.py: what the
program lost to the tool, without the tool's start-up and its work after the program) and of
total CPU time (user + system of the whole process tree, so a profiler's own process counts), the
peak RSS of the tool's process tree (the largest process's, by /usr/bin/time) against plain
python's, and the achieved sampling rate where the tool's output says it. The tools:
pyprof-carbon by default and with each scheduler backend (`--sched procfs|perf|ebpf`), and the
peers installed by benchmarks/install_peers.sh (py-spy, pyinstrument, vmprof, scalene
--cpu-only); one that is missing or fails here gets a row saying why, and the run goes on. The
signal floor (signal_floor.py: a C busy loop with an empty handler on the same perf task-clock
signal) is measured at each rate (the fastest of three times the pairs of runs), and the default
run's row gets `over_floor`: its own-time ratio over the floor's (the floor's loop times itself
too: both are the per-sample cost; the fixed cost of a run is the start-up section's). Then the
time `report` takes on a recording of one million samples; first the start-up and fixed cost of
`run` on an empty script with each scheduler backend (wall time, how much later the program
starts, peak RSS of profiler + program, against plain python); last the memory of a run against
its length (`memory`: a CPU-bound script at 5 kHz for 10, 30 and 60 s).

    python benchmarks/overhead.py [--pairs 5] [--quick] [--startup] [--memory]

`--pairs 1 --quick` is a smoke run (small workloads, runs of 3, 6 and 12 s for memory).

The package's bytecode is compiled first (`compiled()`), as `pip install` does: this project's
environment sets PYTHONDONTWRITEBYTECODE, which would make every run compile the package's sources
again and charge that to the tool, while the peers run from their installed bytecode.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import NamedTuple, Optional

from signal_floor import build, floor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HANG_S = 300  # a run of one tool longer than this has hung (the longest here take ~20 s)
PY = sys.executable


class Tool(NamedTuple):
    prefix: list                     # the command line before the script
    env: Optional[dict] = None
    rate_from: Optional[tuple] = None  # ("pcarbon" | "raw", its output file): where its achieved rate is
    separator: Optional[str] = None    # between the script and its arguments (scalene's `---`)


MISSING = "not installed (benchmarks/install_peers.sh)"


def tools(rate, tmp, subprocesses=False):
    """{row name: Tool, or why it cannot run here}: pyprof-carbon by default and per scheduler
    backend, then each peer."""
    env = tool_env()

    def ours(*sched):  # each row its own recording: its achieved rate is read from its last run's
        out = os.path.join(tmp, f"bench{'-'.join(('',) + sched)}.pcarbon")
        return Tool([PY, "-m", "pyprof_carbon", "run", "-q", "--rate", str(rate), "-o", out, *sched], env,
                    ("pcarbon", out))
    t = {f"pyprof-carbon {rate:g} Hz": ours()}
    for b in ("procfs", "perf", "ebpf"):
        t[f"pyprof-carbon {rate:g} Hz --sched {b}"] = ours("--sched", b)
    spy = os.path.join(tmp, "spy.txt")
    t[f"py-spy {rate:g} Hz"] = Tool(["py-spy", "record", "-r", str(int(rate)), "-f", "raw", "-o", spy,
                                     *(["--subprocesses"] if subprocesses else []), "--", PY], rate_from=("raw", spy)) \
        if shutil.which("py-spy") else MISSING
    t[f"pyinstrument {1 / rate * 1e3:.2g} ms"] = Tool(["pyinstrument", "-i", f"{1 / rate:.6f}", "-r", "text", "-o",
                                                      os.path.join(tmp, "pyi.txt")]) \
        if shutil.which("pyinstrument") else MISSING
    has_vmprof = subprocess.run([PY, "-c", "import vmprof"], capture_output=True).returncode == 0
    t[f"vmprof {1 / rate * 1e3:.2g} ms"] = Tool([PY, "-m", "vmprof", "--period", f"{1 / rate:.6f}", "-o",
                                                os.path.join(tmp, "vm.prof")]) if has_vmprof else MISSING
    # scalene chooses its own sampling interval
    t["scalene --cpu-only"] = Tool(["scalene", "run", "--cpu-only", "-o", os.path.join(tmp, "scalene.json")],
                                   separator="---") if shutil.which("scalene") else MISSING
    return t


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass  # it ended meanwhile


def timed(cmd, env=None):
    """Wall seconds, the program's own seconds (workloads/own_time.py), CPU seconds and peak RSS in
    MB of the process tree (the tool and what it runs). The peak is the largest process's, taken by
    /usr/bin/time: this script's own wait4 would report at least this script's RSS, which every
    child inherits at fork in ru_maxrss."""
    with tempfile.NamedTemporaryFile("r") as peak, tempfile.NamedTemporaryFile("r") as own:
        env = dict(env or os.environ, BENCH_OWN_TIME=own.name)
        wrap = ["/usr/bin/time", "-f", "%M", "-o", peak.name] if os.access("/usr/bin/time", os.X_OK) else []
        t0 = time.perf_counter()
        p = subprocess.Popen(wrap + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
        # a tool that hangs (scalene did once, at the end of a multiprocessing run, 2026-12-04) is
        # killed with its whole process group, and its row says so
        hung = threading.Timer(HANG_S, _kill_group, (p.pid,))
        hung.start()
        _, status, ru = os.wait4(p.pid, 0)
        hung.cancel()
        wall = time.perf_counter() - t0
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if wall >= HANG_S:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... hung: killed after {HANG_S} s")
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {err.strip()[-300:]}")
        kb = int(peak.read().split()[-1]) if wrap else ru.ru_maxrss
        own_s = float(own.read())
    return wall, own_s, ru.ru_utime + ru.ru_stime, kb / 1024


def achieved_rate(rate_from, plain_cpu_s):
    """Samples per CPU-second of the program, read from the tool's output (None where it does
    not say): a recording's own figure; py-spy's raw counts over plain python's CPU time (py-spy
    samples each thread it sees running on wall-clock time, so threads waiting for the GIL count)."""
    if rate_from is None:
        return None
    kind, path = rate_from
    if kind == "pcarbon":
        sys.path.insert(0, ROOT)
        from pyprof_carbon import load
        return load(path).meta["rate_hz"]["achieved"]
    with open(path) as f:  # py-spy raw: "frame;frame;... COUNT" per line
        return sum(int(line.rsplit(" ", 1)[1]) for line in f if line.strip()) / plain_cpu_s


def bench(workload, args, rates, pairs, floor_exe, subprocesses=False):
    script = [os.path.join(HERE, "workloads", workload), *args]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            # the fastest of three times the pairs of runs (signal_floor.ratio: why the fastest):
            # every default row is divided by it, and a run takes ~1.5 s. Medians of 5 pairs put
            # it at 1.075x at 997 Hz and 1.019x at 10 kHz in one run, 1.8x in another (2026-12-04)
            floor_ratio, _ = floor(floor_exe, rate, 3 * pairs)
            print(json.dumps({"workload": workload, "tool": f"signal floor {rate:g} Hz",
                              "own_time_ratio": round(floor_ratio, 3)}), flush=True)
            runnable, why_not, every = {}, {}, tools(rate, tmp, subprocesses)
            for name, tool in every.items():
                if isinstance(tool, str):
                    why_not[name] = tool
                else:
                    runnable[name] = (tool, tool.prefix + script[:1] + ([tool.separator] if tool.separator else [])
                                      + script[1:])
            # The tools' pairs interleaved (every tool's first pair, then every tool's second...):
            # the machine's drift over the minutes a group takes falls on every row alike. Run tool
            # by tool, the default row came first, and in the two runs of 2026-12-04 before this it
            # measured above the identical `--sched ebpf` row (fourth) in 6 groups of 10, by 0.02
            # on average.
            pairs_of = {name: [] for name in runnable}
            for _ in range(pairs):
                for name, (tool, cmd) in runnable.items():
                    if name not in why_not:
                        try:
                            pairs_of[name].append((timed([PY, *script]), timed(cmd, tool.env)))
                        except (RuntimeError, OSError, KeyError, ValueError, IndexError) as e:
                            why_not[name] = str(e)
            for name in every:
                if name not in why_not:
                    try:
                        rate_got = achieved_rate(runnable[name][0].rate_from,
                                                 statistics.median(p[2] for p, _ in pairs_of[name]))
                    except (OSError, KeyError, ValueError, IndexError) as e:  # as a failed run: the row says why
                        why_not[name] = str(e)
                if name in why_not:
                    row = {"workload": workload, "tool": name, "unavailable": why_not[name]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    continue
                ratios = [(t[0] / p[0], t[1] / p[1], t[2] / p[2]) for p, t in pairs_of[name]]
                row = {"workload": workload, "tool": name,
                       "wall_ratio": round(statistics.median(r[0] for r in ratios), 3),
                       "own_time_ratio": round(statistics.median(r[1] for r in ratios), 3),
                       "cpu_ratio": round(statistics.median(r[2] for r in ratios), 3),
                       "peak_rss_mb": round(statistics.median(t[3] for _, t in pairs_of[name]), 1),
                       "plain_rss_mb": round(statistics.median(p[3] for p, _ in pairs_of[name]), 1),
                       "achieved_hz": round(rate_got) if rate_got is not None else None}
                if name == f"pyprof-carbon {rate:g} Hz":  # the default run, against the floor at its rate
                    row["over_floor"] = round(row["own_time_ratio"] / floor_ratio, 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


# A pure-Python CPU-bound script that runs for argv[2] seconds and then writes its own peak RSS
# (VmHWM, kB) to argv[1]: the program's side of the memory section.
BURN = ("import sys, time\n"
        "def leaf(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n"
        "def mid(n):\n    return leaf(n) + leaf(n // 2)\n"
        "end = time.monotonic() + float(sys.argv[2])\n"
        "while time.monotonic() < end:\n    mid(2000)\n"
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "open(sys.argv[1], 'w').write(hwm)\n")


FRESH = ["/usr/bin/time", "-o", os.devnull] if os.access("/usr/bin/time", os.X_OK) else []


def memory(lengths, rate=5000):
    """Peak RSS of the profiler's process (its own getrusage, _startup_probe.py) and of the
    program (its VmHWM at its last line: the last 50 ms it hands over at exit are not in it) for
    runs of each length at `rate`, and the profiler's bytes per sample between the shortest and
    the longest run: what the end of a run (reading the streams, attribution, saving) still
    needs per sample."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script, hwm, probe, out = (os.path.join(tmp, n) for n in ("burn.py", "hwm", "probe.json", "m.pcarbon"))
        with open(script, "w") as f:
            f.write(BURN)
        env = tool_env()
        sys.path.insert(0, ROOT)
        from pyprof_carbon import load
        # the first run, discarded, warms the page cache
        for seconds, kept in ((1, False), *((s, True) for s in lengths)):
            if os.path.exists(out):
                os.remove(out)
            # started by /usr/bin/time, a small process: a child forked from this one would carry
            # this process's RSS (a million-sample recording, by now) in its own ru_maxrss
            subprocess.run([*FRESH, PY, os.path.join(HERE, "_startup_probe.py"), probe, "run", "-q",
                            "--rate", str(rate), "-o", out, script, hwm, str(seconds)],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            with open(probe) as f:
                prof_kb = json.load(f)["profiler_kb"]
            with open(hwm) as f:
                prog_kb = int(f.read())
            n = load(out).meta["samples"]
            if not kept:
                continue
            row = {"memory_run_s": seconds, "rate_hz": rate, "samples": n, "profiler_peak_mb": round(prof_kb / 1024, 1),
                   "program_peak_mb": round(prog_kb / 1024, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if len(rows) > 1 and rows[-1]["samples"] > rows[0]["samples"]:
        dn = rows[-1]["samples"] - rows[0]["samples"]
        print(json.dumps({"memory_bytes_per_sample": {
            "profiler": round((rows[-1]["profiler_peak_mb"] - rows[0]["profiler_peak_mb"]) * 2**20 / dn, 1),
            "program": round((rows[-1]["program_peak_mb"] - rows[0]["program_peak_mb"]) * 2**20 / dn, 1)}}), flush=True)
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


def compiled() -> None:
    """The package's and the workloads' bytecode, written next to their sources as `pip install`
    writes an installed package's (module docstring): run before anything is timed."""
    import compileall
    for d in (os.path.join(ROOT, "pyprof_carbon"), os.path.join(HERE, "workloads")):
        if not compileall.compile_dir(d, quiet=1):
            raise SystemExit(f"cannot compile {d}")


def tool_env():
    """The environment every run here gets: this checkout's package, no cloud metadata lookup."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
                PYPROF_CARBON_NO_CLOUD_METADATA="1")


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
        env = tool_env()
        plain = [PY, script, stamp]

        def tool(b):
            return [PY, os.path.join(HERE, "_startup_probe.py"), probe, "run", "-q", "--sched", b, "-o", out,
                    script, stamp]

        for b in backends:  # warm the page cache
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
        env = tool_env()
        t0 = time.perf_counter()
        subprocess.run([PY, "-m", "pyprof_carbon", "report", path, "--format", fmt, "-o", os.path.join(tmp, "out")],
                       check=True, env=env, capture_output=True)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller workloads, shorter memory runs")
    ap.add_argument("--startup", action="store_true", help="only the start-up section (empty script, per backend)")
    ap.add_argument("--memory", action="store_true", help="only the memory-against-run-length section")
    a = ap.parse_args()
    pairs = a.pairs
    print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} python {sys.version.split()[0]} "
          f"cpus {os.cpu_count()}; median of {pairs} alternating pairs", flush=True)
    lengths = (3, 6, 12) if a.quick else (10, 30, 60)
    compiled()
    if a.memory:
        memory(lengths)
        return
    startup(pairs)
    if a.startup:
        return
    scale = "40" if a.quick else "130"  # about 4.4 s plain (quick: 1.5 s)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(tmp)
        bench("cpu_bound.py", [scale], [997, 10000], pairs, exe)
        bench("threaded.py", ["40" if a.quick else "100"], [997], pairs, exe)
        bench("numpy_mixed.py", ["80" if a.quick else "200"], [997], pairs, exe)
        # every process profiled (pyprof-carbon's default; py-spy with --subprocesses)
        bench("multiprocessing_pool.py", ["30"] if a.quick else ["100"], [997], pairs, exe, subprocesses=True)
    for fmt in ("text", "json", "collapsed"):
        print(json.dumps({"report_1M_samples": fmt, "seconds": round(report_time(fmt), 2)}), flush=True)
    memory(lengths)


if __name__ == "__main__":
    main()
