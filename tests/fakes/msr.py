"""Fake /dev/cpu/<n>/msr files, CPU topology and /proc/cpuinfo, and a thread advancing RAPL MSRs.

An MSR file is a sparse file in which pread(fd, 8, addr) returns the register as 8 little-endian
bytes, as the Linux msr driver does. Energy MSRs keep the counter in bits 31:0 and wrap at 2^32;
the fake puts junk in the reserved bits 63:32 so a meter that forgets the mask is caught.
A file cannot hold two registers less than 8 apart (0x611 PKG energy, 0x614 PKG_POWER_INFO, 0x619
DRAM energy overlap), so the fake never writes MSR_PKG_POWER_INFO; tests of it patch the read.
Package-scope registers hold the same value on every CPU of the package; AMD's core energy
register the same value on both threads of a core.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from pyprof_carbon.meters import msr as M

from .counter_writer import CounterWriter

RESERVED_JUNK = 0xA5A5 << 40


class FakeMsr:
    def __init__(self, base, vendor: str = "GenuineIntel", family: int = 6, model: int = 0x55,
                 packages: int = 2, cores: int = 2, threads: int = 2, esu: int = 14, pu: int = 3,
                 hypervisor: bool = False):
        self.base = str(base)
        self.root = os.path.join(self.base, "dev", "cpu")
        self.cpu_root = os.path.join(self.base, "sys", "cpu")
        self.cpuinfo = os.path.join(self.base, "cpuinfo")
        os.makedirs(self.base, exist_ok=True)
        self.esu = esu
        self.counters: List[dict] = []  # {cpus, addr, watts, esu, start}
        self.topo: List[Tuple[int, int, int]] = []
        cpu = 0
        for p in range(packages):
            for c in range(cores):
                for _ in range(threads):
                    self.topo.append((cpu, p, c))
                    cpu += 1
        with open(self.cpuinfo, "w") as f:
            for n, p, c in self.topo:
                flags = "fpu vme de pse tsc msr" + (" hypervisor" if hypervisor else "")
                f.write(f"processor\t: {n}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
                        f"physical id\t: {p}\ncore id\t\t: {c}\nflags\t\t: {flags}\n\n")
        for n, p, c in self.topo:
            top = os.path.join(self.cpu_root, f"cpu{n}", "topology")
            os.makedirs(top, exist_ok=True)
            for k, v in (("physical_package_id", p), ("core_id", c)):
                with open(os.path.join(top, k), "w") as f:
                    f.write(f"{v}\n")
            d = os.path.join(self.root, str(n))
            os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "msr"), "wb").close()
        amd = vendor != "GenuineIntel"
        self.write_all(M.MSR_AMD_RAPL_POWER_UNIT if amd else M.MSR_RAPL_POWER_UNIT,
                       (esu << 8) | pu | (10 << 16) | RESERVED_JUNK)

    def cpus(self, package: Optional[int] = None, core: Optional[int] = None) -> List[int]:
        return [n for n, p, c in self.topo if (package is None or p == package) and (core is None or c == core)]

    def path(self, cpu: int) -> str:
        return os.path.join(self.root, str(cpu), "msr")

    def write(self, cpu: int, addr: int, value: int) -> None:
        fd = os.open(self.path(cpu), os.O_WRONLY)
        try:
            os.pwrite(fd, int(value).to_bytes(8, "little"), addr)
        finally:
            os.close(fd)

    def write_all(self, addr: int, value: int, cpus: Optional[List[int]] = None) -> None:
        for n in (self.cpus() if cpus is None else cpus):
            self.write(n, addr, value)

    def counter(self, addr: int, watts: float, package: Optional[int] = None, core: Optional[int] = None,
                start: int = 0, esu: Optional[int] = None, cpus: Optional[List[int]] = None) -> "FakeMsr":
        """An energy register advancing at `watts` (units of 2^-esu J), on the CPUs of its scope."""
        cpus = self.cpus(package, core) if cpus is None else cpus
        c = {"cpus": cpus, "addr": addr, "watts": watts, "esu": self.esu if esu is None else esu, "start": start}
        self.counters.append(c)
        self.write_all(addr, (start & 0xFFFFFFFF) | RESERVED_JUNK, cpus)
        return self

    def intel(self, pkg_w=(50.0, 30.0), core_w=(30.0, 20.0), dram_w=(8.0, 6.0), psys_w=None,
              dram_esu=None, start=0xFFFF0000) -> "FakeMsr":
        for p, w in enumerate(pkg_w):
            self.counter(M.MSR_PKG_ENERGY_STATUS, w, package=p, start=start)
            if core_w:
                self.counter(M.MSR_PP0_ENERGY_STATUS, core_w[p], package=p, start=start)
            if dram_w:
                self.counter(M.MSR_DRAM_ENERGY_STATUS, dram_w[p], package=p, start=start, esu=dram_esu)
        if psys_w:
            self.counter(M.MSR_PLATFORM_ENERGY_STATUS, psys_w, start=start)
        return self

    def amd(self, pkg_w=(60.0,), core_w=5.0, start=0xFFFFF000) -> "FakeMsr":
        pkgs = sorted({p for _, p, _ in self.topo})
        for p in pkgs:
            # 0xC001029A and 0xC001029B overlap in a file: the package register lives on the
            # package's first CPU only, each core's register on the core's last thread only (where
            # the meter reads them; the hardware would show them on every thread of their scope).
            first = self.cpus(p)[0]
            self.counter(M.MSR_AMD_PKG_ENERGY_STATUS, pkg_w[p], start=start, cpus=[first])
            for c in sorted({c for _, pp, c in self.topo if pp == p}):
                last = self.cpus(p, c)[-1]
                assert last != first, "the AMD fake needs SMT (threads >= 2): registers overlap"
                self.counter(M.MSR_AMD_CORE_ENERGY_STATUS, core_w + c, start=start, cpus=[last])
        return self

    def env(self) -> Dict[str, str]:
        return {"PYPROF_CARBON_MSR_ROOT": self.root, "PYPROF_CARBON_CPUINFO": self.cpuinfo,
                "PYPROF_CARBON_CPU_SYSFS_ROOT": self.cpu_root}


class FakeMsrWriter(CounterWriter):
    """Advances every counter as start + watts * elapsed / unit, modulo 2^32, every `period_s`."""

    def __init__(self, fake: FakeMsr, period_s: float = 0.0005):
        super().__init__(period_s)
        self.fake = fake

    def open_fds(self) -> Dict[int, int]:
        return {n: os.open(self.fake.path(n), os.O_WRONLY) for n in self.fake.cpus()}

    def write_counters(self, fds: Dict[int, int], now_ns: int) -> None:
        for i, c in enumerate(self.fake.counters):
            counts = c["start"] + c["watts"] * (now_ns - self.t0_ns) / 1e9 * 2.0 ** c["esu"]
            v = int(counts) & 0xFFFFFFFF
            self.note(i, v)
            data = (v | RESERVED_JUNK).to_bytes(8, "little")
            for n in c["cpus"]:
                os.pwrite(fds[n], data, c["addr"])
