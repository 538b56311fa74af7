"""rapl-perf: sysfs discovery of the `power` PMU, the real perf_event_open path, errors.

No machine here has the power PMU, so the fake PMU directory points its energy events at the
kernel's software cpu-clock event (type 1, config 0): a real perf fd, opened system-wide on a CPU
with the real syscall, whose count advances 1e9 per second. A `.scale` of 4e-8 J per count makes
it a 40 W counter, read exactly as the native collector reads RAPL events (8-byte read()).
"""
import errno
import os

import numpy as np
import pytest

from fakes.powercap import collect_ticks
from pyprof_carbon.counters import Ticks
from pyprof_carbon.errors import Unavailable
from pyprof_carbon.meters.perf_pmu import RaplPerf, parse_cpulist, parse_event, perf_event_open

SW_CPU_CLOCK = "event=0x00"


def make_pmu(root, events=None, type_=1, cpumask="0,1", scale="4e-08", unit="Joules"):
    os.makedirs(os.path.join(root, "events"), exist_ok=True)
    with open(os.path.join(root, "type"), "w") as f:
        f.write(f"{type_}\n")
    if cpumask is not None:
        with open(os.path.join(root, "cpumask"), "w") as f:
            f.write(cpumask + "\n")
    for ev, spec in (events or {"energy-pkg": SW_CPU_CLOCK, "energy-ram": SW_CPU_CLOCK}).items():
        for suffix, text in (("", spec), (".scale", scale), (".unit", unit)):
            with open(os.path.join(root, "events", ev + suffix), "w") as f:
                f.write(text + "\n")
    return str(root)


def real_perf_or_skip():
    try:
        os.close(perf_event_open(1, 0, 0))
    except OSError as e:
        pytest.skip(f"system-wide software perf events refused here: {e}")


def test_real_syscall_reads_a_counter_at_known_power(tmp_path):
    real_perf_or_skip()
    m = RaplPerf(root=make_pmu(tmp_path))
    m.open()
    try:
        assert [d.name for d in m.domains()] == ["package", "dram"]
        assert [(e["domain"], e["cpu"]) for e in m.events] == [("package", 0), ("package", 1), ("dram", 0), ("dram", 1)]
        assert all(s.kind == "read_u64" for s in m.sources())
        ticks = collect_ticks(m, 0.4)
        e = m.energy(ticks, None)
        dt = (ticks.t_ns[-1] - ticks.t_ns[0]) / 1e9
        # two "packages" (CPUs 0 and 1) at 40 W each
        assert e["package"].energy_j[-1] == pytest.approx(80 * dt, rel=0.02)
        assert (np.diff(e["package"].energy_j) >= 0).all()
    finally:
        m.close()


def test_wrap_at_2_64_and_large_counts_exact():
    m = RaplPerf(root="/nonexistent", opener=lambda *a: 0)
    m.events = [{"domain": "package", "kind": "cpu", "event": "energy-pkg", "cpu": 0, "fd": -1,
                 "scale": 2.0 ** -32, "unit": "Joules"}]
    m._build_columns()
    big = 2 ** 64 - 2 ** 32  # one joule below the 64-bit wrap
    raw = np.array([[big], [(big + 3 * 2 ** 32) % 2 ** 64], [2 ** 33 + 1]], dtype=np.uint64)
    ticks = Ticks(np.arange(3, dtype=np.int64), raw, {"rapl-perf": slice(0, 1)})
    assert list(m.energy(ticks, None)["package"].energy_j) == [0.0, 3.0, pytest.approx(3.0 + 2 ** -32)]


def test_injected_opener_cpumask_psys_once_and_scale(tmp_path):
    calls = []

    def opener(type_, config, cpu):
        calls.append((type_, config, cpu))
        return os.open(os.devnull, os.O_RDONLY)

    root = make_pmu(tmp_path, {"energy-pkg": "event=0x02", "energy-cores": "event=0x01",
                               "energy-psys": "event=0x05"}, type_=23, cpumask="0,18",
                    scale="2.3283064365386962890625e-10")
    m = RaplPerf(root=root, opener=opener)
    m.open()
    assert sorted(calls) == [(23, 1, 0), (23, 1, 18), (23, 2, 0), (23, 2, 18), (23, 5, 0)]
    doms = {d.name: d for d in m.domains()}
    assert set(doms) == {"package", "core", "psys"}
    assert "never added" in doms["psys"].notes and "inside package" in doms["core"].notes
    assert m.columns[0].j_per_count == 2.0 ** -32
    m.close()


def test_permission_denied_names_paranoid_and_capperfmon(tmp_path):
    def opener(*a):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    with pytest.raises(Unavailable) as ei:
        RaplPerf(root=make_pmu(tmp_path), opener=opener).open()
    assert "perf_event_paranoid" in ei.value.reason and "CAP_PERFMON" in ei.value.fix


def test_absent_pmu_says_so(tmp_path):
    with pytest.raises(Unavailable) as ei:
        RaplPerf(root=str(tmp_path / "power")).open()
    assert "no perf `power` PMU" in ei.value.reason and ei.value.fix


def test_bad_scale_or_unit_is_skipped(tmp_path):
    with pytest.raises(Unavailable, match="no usable energy event"):
        RaplPerf(root=make_pmu(tmp_path, unit="Watts"), opener=lambda *a: 0).open()


def test_this_machine_default_root():
    if os.path.exists("/sys/bus/event_source/devices/power/type"):
        pytest.skip("this machine has the power PMU")
    with pytest.raises(Unavailable, match="no perf `power` PMU"):
        RaplPerf(root="/sys/bus/event_source/devices/power").open()


def test_parsers():
    assert parse_cpulist("0,18-20\n") == [0, 18, 19, 20]
    assert parse_event("event=0x02\n") == 2 and parse_event("event=5,umask=0") == 5
    with pytest.raises(ValueError):
        parse_event("umask=1")
