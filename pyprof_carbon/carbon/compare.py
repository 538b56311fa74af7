"""Joules to grams of CO2eq, the same work in other regions, and sourced everyday equivalents."""
from __future__ import annotations

import math
from typing import List, Optional

from .._lazy import numpy as np

from . import tables
from .base import CarbonError, IntensitySource

J_PER_KWH = 3.6e6

# Well-known grids to put a run in perspective (cleanest and dirtiest of these are shown).
COMPARISON_REGIONS = ("FR", "SE", "NO", "DE", "PL", "US", "CN", "IN", "ZA", "AU", "GB", "US-CA")

# Equivalents: only with a cited source.
EQUIVALENTS = (
    {"what": "distance driven by an average new passenger car in the EU (type-approval, WLTP)",
     "g_per_unit": 106.6, "unit": "km",
     "source": "EEA, CO2 emissions from new passenger cars, provisional 2023 data: 106.6 gCO2/km "
               "(EU, Iceland, Norway; laboratory test values)"},
    {"what": "distance driven by a typical US passenger vehicle", "g_per_unit": 400.0, "unit": "miles",
     "source": "US EPA, Tailpipe Greenhouse Gas Emissions from a Typical Passenger Vehicle, "
               "EPA-420-F-23-014 (June 2023): about 400 gCO2/mile"},
)


def _check_pue(pue: float) -> float:
    try:
        p = float(pue)
    except (TypeError, ValueError):
        raise CarbonError(f"PUE must be a number, got {pue!r}") from None
    if not math.isfinite(p) or p < 1.0:
        raise CarbonError(f"PUE must be a finite number >= 1.0, got {pue}")
    return p


def co2_g(energy_j, t_unix_s, source: IntensitySource, pue: float = 1.0) -> np.ndarray:
    """Grams CO2eq per interval: kWh * PUE * intensity in force at the interval's start time."""
    e = np.asarray(energy_j, dtype=np.float64)
    t = np.asarray(t_unix_s, dtype=np.float64)
    if t.shape != e.shape:
        t = np.broadcast_to(t, e.shape)
    return e / J_PER_KWH * _check_pue(pue) * source.g_per_kwh_at(t)


def _row(code, name, g, kwh, note, year=None, source=""):
    return {"code": code, "name": name, "g_per_kwh": float(g), "co2_g": float(kwh * g),
            "note": note, "year": year, "source": source}


def same_work_elsewhere(energy_j: float, pue: float, source: IntensitySource,
                        compare: Optional[List[str]] = None) -> List[dict]:
    """The run's CO2 here, with the cleanest and dirtiest of COMPARISON_REGIONS and the `compare`
    codes, for the same energy and PUE. A schedule's mean intensity stands for "this run"."""
    e = float(energy_j)
    if not math.isfinite(e) or e < 0:
        raise CarbonError(f"energy must be a finite number >= 0, got {energy_j}")
    kwh = e / J_PER_KWH * _check_pue(pue)
    rows = [_row(source.code, source.name, source.g_per_kwh, kwh, "this run", source.year, source.source)]
    refs = [tables.lookup(c) for c in COMPARISON_REGIONS]
    clean = min(refs, key=lambda r: r.g_per_kwh)
    dirty = max(refs, key=lambda r: r.g_per_kwh)
    for reg, note in ((clean, "cleanest"), (dirty, "dirtiest")):
        rows.append(_row(reg.code, reg.name, reg.g_per_kwh, kwh, note, reg.year, reg.source))
    seen = set()
    for code in compare or []:
        reg = tables.lookup(code)
        if reg.code in seen:
            continue
        seen.add(reg.code)
        rows.append(_row(reg.code, reg.name, reg.g_per_kwh, kwh, "requested", reg.year, reg.source))
    return rows


def equivalents(co2_g: float) -> List[dict]:
    """The same grams as everyday quantities, each with its source."""
    g = float(co2_g)
    if not math.isfinite(g) or g < 0:
        raise CarbonError(f"CO2 must be a finite number >= 0, got {co2_g}")
    return [{"what": q["what"], "value": g / q["g_per_unit"], "unit": q["unit"], "source": q["source"]}
            for q in EQUIVALENTS]
