"""nvml against the fake pynvml: energy-counter and power-only devices, process share, errors."""
import os
import time

import numpy as np
import pytest

from fakes import fake_pynvml as nv
from pyprof_carbon.errors import Unavailable
from pyprof_carbon.meters.nvml import Nvml


def run(m, seconds=0.4):
    m.start()
    time.sleep(seconds)
    m.stop()
    return m.energy(None, None)


def test_energy_counter_and_power_only_devices():
    me = os.getpid()
    nv.reset([nv.FakeGpu("NVIDIA H100 80GB HBM3", watts=300.0, utilization={me: 60, 4242: 20}),
              nv.FakeGpu("Tesla K80", watts=75.0, energy_counter=False, processes=[me])])
    m = Nvml(pynvml=nv, interval_s=0.01)
    m.open()
    try:
        assert [d["mode"] for d in m.devices()] == ["energy", "power"]
        doms = m.domains()
        assert [d.name for d in doms] == ["gpu:0", "gpu:1"] and all(d.kind == "gpu" for d in doms)
        assert "H100" in doms[0].notes and "nvmlDeviceGetTotalEnergyConsumption" in doms[0].notes
        assert "integrated" in doms[1].notes and "Tesla K80" in doms[1].notes
        assert m.sources() == ()
        e = run(m)
        for dom, watts in (("gpu:0", 300.0), ("gpu:1", 75.0)):
            s = e[dom]
            dt = (s.t_ns[-1] - s.t_ns[0]) / 1e9
            assert len(s.t_ns) > 10
            assert s.energy_j[0] == 0 and (np.diff(s.energy_j) >= 0).all()
            assert s.energy_j[-1] == pytest.approx(watts * dt, rel=0.02), dom
        sh = m.shares()
        assert sh["gpu:0"][1][0] == pytest.approx(0.75)  # 60 of 80 SM-% is ours
        assert sh["gpu:1"][1][0] == 1.0                  # no utilization: the only compute process
    finally:
        m.close()
    assert nv._state.init_count == 0  # nvmlShutdown matched nvmlInit


def test_equal_split_when_others_share_the_device_without_utilization():
    nv.reset([nv.FakeGpu(energy_counter=False, processes=[os.getpid(), 1234])])
    m = Nvml(pynvml=nv)
    m.open()
    m.poll()
    assert m.shares()["gpu:0"][1][0] == pytest.approx(0.5)
    m.close()


def test_no_share_when_not_using_the_device():
    nv.reset([nv.FakeGpu(energy_counter=False, processes=[1234])])
    m = Nvml(pynvml=nv)
    m.open()
    m.poll()
    assert m.shares()["gpu:0"][1][0] == 0.0
    m.close()


def test_share_put_on_the_readings_it_covers():
    from pyprof_carbon.meters.nvml import share_at
    t = np.array([0, 10, 20, 30, 40])
    got = share_at(t, np.array([15, 35]), np.array([0.25, np.nan]))
    # readings 0..15 get the share read at 15; 20..35 the one at 35 (unknown: 1); beyond: the last
    assert got.tolist() == [0.25, 0.25, 1.0, 1.0, 1.0]
    assert share_at(t, np.zeros(0, np.int64), np.zeros(0)).tolist() == [1.0] * 5


def test_energy_series_carry_the_share():
    me = os.getpid()
    nv.reset([nv.FakeGpu(watts=100.0, utilization={me: 30, 4242: 90})])
    m = Nvml(pynvml=nv, interval_s=0.005)
    m.open()
    try:
        e = run(m, 0.2)["gpu:0"]
    finally:
        m.close()
    assert e.share is not None and len(e.share) == len(e.t_ns)
    assert e.share[-1] == pytest.approx(0.25)  # 30 of 120 SM-%


def test_driver_not_loaded():
    nv.reset([], init_error=nv.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(Unavailable) as ei:
        Nvml(pynvml=nv).open()
    assert "Driver Not Loaded" in ei.value.reason and "nvidia-smi" in ei.value.fix


def test_no_gpu():
    nv.reset([])
    with pytest.raises(Unavailable, match="no GPU"):
        Nvml(pynvml=nv).open()
    assert nv._state.init_count == 0


def test_calls_before_init_raise_uninitialized():
    nv.reset([nv.FakeGpu()])
    with pytest.raises(nv.NVMLError) as ei:
        nv.nvmlDeviceGetCount()
    assert ei.value.value == nv.NVML_ERROR_UNINITIALIZED


def test_pynvml_missing(monkeypatch):
    import builtins
    real = builtins.__import__

    def imp(name, *a, **k):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", imp)
    with pytest.raises(Unavailable) as ei:
        Nvml().open()
    assert "pynvml is not installed" in ei.value.reason and ei.value.fix == "pip install nvidia-ml-py"


def test_auto_passes_over_nvml_without_opening_it_where_no_driver_is(monkeypatch, tmp_path):
    """No NVIDIA driver device: `auto` never opens nvml (importing pynvml costs ~30 ms of every
    run's start-up), and says why it passed it over."""
    from pyprof_carbon.meters import nvml, select

    monkeypatch.setattr(nvml, "DRIVER_DEVICES", (str(tmp_path / "nvidiactl"),))

    def must_not_open(self):
        raise AssertionError("auto opened nvml on a machine without its driver")
    monkeypatch.setattr(nvml.Nvml, "open", must_not_open)
    meters, notes = select.choose(["auto"])
    for m in meters:
        m.close()
    (note,) = [n for n in notes if n.meter == "nvml"]
    assert "no NVIDIA driver" in note.reason and note.fix
    assert "nvml" not in [m.name for m in meters]
