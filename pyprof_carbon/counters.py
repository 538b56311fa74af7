"""The raw counters the native collector reads, and the plumbing that turns its columns into numbers.

This is the Python side of csrc/counters.h: the kinds of read the collector knows, the value it
stores for a failed read, the `CounterSource` a meter or a scheduler backend asks it to read, the
`Ticks` matrix it hands back, and the helpers both families use on those columns (filling failed
reads, unwrapping counters, /proc/stat busy time, a pure-Python twin of each read).

Division of labour: the native collector only does timed I/O. On each tick of its absolute cadence
it reads every `CounterSource` into one row of a uint64 matrix. A meter's or backend's Python code
does the semantics: discovery, units, wraparound, naming domains. Keeping the reads native keeps
the cadence precise (a Python thread would wait for the GIL for up to the switch interval, 5 ms);
keeping the semantics in Python keeps them testable against fake trees.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict

from ._lazy import numpy as np

# Kinds of raw read the native collector knows, in the order of csrc/counters.h `SourceKind`
# (the collector receives a kind as its index in SOURCE_KINDS).
TEXT_U64 = "text_u64"        # pread(fd, 0) of a decimal integer: powercap energy_uj
PREAD_U64 = "pread_u64"      # pread(fd, 8 bytes, offset): an MSR file, offset = MSR address
READ_U64 = "read_u64"        # read(fd, 8 bytes): a perf event counter
PROC_STAT_BUSY = "proc_stat_busy"  # /proc/stat first line, busy time of all CPUs, in ns
PROCESS_CPU = "process_cpu"  # CLOCK_PROCESS_CPUTIME_ID of this process, ns (no fd)
PROFILER_CPU = "profiler_cpu"  # collector thread CPU + signal handler time, ns (no fd)
BPF_LOOKUP = "bpf_lookup"    # bpf(MAP_LOOKUP_ELEM, fd, u32 key) into `size` bytes, u64 at `offset`
SCHED_PERF_BUSY = "sched_perf_busy"        # perf sched_switch reader: machine busy ns so far
SCHED_PERF_PROCESS = "sched_perf_process"  # perf sched_switch reader: this process's ns so far

SOURCE_KINDS = (TEXT_U64, PREAD_U64, READ_U64, PROC_STAT_BUSY, PROCESS_CPU, PROFILER_CPU,
                BPF_LOOKUP, SCHED_PERF_BUSY, SCHED_PERF_PROCESS)

MISSING = 2**64 - 1  # what the collector stores for a read that failed on that tick


@dataclasses.dataclass(frozen=True)
class CounterSource:
    kind: str
    fd: int = -1
    offset: int = 0
    key: int = 0       # BPF_LOOKUP only: the u32 key
    size: int = 0      # BPF_LOOKUP only: the value size in bytes (per-CPU maps: all CPUs)
    label: str = ""  # for error messages and the recording (e.g. the path read)

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown counter source kind {self.kind!r}")


@dataclasses.dataclass
class Ticks:
    """What the collector gathered: one row per tick of the cadence."""

    t_ns: np.ndarray          # int64 CLOCK_MONOTONIC timestamps
    raw: np.ndarray           # uint64 [ticks, sources], in the order the sources were given
    columns: Dict[str, slice]  # owner name -> its columns in `raw`

    def of(self, owner: str) -> np.ndarray:
        return self.raw[:, self.columns[owner]]


def fill_missing_int(values: np.ndarray) -> np.ndarray:
    """A raw uint64 column with failed reads (MISSING) replaced by the previous good value
    (leading failures by the first good one); 64-bit counters keep every bit."""
    v = np.asarray(values, dtype=np.uint64)
    good = v != np.uint64(MISSING)
    if good.all():
        return v
    if not good.any():
        return np.zeros(len(v), dtype=np.uint64)
    idx = np.where(good, np.arange(len(v)), -1)
    np.maximum.accumulate(idx, out=idx)
    idx[idx < 0] = int(np.argmax(good))
    return v[idx]


def fill_missing(values: np.ndarray) -> np.ndarray:
    """fill_missing_int as float64 (times and counts that fit a double)."""
    return fill_missing_int(values).astype(np.float64)


def unwrap_counter(values: np.ndarray, wrap: float | None) -> np.ndarray:
    """Deltas of a counter that wraps at `wrap` (a count, e.g. max_energy_range_uj + 1 or 2**32).

    A negative step is a wrap when `wrap` is known; when it is not, the step is unknowable and
    counts as 0 (never negative energy). Returns cumulative counts starting at 0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    d = np.diff(v)
    if wrap is not None:
        d = np.where(d < 0, d + wrap, d)
    d = np.where(d < 0, 0.0, d)
    return np.concatenate(([0.0], np.cumsum(d)))


def read_source(src: CounterSource) -> int:
    """Pure-Python twin of the native collector's read of one source (tests, doctor, benchmarks)."""
    if src.kind == TEXT_U64:
        return int(os.pread(src.fd, 64, 0).split()[0])
    if src.kind == PREAD_U64:
        data = os.pread(src.fd, 8, src.offset)
        if len(data) != 8:
            raise OSError(f"short read of {src.label or src.fd} at {src.offset:#x}")
        return int.from_bytes(data, "little")
    if src.kind == READ_U64:
        return int.from_bytes(os.read(src.fd, 8), "little")
    if src.kind == PROC_STAT_BUSY:
        return proc_stat_busy_ns(os.pread(src.fd, 4096, 0).decode())
    if src.kind == PROCESS_CPU:
        return time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID)
    raise ValueError(f"{src.kind} has no pure-Python reader")


def proc_stat_busy_ns(text: str) -> int:
    """Busy time of all CPUs from /proc/stat's first line: all fields but idle and iowait, in ns."""
    fields = [int(x) for x in text.split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))
