"""`rapl-powercap`: RAPL energy counters through the Linux powercap sysfs tree (Intel and AMD).

Reads `<root>/intel-rapl:N[:M]/energy_uj` (root: `PYPROF_CARBON_POWERCAP_ROOT`, default
`/sys/class/powercap`). AMD parts use the same zone names (powercap support for AMD since Linux
5.11). Facts this follows (Linux Documentation/power/powercap/powercap.rst, drivers/powercap/
intel_rapl_common.c):

- Zones are known by their `name` file, never by their index: `package-N` (or `package-N-die-M`)
  for a socket, `psys` for the platform, subzones `core` (PP0), `uncore` (PP1) and `dram`.
  `intel-rapl:N` is not socket N when psys exists.
- `intel-rapl-mmio:N` zones (some Intel client parts) are a second interface to the same package
  counters: one copy is counted (the MSR-backed `intel-rapl` one when both exist).
- Sockets (and dies) are summed into one `package` domain, and likewise `core`, `uncore`, `dram`.
  `core` and `uncore` are inside `package`; `psys` contains package and DRAM and more: they are
  reported as separate domains and never added to one another.
- `energy_uj` wraps at `max_energy_range_uj` (+1). When that file is missing or unreadable the
  wrap is unknown: a backwards step is then filled with the power of the neighbouring intervals
  (never negative energy), and the domain's notes say so.
- Since Linux 5.10 `energy_uj` is readable by root only (Platypus, CVE-2020-8694/8695). This module
  never changes permissions.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Dict, List, Optional, Sequence

from ..counters import TEXT_U64, CounterSource, Ticks, read_source
from ..errors import Unavailable
from ..recording import Domain, EnergySeries
from .base import Meter
from .rapl_common import Column, columns_arithmetic, energy_from_columns, looks_like_vm, rapl_nesting

DEFAULT_ROOT = "/sys/class/powercap"
ZONE_RE = re.compile(r"^(intel-rapl|intel-rapl-mmio):(\d+)(?::(\d+))?$")
# domain -> Domain.kind; sub-zone names as intel_rapl_common.c's rapl_domain_names
KINDS = {"package": "cpu", "core": "cpu", "uncore": "cpu", "dram": "dram", "psys": "psys"}
NESTING = {"core": "inside package (PP0: the cores); not to be added to package",
           "uncore": "inside package (PP1: uncore/integrated graphics); not to be added to package",
           "psys": "the whole platform: contains package, DRAM and more; never added to them",
           "package": "", "dram": ""}

PLATYPUS_REASON = ("energy_uj is readable by root only since Linux 5.10 (Platypus, CVE-2020-8694)")
PLATYPUS_FIX = ("run as root (sudo; pyprof-carbon can drop back to your user after opening the "
                "counters), or use the perf PMU (--meter rapl-perf) with CAP_PERFMON or "
                "kernel.perf_event_paranoid <= 0; do not chmod the counters (they are a side channel)")

J_PER_UJ = 1e-6


def kernel_readable(path: str, euid: Optional[int] = None, egid: Optional[int] = None,
                    groups: Optional[Sequence[int]] = None) -> bool:
    """Whether the kernel's DAC check lets (euid, egid, groups) read `path` (sysfs has no ACLs):
    root passes (CAP_DAC_OVERRIDE), else the owner, group or other read bit decides."""
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    groups = os.getgroups() if groups is None else groups
    try:
        st = os.stat(path)
    except OSError:
        return False
    if euid == 0:
        return True
    if st.st_uid == euid:
        return bool(st.st_mode & 0o400)
    if st.st_gid == egid or st.st_gid in groups:
        return bool(st.st_mode & 0o040)
    return bool(st.st_mode & 0o004)


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class RaplPowercap(Meter):
    name = "rapl-powercap"
    cadence_ms = 1.0  # RAPL updates about every 1 ms; a read costs 2-3 µs here (benchmarks/meter_read_cost.py)

    def __init__(self, root: Optional[str] = None, readable: Optional[Callable[[str], bool]] = None,
                 cpuinfo: Optional[str] = None):
        self.root = root or os.environ.get("PYPROF_CARBON_POWERCAP_ROOT", DEFAULT_ROOT)
        self.readable = readable or kernel_readable
        self.cpuinfo = cpuinfo
        self.zones: List[dict] = []     # the zones read, in source order
        self.columns: List[Column] = []
        self.skipped: List[str] = []    # duplicates and unusable zones, for doctor and the notes
        self.filled_steps: Dict[str, int] = {}
        self._fds: List[int] = []

    # ---- discovery ------------------------------------------------------------------
    def discover(self) -> List[dict]:
        """Every RAPL zone under the root: {path, dir, iface, name, domain, socket, max_uj}."""
        if not os.path.isdir(self.root):
            raise self._no_powercap(f"no {self.root}")
        entries = sorted(os.listdir(self.root))
        zones = []
        for e in entries:
            m = ZONE_RE.match(e)
            if not m:
                continue
            path = os.path.join(self.root, e)
            name = _read_text(os.path.join(path, "name"))
            if name is None:
                self.skipped.append(f"{e}: no readable name file")
                continue
            zones.append({"dir": e, "path": path, "iface": m.group(1), "top": m.group(2),
                          "sub": m.group(3), "name": name})
        if not zones:
            raise self._no_powercap(f"{self.root} has no intel-rapl zones")
        tops = {(z["iface"], z["top"]): z for z in zones if z["sub"] is None}
        out = []
        for z in zones:
            parent = z if z["sub"] is None else tops.get((z["iface"], z["top"]))
            pname = parent["name"] if parent else f"zone-{z['top']}"
            base = z["name"].split("-", 1)[0]
            if z["sub"] is None and base == "package":
                domain = "package"
            elif z["sub"] is None and z["name"] == "psys":
                domain = "psys"
            elif z["sub"] is not None and z["name"] in ("core", "uncore", "dram"):
                domain = z["name"]
            elif z["sub"] is None and z["name"] == "dram":  # some servers list dram at top level
                domain = "dram"
            else:
                self.skipped.append(f"{z['dir']}: unknown zone name {z['name']!r}")
                continue
            z["domain"] = domain
            z["socket"] = pname  # which package this is part of (psys: the platform)
            out.append(z)
        # one copy per (domain, socket): the MSR-backed intel-rapl zone first, mmio only if alone
        out.sort(key=lambda z: (z["iface"] != "intel-rapl", z["dir"]))
        seen, unique = set(), []
        for z in out:
            key = (z["domain"], z["socket"] if z["domain"] != "psys" else "psys")
            if key in seen:
                self.skipped.append(f"{z['dir']}: duplicate of {z['domain']} of {z['socket']} (not counted twice)")
                continue
            seen.add(key)
            unique.append(z)
        unique.sort(key=lambda z: (list(KINDS).index(z["domain"]), z["socket"], z["dir"]))
        return unique

    def _no_powercap(self, what: str) -> Unavailable:
        if looks_like_vm(self.cpuinfo):
            return Unavailable(
                f"no powercap: {what}; this looks like a VM without RAPL passthrough (the CPU reports a hypervisor)",
                "run on bare metal or an instance type that exposes RAPL (e.g. a bare-metal cloud instance); "
                "the model meter estimates meanwhile")
        return Unavailable(
            f"no powercap: {what}",
            "load the RAPL driver: modprobe intel_rapl_msr (Intel; AMD needs Linux >= 5.11), "
            "or use --meter rapl-msr / rapl-perf")

    def open(self) -> None:
        zones = self.discover()
        locked = [z for z in zones if not self.readable(os.path.join(z["path"], "energy_uj"))]
        if locked:
            self.close()
            raise Unavailable(f"{PLATYPUS_REASON}: cannot read {os.path.join(locked[0]['path'], 'energy_uj')}",
                                   PLATYPUS_FIX)
        for z in zones:
            ep = os.path.join(z["path"], "energy_uj")
            try:
                fd = os.open(ep, os.O_RDONLY | os.O_CLOEXEC)
            except PermissionError:
                self.close()
                raise Unavailable(f"{PLATYPUS_REASON}: cannot read {ep}", PLATYPUS_FIX) from None
            except OSError as e:
                self.skipped.append(f"{z['dir']}: cannot open energy_uj ({e.strerror})")
                continue
            try:
                read_source(CounterSource(TEXT_U64, fd, label=ep))
            except (OSError, ValueError, IndexError) as e:
                os.close(fd)
                self.skipped.append(f"{z['dir']}: energy_uj read fails ({getattr(e, 'strerror', None) or e})")
                continue
            mx = _read_text(os.path.join(z["path"], "max_energy_range_uj"))
            try:
                z["max_uj"] = int(mx) if mx else None
            except ValueError:
                z["max_uj"] = None
            if not z["max_uj"]:
                z["max_uj"] = None
            z["fd"], z["energy_path"] = fd, ep
            self._fds.append(fd)
            self.zones.append(z)
        if not self.zones:
            raise Unavailable(f"no readable RAPL zone under {self.root}: " + "; ".join(self.skipped),
                                   "check the intel_rapl driver (dmesg) or use --meter rapl-perf")
        self._build_columns()

    def _build_columns(self) -> None:
        self.columns = [Column(z["domain"], z["energy_path"], J_PER_UJ,
                               None if z["max_uj"] is None else float(z["max_uj"]) + 1.0) for z in self.zones]

    def restrict(self, keep: Sequence[str]) -> None:
        """Keep only these domains (auto selection: another meter measures the others)."""
        for z in [z for z in self.zones if z["domain"] not in keep]:
            os.close(z["fd"])
            self._fds.remove(z["fd"])
        self.zones = [z for z in self.zones if z["domain"] in keep]
        self._build_columns()

    # ---- contract -------------------------------------------------------------------
    def domains(self) -> List[Domain]:
        out = []
        for d in KINDS:
            zs = [z for z in self.zones if z["domain"] == d]
            if not zs:
                continue
            parts = ", ".join(f"{z['socket'] if d != 'package' else z['name']} ({z['dir']})" for z in zs)
            nowrap = [z["dir"] for z in zs if z["max_uj"] is None]
            wrap = ("wrap at max_energy_range_uj" if not nowrap else
                    f"max_energy_range_uj unreadable for {', '.join(nowrap)}: a wrap is filled with the "
                    f"neighbouring intervals' power")
            note = f"measured: RAPL via powercap, sum of {parts}; {wrap}"
            if NESTING[d]:
                note += f"; {NESTING[d]}"
            out.append(Domain(d, self.name, True, KINDS[d], note, **rapl_nesting(d)))
        return out

    def sources(self) -> Sequence[CounterSource]:
        return [CounterSource(TEXT_U64, z["fd"], label=z["energy_path"]) for z in self.zones]

    def arithmetic(self) -> dict:
        return columns_arithmetic(self.name, self.columns)

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        """Column i of `ticks.of(name)` is zone i of `self.zones` (sources() order); each zone's
        µJ counter is unwrapped at its own max_energy_range_uj + 1, converted to J, and the zones
        of one domain (sockets, dies) are added."""
        out, self.filled_steps = energy_from_columns(ticks, self.name, self.columns)
        return out

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        for z in self.zones:
            z["fd"] = -1
