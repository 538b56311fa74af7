import csv
import os
import struct

import numpy as np
import pytest

from pyprof_carbon.meters import model as model_mod
from pyprof_carbon.counters import Ticks
from pyprof_carbon.meters.model import (DEFAULT_W_PER_CPU, ModelMeter, dimm_watts, dmi_dimms, estimate_dimms,
                                        lookup_tdp, normalize)
from pyprof_carbon.recording import SchedTimeline

GB_KB = 1024 * 1024


def timeline(util, ncpu=2, seconds=10):
    t = np.arange(0, seconds * 10**9 + 1, 10**8, dtype=np.int64)
    busy = (t * util * ncpu).astype(np.int64)
    return SchedTimeline(t, busy, busy, np.zeros_like(t), ncpu=ncpu, backend="procfs")


def write(tmp_path, model, mem_kb, vm=False, siblings=None):
    flags = "fpu sse2" + (" hypervisor" if vm else "")
    extra = f"siblings\t: {siblings}\n" if siblings else ""
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: {model}\n{extra}flags\t\t: {flags}\n")
    (tmp_path / "meminfo").write_text(f"MemTotal:       {mem_kb} kB\n")
    return dict(cpuinfo_path=str(tmp_path / "cpuinfo"), meminfo_path=str(tmp_path / "meminfo"),
                dmi_path=str(tmp_path / "no-dmi"))


@pytest.fixture(autouse=True)
def x86(monkeypatch):
    real = os.uname()
    monkeypatch.setattr(model_mod.os, "uname", lambda: os.uname_result((*real[:4], "x86_64")))


# /proc/cpuinfo `model name` lines as the kernel prints them, and the CodeCarbon row each must find.
with open(os.path.join(os.path.dirname(__file__), "..", "data", "cpu_model_names.csv"), newline="") as _f:
    _rows = csv.reader(_f)
    next(_rows)  # the header: model name, codecarbon row, tdp_w
    REAL = [tuple(r) for r in _rows]


@pytest.mark.parametrize("raw,row,tdp", REAL)
def test_real_model_names_match(raw, row, tdp):
    assert lookup_tdp(raw) == {"model": row, "tdp_w": tdp}


@pytest.mark.parametrize("raw", ["AMD EPYC", "Intel(R) Xeon(R) CPU @ 2.20GHz", "QEMU Virtual CPU version 2.5+",
                                 "Mystery CPU 9000", "unknown CPU"])
def test_names_without_a_part_number_match_nothing(raw):
    # "AMD EPYC" (a VM that hides the part) must not borrow some EPYC's TDP.
    assert lookup_tdp(raw) is None


def test_normalize_strips_marks_clock_and_filler():
    assert normalize("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz") == normalize("Intel Xeon E5-2686 v4")
    assert normalize("Intel® Core™ i5 processor 14401E") == "core i5-14401e"


def test_table_is_codecarbons_with_license():
    with open(model_mod.DATA, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 4000 and all(float(r["tdp_w"]) > 0 for r in rows)
    lic = open(os.path.join(os.path.dirname(model_mod.DATA), "LICENSE.codecarbon")).read()
    assert "MIT License" in lic and "Code Carbon" in lic


def test_unknown_cpu_linear_model_and_vm_ram(tmp_path):
    paths = write(tmp_path, "Mystery CPU 9000", 16 * GB_KB, vm=True)
    m = ModelMeter(ncpu=2, **paths)
    m.open()
    assert m.p_max == 2 * DEFAULT_W_PER_CPU and m.p_idle == 0.1 * m.p_max
    ram_w = 5.0 * 16 / 32  # the VM's share of 32 GB host DIMMs at 5 W each
    assert abs(m.ram_w - ram_w) < 1e-9 and m.ram_w < m.p_max
    for util, watts in ((0.0, m.p_idle), (0.5, m.p_idle + 0.5 * (m.p_max - m.p_idle)), (1.0, m.p_max)):
        e = m.energy(Ticks(np.zeros(0), np.zeros((0, 0)), {}), timeline(util))
        assert abs(e["package"].energy_j[-1] - watts * 10) < 1e-6
        assert abs(e["dram"].energy_j[-1] - ram_w * 10) < 1e-6
    doms = {d.name: d for d in m.domains()}
    assert not doms["package"].measured and not doms["dram"].measured
    assert doms["package"].notes.startswith("estimated") and doms["dram"].notes.startswith("estimated")
    assert "Mystery CPU 9000" in doms["package"].notes and "4 W per CPU" in doms["package"].notes
    assert "32 GB per host DIMM" in doms["dram"].notes and "5 W per DIMM" in doms["dram"].notes


def test_tdp_share_bare_metal_vm_and_overrides(tmp_path):
    # Bare metal: the kernel's threads per package.
    paths = write(tmp_path, "AMD EPYC 7763 64-Core Processor", GB_KB, siblings=128)
    m = ModelMeter(ncpu=4, **paths)
    m.open()
    assert abs(m.p_max - 280 / 128 * 4) < 1e-9
    assert "AMD EPYC 7763" in m.cpu_note and "280 W" in m.cpu_note and "CodeCarbon" in m.cpu_note
    # A VM sees 4 vCPUs as "siblings"; the part's threads come from "64-Core" x SMT instead.
    paths = write(tmp_path, "AMD EPYC 7763 64-Core Processor", GB_KB, vm=True, siblings=4)
    m = ModelMeter(ncpu=4, **paths)
    m.open()
    assert abs(m.p_max - 280 / 128 * 4) < 1e-9 and "64 cores in the model name" in m.cpu_note
    # A VM of a known part whose thread count nothing says: the default, and the note says why.
    paths = write(tmp_path, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", GB_KB, vm=True, siblings=4)
    m = ModelMeter(ncpu=4, **paths)
    m.open()
    assert m.p_max == 4 * DEFAULT_W_PER_CPU and "TDP 300 W" in m.cpu_note and "not visible" in m.cpu_note
    m = ModelMeter(cpu_watts=50, ncpu=4, **paths)
    m.open()
    assert m.p_max == 50 and "--cpu-watts" in m.cpu_note
    m = ModelMeter(tdp=100, ncpu=4, **write(tmp_path, "AMD EPYC 7763 64-Core Processor", GB_KB, siblings=128))
    m.open()
    assert abs(m.p_max - 100 / 128 * 4) < 1e-9


def smbios(*sizes):
    """A raw SMBIOS table: a type-0 structure, one type-17 memory device per size (MB; 0 = empty
    slot), and the end-of-table marker."""
    out = bytes([0, 4, 0, 0]) + b"BIOS vendor\0\0"
    for i, size in enumerate(sizes):
        body = bytearray(0x28)
        body[0:4] = bytes([17, 0x28]) + struct.pack("<H", 0x1100 + i)
        body[0x0C:0x0E] = struct.pack("<H", size)
        out += bytes(body) + f"DIMM {i}\0\0".encode()
    return out + bytes([127, 4, 0xFF, 0xFF]) + b"\0\0"


def test_dimms_counted_from_smbios_on_bare_metal(tmp_path):
    (tmp_path / "dmi").write_bytes(smbios(16384, 0, 16384, 0, 0x7FFF, 16384))
    assert dmi_dimms(str(tmp_path / "dmi")) == 4
    assert dmi_dimms(str(tmp_path / "missing")) is None
    paths = write(tmp_path, "AMD EPYC 7763 64-Core Processor", 64 * GB_KB, siblings=128)
    paths["dmi_path"] = str(tmp_path / "dmi")
    m = ModelMeter(ncpu=4, **paths)
    m.open()
    assert m.ram_dimms == 4 and m.ram_w == 20.0 and "SMBIOS type 17" in m.ram_note


def test_dimm_estimate_follows_codecarbon(tmp_path):
    # CodeCarbon 3.x RAM._estimate_dimm_count and _calculate_ram_power, x86.
    assert [estimate_dimms(g) for g in (2, 8, 16, 24, 64, 128, 256, 1024, 4096)] == [1, 2, 2, 4, 4, 8, 8, 8, 32]
    assert dimm_watts(4, 5) == 20 and dimm_watts(8, 5) == 38 and abs(dimm_watts(32, 5) - 126) < 1e-9
    paths = write(tmp_path, "Intel(R) Core(TM) i7-8565U CPU @ 1.80GHz", 8 * GB_KB, siblings=8)
    m = ModelMeter(ncpu=8, **paths)
    m.open()
    assert m.ram_dimms == 2 and m.ram_w == 10.0 and "estimated from 8.0 GB" in m.ram_note
    assert abs(m.p_max - 15.0) < 1e-9  # the whole 15 W part: all 8 threads
