"""procfs scheduler accounting (unprivileged).

Machine busy time comes from /proc/stat, whose unit is USER_HZ (1/100 s) and which the kernel
updates on the scheduler tick: its resolution is 10 ms, whatever the cadence. This process's CPU
time is CLOCK_PROCESS_CPUTIME_ID, the kernel's nanosecond sum of the same per-thread runtimes that
/proc/self/task/*/schedstat shows, read in one call instead of one file per thread.
"""
from __future__ import annotations

import os

from ..counters import PROC_STAT_BUSY, PROCESS_CPU, PROFILER_CPU, CounterSource, Ticks, fill_missing
from ..errors import Unavailable
from ..recording import SchedTimeline
from .base import SchedBackend, online_cpus

PROC_STAT = "/proc/stat"


class ProcfsBackend(SchedBackend):
    name = "procfs"

    def __init__(self):
        self.fd = -1

    def open(self) -> None:
        try:
            self.fd = os.open(PROC_STAT, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise Unavailable(f"cannot read {PROC_STAT}: {e.strerror}", "mount /proc") from None

    def sources(self):
        return (CounterSource(PROC_STAT_BUSY, self.fd, label=PROC_STAT),
                CounterSource(PROCESS_CPU, label="CLOCK_PROCESS_CPUTIME_ID"),
                CounterSource(PROFILER_CPU, label="collector thread + signal handler"))

    def timeline(self, ticks: Ticks) -> SchedTimeline:
        raw = ticks.of(self.name)
        busy, proc, prof = (fill_missing(raw[:, i]) for i in range(3))
        return SchedTimeline(
            t_ns=ticks.t_ns, machine_busy_ns=busy - busy[0], process_cpu_ns=proc - proc[0],
            profiler_cpu_ns=prof - prof[0], ncpu=online_cpus(), backend=self.name,
            resolution_note="machine busy time from /proc/stat has the tick's resolution (10 ms)")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
