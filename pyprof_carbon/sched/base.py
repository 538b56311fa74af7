"""What every scheduler accounting backend provides: the `SchedBackend` base class (the timeline
type they all produce, `SchedTimeline`, is part of the recording's data model)."""
from __future__ import annotations

import os
from typing import Sequence

from ..counters import CounterSource, Ticks
from ..recording import SchedTimeline


def close_concurrently(fds: Sequence[int]) -> None:
    """Close descriptors of tracepoint perf events without waiting for the kernel: when the last
    event of a tracepoint closes, it waits for RCU grace periods (~80 ms here), and the run's end
    would wait with it. A process of its own (`cat`, reading a pipe of ours) inherits them, ours
    are closed (then not the last), and the end of the pipe ends it: its exit makes the last close,
    unwaited for. Where it cannot start, they are closed here, one thread each: waits started
    together share the grace periods (three tracepoints: ~1x instead of ~3x the wait)."""
    import subprocess
    import threading
    holder = None
    if fds:
        try:  # no other descriptor of ours goes with it: a reader of our stdout sees its end with ours
            holder = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, pass_fds=tuple(fds))
        except OSError:
            pass
    threads = [threading.Thread(target=os.close, args=(fd,), name="pyprof-carbon close") for fd in fds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if holder is not None:
        holder.stdin.close()  # it exits now, after the kernel's wait; reaped there, not waited for here
        threading.Thread(target=holder.wait, name="pyprof-carbon close", daemon=True).start()


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
