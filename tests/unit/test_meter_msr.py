"""rapl-msr against fake MSR files: Intel and AMD layouts, 32-bit wrap, units, topology."""
import os

import numpy as np
import pytest

from fakes.msr import FakeMsr, FakeMsrWriter
from fakes.powercap import collect_ticks
from pyprof_carbon.meters import msr as M
from pyprof_carbon.counters import Ticks
from pyprof_carbon.errors import Unavailable
from pyprof_carbon.meters.msr import RaplMsr


def opened(fake):
    m = RaplMsr(root=fake.root, cpuinfo=fake.cpuinfo, cpu_root=fake.cpu_root)
    m.open()
    return m


def run(m, fake, seconds=0.6):
    with FakeMsrWriter(fake) as w:
        ticks = collect_ticks(m, seconds)
    return m.energy(ticks, None), (ticks.t_ns[-1] - ticks.t_ns[0]) / 1e9, w


def test_intel_two_packages_across_32bit_wrap(tmp_path):
    # ESU 14 (61 µJ): counters start 65536 counts below the wrap, about 4 J, so they wrap at once
    fake = FakeMsr(tmp_path, model=0x55, packages=2, esu=14).intel(psys_w=90.0, dram_esu=16)
    m = opened(fake)
    try:
        assert [d.name for d in m.domains()] == ["package", "core", "dram", "psys"]
        reads = {(r["domain"], r["cpu"]) for r in m.reads}
        assert reads == {("package", 0), ("core", 0), ("dram", 0), ("psys", 0),
                         ("package", 4), ("core", 4), ("dram", 4)}  # one CPU per package, psys once
        assert all(s.kind == "pread_u64" for s in m.sources())
        dram = next(d for d in m.domains() if d.name == "dram")
        assert "fixed 2^-16 J" in dram.notes  # Skylake-X: DRAM unit from Linux rapl.c, not 0x606
        e, dt, w = run(m, fake)
        assert w.wraps >= 4
        for dom, watts in (("package", 80), ("core", 50), ("dram", 14), ("psys", 90)):
            assert e[dom].energy_j[-1] == pytest.approx(watts * dt, rel=0.02, abs=2 * watts * w.max_gap_s), dom
            assert (np.diff(e[dom].energy_j) >= 0).all()
    finally:
        m.close()


def test_client_model_uses_0x606_unit_for_dram(tmp_path):
    fake = FakeMsr(tmp_path, model=0x9E, packages=1, esu=14).intel(pkg_w=(20.0,), core_w=(10.0,), dram_w=(3.0,))
    m = opened(fake)
    assert next(r for r in m.reads if r["domain"] == "dram")["esu"] == 14
    e, dt, w = run(m, fake, 0.4)
    assert e["dram"].energy_j[-1] == pytest.approx(3.0 * dt, rel=0.02, abs=2 * 3.0 * w.max_gap_s)
    m.close()


def test_absent_domain_reads_zero_and_is_left_out(tmp_path):
    fake = FakeMsr(tmp_path, packages=1).intel(pkg_w=(20.0,), core_w=None, dram_w=None)
    m = opened(fake)
    assert [d.name for d in m.domains()] == ["package"]
    m.close()


def test_amd_per_core_energy(tmp_path):
    fake = FakeMsr(tmp_path, vendor="AuthenticAMD", family=0x19, model=1, packages=1, cores=3,
                   threads=2, esu=16).amd(pkg_w=(60.0,), core_w=5.0)
    m = opened(fake)
    try:
        names = [d.name for d in m.domains()]
        assert names == ["package", "core:0", "core:2", "core:4"]  # the first CPU of each core
        core2 = next(d for d in m.domains() if d.name == "core:2")
        assert "CPUs 2,3" in core2.notes and "physical core 1" in core2.notes
        e, dt, w = run(m, fake)
        assert w.wraps >= 1
        assert e["package"].energy_j[-1] == pytest.approx(60 * dt, rel=0.02, abs=2 * 60 * w.max_gap_s)
        for n, c in ((0, 0), (2, 1), (4, 2)):
            assert e[f"core:{n}"].energy_j[-1] == pytest.approx((5.0 + c) * dt, rel=0.02, abs=2 * (5.0 + c) * w.max_gap_s)
    finally:
        m.close()


def test_mask_and_modular_wrap_exact():
    col = M.RaplMsr()
    col.reads = [{"domain": "package", "esu": 0, "package": 0, "path": "x", "addr": 0x611}]
    col._build_columns()
    junk = 0xDEAD << 32
    raw = np.array([[0xFFFFFFF0 | junk], [0x10 | junk], [0x20 | (0xBEEF << 32)]], dtype=np.uint64)
    ticks = Ticks(np.array([0, 1, 2], dtype=np.int64), raw, {"rapl-msr": slice(0, 1)})
    assert list(col.energy(ticks, None)["package"].energy_j) == [0.0, 32.0, 48.0]


def test_max_interval_from_unit_and_max_power(tmp_path, monkeypatch):
    fake = FakeMsr(tmp_path, packages=1, esu=16).intel(pkg_w=(20.0,), core_w=None, dram_w=None)
    real = RaplMsr._rdmsr

    def rdmsr(self, cpu, addr):  # 0x614 overlaps 0x611 in a file: give the part's power info here
        return (1200 << 32) | 800 if addr == M.MSR_PKG_POWER_INFO else real(self, cpu, addr)

    monkeypatch.setattr(RaplMsr, "_rdmsr", rdmsr)
    m = opened(fake)
    monkeypatch.undo()
    # 2^32 * 2^-16 J = 65536 J at 150 W (0x614 max power 1200 * 2^-3 W), halved
    assert m.max_interval_s() == pytest.approx(65536 / 150 / 2)
    assert m.max_w_source[0].startswith("MSR_PKG_POWER_INFO")
    m.close()
    amd = FakeMsr(tmp_path / "amd", vendor="AuthenticAMD", family=0x17, model=0x31, packages=1, esu=16).amd()
    m = opened(amd)
    assert m.max_interval_s() == pytest.approx(65536 / M.DEFAULT_MAX_PACKAGE_W / 2)
    m.close()


def test_errors_carry_reason_and_fix(tmp_path):
    fake = FakeMsr(tmp_path, packages=1, hypervisor=True)
    os.remove(fake.path(0))
    with pytest.raises(Unavailable) as ei:
        opened(fake)
    assert "msr driver is not loaded" in ei.value.reason and "VM" in ei.value.reason
    assert "modprobe msr" in ei.value.fix
    old = FakeMsr(tmp_path / "k8", vendor="AuthenticAMD", family=0x15, packages=1)
    with pytest.raises(Unavailable, match="no RAPL MSRs"):
        opened(old)
    via = FakeMsr(tmp_path / "via", vendor="CentaurHauls", packages=1)
    with pytest.raises(Unavailable, match="Intel and AMD"):
        opened(via)
    none = FakeMsr(tmp_path / "zero", packages=1)  # unit present, every counter 0
    with pytest.raises(Unavailable, match="non-zero"):
        opened(none)


def test_env_overrides(tmp_path, monkeypatch):
    fake = FakeMsr(tmp_path, packages=1).intel(pkg_w=(10.0,))
    for k, v in fake.env().items():
        monkeypatch.setenv(k, v)
    m = RaplMsr()
    m.open()
    assert m.root == fake.root and [d.name for d in m.domains()][0] == "package"
    m.close()
