"""The resolution order of the carbon intensity for a run (the command line's carbon options are
commands/options.py; each is a keyword of `intensity` by the same name).

First that answers: --carbon-intensity, --intensity-file, then a region from --region,
PYPROF_CARBON_REGION, `[tool.pyprof-carbon] region` in the nearest pyproject.toml, cloud instance
metadata, and finally the world average. --live-intensity replaces the table value of the
resolved region (or of the zone it names) by the latest live value.
"""
from __future__ import annotations

import math
import os
import re
from typing import Mapping, Optional, Sequence, Tuple

from . import cloud, live, schedule, tables
from .base import CarbonError, IntensitySource, Region


# ---- pyproject.toml ---------------------------------------------------------------------------

def find_pyproject(start_dir: str) -> Optional[str]:
    d = os.path.abspath(start_dir)
    while True:
        p = os.path.join(d, "pyproject.toml")
        if os.path.isfile(p):
            return p
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


_SECTION = re.compile(r"^\s*\[\s*tool\s*\.\s*(\"pyprof-carbon\"|'pyprof-carbon'|pyprof-carbon)\s*\]\s*(#.*)?$")
_REGION = re.compile(r"""^\s*region\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$""")


def _tiny_region(text: str) -> Optional[str]:
    """Python 3.10 without tomllib/tomli: just `region = "..."` under [tool.pyprof-carbon]."""
    inside = False
    for line in text.splitlines():
        if line.lstrip().startswith("["):
            inside = bool(_SECTION.match(line))
            continue
        if inside:
            m = _REGION.match(line)
            if m:
                return m.group(1) if m.group(1) is not None else m.group(2)
    return None


def pyproject_region(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CarbonError(f"cannot read {path}: {e.strerror or e}") from None
    if b"pyprof-carbon" not in data or b"region" not in data:
        # a file that sets our region names both; most pyproject.toml files name neither, and
        # parsing them (tomllib and its regexes: ~10 ms) would delay every run's program for nothing.
        # (Only a key spelled with escapes, "pyprof\u002dcarbon", escapes this test.)
        return None
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - 3.10
        try:
            import tomli as tomllib  # type: ignore
        except ModuleNotFoundError:
            return _tiny_region(data.decode("utf-8", errors="replace"))
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CarbonError(f"{path}: invalid TOML ({e})") from None
    section = doc.get("tool", {}).get("pyprof-carbon", {})
    region = section.get("region") if isinstance(section, dict) else None
    if region is not None and not isinstance(region, str):
        raise CarbonError(f"{path}: [tool.pyprof-carbon] region must be a string")
    return region


# ---- resolution -------------------------------------------------------------------------------

def resolve_region(region: Optional[str] = None, no_cloud_metadata: bool = False, start_dir: str = ".",
                   env: Mapping[str, str] = os.environ) -> Tuple[Region, str]:
    """(table row, origin) for the run's region, in the documented order."""
    if region:
        return tables.lookup(region), "--region"
    if env.get("PYPROF_CARBON_REGION"):
        try:
            return tables.lookup(env["PYPROF_CARBON_REGION"]), "PYPROF_CARBON_REGION"
        except CarbonError as e:
            raise CarbonError(f"PYPROF_CARBON_REGION: {e}") from None
    path = find_pyproject(start_dir)
    if path is not None:
        code = pyproject_region(path)
        if code:
            try:
                return tables.lookup(code), f"pyproject.toml ({path})"
            except CarbonError as e:
                raise CarbonError(f"{path}: {e}") from None
    if not no_cloud_metadata:
        found = cloud.cloud_region(env)
        if found:
            provider, region = found
            try:
                return tables.lookup(f"{provider}:{region}"), f"cloud metadata ({provider})"
            except CarbonError:
                pass  # a region our table does not know yet: fall through to the world average
    return tables.world(), "world average"


def _from_region(reg: Region, origin: str) -> IntensitySource:
    notes = []
    if reg.kind == "world":
        notes.append("no region given: world average used; pass --region for your grid")
    return IntensitySource(
        code=reg.code, name=reg.name, g_per_kwh=reg.g_per_kwh, origin=origin, source=reg.source,
        year=reg.year, kind="average", live=False, country=reg.country,
        provider=reg.provider, cloud_region=reg.code.split(":", 1)[1] if reg.kind == "cloud" else None,
        notes=notes)


def intensity(region: Optional[str] = None, carbon_intensity: Optional[float] = None,
              intensity_file: Optional[str] = None, live_intensity: Optional[str] = None,
              marginal: bool = False, compare: Optional[Sequence[str]] = None, no_cloud_metadata: bool = False,
              start_dir: str = ".", env: Mapping[str, str] = os.environ) -> IntensitySource:
    """The grid's carbon intensity for a run, from what the user gave (the command line's carbon
    options by the same names, or the Python API's keywords) and the documented resolution order:
    an explicit value, a file, a live value, then the region (--region, env, pyproject.toml, cloud
    metadata, world average). `compare` is only checked here, so a bad code fails before a run."""
    explicit, ifile, live_zone, marginal = carbon_intensity, intensity_file, live_intensity, bool(marginal)
    given = [n for n, v in (("--carbon-intensity", explicit), ("--intensity-file", ifile),
                            ("--live-intensity", live_zone)) if v is not None]
    if len(given) > 1:
        raise CarbonError(f"use only one of {', '.join(given)}")
    for code in compare or []:  # fail before the run, not after it
        try:
            tables.lookup(code)
        except CarbonError as e:
            raise CarbonError(f"--compare: {e}") from None
    named = tables.lookup(region) if region else None
    if explicit is not None:
        g = float(explicit)
        if not math.isfinite(g) or g < 0:
            raise CarbonError(f"--carbon-intensity must be a finite number >= 0, got {explicit}")
        return IntensitySource(
            code=named.code if named else None,
            name=named.name if named else "user-supplied intensity", g_per_kwh=g,
            origin="--carbon-intensity", source="user-supplied value", year=None,
            kind="marginal" if marginal else "average", live=False,
            country=named.country if named else None)
    if ifile is not None:
        src = schedule.read_intensity_file(ifile, marginal=marginal, code=named.code if named else None)
        if named is not None:
            src.country = named.country
        return src
    reg, origin = resolve_region(region, no_cloud_metadata, start_dir, env)
    if live_zone is not None:
        zone = live_zone or reg.grid or reg.code
        if reg.kind == "world" and not live_zone:
            raise CarbonError("--live-intensity needs a region or a zone (e.g. --live-intensity FR)")
        if not live_zone and zone.upper().startswith("US-"):
            raise CarbonError("Electricity Maps zones in the US are balancing areas, not states: "
                              "name one, e.g. --live-intensity US-CAL-CISO")
        src = live.latest(zone, env=env)
        src.country = reg.country if reg.kind != "world" else None
        src.provider = reg.provider
        src.cloud_region = reg.code.split(":", 1)[1] if reg.kind == "cloud" else None
        if marginal:
            raise CarbonError("--marginal: the live source gives average intensity")
        return src
    if marginal:
        raise CarbonError("--marginal: the shipped tables hold average intensities; give a marginal "
                          "value with --carbon-intensity or --intensity-file")
    return _from_region(reg, origin)
