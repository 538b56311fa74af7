"""GPU domains: the device's own per-process share (NVML) decides the process's energy, and the
wall-clock samples share it (docs/attribution.md, GPU domains)."""
import numpy as np
import pytest

from pyprof_carbon.attribution import attribute
from pyprof_carbon.recording import Domain, EnergySeries, load
from synthetic import recording


def with_gpu(share):
    rec = recording()
    T = rec.energy["package"].t_ns
    shares = None if share is None else np.full(len(T), share)
    rec.domains.append(Domain("gpu:0", "nvml", True, "gpu", "test"))
    rec.energy["gpu:0"] = EnergySeries(T, 100.0 * T / 1e9, shares)  # 100 W for 2 s
    return rec


@pytest.mark.parametrize("policy", ["share", "active", "dynamic"])
def test_device_share_gives_the_process_energy(policy):
    prof = attribute(with_gpu(0.4), policy=policy)
    assert prof.measured_j["gpu:0"] == pytest.approx(200.0)
    assert prof.row_energy_j["gpu:0"].sum() == pytest.approx(80.0, rel=1e-6)
    assert prof.unattributed_j["gpu:0"] == pytest.approx(120.0, rel=1e-6)


def test_without_device_share_the_cpu_share_applies():
    # the synthetic process uses half the machine's busy CPU time
    prof = attribute(with_gpu(None))
    assert prof.unattributed_j["gpu:0"] == pytest.approx(100.0, rel=1e-3)
    assert prof.row_energy_j["gpu:0"].sum() == pytest.approx(99.0, rel=1e-3)  # 1 % is the profiler's CPU


def test_share_survives_a_saved_recording(tmp_path):
    rec = with_gpu(0.25)
    rec.save(str(tmp_path / "g.pcarbon"))
    again = load(str(tmp_path / "g.pcarbon"))
    assert again.energy["gpu:0"].share.tolist() == rec.energy["gpu:0"].share.tolist()
    assert again.energy["package"].share is None
