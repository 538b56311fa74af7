"""What the native collector reads on each tick: /proc/stat only every 10 ms at a finer cadence
(it moves in 10 ms steps and costs tens of µs) but always on the first and last tick."""
import os
import time

import numpy as np
import pytest

from pyprof_carbon.counters import MISSING, PROCESS_CPU, PROC_STAT_BUSY, SOURCE_KINDS
from pyprof_carbon.profiler import decode_raw_results

native = pytest.importorskip("pyprof_carbon._native", reason="native sampler not built (pip install .)")


def collect(cadence_ms, seconds=0.2):
    fd = os.open("/proc/stat", os.O_RDONLY)
    try:
        sources = [(SOURCE_KINDS.index(PROC_STAT_BUSY), fd, 0, 0, 0), (SOURCE_KINDS.index(PROCESS_CPU), -1, 0, 0, 0)]
        c = native.Collector(0, "auto", int(cadence_ms * 1e6), sources)  # counters only, no sampling
        c.start()
        time.sleep(seconds)
        c.stop()
        c.resolve()
        r = decode_raw_results(c.raw_results())
    finally:
        os.close(fd)
    assert r["tick_raw"].shape == (len(r["tick_t_ns"]), 2)
    return r["tick_raw"]


def test_proc_stat_read_every_tenth_tick_at_1ms():
    raw = collect(1.0)
    stat = raw[:, 0]
    read = stat != np.uint64(MISSING)
    assert len(raw) > 50
    assert read[0] and read[-1]                     # the run's first and last readings are whole
    assert 0.05 < read[1:-1].mean() < 0.2           # about one tick in ten
    assert (raw[:, 1] != np.uint64(MISSING)).all()  # the other sources are read every tick


def test_proc_stat_read_every_tick_at_10ms():
    raw = collect(10.0)
    assert (raw[:, 0] != np.uint64(MISSING)).all()
