"""eBPF scheduler accounting: a bcc program on the `sched:sched_switch` tracepoint.

The program keeps, per CPU, in a BPF array (one value struct per CPU, layout `CpuState` below):
the busy time so far (a non-idle task ran), the time this process's threads ran, when the CPU's
current interval started, and what is running in it (busy? ours?). The native collector reads the
fields each tick with one bpf(MAP_LOOKUP_ELEM) per CPU (`BPF_LOOKUP` sources: no Python in the loop), and
`timeline()` adds each CPU's running interval up to the tick's timestamp (bpf_ktime_get_ns is
CLOCK_MONOTONIC, the collector's clock). A switched-out thread's owner is exact (the program runs
in its context: bpf_get_current_pid_tgid); the thread coming in is ours when its tid is in a hash
of the followed process's tids, seeded from /proc/PID/task by `follow` and extended at each
switch-out. The followed pid lives in a map, not in the compiled program, because `run` loads the
program before it starts the process it follows.

bcc comes from Debian's python3-bpfcc (pure Python over libbcc.so, installed for /usr/bin/python3);
its directory is added to sys.path only to import `bcc`. It compiles with the kernel's headers:
scripts/setup.d/20-ebpf.sh installs them where this VM's kernel has none.
"""
from __future__ import annotations

import glob
import os
import sys
import time
import warnings

import numpy as np

from ..counters import BPF_LOOKUP, PROCESS_CPU, PROFILER_CPU, CounterSource, Ticks, fill_missing
from ..errors import Unavailable
from ..recording import SchedTimeline
from .base import SchedBackend, online_cpus

FIX = "run scripts/setup.sh as root (installs bpfcc-tools, python3-bpfcc and kernel headers)"
BCC_DIRS = ("/usr/lib/python3/dist-packages", *sorted(glob.glob("/usr/lib/python3*/site-packages")))

# struct cpu_state: six u64 fields.
FIELDS = ("busy_ns", "ours_ns", "last_ts", "cur")
VALUE_SIZE = 48
OFFSETS = {"busy_ns": 0, "ours_ns": 8, "last_ts": 16, "cur": 24, "switches": 32}
CUR_BUSY, CUR_OURS, CUR_KNOWN = 1, 2, 4

PROGRAM = r"""
struct cpu_state {
    u64 busy_ns;    /* a non-idle task was on this CPU */
    u64 ours_ns;    /* a thread of the followed process was on this CPU */
    u64 last_ts;    /* the current interval started then (0: not started) */
    u64 cur;        /* what runs now: 1 busy, 2 ours, 4 known */
    u64 switches;
    u64 pad;
};
BPF_ARRAY(cpus, struct cpu_state, MAX_CPUS);
BPF_HASH(ours, u32, u8, 65536);
BPF_ARRAY(followed, u32, 1);   /* [0]: the tgid whose threads are ours (0: none yet) */

TRACEPOINT_PROBE(sched, sched_switch) {
    u32 cpu = bpf_get_smp_processor_id();
    struct cpu_state *s = cpus.lookup(&cpu);
    if (!s)
        return 0;
    u64 now = bpf_ktime_get_ns();
    u32 zero = 0;
    u32 *our = followed.lookup(&zero);
    u32 our_tgid = our ? *our : 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;   /* prev's process: we run in its context */
    u32 prev = args->prev_pid, next = args->next_pid;
    if (s->last_ts && now > s->last_ts) {
        u64 d = now - s->last_ts;
        if (prev != 0)
            s->busy_ns += d;
        if (prev != 0 && our_tgid != 0 && tgid == our_tgid)
            s->ours_ns += d;
    }
    if (prev != 0 && our_tgid != 0 && tgid == our_tgid) {
        u8 one = 1;
        ours.update(&prev, &one);
    }
    u64 cur = 4;
    if (next != 0) {
        cur |= 1;
        if (ours.lookup(&next))
            cur |= 2;
    }
    s->cur = cur;
    s->last_ts = now;
    s->switches += 1;
    return 0;
}
"""


def import_bcc():
    """The `bcc` module, from the system's dist-packages if it is not importable already. Its
    own warnings (a SyntaxWarning on 3.12+) are silenced here: they would land in the program's
    stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _import_bcc()


def _import_bcc():
    try:
        import bcc  # noqa: F401
        return bcc
    except ImportError:
        pass
    added = [d for d in BCC_DIRS if os.path.isdir(os.path.join(d, "bcc")) and d not in sys.path]
    sys.path.extend(added)
    try:
        import bcc
        return bcc
    except Exception as e:  # ImportError, or OSError when libbcc.so is missing
        raise Unavailable(f"bcc is not installed ({type(e).__name__}: {e})", FIX) from None
    finally:
        for d in added:  # only `bcc` was wanted from there, not the rest of the system's packages
            if d in sys.path:
                sys.path.remove(d)


def max_cpu_index() -> int:
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        return max(int(part.split("-")[-1]) for part in text.split(","))
    except (OSError, ValueError):
        return (os.cpu_count() or 1) - 1


class EbpfBackend(SchedBackend):
    name = "ebpf"

    def __init__(self):
        self.bpf = None
        self.cpus = []

    def open(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable("loading eBPF programs needs root (CAP_BPF + CAP_PERFMON); not root", FIX)
        release = os.uname().release
        build = f"/lib/modules/{release}/build"
        if not os.path.exists(os.path.join(build, "include")) and not os.path.exists("/sys/kernel/kheaders.ko"):
            raise Unavailable(f"no kernel headers for {release} ({build} is missing) and no kheaders module", FIX)
        if not any(os.path.exists(f"{r}/events/sched/sched_switch/id")
                   for r in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")):
            raise Unavailable("tracefs is not mounted (no events/sched/sched_switch under /sys/kernel/tracing "
                                     "or /sys/kernel/debug/tracing)", FIX)
        bcc = import_bcc()
        ncpu_max = max_cpu_index() + 1
        cflags = [f"-DMAX_CPUS={ncpu_max}", "-w"]
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            saved = os.dup(2)
            os.dup2(devnull, 2)  # clang's warnings about the distribution's headers
            try:
                self.bpf = bcc.BPF(text=PROGRAM, cflags=cflags)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(devnull)
        except Exception as e:
            raise Unavailable(f"the bcc program did not compile or load: {e}", FIX) from None
        self._start_cpu_intervals()

    def follow(self, pid: int) -> None:
        """Count the threads of process `pid` as ours: those it has now, and each one the program
        switches out later (the program reads `followed`)."""
        import ctypes
        ours = self.bpf["ours"]
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:  # it has exited already
            tids = [str(pid)]
        for tid in tids:
            ours[ctypes.c_uint32(int(tid))] = ctypes.c_uint8(1)
        self.bpf["followed"][ctypes.c_int(0)] = ctypes.c_uint32(pid)

    def _start_cpu_intervals(self) -> None:
        """Each online CPU's interval starting now."""
        import ctypes
        table = self.bpf["cpus"]
        self.cpus = sorted(_online_cpu_ids())
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for c in self.cpus:
            v = table[ctypes.c_int(c)]
            if v.last_ts == 0:  # the first switch on the CPU tells what ran there since now
                v.last_ts = now
                table[ctypes.c_int(c)] = v

    def sources(self):
        fd = self.bpf["cpus"].map_fd
        out = []
        for c in self.cpus:
            for f in FIELDS:
                out.append(CounterSource(BPF_LOOKUP, fd, offset=OFFSETS[f], key=c, size=VALUE_SIZE,
                                         label=f"bpf cpus[{c}].{f}"))
        out += [CounterSource(PROCESS_CPU, label="CLOCK_PROCESS_CPUTIME_ID"),
                CounterSource(PROFILER_CPU, label="collector thread + signal handler")]
        return out

    def timeline(self, ticks: Ticks) -> SchedTimeline:
        raw = ticks.of(self.name)
        t = ticks.t_ns.astype(np.float64)
        nf = len(FIELDS)
        ncpu = (raw.shape[1] - 2) // nf
        busy = np.zeros(len(t))
        ours = np.zeros(len(t))
        for c in range(ncpu):
            b, o, last, cur = (fill_missing(raw[:, c * nf + i]) for i in range(nf))
            cur = cur.astype(np.int64)
            running = np.where(last > 0, np.maximum(t - last, 0.0), 0.0)
            busy += b + np.where(cur & CUR_BUSY, running, 0.0)
            ours += o + np.where(cur & CUR_OURS, running, 0.0)
        prof = fill_missing(raw[:, ncpu * nf + 1])

        def cumulative(v):
            # a CPU's fields come from one lookup (csrc/counters.h), but the tick's timestamp is
            # taken before it: a switch in between counts its interval up to after the timestamp,
            # and the next tick can then sum to a little less; never report a decrease
            return np.maximum.accumulate(v - v[0]) if len(v) else v

        return SchedTimeline(t_ns=ticks.t_ns, machine_busy_ns=cumulative(busy), process_cpu_ns=cumulative(ours),
                             profiler_cpu_ns=cumulative(prof), ncpu=online_cpus(), backend=self.name,
                             resolution_note="exact: eBPF on sched_switch per CPU, running intervals counted "
                                             "to each tick (CLOCK_MONOTONIC)")

    def close(self) -> None:
        if self.bpf is not None:
            try:
                self.bpf.cleanup()
            finally:
                self.bpf = None


def _online_cpu_ids():
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out
