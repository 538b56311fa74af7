"""`rapl-perf`: RAPL through the kernel's perf `power` PMU (Intel; AMD since Linux 5.8).

The PMU is described in sysfs (`PYPROF_CARBON_PERF_PMU_ROOT`, default
`/sys/bus/event_source/devices/power`, the PMU's own directory): `type` (the perf_event_attr.type
to use), `cpumask` (one CPU per package: where system-wide events must be opened), and
`events/energy-{pkg,cores,ram,gpu,psys}` ("event=0x02") with `.scale` (2^-32 J: the kernel
counts in 32.32 fixed point) and `.unit` ("Joules"). Linux arch/x86/events/rapl.c.

Each event is opened system-wide (pid = -1) on one CPU per package with perf_event_open(2)
through ctypes (syscall 298 on x86-64); the native collector read()s 8 bytes from the fd (a
READ_U64 source: the 64-bit count, no read_format). The kernel widens the 32-bit MSR into a 64-bit
count itself (an hrtimer reads it before it can wrap), so the only wrap is at 2^64.

Unprivileged route: CAP_PERFMON (Linux 5.8+) or kernel.perf_event_paranoid <= 0; unlike powercap's
energy_uj (root-only since 5.10, Platypus) this is the recommended non-root way.
"""
from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Callable, Dict, List, Optional, Sequence

from ..counters import READ_U64, CounterSource, Ticks
from ..errors import Unavailable
from ..recording import Domain, EnergySeries
from .base import Meter
from .rapl_common import (Column, columns_arithmetic, energy_from_columns,
                          looks_like_vm, nesting_note, rapl_nesting, topology)

DEFAULT_ROOT = "/sys/bus/event_source/devices/power"
# perf event name -> (domain, Domain.kind); gpu is PP1 (uncore / integrated graphics)
EVENTS = (("energy-pkg", "package", "cpu"), ("energy-cores", "core", "cpu"), ("energy-gpu", "uncore", "cpu"),
          ("energy-ram", "dram", "dram"), ("energy-psys", "psys", "psys"))
# perf_event_open syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl: 298; asm-generic
# unistd.h: 241; syscall_32.tbl: 336)
SYSCALL_NR = {"x86_64": 298, "amd64": 298, "aarch64": 241, "arm64": 241, "i386": 336, "i686": 336}
PERF_ATTR_SIZE_VER0 = 64  # include/uapi/linux/perf_event.h: the first published attr size
PERF_FLAG_FD_CLOEXEC = 1 << 3
MASK64 = 2 ** 64 - 1

Opener = Callable[[int, int, int], int]  # (attr.type, attr.config, cpu) -> fd; raises OSError


def perf_event_open(type_: int, config: int, cpu: int) -> int:
    """perf_event_open(&attr, pid=-1, cpu, group_fd=-1, FD_CLOEXEC): a system-wide counting event
    on one CPU, enabled at once (attr.disabled = 0), plain 8-byte reads (read_format = 0)."""
    nr = SYSCALL_NR.get(os.uname().machine.lower())
    if nr is None:
        raise OSError(errno.ENOSYS, f"perf_event_open syscall number unknown on {os.uname().machine}")
    attr = ctypes.create_string_buffer(struct.pack("=IIQ", type_, PERF_ATTR_SIZE_VER0, config),
                                       PERF_ATTR_SIZE_VER0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), attr, ctypes.c_int(-1), ctypes.c_int(cpu), ctypes.c_int(-1),
                      ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


def parse_cpulist(text: str) -> List[int]:
    out: List[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        else:
            out.append(int(part))
    return out


def parse_event(text: str) -> int:
    """`event=0x02` (terms may follow, comma-separated) -> attr.config."""
    for term in text.strip().split(","):
        k, _, v = term.partition("=")
        if k.strip() == "event":
            return int(v, 0)
    raise ValueError(f"no event= term in {text!r}")


def paranoid() -> Optional[int]:
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


class RaplPerf(Meter):
    name = "rapl-perf"
    # RAPL updates its counters about every 1 ms (Intel SDM vol. 3B, RAPL interfaces;
    # Khan et al., "RAPL in Action", ACM TOMPECS 3(2), 2018)
    cadence_ms = 1.0

    def __init__(self, root: Optional[str] = None, opener: Optional[Opener] = None,
                 cpu_root: Optional[str] = None, cpuinfo: Optional[str] = None):
        self.root = root or os.environ.get("PYPROF_CARBON_PERF_PMU_ROOT", DEFAULT_ROOT)
        self.opener = opener or perf_event_open
        self.cpu_root = cpu_root or os.environ.get("PYPROF_CARBON_CPU_SYSFS_ROOT", "/sys/devices/system/cpu")
        self.cpuinfo = cpuinfo
        self.events: List[dict] = []   # {domain, kind, event, cpu, fd, scale, unit} in source order
        self.columns: List[Column] = []
        self.skipped: List[str] = []

    def _read(self, *parts: str) -> Optional[str]:
        try:
            with open(os.path.join(self.root, *parts)) as f:
                return f.read().strip()
        except OSError:
            return None

    def cpus(self) -> List[int]:
        """One CPU per package: the PMU's cpumask, else the first CPU of each package."""
        mask = self._read("cpumask")
        if mask:
            return parse_cpulist(mask)
        firsts: Dict[int, int] = {}
        for cpu, pkg, _ in topology(self.cpu_root):
            firsts.setdefault(pkg, cpu)
        return sorted(firsts.values()) or [0]

    def open(self) -> None:
        type_text = self._read("type")
        if type_text is None:
            vm = "; this looks like a VM without RAPL passthrough (the CPU reports a hypervisor)" \
                if looks_like_vm(self.cpuinfo) else ""
            raise Unavailable(
                f"no perf `power` PMU: {os.path.join(self.root, 'type')} does not exist (the kernel's RAPL "
                f"perf driver is not loaded, or this CPU exposes no RAPL){vm}",
                "run on bare metal with a kernel built with CONFIG_PERF_EVENTS_INTEL_RAPL (Intel; AMD since "
                "Linux 5.8), or use --meter rapl-powercap / rapl-msr")
        try:
            type_ = int(type_text)
        except ValueError:
            raise Unavailable(f"unreadable PMU type {type_text!r} in {self.root}", "") from None
        cpus = self.cpus()
        denied: Optional[OSError] = None
        for event, domain, kind in EVENTS:
            spec = self._read("events", event)
            if spec is None:
                continue
            try:
                config = parse_event(spec)
                scale = float(self._read("events", event + ".scale") or "nan")
            except ValueError as e:
                self.skipped.append(f"{event}: {e}")
                continue
            unit = self._read("events", event + ".unit") or ""
            if not scale > 0 or unit.lower() not in ("joules", "j"):
                self.skipped.append(f"{event}: scale {scale} {unit!r} is not an energy in joules")
                continue
            for i, cpu in enumerate(cpus):
                if domain == "psys" and i > 0:
                    continue  # platform-wide: once
                try:
                    fd = self.opener(type_, config, cpu)
                except OSError as e:
                    if e.errno in (errno.EACCES, errno.EPERM):
                        denied = e
                        break
                    self.skipped.append(f"{event} on CPU {cpu}: {e.strerror or e}")
                    continue
                self.events.append({"domain": domain, "kind": kind, "event": event, "cpu": cpu, "fd": fd,
                                    "scale": scale, "unit": unit})
            if denied:
                break
        if denied is not None:
            self.close()
            self.events = []
            p = paranoid()
            raise Unavailable(
                f"perf_event_open of the power PMU was refused ({denied.strerror}): system-wide events need "
                f"CAP_PERFMON or kernel.perf_event_paranoid <= 0 (it is {p if p is not None else 'unknown'})",
                "run with CAP_PERFMON (e.g. sudo setcap cap_perfmon+ep on the Python binary, or run as root), "
                "or sudo sysctl kernel.perf_event_paranoid=0")
        if not self.events:
            raise Unavailable("the power PMU has no usable energy event"
                                   + (": " + "; ".join(self.skipped) if self.skipped else ""),
                                   "use --meter rapl-powercap or rapl-msr")
        self._build_columns()

    def _build_columns(self) -> None:
        self.columns = [Column(e["domain"], f"{e['event']}@cpu{e['cpu']}", e["scale"], None, MASK64)
                        for e in self.events]

    def restrict(self, keep: Sequence[str]) -> None:
        for e in [e for e in self.events if e["domain"] not in keep]:
            os.close(e["fd"])
        self.events = [e for e in self.events if e["domain"] in keep]
        self._build_columns()

    def domains(self) -> List[Domain]:
        out = []
        for _, domain, kind in EVENTS:
            es = [e for e in self.events if e["domain"] == domain]
            if not es:
                continue
            note = (f"measured: perf power/{es[0]['event']}/ system-wide on CPU "
                    f"{', '.join(str(e['cpu']) for e in es)} (one per package), scale {es[0]['scale']:.6g} "
                    f"{es[0]['unit']} per count; 64-bit count kept by the kernel")
            if nesting_note(domain):
                note += f"; {nesting_note(domain)}"
            out.append(Domain(domain, self.name, True, kind, note, **rapl_nesting(domain)))
        return out

    def sources(self) -> Sequence[CounterSource]:
        return [CounterSource(READ_U64, e["fd"], label=f"power/{e['event']}/ cpu {e['cpu']}") for e in self.events]

    def arithmetic(self) -> dict:
        return columns_arithmetic(self.name, self.columns)

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        """Column i is self.events[i]: the 64-bit count (modular difference), times its .scale;
        the packages of one domain are added."""
        out, _ = energy_from_columns(ticks, self.name, self.columns)
        return out

    def close(self) -> None:
        for e in self.events:
            if e["fd"] >= 0:
                try:
                    os.close(e["fd"])
                except OSError:
                    pass
                e["fd"] = -1
