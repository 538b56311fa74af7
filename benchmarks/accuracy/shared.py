"""The phase board: a small mmap'd file the workload writes its current phase to, per thread.

Layout (native int64 cells): [0] workload pid, [1] number of slots used, [2] done flag, then
SLOTS x (tid, phase, cpu_ns). Phase 0 = outside any phase function; 1.. = index into PHASES + 1.
cpu_ns is the thread's own CPU clock, which the thread refreshes as it runs (every few µs in the
phase loops, and at every enter/leave): the simulator cannot read another process's thread CPU
clock, and /proc/PID/task/TID/schedstat only moves at the scheduler tick or a switch (up to 4 ms
late here), which would make the simulated counter lag the truth.
One aligned 8-byte store per update, so the simulator never reads a torn value.
"""
from __future__ import annotations

import mmap
import os
import threading
import time

SLOTS = 16
HEADER = 3
WIDTH = 3
SIZE = 8 * (HEADER + WIDTH * SLOTS)
PHASES = ("phase_low", "phase_high")  # the workload's phase functions, in phase-id order (1, 2)


def create(path: str) -> None:
    with open(path, "wb") as f:
        f.write(b"\0" * SIZE)


class Board:
    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR)
        self.mm = mmap.mmap(self._fd, SIZE)
        # int64 cells: an item store is one aligned 8-byte move (struct.pack_into writes byte by
        # byte, and the simulator then reads torn values)
        self.cells = memoryview(self.mm).cast("q")
        self._lock = threading.Lock()
        self._local = threading.local()

    def _get(self, i: int) -> int:
        return self.cells[i]

    def _set(self, i: int, v: int) -> None:
        self.cells[i] = v

    # workload side
    def register(self) -> int:
        """This thread's slot (registers the thread on first use)."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            with self._lock:
                slot = self._get(1)
                if slot >= SLOTS:
                    raise RuntimeError("phase board full")
                self._set(HEADER + WIDTH * slot, threading.get_native_id())
                self._set(HEADER + WIDTH * slot + 1, 0)
                self._set(HEADER + WIDTH * slot + 2, time.thread_time_ns())
                self._set(1, slot + 1)
            self._local.slot = slot
            if self._get(0) == 0:
                self._set(0, os.getpid())
        return slot

    def enter(self, phase_id: int) -> int:
        """Marks the phase; returns the index of this thread's cpu_ns cell for `tick`."""
        base = HEADER + WIDTH * self.register()
        self._set(base + 2, time.thread_time_ns())
        self._set(base + 1, phase_id)
        return base + 2

    def leave(self) -> None:
        base = HEADER + WIDTH * self.register()
        self._set(base + 2, time.thread_time_ns())
        self._set(base + 1, 0)

    def tick(self, cell: int, clock=time.thread_time_ns) -> None:
        """Refresh this thread's CPU time (cheap enough for an inner loop)."""
        self.cells[cell] = clock()

    def done(self) -> None:
        self._set(2, 1)

    # simulator side
    def pid(self) -> int:
        return self._get(0)

    def is_done(self) -> bool:
        return self._get(2) == 1

    def threads(self):
        """[(tid, phase, cpu_ns)] of the registered threads."""
        n = min(self._get(1), SLOTS)
        c = self.cells
        return [(c[HEADER + WIDTH * i], c[HEADER + WIDTH * i + 1], c[HEADER + WIDTH * i + 2]) for i in range(n)]
