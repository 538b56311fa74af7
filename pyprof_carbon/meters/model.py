"""The `model` meter: an estimate of CPU and RAM power when no counter can be read.

CPU: P(u) = P_idle + (P_max - P_idle) * u, u = machine CPU utilization (busy CPU time over
available CPU time). Linear in utilization as in Fan, Weber & Barroso, "Power provisioning for a
warehouse-sized computer", ISCA 2007. P_max = the TDP share of the CPUs this process may use: the
part's TDP (`data/cpu_tdp.csv`, CodeCarbon 3.3.2's table) / its hardware threads x those CPUs.
The part's threads: on bare metal the kernel's count per package (`siblings`); in a VM the guest
sees only its vCPUs, so from "N-Core" in the model name (x 2 for SMT), else unknown. Unknown part
or threads: 4 W per CPU (CodeCarbon 3.x's unknown-CPU default). P_idle = 0.1 * P_max (CodeCarbon's
floor at zero load). Being linear, cumulative energy is exact from cumulative busy time, whatever
the resolution of the busy-time source.
RAM: CodeCarbon 3.x's DIMM model (codecarbon/external/ram.py): 5 W per x86 DIMM (1.5 W on ARM),
tapering to 90/80/70 % beyond 4/8/16 DIMMs, at least 2 DIMMs' worth on x86 (3 W on ARM). The
DIMMs are counted from SMBIOS (populated type-17 devices) when the table is readable (root),
else estimated from the installed size as CodeCarbon does. In a VM the guest's DIMMs are virtual
and the host's are shared: its memory is taken as a share of 32 GB host DIMMs (no minimum).
Installed DIMMs rather than the process's resident memory: DRAM power is mostly background and
refresh of every installed DIMM, whether a process touches it or not, and the RAPL dram domain
this stands in for measures the whole machine too. Constant over the run.
Every domain it produces is `measured=False` and names these constants.
"""
from __future__ import annotations

import csv
import functools
import math
import os
import re
from typing import Dict, List, Optional, Tuple

from .._lazy import numpy as np

from ..counters import Ticks
from ..recording import Domain, EnergySeries
from .base import Meter

DEFAULT_W_PER_CPU = 4.0
IDLE_FRACTION = 0.1
DIMM_W = 5.0           # CodeCarbon 3.x RAM_SLOT_POWER_X86
DIMM_W_ARM = 1.5       # CodeCarbon 3.x, ARM (LPDDR)
VM_HOST_DIMM_GB = 32.0  # assumed size of a host's server DIMM, for a VM's share
DATA = os.path.join(os.path.dirname(__file__), "data", "cpu_tdp.csv")
DMI_TABLE = "/sys/firmware/dmi/tables/DMI"
TABLE_SOURCE = "CodeCarbon 3.3.2 cpu_power.csv, MIT"


def cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    return _cpuinfo(cpuinfo_path).get("model name", "unknown CPU")


def _cpuinfo(path: str) -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (keys lowercased)."""
    out: Dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    out.setdefault(k.strip().lower(), v.strip())
    except OSError:
        pass
    return out


def normalize(name: str) -> str:
    """A CPU name reduced to what identifies the part, so that /proc/cpuinfo's
    "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz" and CodeCarbon's "Intel Xeon E5-2686 v4" agree."""
    s = name.lower().replace("®", " ").replace("™", " ")
    s = re.sub(r"\((r|tm)\)", " ", s)
    s = re.sub(r"@\s*[\d.]+\s*[gm]hz", " ", s)           # clock: "CPU @ 2.30GHz"
    s = re.sub(r"\(.*?\)", " ", s)                       # "(OEM Only)", "(9M Cache, ...)"
    s = re.sub(r"\s(with|w/)\s.*$", " ", s)              # "with Radeon Graphics"
    s = re.sub(r"\b\d+(st|nd|rd|th) gen\b", " ", s)       # "12th Gen Intel"
    s = re.sub(r"\b\d+-cores?\b", " ", s)                 # "64-Core Processor"
    s = re.sub(r"\b(intel|amd|cpu|processor)\b", " ", s)  # vendor and filler words
    s = re.sub(r"\b(i\d) (\d)", r"\1-\2", " ".join(s.split()))  # "i5 processor 14401E" = "i5-14401E"
    return s


@functools.lru_cache(maxsize=1)
def _table() -> Dict[str, dict]:
    """Normalised name -> row. Names that normalise alike but disagree on TDP are left out
    (ambiguous; CodeCarbon's non-greedy matching also answers "unknown" on a tie)."""
    table: Dict[str, dict] = {}
    clash = set()
    with open(DATA, newline="") as f:
        for r in csv.DictReader(f):
            key = normalize(r["model"])
            if key in table and table[key]["tdp_w"] != r["tdp_w"]:
                clash.add(key)
            table.setdefault(key, r)
    return {k: v for k, v in table.items() if k not in clash}


def lookup_tdp(model: str) -> Optional[dict]:
    """The TDP table row ({"model", "tdp_w"}) of this CPU, by exact normalised name, or None."""
    key = normalize(model)
    return _table().get(key) if re.search(r"\d", key) else None


def part_threads(model: str, info: Dict[str, str]) -> Tuple[Optional[int], str]:
    """(hardware threads of one package of this part or None, how we know)."""
    if "hypervisor" not in info.get("flags", "").split():
        if info.get("siblings", "").isdigit():
            return int(info["siblings"]), "threads per package from /proc/cpuinfo"
    m = re.search(r"\b(\d+)-cores?\b", model, re.I)
    if m:
        return 2 * int(m.group(1)), f"{m.group(1)} cores in the model name x 2-way SMT"
    return None, "VM: the host part's thread count is not visible"


def ram_total_gb(meminfo_path: str = "/proc/meminfo") -> float:
    try:
        with open(meminfo_path) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def dmi_dimms(path: str = DMI_TABLE) -> Optional[int]:
    """Populated memory devices (SMBIOS type 17, size word != 0) in the raw SMBIOS table, or None
    when it is unreadable (root only) or lists none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    n = i = 0
    while i + 4 <= len(data) and data[i] != 127:  # type 127: end of table
        kind, length = data[i], data[i + 1]
        if kind == 17 and length >= 0x0E:
            n += int.from_bytes(data[i + 0x0C:i + 0x0E], "little") != 0  # 0: empty slot
        end = data.find(b"\0\0", i + length)  # the structure's strings end with a double NUL
        if end < 0:
            break
        i = end + 2
    return n or None


def estimate_dimms(gb: float) -> int:
    """CodeCarbon 3.x's fallback (RAM._estimate_dimm_count): a typical DIMM count for this size."""
    if gb <= 2:
        return 1
    if gb <= 16:
        return 2
    if gb <= 32:
        return 4
    if gb <= 128:
        return 4 if gb <= 64 else 8
    size = next((s for s in (128, 64, 32, 16, 8, 4) if s <= gb / 8), None)
    return min(math.ceil(gb / size), 32) if size else 8


def dimm_watts(n: float, per: float) -> float:
    """CodeCarbon 3.x's taper: full power for the first 4 DIMMs, 90 % for the next 4, 80 % up
    to 16, 70 % beyond."""
    w, left = 0.0, n
    for count, share in ((4, 1.0), (4, 0.9), (8, 0.8), (math.inf, 0.7)):
        w += per * share * min(left, count)
        left -= min(left, count)
    return w


class ModelMeter(Meter):
    name = "model"

    def __init__(self, cpu_watts: Optional[float] = None, tdp: Optional[float] = None,
                 ncpu: Optional[int] = None, cpuinfo_path: str = "/proc/cpuinfo",
                 meminfo_path: str = "/proc/meminfo", dmi_path: str = DMI_TABLE):
        self.cpu_watts, self.tdp = cpu_watts, tdp
        self.ncpu = ncpu or len(os.sched_getaffinity(0))
        self.info = _cpuinfo(cpuinfo_path)
        self.model = self.info.get("model name", "unknown CPU")
        self.ram_gb = ram_total_gb(meminfo_path)
        self.dmi_path = dmi_path
        self.p_max = self.p_idle = self.ram_w = self.ram_dimms = 0.0
        self.cpu_note = self.ram_note = ""

    def open(self) -> None:
        n = self.ncpu
        if self.cpu_watts is not None:
            self.p_max = float(self.cpu_watts)
            how = f"--cpu-watts {self.cpu_watts:g} W"
        else:
            row = lookup_tdp(self.model)
            threads, whence = part_threads(self.model, self.info)
            if self.tdp is not None:
                per = self.tdp / (threads or n)
                how = f"--tdp {self.tdp:g} W / {threads or n} threads ({whence if threads else 'CPUs seen'})"
            elif row and threads:
                per = float(row["tdp_w"]) / threads
                how = (f"TDP {row['tdp_w']} W of {row['model']} ({TABLE_SOURCE}) / {threads} threads "
                       f"({whence})")
            else:
                per = DEFAULT_W_PER_CPU
                why = (f"TDP {row['tdp_w']} W of {row['model']} known, but {whence}" if row
                       else f"unknown CPU '{self.model}'")
                how = f"{why}: {DEFAULT_W_PER_CPU:g} W per CPU (CodeCarbon 3.x default)"
            self.p_max = per * n
            how = f"{per:.3g} W per CPU x {n} CPUs; {how}"
        self.p_idle = IDLE_FRACTION * self.p_max
        self.ram_w, ram_how = self._ram()
        self.cpu_note = (f"estimated: P = P_idle + (P_max - P_idle) * utilization, P_max = {self.p_max:.3g} W "
                         f"({how}), P_idle = {IDLE_FRACTION:g} * P_max = {self.p_idle:.3g} W; linear model "
                         f"after Fan, Weber & Barroso (ISCA 2007)")
        self.ram_note = f"estimated: {ram_how} = {self.ram_w:.3g} W (CodeCarbon 3.x DIMM model), constant"

    def _ram(self) -> Tuple[float, str]:
        arm = os.uname().machine.lower().startswith(("arm", "aarch"))
        per, floor = (DIMM_W_ARM, 3.0) if arm else (DIMM_W, 2 * DIMM_W)
        if "hypervisor" in self.info.get("flags", "").split():
            self.ram_dimms = self.ram_gb / VM_HOST_DIMM_GB
            return per * self.ram_dimms, (f"VM: {self.ram_gb:.1f} GB / {VM_HOST_DIMM_GB:g} GB per host DIMM "
                                          f"(assumed) = {self.ram_dimms:.2f} DIMM x {per:g} W per DIMM")
        counted = dmi_dimms(self.dmi_path)
        self.ram_dimms = counted or estimate_dimms(self.ram_gb)
        whence = ("populated, SMBIOS type 17" if counted
                  else f"estimated from {self.ram_gb:.1f} GB, CodeCarbon's fallback")
        return (max(floor, dimm_watts(self.ram_dimms, per)),
                f"{self.ram_dimms:g} DIMMs ({whence}) x {per:g} W per DIMM, tapering beyond 4, "
                f"at least {floor:g} W")

    def constants(self) -> dict:
        return {"cpu_model": self.model, "ncpu": self.ncpu, "p_max_w": self.p_max,
                "p_idle_w": self.p_idle, "ram_gb": self.ram_gb, "ram_dimms": self.ram_dimms,
                "ram_w": self.ram_w}

    def domains(self) -> List[Domain]:
        return [Domain("package", self.name, False, "cpu", self.cpu_note),
                Domain("dram", self.name, False, "dram", self.ram_note)]

    def arithmetic(self) -> dict:
        return {"kind": "model", "p_idle_w": float(self.p_idle), "p_max_w": float(self.p_max),
                "ncpu": int(self.ncpu), "ram_w": float(self.ram_w)}

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        return energy_from_arithmetic(self.arithmetic(), ticks, sched)


def energy_from_arithmetic(a: dict, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
    """The model's energy (ModelMeter.arithmetic) of a run's scheduler timeline."""
    p_idle, p_max, ncpu, ram_w = (float(a[k]) for k in ("p_idle_w", "p_max_w", "ncpu", "ram_w"))
    t = sched.t_ns.astype(np.float64)
    elapsed = (t - t[0]) / 1e9
    busy_cpu_s = sched.machine_busy_ns.astype(np.float64) / 1e9
    # E(t) = P_idle * t + (P_max - P_idle) * (busy CPU-seconds / CPUs): the integral of P(u).
    cpu_j = p_idle * elapsed + (p_max - p_idle) * busy_cpu_s / ncpu
    return {"package": EnergySeries(sched.t_ns, np.maximum.accumulate(cpu_j)),
            "dram": EnergySeries(sched.t_ns, ram_w * elapsed)}
