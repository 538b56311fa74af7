"""choose(): explicit meters open exactly or fail with reason and fix; auto picks per domain."""
import pytest

from pyprof_carbon.errors import UserError
from pyprof_carbon.errors import Unavailable
from pyprof_carbon.meters.base import Meter
from pyprof_carbon.recording import Domain
from pyprof_carbon.meters.select import MeterRequestError, Passed, Subset, choose


class Fake(Meter):
    closed = False

    def __init__(self, name, doms, kinds=None):
        self.name, self.doms = name, list(doms)
        self.kinds = kinds or {}

    def domains(self):
        return [Domain(d, self.name, self.name != "model", self.kinds.get(d, "cpu")) for d in self.doms]

    def energy(self, ticks, sched):
        return {d: d for d in self.doms}

    def close(self):
        self.closed = True


def opener_for(available, opened=None):
    def opener(name, cpu_watts=None, tdp=None):
        if name not in available:
            raise Unavailable(f"{name} absent here", f"fix {name}")
        m = Fake(name, available[name])
        if opened is not None:
            opened.append(m)
        return m
    return opener


def test_auto_per_domain_perf_first_powercap_adds_psys():
    opened = []
    meters, notes = choose(["auto"], opener=opener_for({
        "rapl-perf": ["package", "core"], "rapl-powercap": ["package", "core", "dram", "psys"],
        "model": ["package", "dram"]}, opened))
    assert [m.name for m in meters] == ["rapl-perf", "rapl-powercap"]
    assert [d.name for d in meters[1].domains()] == ["dram", "psys"]  # only what perf lacks
    assert isinstance(meters[1], Subset) and set(meters[1].energy(None, None)) == {"dram", "psys"}
    assert Passed("rapl-msr", "rapl-msr absent here", "fix rapl-msr") in notes
    assert any(n.meter == "nvml" for n in notes)
    assert all(isinstance(n, tuple) and len(n) == 3 for n in notes)


def test_auto_redundant_meter_is_closed_and_noted():
    opened = []
    meters, notes = choose(["auto"], opener=opener_for({
        "rapl-perf": ["package", "dram"], "rapl-msr": ["package", "dram"]}, opened))
    assert [m.name for m in meters] == ["rapl-perf"]
    msr = next(m for m in opened if m.name == "rapl-msr")
    assert msr.closed and any(n.meter == "rapl-msr" and "already measures" in n.reason for n in notes)


def test_model_only_for_what_nothing_measures():
    meters, _ = choose(["auto"], opener=opener_for({"rapl-msr": ["package", "core:0"],
                                                    "model": ["package", "dram"]}))
    assert [m.name for m in meters] == ["rapl-msr", "model"]
    assert [d.name for d in meters[1].domains()] == ["dram"]  # AMD: no DRAM counter
    meters, _ = choose(["auto"], opener=opener_for({"model": ["package", "dram"]}))
    assert [(m.name, [d.name for d in m.domains()]) for m in meters] == [("model", ["package", "dram"])]
    meters, _ = choose(["auto"], opener=opener_for({"rapl-powercap": ["package", "psys"], "model": ["package", "dram"]}))
    assert [m.name for m in meters] == ["rapl-powercap"]  # psys contains DRAM: no estimate added


def test_gpu_from_nvml():
    meters, _ = choose(["auto"], opener=opener_for({"rapl-perf": ["package", "dram"], "nvml": ["gpu:0", "gpu:1"]}))
    assert [m.name for m in meters] == ["rapl-perf", "nvml"]


def test_explicit_names_open_exactly_those():
    meters, notes = choose(["rapl-powercap"], opener=opener_for({"rapl-powercap": ["package"], "rapl-perf": ["package"]}))
    assert [m.name for m in meters] == ["rapl-powercap"] and notes == []


def test_explicit_unavailable_raises_with_reason_and_fix_and_closes_others():
    opened = []
    with pytest.raises(Unavailable) as ei:
        choose(["rapl-powercap", "rapl-msr"], opener=opener_for({"rapl-powercap": ["package"]}, opened))
    e = ei.value
    assert isinstance(e, MeterRequestError) and isinstance(e, UserError)
    assert e.reason == "rapl-msr absent here" and e.fix == "fix rapl-msr"
    assert str(e) == "meter rapl-msr is unavailable: rapl-msr absent here; fix: fix rapl-msr"
    assert opened[0].closed


def test_unknown_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown meter 'rapl'"):
        choose(["rapl"])


def test_real_auto_on_this_machine_falls_back_to_model():
    meters, notes = choose(["auto"])
    try:
        names = {n.meter for n in notes}
        if not any(m.name != "model" for m in meters):
            assert {"rapl-perf", "rapl-msr", "rapl-powercap", "nvml"} <= names
            assert all(n.reason and n.fix for n in notes)
            assert [m.name for m in meters] == ["model"]
    finally:
        for m in meters:
            m.close()
