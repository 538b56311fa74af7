"""The speed probe's histogram as a run's one number (pyprof_carbon/speed_probe.py), and what a
recording may hold there."""
import math
import struct

import pytest

from pyprof_carbon import speed_probe

BUCKETS = 64 * speed_probe.BUCKETS_PER_OCTAVE


def hist(counts: dict) -> bytes:
    """A histogram as csrc/module.cpp hands it over: uint32 per 1/16 octave of log2(time)."""
    a = [0] * BUCKETS
    for b, n in counts.items():
        a[b] = n
    return struct.pack(f"{BUCKETS}I", *a)


def test_mean_of_bucket_middles():
    s = speed_probe.summarize([hist({200: 30, 216: 10})], "tsc")  # log2 12.5 and 13.5 (bucket / 16)
    assert s["probes"] == 40 and s["unit"] == "tsc" and s["ops"] == speed_probe.OPS
    assert s["log2_time"] == pytest.approx((30 * 200.5 + 10 * 216.5) / 40 / 16)


def test_the_slowest_probes_are_dropped():
    """An interrupt or the hypervisor stretches a probe 100-fold: 2 % of them do not move the mean."""
    s = speed_probe.summarize([hist({200: 98, 300: 2})], "tsc")
    assert s["probes"] == 100 and s["log2_time"] == pytest.approx(200.5 / 16)
    kept_some = speed_probe.summarize([hist({200: 90, 300: 10})], "tsc")  # 10 %: a real slow spell
    assert kept_some["log2_time"] == pytest.approx((90 * 200.5 + 8 * 300.5) / 98 / 16)


def test_processes_add_up_and_no_probe_is_none():
    s = speed_probe.summarize([hist({200: 10}), hist({216: 10})], "tsc")
    assert s["probes"] == 20 and s["log2_time"] == pytest.approx((200.5 + 216.5) / 2 / 16)
    assert speed_probe.summarize([], "tsc") is None
    assert speed_probe.summarize([hist({})], "tsc") is None


def test_covariate_needs_enough_probes():
    ok = {"speed_probe": {"probes": speed_probe.MIN_PROBES, "log2_time": 12.5, "unit": "tsc", "ops": 500}}
    assert speed_probe.covariate(ok) == 12.5
    few = {"speed_probe": dict(ok["speed_probe"], probes=speed_probe.MIN_PROBES - 1)}
    assert speed_probe.covariate(few) is None
    assert speed_probe.covariate({"speed_probe": None}) is None and speed_probe.covariate({}) is None


@pytest.mark.parametrize("value,ok", [
    (None, True), ({"probes": 3, "log2_time": 12.0, "unit": "tsc", "ops": 500}, True),
    ({"probes": -1, "log2_time": 12.0, "unit": "tsc"}, False), ({"probes": 3, "log2_time": math.nan, "unit": "tsc"}, False),
    ({"probes": 3, "log2_time": "12", "unit": "tsc"}, False), ({"probes": 3.5, "log2_time": 1.0, "unit": "tsc"}, False),
    ([], False)])
def test_what_a_recording_may_hold(value, ok):
    assert speed_probe.valid(value) is ok
