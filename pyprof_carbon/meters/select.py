"""Choosing meters: the ones asked for, or under `auto` the best that works for each domain."""
from __future__ import annotations

import importlib
from typing import List, Optional, Sequence, Tuple

from ..errors import UserError
from .base import Meter, MeterUnavailable

# name -> (module, class); `auto` tries the CPU meters in this order, then NVML, then the model.
METERS = {"rapl-perf": ("perf_pmu", "RaplPerf"), "rapl-msr": ("msr", "RaplMsr"),
          "rapl-powercap": ("powercap", "RaplPowercap"), "nvml": ("nvml", "Nvml"), "model": ("model", "ModelMeter")}
CPU_ORDER = ("rapl-perf", "rapl-msr", "rapl-powercap")


def meter_class(name: str):
    module, cls = METERS[name]
    try:
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)
    except (ImportError, AttributeError) as e:
        raise MeterUnavailable(f"the {name} meter is not part of this build ({e})") from None


def open_meter(name: str, cpu_watts=None, tdp=None) -> Meter:
    cls = meter_class(name)
    meter = cls(cpu_watts=cpu_watts, tdp=tdp) if name == "model" else cls()
    meter.open()
    return meter


def choose(requested: Sequence[str], cpu_watts: Optional[float] = None, tdp: Optional[float] = None
           ) -> Tuple[List[Meter], List[dict]]:
    """(opened meters, notes on the ones `auto` passed over: {meter, reason, fix})."""
    names = list(dict.fromkeys(requested or ["auto"]))
    meters: List[Meter] = []
    notes: List[dict] = []
    for name in names:
        if name == "auto":
            continue
        if name not in METERS:
            raise UserError(f"unknown meter {name!r}: choose from auto, {', '.join(METERS)}")
        try:
            meters.append(open_meter(name, cpu_watts, tdp))
        except MeterUnavailable as e:
            fix = f"; {e.fix}" if e.fix else ""
            raise UserError(f"meter {name} is unavailable: {e.reason}{fix}") from None
    if "auto" in names:
        have = {d.kind for m in meters for d in m.domains()}
        for group in (CPU_ORDER, ("nvml",)):
            if any(g in names for g in group) or (group == CPU_ORDER and "cpu" in have):
                continue
            for name in group:
                try:
                    meters.append(open_meter(name))
                    break
                except MeterUnavailable as e:
                    notes.append({"meter": name, "reason": e.reason, "fix": e.fix})
        if not any(d.kind == "cpu" for m in meters for d in m.domains()):
            meters.append(open_meter("model", cpu_watts, tdp))  # only what nothing measures
    return meters, notes
