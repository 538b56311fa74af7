"""What the RAPL meters (rapl-powercap, rapl-msr, rapl-perf) share: reading the CPU's identity and
topology, and turning raw energy counter columns into cumulative joules per domain."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

from .._lazy import numpy as np

from ..counters import Ticks, fill_missing_int, unwrap_counter
from ..recording import EnergySeries


def rapl_nesting(domain: str) -> Dict[str, Tuple[str, ...]]:
    """How a RAPL domain overlaps the others, as keywords of recording.Domain: core (PP0), uncore
    (PP1) and AMD's per-core core:N counters are parts of their package's; psys counts the whole
    platform, package and DRAM included."""
    if domain in ("core", "uncore") or domain.startswith("core:"):
        return {"inside": ("package",)}
    if domain == "psys":
        return {"contains": ("package", "dram")}
    return {}


def nesting_note(domain: str) -> str:
    """The words a domain's notes add on its nesting (rapl_nesting), for a reader of the report."""
    nest = rapl_nesting(domain)
    if nest.get("inside"):
        return f"inside {' and '.join(nest['inside'])}, not to be added to it"
    if nest.get("contains"):
        return "the whole platform: contains package and DRAM, never added to them"
    return ""


def cpuinfo_path() -> str:
    """/proc/cpuinfo, or the file PYPROF_CARBON_CPUINFO names (tests give fake CPUs)."""
    return os.environ.get("PYPROF_CARBON_CPUINFO", "/proc/cpuinfo")


def cpuinfo_fields(path: Optional[str] = None) -> Dict[str, str]:
    """vendor_id, cpu family, model (decimal text) of the first processor in /proc/cpuinfo."""
    path = path or cpuinfo_path()
    out: Dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    if out:
                        break
                    continue
                k, _, v = line.partition(":")
                out.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return out


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


def topology(cpu_root: str) -> List[Tuple[int, int, int]]:
    """(cpu, physical_package_id, core_id) of every CPU with a topology directory."""
    out = []
    try:
        names = os.listdir(cpu_root)
    except OSError:
        return out
    for n in names:
        if not (n.startswith("cpu") and n[3:].isdigit()):
            continue
        top = os.path.join(cpu_root, n, "topology")
        try:
            with open(os.path.join(top, "physical_package_id")) as f:
                pkg = int(f.read())
            with open(os.path.join(top, "core_id")) as f:
                core = int(f.read())
        except (OSError, ValueError):
            continue
        out.append((int(n[3:]), pkg, core))
    return sorted(out)


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
        arithmetic, exact whatever the magnitude. `wrap` (powercap): counters.unwrap_counter. Neither:
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


def columns_arithmetic(owner: str, columns: Sequence[Column]) -> dict:
    """A RAPL meter's Meter.arithmetic(): its columns (energy_from_arithmetic reads it)."""
    return {"kind": "columns", "owner": owner,
            "columns": [[c.domain, c.label, float(c.j_per_count), None if c.wrap is None else float(c.wrap),
                         None if c.mask is None else int(c.mask)] for c in columns]}


def energy_from_arithmetic(a: dict, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
    columns = [Column(str(d), str(label), float(j), None if w is None else float(w), None if m is None else int(m))
               for d, label, j, w, m in a["columns"]]
    return energy_from_columns(ticks, str(a["owner"]), columns)[0]


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
