"""Types shared by the carbon modules: the error, a table Region and a resolved IntensitySource."""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional

from .._lazy import numpy as np

from ..errors import UserError

UNIT = "gCO2eq/kWh"


class CarbonError(UserError):
    """Bad carbon input (unknown region, malformed intensity file, live source unavailable)."""


@dataclasses.dataclass(frozen=True)
class Region:
    """One row of the shipped tables. Cloud regions take their intensity from their grid's row."""
    code: str                      # "FR", "US-CA", "aws:eu-west-3", "WORLD"
    name: str
    g_per_kwh: float
    year: Optional[int]
    source: str                    # full citation of the intensity value
    kind: str                      # 'country' | 'subregion' | 'cloud' | 'world'
    provider: Optional[str] = None  # cloud only: aws | gcp | azure
    location: Optional[str] = None  # cloud only: where the provider says the region is
    grid: Optional[str] = None      # cloud only: the grid code whose intensity applies
    alpha3: Optional[str] = None    # countries: ISO 3166 alpha-3
    country: Optional[str] = None   # ISO 3166 alpha-2 of the country this row lies in


@dataclasses.dataclass
class IntensitySource:
    """Where the grams per kWh of a run come from: a constant, or a step schedule over time."""
    code: Optional[str]
    name: str
    g_per_kwh: float               # the constant value, or the plain mean of the schedule rows
    origin: str                    # how it was resolved (see resolve.py)
    source: str                    # citation of the value
    year: Optional[int] = None
    kind: str = "average"          # "average" | "marginal"
    live: bool = False
    schedule_t: Optional[np.ndarray] = None   # unix seconds, strictly increasing
    schedule_g: Optional[np.ndarray] = None   # g/kWh holding from schedule_t[i] to schedule_t[i+1]
    country: Optional[str] = None             # alpha-2 of the grid's country, when known
    provider: Optional[str] = None            # cloud provider, when resolved from a cloud region
    cloud_region: Optional[str] = None
    notes: List[str] = dataclasses.field(default_factory=list)

    def g_per_kwh_at(self, t_unix_s) -> np.ndarray:
        """Intensity in force at each time (interval start, unix seconds).

        A schedule is a step function: each row holds until the next one; the last row holds
        after the end, and times before the first row take the first row's value."""
        t = np.asarray(t_unix_s, dtype=np.float64)
        if self.schedule_t is None or len(self.schedule_t) == 0:
            return np.full(t.shape, float(self.g_per_kwh))
        idx = np.searchsorted(self.schedule_t, t, side="right") - 1
        return self.schedule_g[np.clip(idx, 0, len(self.schedule_g) - 1)]

    @property
    def label(self) -> str:
        """One line for reports: value, kind, table/live, origin."""
        what = "live" if self.live else ("schedule" if self.schedule_t is not None else "table")
        if self.origin == "--carbon-intensity":
            what = "user value"
        where = f"{self.code} " if self.code else ""
        return (f"{where}{self.name}: {self.g_per_kwh:.0f} {UNIT} ({self.kind}, {what}; "
                f"from {self.origin}; source: {self.source})")

    def to_meta(self) -> dict:
        d = {
            "code": self.code, "name": self.name, "g_per_kwh": float(self.g_per_kwh),
            "unit": UNIT, "origin": self.origin, "source": self.source, "year": self.year,
            "kind": self.kind, "live": bool(self.live), "country": self.country,
            "provider": self.provider, "cloud_region": self.cloud_region,
            "notes": list(self.notes), "schedule": None,
        }
        if self.schedule_t is not None:
            d["schedule"] = {"t_unix_s": [float(x) for x in self.schedule_t],
                             "g_per_kwh": [float(x) for x in self.schedule_g]}
        return d

    @classmethod
    def from_meta(cls, d: dict) -> "IntensitySource":
        if not isinstance(d, dict) or "g_per_kwh" not in d:
            raise CarbonError("recording has no usable carbon intensity in its meta")
        g = float(d["g_per_kwh"])
        if not math.isfinite(g) or g < 0:
            raise CarbonError(f"recording meta has an invalid carbon intensity: {d['g_per_kwh']!r}")
        sched = d.get("schedule") or None
        st = sg = None
        if sched:
            st = np.asarray(sched["t_unix_s"], dtype=np.float64)
            sg = np.asarray(sched["g_per_kwh"], dtype=np.float64)
            if st.shape != sg.shape or st.ndim != 1:
                raise CarbonError("recording meta has a malformed intensity schedule")
        return cls(code=d.get("code"), name=d.get("name") or "", g_per_kwh=g,
                   origin=d.get("origin") or "recording", source=d.get("source") or "",
                   year=d.get("year"), kind=d.get("kind") or "average", live=bool(d.get("live")),
                   schedule_t=st, schedule_g=sg, country=d.get("country"),
                   provider=d.get("provider"), cloud_region=d.get("cloud_region"),
                   notes=list(d.get("notes") or []))
