"""perf scheduler accounting: the `sched:sched_switch` tracepoint, read by the native collector.

The collector opens one perf event per online CPU (csrc/sched_perf.cpp) with timestamps on
CLOCK_MONOTONIC, and on every tick drains the rings into two running sums: busy time of the
machine (a non-idle task on a CPU: the scheduler's runtime accounting, read with every switch
through a sched_stat_runtime counter in the same group) and on-CPU time of this process's threads,
each counting the tasks still running up to the tick's own timestamp. Both are exact to the
context switch, not to the 10 ms of /proc/stat (see csrc/sched_perf.h for the kernel quirk that
makes switch intervals alone unreliable here). Needs root, CAP_PERFMON or perf_event_paranoid <= -1
(raw tracepoint data of every CPU), and tracefs for the tracepoint's id and format.
"""
from __future__ import annotations

from .._lazy import numpy as np

from ..counters import (MISSING, PROCESS_CPU, PROFILER_CPU, SCHED_PERF_BUSY, SCHED_PERF_PROCESS,
                        CounterSource, Ticks, fill_missing)
from ..errors import Unavailable
from ..recording import SchedTimeline
from .base import SchedBackend, close_concurrently, online_cpus

FIX = ("run as root (or grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=-1`) with tracefs "
       "mounted (`mount -t tracefs nodev /sys/kernel/tracing`; scripts/setup.sh does it)")
LOST_OFFSET = 1    # a SCHED_PERF_BUSY source with offset 1 reads the count of lost records
MISSED_OFFSET = 2  # ... with offset 2, switches whose record the kernel never wrote


def monotonic_cumulative(values: np.ndarray) -> np.ndarray:
    """A raw cumulative column from its first reading on: failed reads filled, never decreasing."""
    v = fill_missing(values)
    v = v - v[0] if len(v) else v
    return np.maximum.accumulate(v) if len(v) else v


class PerfSchedBackend(SchedBackend):
    name = "perf"

    def __init__(self):
        self.held = []

    def open(self) -> None:
        try:
            from .. import _native
        except ImportError as e:
            raise Unavailable(f"the native collector is not built ({e})", "pip install .") from None
        # the probe's events stay open (disabled) until close(): the program's collector opens
        # its own on the same tracepoints, and neither side then waits for the kernel's RCU
        # grace periods of a last close (csrc/sched_perf.h) before the program starts or as it exits
        reason, self.held = _native.hold_sched_perf()
        if reason:
            raise Unavailable(reason, FIX)

    def sources(self):
        return (CounterSource(SCHED_PERF_BUSY, label="sched_switch: machine busy ns"),
                CounterSource(SCHED_PERF_PROCESS, label="sched_switch: this process's on-CPU ns"),
                CounterSource(PROCESS_CPU, label="CLOCK_PROCESS_CPUTIME_ID"),
                CounterSource(PROFILER_CPU, label="collector thread + signal handler"),
                CounterSource(SCHED_PERF_BUSY, offset=LOST_OFFSET, label="sched_switch: lost records"),
                CounterSource(SCHED_PERF_BUSY, offset=MISSED_OFFSET, label="sched_switch: unseen switches"))

    def timeline(self, ticks: Ticks) -> SchedTimeline:
        raw = ticks.of(self.name)
        busy, proc, _clock, prof = (monotonic_cumulative(raw[:, i]) for i in range(4))
        lost, missed = (last_good(raw[:, i]) for i in (4, 5))
        note = ("exact: sched_switch + sched_stat_runtime per CPU (scheduler task clock), running tasks "
                "counted to each tick")
        if lost:
            note += f"; {lost} sched_switch records were lost (ring overflow): busy time is approximate there"
        if missed:
            note += (f"; the kernel did not report {missed} switches (from the idle task): busy time lags by at "
                     "most a scheduler tick there")
        return SchedTimeline(t_ns=ticks.t_ns, machine_busy_ns=busy, process_cpu_ns=proc,
                             profiler_cpu_ns=prof, ncpu=online_cpus(), backend=self.name,
                             resolution_note=note)


    def close(self) -> None:
        held, self.held = self.held, []
        close_concurrently(held)


def last_good(col: np.ndarray) -> int:
    good = col[col != np.uint64(MISSING)]
    return int(good.max()) if len(good) else 0


if __name__ == "__main__":  # `python -m pyprof_carbon.sched.perf`: does it work here?
    try:
        PerfSchedBackend().open()
        print("perf sched backend: available")
    except Unavailable as e:
        print(f"perf sched backend: unavailable: {e.reason} ({e.fix})")
        raise SystemExit(1)
