"""A fake /sys/class/powercap tree and a thread that advances its counters at a known power.

Layout as on real machines (Linux drivers/powercap/intel_rapl_common.c): `intel-rapl:N` top zones
with `name` (`package-N` or `psys`), `energy_uj`, `max_energy_range_uj`; sub-zones
`intel-rapl:N:M` (`core`, `uncore`, `dram`); optional `intel-rapl-mmio:N` copies of the packages.
On a laptop with psys, psys is `intel-rapl:1` while the package is `intel-rapl:0`: the index is
not the socket. Values are decimal µJ followed by a newline, as the kernel prints them.
"""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional

from .counter_writer import CounterWriter


class Zone:
    def __init__(self, dirname: str, name: str, path: str, watts: float, max_uj: int, start_uj: int):
        self.dir, self.name, self.path = dirname, name, path
        self.watts, self.max_uj, self.start_uj = watts, max_uj, start_uj

    @property
    def energy_path(self) -> str:
        return os.path.join(self.path, "energy_uj")


class FakePowercap:
    """Builder: `FakePowercap(tmp_path).socket(0, ...).psys(...).mmio_copy(0).build()`."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.zones: List[Zone] = []
        self._next_top = 0

    def _zone(self, dirname, name, watts, max_uj, start_uj, missing_max=False, mode=0o444) -> Zone:
        path = os.path.join(self.root, dirname)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "name"), "w") as f:
            f.write(name + "\n")
        if not missing_max:
            with open(os.path.join(path, "max_energy_range_uj"), "w") as f:
                f.write(f"{max_uj}\n")
        z = Zone(dirname, name, path, watts, max_uj, start_uj)
        write_uj(z.energy_path, start_uj)
        os.chmod(z.energy_path, mode)
        self.zones.append(z)
        return z

    def socket(self, n: int, watts: float = 40.0, core_w: Optional[float] = 25.0,
               uncore_w: Optional[float] = None, dram_w: Optional[float] = 6.0,
               max_uj: int = 262143328850, start_uj: int = 0, missing_max: bool = False,
               mode: int = 0o444, index: Optional[int] = None) -> "FakePowercap":
        top = self._next_top if index is None else index
        self._next_top = max(self._next_top, top + 1)
        d = f"intel-rapl:{top}"
        self._zone(d, f"package-{n}", watts, max_uj, start_uj, missing_max, mode)
        sub = 0
        for name, w in (("core", core_w), ("uncore", uncore_w), ("dram", dram_w)):
            if w is not None:
                self._zone(f"{d}:{sub}", name, w, max_uj, start_uj, missing_max, mode)
                sub += 1
        return self

    def psys(self, watts: float = 70.0, max_uj: int = 262143328850, start_uj: int = 0,
             mode: int = 0o444) -> "FakePowercap":
        top = self._next_top
        self._next_top += 1
        self._zone(f"intel-rapl:{top}", "psys", watts, max_uj, start_uj, mode=mode)
        return self

    def mmio_copy(self, socket_zone: str = "intel-rapl:0", index: int = 0) -> "FakePowercap":
        """intel-rapl-mmio:N: a second interface to the same package counter (same energy)."""
        src = next(z for z in self.zones if z.dir == socket_zone)
        z = self._zone(f"intel-rapl-mmio:{index}", src.name, src.watts, src.max_uj, src.start_uj)
        z.copy_of = src
        return self

    def control_type_dir(self) -> "FakePowercap":
        """The `intel-rapl` control-type entry that real trees have beside the zones."""
        os.makedirs(os.path.join(self.root, "intel-rapl"), exist_ok=True)
        with open(os.path.join(self.root, "intel-rapl", "enabled"), "w") as f:
            f.write("1\n")
        return self

    def total_watts(self, name_prefix: str) -> float:
        return sum(z.watts for z in self.zones if z.name.startswith(name_prefix) and not hasattr(z, "copy_of"))


def write_uj(path: str, value: int) -> None:
    """Rewrite the file in place (the meter holds an fd on it): pwrite then truncate, so a reader
    never sees an empty file; a shorter number leaves a tail after its newline, which parsers of
    the first token ignore."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        data = f"{value}\n".encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


class FakeRaplWriter(CounterWriter):
    """Advances every zone's energy_uj as start + watts * elapsed, modulo max_energy_range_uj + 1
    (the kernel's wrap), every `period_s`. Values follow time.monotonic_ns(), as tick stamps do."""

    def __init__(self, zones: List[Zone], period_s: float = 0.0005):
        super().__init__(period_s)
        self.zones = zones
        for z in zones:
            self.note(z.dir, z.start_uj)

    def value(self, z: Zone, t_ns: int) -> int:
        uj = z.start_uj + z.watts * (t_ns - self.t0_ns) / 1e3  # W * ns / 1e3 = µJ
        return int(uj) % (z.max_uj + 1)

    def open_fds(self) -> Dict[str, int]:
        return {z.dir: os.open(z.energy_path, os.O_WRONLY) for z in self.zones}

    def write_counters(self, fds: Dict[str, int], now_ns: int) -> None:
        for z in self.zones:
            v = self.value(z, now_ns)
            self.note(z.dir, v)
            data = f"{v}\n".encode()
            os.pwrite(fds[z.dir], data, 0)
            os.ftruncate(fds[z.dir], len(data))


def collect_ticks(meter, seconds: float = 0.6, interval_s: float = 0.004, owner: Optional[str] = None):
    """Ticks as the native collector would gather them: t_ns from time.monotonic_ns(), one row of
    read_source() values per tick (a failed read is stored as MISSING)."""
    import numpy as np
    from pyprof_carbon.counters import MISSING, Ticks, read_source
    srcs = list(meter.sources())
    rows, ts = [], []
    end = time.monotonic() + seconds
    while True:
        ts.append(time.monotonic_ns())
        row = []
        for s in srcs:
            try:
                row.append(read_source(s))
            except (OSError, ValueError, IndexError):
                row.append(MISSING)
        rows.append(row)
        if time.monotonic() >= end:
            break
        time.sleep(interval_s)
    raw = np.array(rows, dtype=np.uint64).reshape(len(rows), len(srcs))
    return Ticks(np.array(ts, dtype=np.int64), raw, {owner or meter.name: slice(0, len(srcs))})
