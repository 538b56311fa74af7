"""What every scheduler accounting backend provides: the `SchedBackend` base class (the timeline
type they all produce, `SchedTimeline`, is part of the recording's data model)."""
from __future__ import annotations

import os
from typing import Sequence

from ..counters import CounterSource, Ticks
from ..recording import SchedTimeline


def close_concurrently(fds: Sequence[int]) -> None:
    """Close descriptors of tracepoint perf events, one thread each: the kernel waits for RCU
    grace periods (tens of ms in a VM) when the last event of a tracepoint closes, and waits
    started together share them (three tracepoints: ~1x instead of ~3x the wait)."""
    import threading
    threads = [threading.Thread(target=os.close, args=(fd,), name="pyprof-carbon close") for fd in fds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def online_cpus() -> int:
    """The CPUs this process may run on (the machine's count when affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


class SchedBackend:
    """Base class of the scheduler accounting backends (procfs, perf, ebpf)."""

    name = "sched"
    # Whether process_cpu_ns counts the followed process's descendants too (eBPF follows forks);
    # otherwise the children's own clocks are added (profiler.with_children_cpu).
    counts_descendants = False

    def open(self) -> None:
        """Raise errors.Unavailable(reason, fix) when this backend cannot work here."""
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
