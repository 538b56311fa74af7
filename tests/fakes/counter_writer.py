"""The thread both fake energy counters (powercap files, MSR files) advance by.

A subclass opens its files (`open_fds`) and writes every counter's value for a time
(`write_counters`); this base keeps the loop, the longest gap between two writes, the count of
writes and of wraps (`note`: a value below the last one of its counter), and start/stop.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, Hashable


class CounterWriter(threading.Thread):
    """Calls write_counters(fds, now_ns) every `period_s` until stopped; a context manager."""

    def __init__(self, period_s: float = 0.0005):
        super().__init__(daemon=True)
        self.period_s = period_s
        self._stop_ev = threading.Event()
        self._last: Dict[Hashable, int] = {}
        self.t0_ns = time.monotonic_ns()
        self.max_gap_s = 0.0  # longest time between two writes: the most a read can lag the truth
        self.writes = 0
        self.wraps = 0

    def open_fds(self) -> Dict[Hashable, int]:
        raise NotImplementedError

    def write_counters(self, fds: Dict[Hashable, int], now_ns: int) -> None:
        raise NotImplementedError

    def note(self, key: Hashable, value: int) -> None:
        """Counts a wrap when a counter's value falls below its last one."""
        if key in self._last and value < self._last[key]:
            self.wraps += 1
        self._last[key] = value

    def run(self) -> None:
        fds = self.open_fds()
        try:
            prev = None
            while not self._stop_ev.is_set():
                now = time.monotonic_ns()
                if prev is not None:
                    self.max_gap_s = max(self.max_gap_s, (now - prev) / 1e9)
                prev = now
                self.write_counters(fds, now)
                self.writes += 1
                time.sleep(self.period_s)
        finally:
            for fd in fds.values():
                os.close(fd)

    def stop(self) -> None:
        self._stop_ev.set()
        self.join()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
