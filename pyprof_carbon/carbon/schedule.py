"""Time-varying intensity from a CSV file: `timestamp,g_per_kwh[,kind]` rows, a step function."""
from __future__ import annotations

import csv
import datetime as _dt
import math
import os
from typing import Optional

from .._lazy import numpy as np

from .base import CarbonError, IntensitySource

KINDS = ("average", "marginal")


def parse_timestamp(text: str) -> float:
    """Unix seconds from unix seconds or ISO 8601; a timestamp without an offset is taken as UTC."""
    s = text.strip()
    try:
        v = float(s)
        if math.isfinite(v):
            return v
    except ValueError:
        pass
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        d = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise CarbonError(f"bad timestamp {text.strip()!r} (ISO 8601 or unix seconds)") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


def read_intensity_file(path: str, marginal: bool = False, code: Optional[str] = None) -> IntensitySource:
    """Read an intensity schedule. `marginal` (the --marginal flag) marks it marginal."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise CarbonError(f"cannot read intensity file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CarbonError(f"intensity file {path} is not UTF-8 text") from None
    except csv.Error as e:
        raise CarbonError(f"intensity file {path} is not a CSV file ({e})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise CarbonError(f"intensity file {path} is empty")
    header = [c.strip().lower() for c in rows[0]]
    if "timestamp" not in header or "g_per_kwh" not in header:
        raise CarbonError(f"intensity file {path}: header must name columns timestamp,g_per_kwh[,kind]")
    it, ig = header.index("timestamp"), header.index("g_per_kwh")
    ik = header.index("kind") if "kind" in header else None
    ts, gs, kinds = [], [], set()
    for n, r in enumerate(rows[1:], start=2):
        where = f"intensity file {path} row {n}"
        if len(r) <= max(it, ig, ik if ik is not None else 0):
            raise CarbonError(f"{where}: expected {len(header)} columns, got {len(r)}")
        try:
            t = parse_timestamp(r[it])
        except CarbonError as e:
            raise CarbonError(f"{where}: {e}") from None
        try:
            g = float(r[ig])
        except ValueError:
            raise CarbonError(f"{where}: g_per_kwh {r[ig].strip()!r} is not a number") from None
        if not math.isfinite(g) or g < 0:
            raise CarbonError(f"{where}: g_per_kwh must be a finite number >= 0, got {r[ig].strip()}")
        if ts and t <= ts[-1]:
            raise CarbonError(f"{where}: timestamps must be strictly increasing")
        if ik is not None:
            k = r[ik].strip().lower()
            if k not in KINDS:
                raise CarbonError(f"{where}: kind must be average or marginal, got {r[ik].strip()!r}")
            kinds.add(k)
        ts.append(t)
        gs.append(g)
    if not ts:
        raise CarbonError(f"intensity file {path} has a header but no rows")
    if len(kinds) > 1:
        raise CarbonError(f"intensity file {path} mixes average and marginal rows")
    kind = kinds.pop() if kinds else ("marginal" if marginal else "average")
    if marginal and kind != "marginal":
        raise CarbonError(f"--marginal given but intensity file {path} declares kind=average")
    t_arr, g_arr = np.asarray(ts, dtype=np.float64), np.asarray(gs, dtype=np.float64)
    notes = ["step schedule: each row holds until the next; the first row also covers earlier times, "
             "the last row later ones"]
    if len(ts) > 1 and float(np.max(np.diff(t_arr))) > 3600.0:
        notes.append("rows are more than one hour apart somewhere; hourly or finer is expected")
    return IntensitySource(
        code=code, name=f"intensity file {os.path.basename(path)}",
        g_per_kwh=float(g_arr.mean()), origin=f"--intensity-file {path}",
        source=f"user-supplied schedule {path} ({len(ts)} rows)", year=None, kind=kind,
        live=False, schedule_t=t_arr, schedule_g=g_arr, notes=notes)
