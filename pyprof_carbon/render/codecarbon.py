"""CodeCarbon-compatible `emissions.csv`: one row per run, CodeCarbon's columns (v3.x) and units.

Units as CodeCarbon writes them: duration s, emissions kg CO2eq, emissions_rate kg/s, power W
(average over the run), energy kWh. Energies are the ones attributed to the profiled process
(CodeCarbon's "process" tracking mode); `emissions` includes the PUE, `energy_consumed` does not,
and the `pue` column says which PUE was used. Water is not estimated (wue 0, as CodeCarbon's
default). Columns pyprof-carbon does not know are left empty.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import math
import os
import uuid
from typing import Optional

from ..carbon import CarbonError, lookup

COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code",
    "region", "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version",
    "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)
J_PER_KWH = 3.6e6


def _num(x):
    if x is None:
        return ""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return repr(v) if math.isfinite(v) else ""


def _timestamp(meta: dict, duration: float) -> str:
    """End of the run in local time, as CodeCarbon writes it (%Y-%m-%dT%H:%M:%S)."""
    t0 = meta.get("start_unix_s")
    if t0 is None and meta.get("start_time"):
        try:
            t0 = _dt.datetime.fromisoformat(str(meta["start_time"])).timestamp()
        except ValueError:
            t0 = None
    if t0 is None:
        return ""
    try:
        return _dt.datetime.fromtimestamp(float(t0) + duration).strftime("%Y-%m-%dT%H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _energy_split(energy: dict):
    """(cpu, gpu, ram) joules from domain totals, never counting nested domains twice."""
    if "package" in energy:
        cpu = energy["package"]
    elif "core" in energy:
        cpu = energy["core"]
    else:
        cpu = energy.get("psys", 0.0)
    gpu = sum(v for k, v in energy.items() if k.startswith("gpu"))
    return float(cpu), float(gpu), float(energy.get("dram", 0.0))


def _place(intensity: dict) -> dict:
    out = {"country_name": "", "country_iso_code": "", "region": "",
           "cloud_provider": intensity.get("provider") or "", "cloud_region": intensity.get("cloud_region") or ""}
    code = intensity.get("code")
    reg = None
    if code:
        try:
            reg = lookup(code)
        except CarbonError:
            reg = None
    if reg is not None and reg.kind == "cloud":
        out["cloud_provider"], out["cloud_region"] = reg.provider, reg.code.split(":", 1)[1]
        reg = lookup(reg.grid)
    if reg is not None and reg.kind == "subregion":
        out["region"] = reg.name.lower()
    country = intensity.get("country") or (reg.country if reg is not None else None)
    if country:
        try:
            c = lookup(country)
            out["country_name"], out["country_iso_code"] = c.name, c.alpha3 or ""
        except CarbonError:
            pass
    elif reg is not None and reg.kind == "world":
        out["country_name"] = "World"
    return out


@dataclasses.dataclass(frozen=True)
class Options:
    project_name: str = "pyprof-carbon"  # CodeCarbon's project_name column
    experiment_id: str = ""              # CodeCarbon's experiment_id column
    append_to: Optional[str] = None      # an emissions.csv whose rows come first (set by output.render_to)


def row(profile, options: Options = Options()) -> dict:
    meta = profile.meta or {}
    totals = profile.totals()
    duration = float(meta.get("duration_s") or totals.get("wall_s") or 0.0)
    e = {k: v for k, v in totals["energy_j"].items() if k != "total"}
    cpu_j, gpu_j, ram_j = _energy_split(e)
    kg = totals["co2_g"] / 1000.0
    intensity = meta.get("intensity") or {}
    cpu_count = meta.get("cpu_count")
    util = ""
    if cpu_count and duration > 0:
        util = _num(100.0 * totals["cpu_s"] / (duration * float(cpu_count)))
    power = (lambda j: _num(j / duration) if duration > 0 else "")
    r = {
        "timestamp": _timestamp(meta, duration),
        "project_name": options.project_name,
        "run_id": meta.get("run_id") or str(uuid.uuid4()),
        "experiment_id": options.experiment_id,
        "duration": _num(duration), "emissions": _num(kg),
        "emissions_rate": _num(kg / duration) if duration > 0 else "",
        "cpu_power": power(cpu_j), "gpu_power": power(gpu_j), "ram_power": power(ram_j),
        "cpu_energy": _num(cpu_j / J_PER_KWH), "gpu_energy": _num(gpu_j / J_PER_KWH),
        "ram_energy": _num(ram_j / J_PER_KWH),
        "energy_consumed": _num((cpu_j + gpu_j + ram_j) / J_PER_KWH),
        "water_consumed": _num(0.0),
        **_place(intensity),
        "os": meta.get("os") or "", "python_version": meta.get("python") or "",
        "codecarbon_version": "",
        "cpu_count": "" if cpu_count is None else str(cpu_count),
        "cpu_model": meta.get("cpu_model") or "",
        "gpu_count": str(sum(1 for k in e if k.startswith("gpu"))),
        "gpu_model": meta.get("gpu_model") or "",
        "longitude": "", "latitude": "", "ram_total_size": _num(meta.get("ram_total_gb")),
        "tracking_mode": "process", "cpu_utilization_percent": util,
        "gpu_utilization_percent": "", "ram_utilization_percent": "", "ram_used_gb": "",
        "on_cloud": "Y" if intensity.get("provider") else "N",
        "pue": _num(meta.get("pue", 1.0)), "wue": _num(0.0),
    }
    r["on_cloud"] = "Y" if r["cloud_provider"] else "N"
    return r


def _line(values) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def render(profile, options: Options = Options()) -> str:
    r = row(profile, options)
    new = _line([r[c] for c in COLUMNS])
    path = options.append_to
    if path and os.path.exists(path):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                existing = f.read()
        except OSError as e:
            raise CarbonError(f"cannot read {path}: {e.strerror or e}") from None
        if existing.strip():
            header = next(csv.reader(io.StringIO(existing)))
            if tuple(h.strip() for h in header) != COLUMNS:
                raise CarbonError(f"{path}: its header is not CodeCarbon's emissions.csv columns; "
                                  "not appending (write to another file)")
            if not existing.endswith("\n"):
                existing += "\n"
            return existing + new
    return _line(COLUMNS) + new
