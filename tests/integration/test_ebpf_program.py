"""The hand-written BPF programs (pyprof_carbon/sched/ebpf.py), loaded for real: they count the CPU
time of the followed process and of every process below it, whether forked before `follow` or
after, and not that of an unrelated process. Needs root and tracefs; skipped with the reason
otherwise.

Each program under test blocks on a pipe until `follow` has run, so the CPU time it spins
afterwards (measured by the program itself with os.wait4's rusage or process_time) must all be
in the map's `ours_ns`."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from pyprof_carbon.errors import Unavailable
from pyprof_carbon.sched.ebpf import U32, EbpfBackend

SPIN = "def spin(s):\n    t = time.process_time()\n    while time.process_time() - t < s:\n        pass\n"


@pytest.fixture
def backend():
    b = EbpfBackend()
    try:
        b.open()
    except Unavailable as e:
        pytest.skip(f"ebpf backend unavailable here: {e.reason} ({e.fix})")
    yield b
    b.close()


def ours_s(b):
    return sum(b.read_cpu(c)["ours_ns"] for c in b.cpus) / 1e9


def busy_s(b):
    return sum(b.read_cpu(c)["busy_ns"] for c in b.cpus) / 1e9


def run_followed(b, body):
    """Start `python -c` with `body` (it gets `go`: blocks until followed, and `report(dict)`),
    follow it, let it go; (its report, its pid, the CPU seconds of the whole tree per rusage:
    start-up included, and the grandchildren it waited for)."""
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    code = (f"import json, os, sys, time\n{SPIN}"
            f"def go():\n    os.read({r}, 1)\n"
            f"def report(d):\n    os.write({out_w}, json.dumps(d).encode())\n" + textwrap.dedent(body))
    p = subprocess.Popen([sys.executable, "-c", code], pass_fds=(r, out_w))
    os.close(r)
    os.close(out_w)
    b.follow(p.pid)
    os.write(w, b"gogo")  # one byte each for the child and a grandchild that inherits the pipe
    os.close(w)
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(out_r) as f:
        text = f.read()
    return json.loads(text), p.pid, ru.ru_utime + ru.ru_stime


def test_counts_a_busy_child(backend):
    before = ours_s(backend)
    rep, _, tree = run_followed(backend, """
        go()
        t = time.process_time()
        spin(0.4)
        report({"spun": time.process_time() - t})
    """)
    got = ours_s(backend) - before
    # all that the child spun after `follow`, and no more than it used in all
    assert rep["spun"] * 0.97 <= got <= tree + 0.01, (got, rep, tree)


@pytest.mark.parametrize("when", ["forked after follow", "forked before follow"])
def test_counts_a_forked_grandchild(backend, when):
    before = ours_s(backend)
    rep, child, tree = run_followed(backend, f"""
        if {when == "forked after follow"}:
            go()
        pid = os.fork()
        if pid == 0:
            if {when == "forked before follow"}:
                go()
            spin(0.4)
            os._exit(0)
        _, status, ru = os.wait4(pid, 0)
        report({{"grandchild": ru.ru_utime + ru.ru_stime, "pid": pid}})
    """)
    got = ours_s(backend) - before
    assert rep["grandchild"] * 0.97 <= got <= tree + 0.01, (got, rep, tree)
    # both have exited: neither is followed any more (a later process reusing the pid is not ours)
    for pid in (child, rep["pid"]):
        assert backend.maps["tgids"].lookup(U32.pack(pid)) is None


def test_an_unrelated_process_is_not_counted(backend):
    spinner = subprocess.Popen([sys.executable, "-c", f"import time\n{SPIN}spin(0.6)"])
    try:
        before_ours, before_busy = ours_s(backend), busy_s(backend)
        rep, _, tree = run_followed(backend, """
            go()
            t = time.process_time()
            spin(0.3)
            report({"spun": time.process_time() - t})
        """)
        spinner.wait()
        ours, busy = ours_s(backend) - before_ours, busy_s(backend) - before_busy
        assert rep["spun"] * 0.97 <= ours <= tree + 0.01, (ours, rep, tree)
        assert busy >= ours + 0.5  # the spinner ran, and was busy time that is not ours
    finally:
        spinner.kill()
        spinner.wait()
