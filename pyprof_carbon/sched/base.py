"""The one timeline type that every scheduler accounting backend produces."""
from __future__ import annotations

import dataclasses
from typing import Sequence

from .._lazy import numpy as np

from ..meters.base import CounterSource, MeterUnavailable, Ticks

# A backend that cannot work here raises the same exception as a meter: reason + fix.
BackendUnavailable = MeterUnavailable


@dataclasses.dataclass
class SchedTimeline:
    """Cumulative CPU time over the run, sampled at the collector's ticks (all int64 ns)."""

    t_ns: np.ndarray
    machine_busy_ns: np.ndarray   # busy CPU time of the whole machine (all CPUs, all processes)
    process_cpu_ns: np.ndarray    # CPU time of this process (profiler included)
    profiler_cpu_ns: np.ndarray   # CPU time the profiler itself spent (collector + signal handler)
    ncpu: int
    backend: str
    resolution_note: str = ""     # e.g. "machine busy time has tick resolution (10 ms)"

    def __post_init__(self):
        for f in ("t_ns", "machine_busy_ns", "process_cpu_ns", "profiler_cpu_ns"):
            setattr(self, f, np.asarray(getattr(self, f), dtype=np.int64))


class SchedBackend:
    """Base class of the scheduler accounting backends (procfs, perf, ebpf)."""

    name = "sched"
    # Whether process_cpu_ns counts the followed process's descendants too (eBPF follows forks);
    # otherwise the children's own clocks are added (profiler.with_children_cpu).
    counts_descendants = False

    def open(self) -> None:
        """Raise BackendUnavailable(reason, fix) when this backend cannot work here."""
        raise NotImplementedError

    def sources(self) -> Sequence[CounterSource]:
        return ()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def timeline(self, ticks: Ticks) -> SchedTimeline:
        raise NotImplementedError

    def close(self) -> None:
        pass
