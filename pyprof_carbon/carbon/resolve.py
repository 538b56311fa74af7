"""Command-line options and the resolution order of the carbon intensity for a run.

First that answers: --carbon-intensity, --intensity-file, then a region from --region,
PYPROF_CARBON_REGION, `[tool.pyprof-carbon] region` in the nearest pyproject.toml, cloud instance
metadata, and finally the world average. --live-intensity replaces the table value of the
resolved region (or of the zone it names) by the latest live value.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from typing import List, Mapping, Optional, Tuple

from . import cloud, live, schedule, tables
from .base import CarbonError, IntensitySource, Region


def _code_list(text: str) -> List[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("expected a comma-separated list of region codes")
    return codes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..commands.options import finite_float  # here, not at the top: commands imports carbon
    g = parser.add_argument_group("carbon")
    g.add_argument("--region", metavar="CODE",
                   help="grid region: country (FR, FRA), subregion (US-CA, SE-SE3) or cloud region "
                        "(aws:eu-west-3, gcp:europe-west1, azure:westeurope); see `pyprof-carbon regions`")
    g.add_argument("--carbon-intensity", metavar="G_PER_KWH", type=finite_float(0.0),
                   help="explicit grid intensity in gCO2eq/kWh (overrides everything else)")
    g.add_argument("--intensity-file", metavar="CSV",
                   help="time-varying intensity: CSV rows timestamp,g_per_kwh[,kind] (ISO 8601 or unix s)")
    g.add_argument("--pue", metavar="X", type=finite_float(1.0, 10.0), default=1.0,
                   help="power usage effectiveness of the data centre (default 1.0)")
    g.add_argument("--compare", metavar="CODES", type=_code_list, default=None,
                   help="also show the CO2 of the same energy in these regions, e.g. FR,PL,US-CA")
    g.add_argument("--no-cloud-metadata", action="store_true",
                   help="do not ask a cloud metadata service for the region "
                        "(also env PYPROF_CARBON_NO_CLOUD_METADATA=1)")
    g.add_argument("--live-intensity", metavar="ZONE", nargs="?", const="", default=None,
                   help="use the latest live value from Electricity Maps (token in env "
                        "ELECTRICITYMAPS_TOKEN) for ZONE, or for the resolved region")
    g.add_argument("--marginal", action="store_true",
                   help="the given intensity (--carbon-intensity, --intensity-file) is marginal, not average")


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

def resolve_region(args, start_dir: str = ".", env: Mapping[str, str] = os.environ) -> Tuple[Region, str]:
    """(table row, origin) for the run's region, in the documented order."""
    if getattr(args, "region", None):
        return tables.lookup(args.region), "--region"
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
    if not getattr(args, "no_cloud_metadata", False):
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


def from_args(args, start_dir: str = ".", env: Mapping[str, str] = os.environ) -> IntensitySource:
    explicit = getattr(args, "carbon_intensity", None)
    ifile = getattr(args, "intensity_file", None)
    live_zone = getattr(args, "live_intensity", None)
    marginal = bool(getattr(args, "marginal", False))
    given = [n for n, v in (("--carbon-intensity", explicit), ("--intensity-file", ifile),
                            ("--live-intensity", live_zone)) if v is not None]
    if len(given) > 1:
        raise CarbonError(f"use only one of {', '.join(given)}")
    for code in getattr(args, "compare", None) or []:  # fail before the run, not after it
        try:
            tables.lookup(code)
        except CarbonError as e:
            raise CarbonError(f"--compare: {e}") from None
    region = tables.lookup(args.region) if getattr(args, "region", None) else None
    if explicit is not None:
        g = float(explicit)
        if not math.isfinite(g) or g < 0:
            raise CarbonError(f"--carbon-intensity must be a finite number >= 0, got {explicit}")
        return IntensitySource(
            code=region.code if region else None,
            name=region.name if region else "user-supplied intensity", g_per_kwh=g,
            origin="--carbon-intensity", source="user-supplied value", year=None,
            kind="marginal" if marginal else "average", live=False,
            country=region.country if region else None)
    if ifile is not None:
        src = schedule.read_intensity_file(ifile, marginal=marginal, code=region.code if region else None)
        if region is not None:
            src.country = region.country
        return src
    reg, origin = resolve_region(args, start_dir, env)
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
