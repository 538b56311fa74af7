import numpy as np

from pyprof_carbon.meters.base import Ticks
from pyprof_carbon.meters.model import DEFAULT_W_PER_CPU, ModelMeter, lookup_tdp
from pyprof_carbon.sched.base import SchedTimeline


def timeline(util, ncpu=2, seconds=10):
    t = np.arange(0, seconds * 10**9 + 1, 10**8, dtype=np.int64)
    busy = (t * util * ncpu).astype(np.int64)
    return SchedTimeline(t, busy, busy, np.zeros_like(t), ncpu=ncpu, backend="procfs")


def write(tmp_path, model, mem_kb):
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: {model}\n")
    (tmp_path / "meminfo").write_text(f"MemTotal:       {mem_kb} kB\n")
    return str(tmp_path / "cpuinfo"), str(tmp_path / "meminfo")


def test_unknown_cpu_linear_model_and_ram(tmp_path):
    cpuinfo, meminfo = write(tmp_path, "Mystery CPU 9000", 16 * 1024 * 1024)
    m = ModelMeter(ncpu=2, cpuinfo_path=cpuinfo, meminfo_path=meminfo)
    m.open()
    assert m.p_max == 2 * DEFAULT_W_PER_CPU and m.p_idle == 0.1 * m.p_max
    for util, watts in ((0.0, m.p_idle), (0.5, m.p_idle + 0.5 * (m.p_max - m.p_idle)), (1.0, m.p_max)):
        e = m.energy(Ticks(np.zeros(0), np.zeros((0, 0)), {}), timeline(util))
        assert abs(e["package"].energy_j[-1] - watts * 10) < 1e-6
        assert abs(e["dram"].energy_j[-1] - 0.375 * 16 * 10) < 1e-6
    doms = {d.name: d for d in m.domains()}
    assert not doms["package"].measured and "estimated" in doms["package"].notes
    assert "Mystery CPU 9000" in doms["package"].notes and "0.375 W per GB" in doms["dram"].notes


def test_tdp_table_and_overrides(tmp_path):
    assert lookup_tdp("AMD EPYC 7763 64-Core Processor")["tdp_w"] == "280"
    cpuinfo, meminfo = write(tmp_path, "AMD EPYC 7763 64-Core Processor", 1024)
    m = ModelMeter(ncpu=4, cpuinfo_path=cpuinfo, meminfo_path=meminfo)
    m.open()
    assert abs(m.p_max - 280 / 128 * 4) < 1e-9 and "EPYC 7763" in m.cpu_note
    m = ModelMeter(cpu_watts=50, ncpu=4, cpuinfo_path=cpuinfo, meminfo_path=meminfo)
    m.open()
    assert m.p_max == 50 and "--cpu-watts" in m.cpu_note
    m = ModelMeter(tdp=100, ncpu=4, cpuinfo_path=cpuinfo, meminfo_path=meminfo)
    m.open()
    assert abs(m.p_max - 100 / 128 * 4) < 1e-9
