"""The phase board: a small mmap'd file the workload writes its current phase to, per thread.

Layout (little-endian int64): [0] workload pid, [1] number of slots used, [2] done flag, then
SLOTS x (tid, phase). Phase 0 = outside any phase function; 1.. = index into PHASES + 1.
One aligned 8-byte store per update, so the simulator never reads a torn value.
"""
from __future__ import annotations

import mmap
import os
import struct
import threading

SLOTS = 16
HEADER = 3
SIZE = 8 * (HEADER + 2 * SLOTS)
PHASES = ("phase_low", "phase_high")  # the workload's phase functions, in phase-id order (1, 2)


def create(path: str) -> None:
    with open(path, "wb") as f:
        f.write(b"\0" * SIZE)


class Board:
    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR)
        self.mm = mmap.mmap(self._fd, SIZE)
        self._lock = threading.Lock()
        self._local = threading.local()

    def _get(self, i: int) -> int:
        return struct.unpack_from("<q", self.mm, 8 * i)[0]

    def _set(self, i: int, v: int) -> None:
        struct.pack_into("<q", self.mm, 8 * i, v)

    # workload side
    def register(self) -> int:
        """This thread's slot (registers the thread on first use)."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            with self._lock:
                slot = self._get(1)
                if slot >= SLOTS:
                    raise RuntimeError("phase board full")
                self._set(HEADER + 2 * slot, threading.get_native_id())
                self._set(HEADER + 2 * slot + 1, 0)
                self._set(1, slot + 1)
            self._local.slot = slot
            if self._get(0) == 0:
                self._set(0, os.getpid())
        return slot

    def enter(self, phase_id: int) -> None:
        self._set(HEADER + 2 * self.register() + 1, phase_id)

    def leave(self) -> None:
        self._set(HEADER + 2 * self.register() + 1, 0)

    def done(self) -> None:
        self._set(2, 1)

    # simulator side
    def pid(self) -> int:
        return self._get(0)

    def is_done(self) -> bool:
        return self._get(2) == 1

    def threads(self):
        """[(tid, phase)] of the registered threads."""
        n = min(self._get(1), SLOTS)
        return [(self._get(HEADER + 2 * i), self._get(HEADER + 2 * i + 1)) for i in range(n)]
