"""rapl-powercap against fake powercap trees: sockets summed, psys apart, mmio copies counted once,
wraparound with and without max_energy_range_uj, root-only energy_uj (Platypus)."""
import os

import numpy as np
import pytest

from fakes.powercap import FakePowercap, FakeRaplWriter, collect_ticks
from pyprof_carbon.counters import MISSING, Ticks
from pyprof_carbon.errors import Unavailable
from pyprof_carbon.meters.powercap import RaplPowercap, kernel_readable
from pyprof_carbon.meters.rapl_common import unwrap_unknown

SMALL = 10_000_000  # max_energy_range_uj of 10 J: at 40 W a wrap every 0.25 s


def measured(meter, writer_zones, seconds=0.6):
    with FakeRaplWriter(writer_zones) as w:
        ticks = collect_ticks(meter, seconds)
    e = meter.energy(ticks, None)
    dt = (ticks.t_ns[-1] - ticks.t_ns[0]) / 1e9
    return e, dt, w


def test_two_sockets_psys_and_mmio_copy(tmp_path):
    fake = (FakePowercap(tmp_path).control_type_dir()
            .socket(0, watts=40, core_w=25, dram_w=6, max_uj=SMALL, start_uj=9_000_000)
            .psys(watts=120, max_uj=SMALL)
            .socket(1, watts=30, core_w=20, dram_w=5, max_uj=SMALL, start_uj=5_000_000)
            .mmio_copy("intel-rapl:0"))
    # psys took index 1: the second socket is intel-rapl:2, found by its name, not its index
    assert {z.dir for z in fake.zones if z.name == "package-1"} == {"intel-rapl:2"}
    m = RaplPowercap(root=str(tmp_path))
    m.open()
    try:
        names = [d.name for d in m.domains()]
        assert names == ["package", "core", "dram", "psys"]
        assert all(d.measured and d.meter == "rapl-powercap" for d in m.domains())
        assert any("intel-rapl-mmio:0" in s and "duplicate" in s for s in m.skipped)
        assert len(m.sources()) == 7  # 2 packages, 2 cores, 2 drams, 1 psys; no mmio copy
        e, dt, w = measured(m, fake.zones)
        assert w.wraps >= 4  # wrapped during the reading
        for dom, watts in (("package", 70), ("core", 45), ("dram", 11), ("psys", 120)):
            got = e[dom].energy_j[-1]
            assert got == pytest.approx(watts * dt, rel=0.02, abs=2 * watts * w.max_gap_s), dom
            assert e[dom].energy_j[0] == 0
            assert (np.diff(e[dom].energy_j) >= 0).all()
        kinds = {d.name: d.kind for d in m.domains()}
        assert kinds == {"package": "cpu", "core": "cpu", "dram": "dram", "psys": "psys"}
        psys = next(d for d in m.domains() if d.name == "psys")
        assert "never added" in psys.notes
    finally:
        m.close()


def test_mmio_only_is_used_when_it_is_the_only_copy(tmp_path):
    fake = FakePowercap(tmp_path).socket(0, watts=20, core_w=None, dram_w=None, max_uj=SMALL)
    os.rename(os.path.join(tmp_path, "intel-rapl:0"), os.path.join(tmp_path, "intel-rapl-mmio:0"))
    fake.zones[0].path = os.path.join(tmp_path, "intel-rapl-mmio:0")
    m = RaplPowercap(root=str(tmp_path))
    m.open()
    assert [d.name for d in m.domains()] == ["package"]
    e, dt, w = measured(m, fake.zones, 0.4)
    assert e["package"].energy_j[-1] == pytest.approx(20 * dt, rel=0.02, abs=2 * 20 * w.max_gap_s)
    m.close()


def test_missing_max_energy_range_never_negative_and_close(tmp_path):
    fake = FakePowercap(tmp_path).socket(0, watts=40, core_w=None, dram_w=None, max_uj=SMALL,
                                         start_uj=9_500_000, missing_max=True)
    m = RaplPowercap(root=str(tmp_path))
    m.open()
    e, dt, w = measured(m, fake.zones)
    assert w.wraps >= 2
    pkg = e["package"].energy_j
    assert (np.diff(pkg) >= 0).all() and pkg[0] == 0
    assert pkg[-1] == pytest.approx(40 * dt, rel=0.02, abs=4 * 40 * w.max_gap_s)  # wrap steps filled from neighbouring power
    assert m.filled_steps["package"] >= 2
    assert "max_energy_range_uj unreadable" in m.domains()[0].notes
    m.close()


def test_unreadable_max_range_file(tmp_path):
    FakePowercap(tmp_path).socket(0, core_w=None, dram_w=None)
    with open(os.path.join(tmp_path, "intel-rapl:0", "max_energy_range_uj"), "w") as f:
        f.write("garbage\n")
    m = RaplPowercap(root=str(tmp_path))
    m.open()
    assert m.zones[0]["max_uj"] is None
    m.close()


def test_unwrap_unknown_counts_nothing_negative():
    t = np.arange(6) * 10_000_000
    cum, n = unwrap_unknown(np.array([0, 10, 20, 5, 15, 25.0]), t)
    assert n == 1 and list(cum) == [0, 10, 20, 30, 40, 50]
    cum, n = unwrap_unknown(np.array([50, 10.0]), t[:2])  # no good interval: 0, never negative
    assert list(cum) == [0, 0]


def test_missing_reads_repeat_the_last_good_value(tmp_path):
    FakePowercap(tmp_path).socket(0, core_w=None, dram_w=None, max_uj=SMALL)
    m = RaplPowercap(root=str(tmp_path))
    m.open()
    raw = np.array([[100], [MISSING], [300], [SMALL - 50], [150]], dtype=np.uint64)
    ticks = Ticks(np.arange(5, dtype=np.int64) * 10_000_000, raw, {m.name: slice(0, 1)})
    e = m.energy(ticks, None)["package"].energy_j
    assert e == pytest.approx(np.array([0, 0, 200, SMALL - 150, SMALL + 51]) * 1e-6)
    m.close()


def test_root_only_energy_uj_is_platypus(tmp_path):
    FakePowercap(tmp_path).socket(0, mode=0o400)
    # the kernel's DAC check as a non-root user (we run as root in the VM, which may read anything)
    m = RaplPowercap(root=str(tmp_path), readable=lambda p: kernel_readable(p, euid=1000, egid=1000, groups=[]))
    with pytest.raises(Unavailable) as ei:
        m.open()
    assert "root only since Linux 5.10" in ei.value.reason and "CVE-2020-8694" in ei.value.reason
    assert "root" in ei.value.fix and "CAP_PERFMON" in ei.value.fix
    assert oct(os.stat(os.path.join(tmp_path, "intel-rapl:0", "energy_uj")).st_mode & 0o777) == "0o400"  # untouched


def test_kernel_readable_mode_bits(tmp_path):
    p = tmp_path / "f"
    p.write_text("1\n")
    os.chmod(p, 0o444)
    assert kernel_readable(str(p), euid=1000, egid=1000, groups=[])
    os.chmod(p, 0o400)
    assert not kernel_readable(str(p), euid=1000, egid=1000, groups=[])
    assert kernel_readable(str(p), euid=0)


def test_no_powercap_in_a_vm(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n")
    with pytest.raises(Unavailable) as ei:
        RaplPowercap(root=str(tmp_path / "none"), cpuinfo=str(cpuinfo)).open()
    assert "VM without RAPL passthrough" in ei.value.reason and ei.value.fix
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme\n")
    with pytest.raises(Unavailable) as ei:
        RaplPowercap(root=str(tmp_path / "none"), cpuinfo=str(cpuinfo)).open()
    assert "modprobe intel_rapl_msr" in ei.value.fix


def test_empty_tree_and_restrict(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(Unavailable, match="no intel-rapl zones"):
        RaplPowercap(root=str(tmp_path / "empty")).open()
    FakePowercap(tmp_path / "t").socket(0).socket(1)
    m = RaplPowercap(root=str(tmp_path / "t"))
    m.open()
    m.restrict(["dram"])
    assert [d.name for d in m.domains()] == ["dram"] and len(m.sources()) == 2
    m.close()


def test_env_root(tmp_path, monkeypatch):
    FakePowercap(tmp_path).socket(0)
    monkeypatch.setenv("PYPROF_CARBON_POWERCAP_ROOT", str(tmp_path))
    assert RaplPowercap().root == str(tmp_path)
