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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .._lazy import numpy as np

from .base import (MISSING, TEXT_U64, CounterSource, Domain, EnergySeries, Meter, MeterUnavailable,
                   Ticks, read_source, unwrap_counter)

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


def cpuinfo_path() -> str:
    return os.environ.get("PYPROF_CARBON_CPUINFO", "/proc/cpuinfo")


def looks_like_vm(path: Optional[str] = None) -> bool:
    """True when the CPU flags include `hypervisor` (CPUID.1:ECX bit 31, set by hypervisors)."""
    try:
        with open(path or cpuinfo_path()) as f:
            for line in f:
                if line.startswith("flags"):
                    return "hypervisor" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return False


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


def unwrap_unknown(values: np.ndarray, t_ns: np.ndarray) -> Tuple[np.ndarray, int]:
    """Cumulative counts of a counter whose wrap value is unknown. A backwards step (a wrap, or a
    reset) cannot be measured: it is filled with the power of the nearest good intervals before and
    after it (the whole run's when there are none). Returns (cumulative, number of filled steps)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v, 0
    d = np.diff(v)
    dt = np.diff(np.asarray(t_ns, dtype=np.float64))
    bad = d < 0
    nbad = int(bad.sum())
    if nbad:
        good = ~bad & (dt > 0)
        if good.any():
            gi = np.flatnonzero(good)
            rate = d[gi] / dt[gi]
            bi = np.flatnonzero(bad)
            d[bi] = np.interp(bi, gi, rate) * np.maximum(dt[bi], 0.0)
        else:
            d[bad] = 0.0
    d = np.maximum(d, 0.0)
    return np.concatenate(([0.0], np.cumsum(d))), nbad


class Column:
    """One raw counter column of a meter: which domain it feeds and how to turn it into joules."""

    def __init__(self, domain: str, label: str, j_per_count: float, wrap: Optional[float],
                 mask: Optional[int] = None):
        self.domain, self.label, self.j_per_count, self.wrap, self.mask = domain, label, j_per_count, wrap, mask

    def joules(self, raw: np.ndarray, t_ns: np.ndarray) -> Tuple[np.ndarray, int]:
        """Cumulative joules from a raw uint64 column (failed reads repeat the last good one).

        `mask` (a power-of-two counter: MSR 2**32, perf 2**64): deltas in modular integer
        arithmetic, exact whatever the magnitude. `wrap` (powercap): base.unwrap_counter. Neither:
        the wrap is unknown, see unwrap_unknown."""
        v = fill_missing_int(np.asarray(raw, dtype=np.uint64))
        if self.mask is not None:
            m = np.uint64(self.mask)
            v = v & m
            d = (v[1:] - v[:-1]) & m if v.size else v
            cum, nbad = np.concatenate(([0.0], np.cumsum(d.astype(np.float64)))) if v.size else np.zeros(0), 0
        elif self.wrap is not None:
            cum, nbad = unwrap_counter(v.astype(np.float64), self.wrap), 0
        else:
            cum, nbad = unwrap_unknown(v.astype(np.float64), t_ns)
        return cum * self.j_per_count, nbad


def fill_missing_int(v: np.ndarray) -> np.ndarray:
    """base.fill_missing without the float conversion (64-bit counters keep every bit)."""
    good = v != np.uint64(MISSING)
    if good.all():
        return v
    if not good.any():
        return np.zeros(len(v), dtype=np.uint64)
    idx = np.where(good, np.arange(len(v)), -1)
    np.maximum.accumulate(idx, out=idx)
    idx[idx < 0] = int(np.argmax(good))
    return v[idx]


def energy_from_columns(ticks: Ticks, owner: str, columns: Sequence[Column]) -> Tuple[Dict[str, EnergySeries], Dict[str, int]]:
    """Sum each domain's columns (sockets, cores) into one cumulative series per domain."""
    raw = ticks.of(owner)
    t = np.asarray(ticks.t_ns, dtype=np.int64)
    total: Dict[str, np.ndarray] = {}
    filled: Dict[str, int] = {}
    for i, col in enumerate(columns):
        j, nbad = col.joules(raw[:, i], t)
        total[col.domain] = total.get(col.domain, 0.0) + j
        filled[col.domain] = filled.get(col.domain, 0) + nbad
    out = {}
    for d, j in total.items():
        j = np.maximum.accumulate(np.asarray(j, dtype=np.float64)) if len(t) else np.zeros(0)
        out[d] = EnergySeries(t, j)
    return out, filled


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

    def _no_powercap(self, what: str) -> MeterUnavailable:
        if looks_like_vm(self.cpuinfo):
            return MeterUnavailable(
                f"no powercap: {what}; this looks like a VM without RAPL passthrough (the CPU reports a hypervisor)",
                "run on bare metal or an instance type that exposes RAPL (e.g. a bare-metal cloud instance); "
                "the model meter estimates meanwhile")
        return MeterUnavailable(
            f"no powercap: {what}",
            "load the RAPL driver: modprobe intel_rapl_msr (Intel; AMD needs Linux >= 5.11), "
            "or use --meter rapl-msr / rapl-perf")

    def open(self) -> None:
        zones = self.discover()
        locked = [z for z in zones if not self.readable(os.path.join(z["path"], "energy_uj"))]
        if locked:
            self.close()
            raise MeterUnavailable(f"{PLATYPUS_REASON}: cannot read {os.path.join(locked[0]['path'], 'energy_uj')}",
                                   PLATYPUS_FIX)
        for z in zones:
            ep = os.path.join(z["path"], "energy_uj")
            try:
                fd = os.open(ep, os.O_RDONLY | os.O_CLOEXEC)
            except PermissionError:
                self.close()
                raise MeterUnavailable(f"{PLATYPUS_REASON}: cannot read {ep}", PLATYPUS_FIX) from None
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
            raise MeterUnavailable(f"no readable RAPL zone under {self.root}: " + "; ".join(self.skipped),
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
            out.append(Domain(d, self.name, True, KINDS[d], note))
        return out

    def sources(self) -> Sequence[CounterSource]:
        return [CounterSource(TEXT_U64, z["fd"], label=z["energy_path"]) for z in self.zones]

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
