"""`rapl-msr`: RAPL energy counters read straight from the model-specific registers.

Reads `<root>/<cpu>/msr` (root: `PYPROF_CARBON_MSR_ROOT`, default `/dev/cpu`; the Linux msr
driver) with pread at offset = MSR address: the native collector's PREAD_U64 source. Needs the msr
module and root (CAP_SYS_RAWIO).

Registers (addresses from the Intel SDM vol. 4, "Model-Specific Registers", RAPL section; and
the AMD Family 17h/19h PPR, "MSRC001_0299..029B"):
- Intel: MSR_RAPL_POWER_UNIT 0x606 (power unit bits 3:0, energy status unit bits 12:8: one count
  is 2^-ESU J), MSR_PKG_ENERGY_STATUS 0x611, MSR_PP0_ENERGY_STATUS 0x639 (cores),
  MSR_PP1_ENERGY_STATUS 0x641 (uncore / graphics), MSR_DRAM_ENERGY_STATUS 0x619,
  MSR_PLATFORM_ENERGY_STATUS 0x64D (psys), MSR_PKG_POWER_INFO 0x614 (maximum power bits 46:32).
- AMD Zen (family 17h and later, and Hygon): RAPL_PWR_UNIT 0xC0010299 (same unit layout),
  CORE_ENERGY_STAT 0xC001029A (one per core), PKG_ENERGY_STAT 0xC001029B. No DRAM domain.
Only bits 31:0 of an energy MSR are the counter (the rest is reserved): it wraps at 2^32 counts.
Package-scope MSRs are read on one CPU per package; AMD's per-core counter on one thread of
every core, so the recording has per-core energy (`core:N`, N = the core's first CPU).

A domain exists when its MSR reads without error and is non-zero, as Linux's perf_msr_probe
(arch/x86/events/probe.c) decides it.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

from ..counters import PREAD_U64, CounterSource, Ticks
from ..errors import Unavailable
from ..recording import Domain, EnergySeries
from .base import Meter
from .rapl_common import (Column, columns_arithmetic, cpuinfo_fields, cpuinfo_path, energy_from_columns,
                          looks_like_vm, nesting_note, rapl_nesting, topology)

# Intel SDM vol. 4, table "MSRs supported by ... RAPL"
MSR_RAPL_POWER_UNIT = 0x606
MSR_PKG_POWER_INFO = 0x614
MSR_PKG_ENERGY_STATUS = 0x611
MSR_PP0_ENERGY_STATUS = 0x639
MSR_PP1_ENERGY_STATUS = 0x641
MSR_DRAM_ENERGY_STATUS = 0x619
MSR_PLATFORM_ENERGY_STATUS = 0x64D
# AMD PPR for family 17h/19h: MSRC001_0299 RAPL_PWR_UNIT, _029A CORE_ENERGY_STAT, _029B PKG_ENERGY_STAT
MSR_AMD_RAPL_POWER_UNIT = 0xC0010299
MSR_AMD_CORE_ENERGY_STATUS = 0xC001029A
MSR_AMD_PKG_ENERGY_STATUS = 0xC001029B

COUNTER_MASK = 0xFFFFFFFF  # energy status bits 31:0
WRAP = 2 ** 32

INTEL_DOMAINS = (("package", MSR_PKG_ENERGY_STATUS, "cpu"), ("core", MSR_PP0_ENERGY_STATUS, "cpu"),
                 ("uncore", MSR_PP1_ENERGY_STATUS, "cpu"), ("dram", MSR_DRAM_ENERGY_STATUS, "dram"),
                 ("psys", MSR_PLATFORM_ENERGY_STATUS, "psys"))

# Family-6 models whose DRAM counter uses a fixed 2^-16 J unit whatever 0x606 says: Linux
# arch/x86/events/rapl.c, the models mapped to model_hsx / model_knl (RAPL_UNIT_QUIRK_INTEL_HSW;
# "Intel Xeon E5-1600/2600 v3 datasheet vol. 2, 330784-001"). Model numbers: arch/x86/include/asm/intel-family.h.
DRAM_FIXED_UNIT_MODELS = {
    0x3F: "Haswell-X", 0x4F: "Broadwell-X", 0x56: "Broadwell-D", 0x57: "Xeon Phi Knights Landing",
    0x85: "Xeon Phi Knights Mill", 0x55: "Skylake-X / Cascade Lake / Cooper Lake", 0x6A: "Ice Lake-X",
    0x6C: "Ice Lake-D",
}
DRAM_FIXED_ESU = 16
# Models whose psys counter has a fixed 1 J unit (RAPL_UNIT_QUIRK_INTEL_SPR in the same file).
PSYS_FIXED_UNIT_MODELS = {0x8F: "Sapphire Rapids-X", 0xCF: "Emerald Rapids-X"}
PSYS_FIXED_ESU = 0

# Stated maximum power used to bound the cadence when the part does not report one. Intel parts
# report it in MSR_PKG_POWER_INFO bits 46:32 (SDM vol. 4), often 0 on client parts. 500 W per
# package is above every listed TDP of current server parts (AMD EPYC 9005 and Intel Xeon 6900P
# top out at 500 W TDP), and is used for AMD, which has no such MSR. At ESU 16 the 32-bit counter
# holds 65536 J: 131 s at 500 W, 234 s at 280 W (a 280 W AMD EPYC part).
DEFAULT_MAX_PACKAGE_W = 500.0
SAFETY = 2.0  # read at least twice per wrap period, so one failed read does not alias a wrap


class RaplMsr(Meter):
    name = "rapl-msr"
    # RAPL updates its counters about every 1 ms (Intel SDM vol. 3B, RAPL interfaces;
    # Khan et al., "RAPL in Action", ACM TOMPECS 3(2), 2018)
    cadence_ms = 1.0

    def __init__(self, root: Optional[str] = None, cpuinfo: Optional[str] = None, cpu_root: Optional[str] = None):
        self.root = root or os.environ.get("PYPROF_CARBON_MSR_ROOT", "/dev/cpu")
        self.cpuinfo = cpuinfo or cpuinfo_path()
        self.cpu_root = cpu_root or os.environ.get("PYPROF_CARBON_CPU_SYSFS_ROOT", "/sys/devices/system/cpu")
        self.vendor = ""
        self.family = self.model = 0
        self.reads: List[dict] = []   # {domain, cpu, addr, esu, fd, path} in source order
        self.columns: List[Column] = []
        self.max_w: Dict[int, float] = {}   # package -> maximum power (W) used for max_interval_s
        self.max_w_source: Dict[int, str] = {}
        self._fds: Dict[int, int] = {}

    # ---- helpers --------------------------------------------------------------------
    def _fd(self, cpu: int) -> int:
        if cpu not in self._fds:
            path = os.path.join(self.root, str(cpu), "msr")
            self._fds[cpu] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return self._fds[cpu]

    def _rdmsr(self, cpu: int, addr: int) -> int:
        data = os.pread(self._fd(cpu), 8, addr)
        if len(data) != 8:
            raise OSError(5, f"short read at {addr:#x}")
        return int.from_bytes(data, "little")

    def _probe(self, cpu: int, addr: int) -> bool:
        try:
            return (self._rdmsr(cpu, addr) & COUNTER_MASK) != 0
        except OSError:
            return False

    # ---- open -----------------------------------------------------------------------
    def open(self) -> None:
        info = cpuinfo_fields(self.cpuinfo)
        self.vendor = info.get("vendor_id", "")
        try:
            self.family, self.model = int(info.get("cpu family", "0")), int(info.get("model", "0"))
        except ValueError:
            self.family = self.model = 0
        amd = self.vendor in ("AuthenticAMD", "HygonGenuine")
        if self.vendor != "GenuineIntel" and not amd:
            raise Unavailable(f"RAPL MSRs exist on Intel and AMD CPUs only; this CPU is {self.vendor or 'unknown'!r}",
                                   "use --meter nvml for GPUs, or the model meter")
        if amd and self.family < 0x17:
            raise Unavailable(f"AMD family {self.family:#x} has no RAPL MSRs (Zen, family 17h, and later do)",
                                   "the model meter estimates instead")
        topo = topology(self.cpu_root)
        if not topo:
            raise Unavailable(f"no CPU topology under {self.cpu_root}", "mount sysfs")
        first = topo[0][0]
        path = os.path.join(self.root, str(first), "msr")
        if not os.path.exists(path):
            vm = " (this looks like a VM: the CPU reports a hypervisor, and VMs rarely pass RAPL MSRs through)" \
                if looks_like_vm(self.cpuinfo) else ""
            raise Unavailable(f"no {path}: the msr driver is not loaded{vm}",
                                   "modprobe msr (as root), then run as root")
        try:
            self._fd(first)
        except PermissionError:
            raise Unavailable(f"{path} is readable by root only (reading MSRs needs CAP_SYS_RAWIO)",
                                   "run as root, or use the perf PMU (--meter rapl-perf) with CAP_PERFMON") from None
        except OSError as e:
            raise Unavailable(f"cannot open {path}: {e.strerror}", "modprobe msr; run as root") from None
        unit_addr = MSR_AMD_RAPL_POWER_UNIT if amd else MSR_RAPL_POWER_UNIT
        try:
            unit = self._rdmsr(first, unit_addr)
        except OSError as e:
            self.close()
            raise Unavailable(f"the CPU refused RAPL_POWER_UNIT MSR {unit_addr:#x} ({e.strerror or e}): "
                                   "RAPL is not exposed here (a VM without RAPL passthrough?)",
                                   "run on bare metal, or use --meter rapl-powercap / model") from None
        esu = (unit >> 8) & 0x1F
        pu = unit & 0xF
        packages: Dict[int, List[Tuple[int, int]]] = {}
        for cpu, pkg, core in topo:
            packages.setdefault(pkg, []).append((cpu, core))
        try:
            if amd:
                self._open_amd(packages, esu)
            else:
                self._open_intel(packages, esu, pu)
        except PermissionError:
            self.close()
            raise Unavailable("reading MSRs needs root (CAP_SYS_RAWIO)", "run as root") from None
        if not self.reads:
            self.close()
            raise Unavailable("no RAPL energy MSR reads a non-zero value (RAPL disabled or not exposed)",
                                   "use --meter rapl-powercap or the model meter")
        self._build_columns()

    def _add(self, domain: str, kind: str, cpu: int, pkg: int, addr: int, esu: int, note: str = "",
             cpus: Sequence[int] = ()) -> None:
        self.reads.append({"domain": domain, "kind": kind, "cpu": cpu, "package": pkg, "addr": addr, "esu": esu,
                           "fd": self._fd(cpu), "path": os.path.join(self.root, str(cpu), "msr"), "note": note,
                           "cpus": tuple(cpus)})

    def _open_intel(self, packages, esu: int, pu: int) -> None:
        for i, (pkg, cpus) in enumerate(sorted(packages.items())):
            cpu = cpus[0][0]
            for domain, addr, kind in INTEL_DOMAINS:
                if domain == "psys" and i > 0:
                    continue  # platform-wide: read once
                if not self._probe(cpu, addr):
                    continue
                e, note = esu, ""
                if domain == "dram" and self.family == 6 and self.model in DRAM_FIXED_UNIT_MODELS:
                    e = DRAM_FIXED_ESU
                    note = f"fixed 2^-16 J DRAM unit on {DRAM_FIXED_UNIT_MODELS[self.model]} (Linux rapl.c)"
                if domain == "psys" and self.family == 6 and self.model in PSYS_FIXED_UNIT_MODELS:
                    e = PSYS_FIXED_ESU
                    note = f"fixed 1 J psys unit on {PSYS_FIXED_UNIT_MODELS[self.model]} (Linux rapl.c)"
                self._add(domain, kind, cpu, pkg, addr, e, note)
            try:
                info = self._rdmsr(cpu, MSR_PKG_POWER_INFO)
            except OSError:
                info = 0
            spec, mx = (info & 0x7FFF) / float(1 << pu), ((info >> 32) & 0x7FFF) / float(1 << pu)
            if spec > 0 and mx >= spec:  # a maximum below the thermal spec power is not one
                self.max_w[pkg], self.max_w_source[pkg] = mx, "MSR_PKG_POWER_INFO (0x614) maximum power"
            else:
                self.max_w[pkg], self.max_w_source[pkg] = DEFAULT_MAX_PACKAGE_W, "stated default (no maximum in 0x614)"

    def _open_amd(self, packages, esu: int) -> None:
        for pkg, cpus in sorted(packages.items()):
            cpu0 = cpus[0][0]
            if self._probe(cpu0, MSR_AMD_PKG_ENERGY_STATUS):
                self._add("package", "cpu", cpu0, pkg, MSR_AMD_PKG_ENERGY_STATUS, esu)
            seen = set()
            for cpu, core in cpus:
                if core in seen:
                    continue
                seen.add(core)
                siblings = [c for c, k in cpus if k == core]
                # Any hardware thread of a core reads that core's counter (PPR: CORE_ENERGY_STAT is
                # per core). The core's last thread is used: with SMT the package register and a core
                # register are then never read through the same CPU's file, which lets a
                # file-backed fake hold both (0xC001029A and 0xC001029B overlap by 7 bytes there).
                reader = siblings[-1]
                if self._probe(reader, MSR_AMD_CORE_ENERGY_STATUS):
                    self._add(f"core:{cpu}", "cpu", reader, pkg, MSR_AMD_CORE_ENERGY_STATUS, esu,
                              f"physical core {core} of package {pkg}, CPUs {','.join(map(str, siblings))}",
                              cpus=siblings)
            self.max_w[pkg], self.max_w_source[pkg] = DEFAULT_MAX_PACKAGE_W, "stated default (AMD reports no maximum)"

    def _build_columns(self) -> None:
        self.columns = [Column(r["domain"], f"{r['path']}@{r['addr']:#x}", 2.0 ** -r["esu"], None, COUNTER_MASK)
                        for r in self.reads]

    def restrict(self, keep: Sequence[str]) -> None:
        self.reads = [r for r in self.reads if r["domain"] in keep]
        self._build_columns()

    def max_interval_s(self) -> float:
        """Longest safe time between two reads: the 32-bit counter's range in joules at the
        part's maximum power, halved (SAFETY). A longer interval could hide a whole wrap."""
        out = float("inf")
        for r in self.reads:
            wrap_j = WRAP * 2.0 ** -r["esu"]
            out = min(out, wrap_j / self.max_w.get(r["package"], DEFAULT_MAX_PACKAGE_W) / SAFETY)
        return out

    # ---- contract -------------------------------------------------------------------
    def domains(self) -> List[Domain]:
        out, done = [], set()
        for r in self.reads:
            d = r["domain"]
            if d in done:
                continue
            done.add(d)
            rs = [x for x in self.reads if x["domain"] == d]
            where = ", ".join(f"CPU {x['cpu']} (package {x['package']})" for x in rs)
            units = sorted({x["esu"] for x in rs})
            note = (f"measured: RAPL MSR {rs[0]['addr']:#x} read on {where}; unit 2^-{units[0]} J; low 32 bits, "
                    f"wrap at 2^32 counts; read at least every {self.max_interval_s():.3g} s")
            extra = "; ".join(sorted({x["note"] for x in rs if x["note"]}))
            if extra:
                note += f"; {extra}"
            if nesting_note(d):
                note += f"; {nesting_note(d)}"
            out.append(Domain(d, self.name, True, r["kind"], note, cpus=r["cpus"], **rapl_nesting(d)))
        return out

    def sources(self) -> Sequence[CounterSource]:
        return [CounterSource(PREAD_U64, r["fd"], r["addr"], label=f"{r['path']}@{r['addr']:#x}") for r in self.reads]

    def arithmetic(self) -> dict:
        return columns_arithmetic(self.name, self.columns)

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        """Column i is self.reads[i]: bits 31:0 of the MSR, unwrapped at 2^32 by modular
        subtraction, times its unit; the packages of one domain are added."""
        out, _ = energy_from_columns(ticks, self.name, self.columns)
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}
