"""Optional live intensity from an Electricity Maps style HTTP API, cached on disk.

GET <base>/v3/carbon-intensity/latest?zone=Z with header `auth-token`; the answer holds
`carbonIntensity` (gCO2eq/kWh), `datetime`, and optionally `isEstimated`, `emissionFactorType`.
Base URL: env PYPROF_CARBON_ELECTRICITYMAPS_URL (tests point it at a loopback server).
Token: env ELECTRICITYMAPS_TOKEN. Cache: $PYPROF_CARBON_CACHE_DIR, else
$XDG_CACHE_HOME/pyprof-carbon, else ~/.cache/pyprof-carbon.
"""
from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.parse
from typing import Mapping, Optional

from .base import CarbonError, IntensitySource

DEFAULT_URL = "https://api.electricitymap.org"
MAX_AGE_S = 3600.0  # the API's values are hourly


def cache_dir(env: Mapping[str, str] = os.environ) -> str:
    if env.get("PYPROF_CARBON_CACHE_DIR"):
        return env["PYPROF_CARBON_CACHE_DIR"]
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pyprof-carbon")


def _cache_path(env, zone: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in zone)
    return os.path.join(cache_dir(env), f"electricitymaps-latest-{safe}.json")


def _fetch(base: str, token: str, zone: str, timeout: float) -> dict:
    import urllib.request  # lazily: tens of ms at start-up, and most runs never need it
    url = f"{base.rstrip('/')}/v3/carbon-intensity/latest?{urllib.parse.urlencode({'zone': zone})}"
    req = urllib.request.Request(url, headers={"auth-token": token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise CarbonError(f"live intensity: Electricity Maps answered HTTP {e.code} for zone {zone}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CarbonError(f"live intensity: cannot reach Electricity Maps ({getattr(e, 'reason', e)})") from None
    g = body.get("carbonIntensity") if isinstance(body, dict) else None
    if not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0:
        raise CarbonError(f"live intensity: no carbonIntensity for zone {zone} in the answer")
    return body


def latest(zone: str, env: Mapping[str, str] = os.environ, now: Optional[float] = None,
           timeout: float = 5.0) -> IntensitySource:
    """The latest intensity of an Electricity Maps zone, from a fresh cache entry or the API.

    A cache entry younger than an hour is used as is; when the API fails, an older entry is
    used with a note saying how old it is; with neither, CarbonError."""
    now = time.time() if now is None else now
    path = _cache_path(env, zone)
    cached = None
    try:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
    except (OSError, ValueError):
        cached = None
    notes = []
    body = None
    if cached and now - float(cached.get("fetched_unix_s", -math.inf)) < MAX_AGE_S:
        body = cached["response"]
        notes.append(f"from the on-disk cache {path}")
    else:
        token = env.get("ELECTRICITYMAPS_TOKEN")
        try:
            if not token:
                raise CarbonError("--live-intensity needs the ELECTRICITYMAPS_TOKEN environment variable")
            body = _fetch(env.get("PYPROF_CARBON_ELECTRICITYMAPS_URL") or DEFAULT_URL, token, zone, timeout)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"fetched_unix_s": now, "zone": zone, "response": body}, f)
                os.replace(tmp, path)
            except OSError:
                notes.append("could not write the cache")
        except CarbonError:
            if not cached:
                raise
            body = cached["response"]
            age_h = (now - float(cached.get("fetched_unix_s", now))) / 3600.0
            notes.append(f"API unavailable: stale cache entry, {age_h:.1f} h old")
    ef = body.get("emissionFactorType") or "lifecycle"
    if body.get("isEstimated"):
        notes.append("Electricity Maps marks this value as estimated")
    return IntensitySource(
        code=zone, name=f"Electricity Maps zone {body.get('zone') or zone}",
        g_per_kwh=float(body["carbonIntensity"]), origin="live (electricitymaps)",
        source=f"Electricity Maps API, latest {ef} carbon intensity at {body.get('datetime', '?')}",
        year=None, kind="average", live=True, notes=notes)
