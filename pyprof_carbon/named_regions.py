"""Named regions: `with pyprof_carbon.region("train"):` (or `@pyprof_carbon.region("load")`)
marks a span of the program's time; every report then shows each region's energy and CO2.

Light on purpose (`sys`, `time` and `_thread`, all built in). Spans are kept only while a profiler
is active in this process (the bootstrap of `run`, which marks the package, or the in-code API), so a region in a hot loop of an unprofiled program costs a
flag test and keeps nothing. Times are CLOCK_MONOTONIC (`time.monotonic_ns`), the clock of the
samples and counter readings. A span belongs to a region for all threads: it is a stretch of the
program's time, as CodeCarbon's tasks are, not of one thread's.
"""
import _thread
import sys
import time

_spans = []     # (name, start_ns, end_ns, native thread id that entered it)
# profilers active in this process; `run`'s bootstrap marks the package before the program starts
_active = int(getattr(sys.modules.get("pyprof_carbon"), "_run_keeps_regions", False))


def start_keeping() -> None:
    global _active
    _active += 1


def stop_keeping() -> list:
    """The spans kept so far (the caller's from now on: the list starts afresh)."""
    global _active, _spans
    _active = max(0, _active - 1)
    spans, _spans = _spans, []
    return spans


class region:
    """A named span of the program's time (context manager or decorator); re-entrant."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise ValueError("a region needs a non-empty name")
        self.name = name
        self._starts = []

    def __enter__(self):
        self._starts.append(time.monotonic_ns())
        return self

    def __exit__(self, *exc):
        start = self._starts.pop()
        if _active:
            _spans.append((self.name, start, time.monotonic_ns(), _thread.get_native_id()))
        return False

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with region(self.name):
                return func(*args, **kwargs)
        wrapper.__name__, wrapper.__qualname__ = func.__name__, func.__qualname__
        wrapper.__doc__, wrapper.__wrapped__ = func.__doc__, func
        return wrapper
