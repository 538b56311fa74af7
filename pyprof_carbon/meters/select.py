"""Choosing meters: the ones asked for, or under `auto` the best that works for each domain.

`auto`, per domain: CPU and DRAM domains from the first of rapl-perf, rapl-msr, rapl-powercap that
measures them (perf first: it works unprivileged with CAP_PERFMON and the kernel widens the
counter; then MSR; then powercap), so a later meter only contributes the domains earlier ones lack
(e.g. psys from powercap when the perf PMU has no energy-psys). GPUs from nvml, passed over
without loading pynvml where no NVIDIA driver is (`Meter.rule_out`). The `model` meter
only for what nothing measures: `package` when no meter measures it, `dram` when neither a DRAM
counter nor psys (which contains DRAM) is measured. Explicit names open exactly those meters and
raise Unavailable (also a UserError: the CLI prints it as one line) with reason and fix.
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..counters import Ticks
from ..errors import Unavailable, UserError
from ..recording import Domain, EnergySeries
from . import CPU_ORDER, GPU_ORDER, METERS
from .base import Meter


class Passed(NamedTuple):
    """A meter `auto` passed over (or could not open): (name, reason, fix)."""
    meter: str
    reason: str
    fix: str


class MeterRequestError(Unavailable, UserError):
    """An explicitly requested meter that cannot work here."""

    def __init__(self, meter: str, reason: str, fix: str = ""):
        super().__init__(reason, fix)
        self.meter = meter

    def __str__(self) -> str:
        return f"meter {self.meter} is unavailable: {self.reason}" + (f"; fix: {self.fix}" if self.fix else "")


def meter_class(name: str):
    module, cls = METERS[name]
    try:
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    except (ImportError, AttributeError) as e:
        raise Unavailable(f"the {name} meter is not part of this build ({e})",
                               "reinstall pyprof-carbon (pip install .)") from None


def open_meter(name: str, cpu_watts=None, tdp=None) -> Meter:
    cls = meter_class(name)
    meter = cls(cpu_watts=cpu_watts, tdp=tdp) if name == "model" else cls()
    meter.open()
    return meter


class Subset(Meter):
    """A meter limited to some of its domains (for meters without a `restrict` method)."""

    def __init__(self, inner: Meter, keep: Sequence[str]):
        self.inner, self.keep = inner, list(keep)
        self.name = inner.name

    def __getattr__(self, attr):  # constants(), devices()...
        return getattr(self.inner, attr)

    @property
    def cadence_ms(self) -> float:
        return self.inner.cadence_ms

    def max_interval_s(self) -> float:
        return self.inner.max_interval_s()

    def open(self) -> None:
        self.inner.open()

    def domains(self) -> List[Domain]:
        return [d for d in self.inner.domains() if d.name in self.keep]

    def sources(self):
        return self.inner.sources()

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        return {k: v for k, v in self.inner.energy(ticks, sched).items() if k in self.keep}

    def arithmetic(self) -> Optional[dict]:
        inner = self.inner.arithmetic()
        return None if inner is None else dict(inner, keep=list(self.keep))

    def close(self) -> None:
        self.inner.close()


def limit(meter: Meter, keep: Sequence[str]) -> Meter:
    if hasattr(meter, "restrict"):
        meter.restrict(list(keep))
        return meter
    return Subset(meter, keep)


def choose(requested: Sequence[str], cpu_watts: Optional[float] = None, tdp: Optional[float] = None,
           opener: Optional[Callable[..., Meter]] = None) -> Tuple[List[Meter], List[Passed]]:
    """(opened meters, the meters `auto` passed over as (name, reason, fix)).

    `opener(name, cpu_watts, tdp)` opens one meter (tests inject fakes; default open_meter)."""
    opener = opener or open_meter
    names = list(dict.fromkeys(requested or ["auto"]))
    for name in names:
        if name != "auto" and name not in METERS:
            raise UserError(f"unknown meter {name!r}: choose from auto, {', '.join(METERS)}")
    meters: List[Meter] = []
    notes: List[Passed] = []
    try:
        for name in names:
            if name == "auto":
                continue
            try:
                meters.append(opener(name, cpu_watts, tdp))
            except Unavailable as e:
                raise MeterRequestError(name, e.reason, e.fix) from None
        if "auto" in names:
            _auto(names, meters, notes, cpu_watts, tdp, opener)
    except BaseException:
        for m in meters:
            m.close()
        raise
    return meters, notes


def _auto(names, meters: List[Meter], notes: List[Passed], cpu_watts, tdp, opener) -> None:
    covered = {d.name: m.name for m in meters for d in m.domains()}
    for group in (CPU_ORDER, GPU_ORDER):
        for name in group:
            if name in names:
                continue  # asked for by name: already open
            try:
                if opener is open_meter:  # an injected opener stands for another machine
                    meter_class(name).rule_out()
                m = opener(name, cpu_watts, tdp)
            except Unavailable as e:
                notes.append(Passed(name, e.reason, e.fix))
                continue
            doms = [d.name for d in m.domains()]
            new = [d for d in doms if d not in covered]
            if not new:
                m.close()
                by = sorted({covered[d] for d in doms})
                notes.append(Passed(name, f"works, but {', '.join(by)} already measures its domains "
                                          f"({', '.join(doms)})", ""))
                continue
            if len(new) < len(doms):
                m = limit(m, new)
            for d in new:
                covered[d] = name
            meters.append(m)
    if "model" in names:
        return
    missing = []
    if "package" not in covered:
        missing.append("package")
    if "dram" not in covered and "psys" not in covered:
        missing.append("dram")
    if missing:
        m = opener("model", cpu_watts, tdp)
        meters.append(m if len(missing) == 2 else limit(m, missing))
