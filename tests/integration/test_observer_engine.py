"""The observer engine (`--engine observer`, csrc/observer.h): the collector thread reads the other
threads' stacks without interrupting them. Its function shares agree with the perf engine's, each
thread's samples carry that thread's own stacks (two threads, one that exits mid-run), and a stack
read while it changes is counted and marked, never kept mixed and never a crash. On every
interpreter under test.

Margins. A share is in effect a weighted count over N samples, sd = sqrt(s (1 - s) / N); at 4 kHz
for 1.5 s N ~ 6000 per engine, so the difference of two runs has sd ~ 0.009: 0.03 is over 3 sd.
"""
import collections
import os
import sys
import textwrap

import pytest

from pcrun import ROOT, pc

sys.path.insert(0, ROOT)
from pyprof_carbon import load  # noqa: E402

TWO_FUNCTIONS = """
    import time
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
    end = time.process_time() + {seconds}
    while time.process_time() < end:
        light(20000)
        heavy(40000)
"""

THREADS = """
    import threading, time
    def spin(seconds, fn):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            fn(5000)
    # plain loops: a generator's frame is what the observer reads worst (docs/how-it-works.md),
    # and this test is about pairing thread states with threads
    def left(n):
        s = 0
        for i in range(n):
            s += i
        return s
    def right(n):
        s = 0
        for i in range(n):
            s += i * 3
        return s
    def brief(n):
        s = 0
        for i in range(n):
            s += i * 5
        return s
    ts = [threading.Thread(target=spin, args=(0.6, left), name="left"),
          threading.Thread(target=spin, args=(0.6, right), name="right")]
    for t in ts:
        t.start()
    time.sleep(0.05)
    short = threading.Thread(target=spin, args=(0.3, brief), name="brief")
    short.start()
    short.join()  # it exits while the other two still run
    for t in ts:
        t.join()
    print("done")
"""

# Every outerK calls only innerK; rec() reaches outer0 through recursion of varying depth; new code
# objects are made and freed all along. A stack mixed from two moments of a thread shows innerJ
# under outerK (J != K) or a frame under a leaf function.
CHANGING = """
    import threading, time
    def inner0(): return sum(range(8))
    def inner1(): return sum(range(9))
    def inner2(): return sum(range(10))
    def outer0(n):
        for _ in range(n): inner0()
    def outer1(n):
        for _ in range(n): inner1()
    def outer2(n):
        for _ in range(n): inner2()
    def rec(d):
        return outer0(2) if d == 0 else rec(d - 1)
    OUTERS = [outer0, outer1, outer2]
    def work(seconds):
        end = time.time() + seconds
        i = 0
        while time.time() < end:
            OUTERS[i % 3](20)
            rec(i % 17)
            ns = {}
            exec(f"def gen{i}():\\n    return sum(range(30))", ns)
            ns[f"gen{i}"]()
            i += 1
    ts = [threading.Thread(target=work, args=(0.8,)) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("done")
"""


def profile(python, tmp_path, body, engine, rate, name):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    out = str(tmp_path / f"{name}-{engine}.pcarbon")
    r = pc(["run", "-q", "--meter", "model", "--engine", engine, "--rate", str(rate), "-o", out, str(path)],
           python=python, cwd=str(tmp_path), timeout=180)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    rec = load(out)
    assert rec.meta["engine"] == engine
    return r, rec


def stack_names(rec, sid):
    """Qualified names of a sample's stack, root first."""
    return [rec.functions[f].qualname for f, _ in rec.stacks[sid]]


def leaf_cpu(rec, names):
    """CPU seconds of the samples whose innermost frame is each of `names`."""
    out = dict.fromkeys(names, 0.0)
    for sid, q in zip(rec.samples["stack"], rec.samples["cpu_ns"]):
        st = stack_names(rec, sid)
        if st and st[-1] in out:
            out[st[-1]] += q / 1e9
    return out


def test_shares_match_the_perf_engine(python, tmp_path):
    from pyprof_carbon import _native
    if _native.probe_perf():
        pytest.skip(f"the perf engine, the reference, is unavailable here: {_native.probe_perf()}")
    body = TWO_FUNCTIONS.format(seconds=1.5)
    shares = {}
    for engine in ("observer", "perf"):
        _, rec = profile(python, tmp_path, body, engine, 4000, "two")
        cpu = leaf_cpu(rec, ["light", "heavy"])
        assert cpu["light"] > 0.1 and cpu["heavy"] > 0.1, cpu
        shares[engine] = cpu["light"] / (cpu["light"] + cpu["heavy"])
        # the speed probe runs in the sample handler, about once per ms of a thread's CPU time
        probe = rec.meta["speed_probe"]
        if engine == "observer":
            assert probe is None
        else:
            cpu_ms = 1000 * (cpu["light"] + cpu["heavy"])
            assert 0.5 * cpu_ms <= probe["probes"] <= 1.1 * cpu_ms + 10, (probe, cpu_ms)
    assert abs(shares["observer"] - shares["perf"]) <= 0.03, shares


def test_threads_get_their_own_stacks_and_one_exits(python, tmp_path):
    r, rec = profile(python, tmp_path, THREADS, "observer", 997, "threads")
    assert "done" in r.stdout
    names = {t["tid"]: t["name"] for t in rec.meta["threads"]}
    per_thread = collections.defaultdict(collections.Counter)
    for sid, tid in zip(rec.samples["stack"], rec.samples["tid"]):
        per_thread[names.get(int(tid), "?")].update(set(stack_names(rec, sid)))
    # each worker's samples show its own function and never the other's: thread states and
    # kernel thread ids are paired right (pyframes_3xx.h, native_tid)
    for mine, others in (("left", ("right", "brief")), ("right", ("left", "brief")), ("brief", ("left", "right"))):
        assert per_thread[mine][mine] > 20, (mine, dict(per_thread[mine]))
        assert not any(per_thread[mine][o] for o in others), (mine, dict(per_thread[mine]))


def test_changing_stacks_are_marked_never_mixed(python, tmp_path):
    r, rec = profile(python, tmp_path, CHANGING, "observer", 10000, "changing")
    assert "done" in r.stdout
    assert len(rec.samples["stack"]) > 1000
    mixed = collections.Counter()
    marked = 0
    for sid in rec.samples["stack"]:
        st = stack_names(rec, sid)
        marked += "[stack changing]" in st
        for parent, child in zip(st, st[1:]):
            if parent.startswith("inner") or (parent.startswith("outer") and child.startswith("inner")
                                                and parent[-1] != child[-1]):
                mixed[(parent, child)] += 1
    assert not mixed, mixed
    # every sample kept as unreadable is counted as such; torn ones among them
    assert marked <= rec.meta["unreadable_samples"], (marked, rec.meta["unreadable_samples"])
    assert rec.meta["sampling"]["torn"] <= rec.meta["unreadable_samples"], rec.meta["sampling"]
    assert rec.meta["sampling"]["rounds"] > 0, rec.meta["sampling"]


def test_guard_goes_back_over_the_programs_fault_handler(python, tmp_path):
    """The observer reads other threads' memory only under our SIGSEGV guard: a program that
    installs its own handler (faulthandler) mid-run gets ours put back on top, chained to its own,
    before the next round's reads; and it is still sampled."""
    r, rec = profile(python, tmp_path, """
        import faulthandler, time
        def spin(seconds):
            end = time.thread_time() + seconds
            s = 0
            while time.thread_time() < end:
                s += 1
        spin(0.2)
        faulthandler.enable()
        spin(0.3)
        print("done")
    """, "observer", 997, "guard")
    assert "done" in r.stdout
    assert rec.meta["sampling"]["guard_reinstalled"] >= 1, rec.meta["sampling"]
    assert leaf_cpu(rec, ["spin"])["spin"] > 0.1, "spin (0.5 s of CPU) went unsampled"


def test_threads_coming_and_going_never_crash(python, tmp_path):
    """Thread states are listed and read without their lock: 200 short threads, four at a time,
    start and end under 10 kHz observation (states freed while the list or a stack is read fault
    inside the guard, or read as garbage that is refused). Each lives ~30 ms, past the collector's
    thread scan that arms it (a thread that ends before any scan is not sampled by any engine)."""
    r, rec = profile(python, tmp_path, """
        import threading
        def short(n):
            return sum(i * i for i in range(n))
        for _ in range(50):
            ts = [threading.Thread(target=short, args=(100000,)) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        print("done")
    """, "observer", 10000, "churn")
    assert "done" in r.stdout
    in_short = sum(int(q) for sid, q in zip(rec.samples["stack"], rec.samples["cpu_ns"])
                   if "short" in stack_names(rec, sid))
    assert in_short > 0, "the short threads went unsampled"
