"""The shipped intensity tables (data/*.csv, sources in data/README.md); never fetched at run time."""
from __future__ import annotations

import csv
import functools
import os
from typing import Dict, List, Optional

from .base import CarbonError, Region

DATA = os.path.join(os.path.dirname(__file__), "data")

# Short source keys used in the CSVs -> the full citation (also in data/README.md).
SOURCES = {
    "Ember/OWID": ("Ember Yearly Electricity Data via Our World in Data, 'Carbon intensity of "
                   "electricity generation' (carbon-intensity-electricity), lifecycle gCO2eq/kWh, "
                   "CC BY 4.0; entered by hand, rounded"),
    "EPA eGRID2022": ("US EPA eGRID2022 (released 2024), state annual CO2e total output emission "
                      "rate, converted from lb/MWh (x 0.4536), combustion only; public domain; "
                      "entered by hand, rounded"),
    "Canada NIR 2024": ("Environment and Climate Change Canada, National Inventory Report "
                        "1990-2022 (2024), Annex 13 electricity generation intensity, gCO2eq/kWh; "
                        "Open Government Licence - Canada; entered by hand, rounded"),
    "AU NGA Factors 2024": ("Australian Government DCCEEW, National Greenhouse Accounts Factors "
                            "2024, scope 2 location-based factor by state grid, kgCO2e/kWh x 1000; "
                            "CC BY 4.0; entered by hand"),
    "Electricity Maps 2023": ("Electricity Maps yearly zone data 2023 (lifecycle, "
                              "gCO2eq/kWh), ODbL; entered by hand, rounded"),
    "Ember Global Electricity Review 2024": ("Ember, Global Electricity Review 2024: CO2 intensity "
                                             "of global power generation 2023, 480 gCO2/kWh; "
                                             "CC BY 4.0"),
}

PROVIDER_ALIASES = {"aws": "aws", "amazon": "aws", "ec2": "aws", "gcp": "gcp", "google": "gcp",
                    "gce": "gcp", "azure": "azure", "microsoft": "azure"}


def _read(name: str) -> List[dict]:
    with open(os.path.join(DATA, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _cite(key: str) -> str:
    return SOURCES.get(key, key)


@functools.lru_cache(maxsize=1)
def _tables() -> Dict[str, Dict[str, Region]]:
    countries: Dict[str, Region] = {}
    for r in _read("countries.csv"):
        reg = Region(code=r["alpha2"], name=r["name"], g_per_kwh=float(r["g_per_kwh"]),
                     year=int(r["year"]), source=_cite(r["source"]), kind="country",
                     alpha3=r["alpha3"], country=r["alpha2"])
        countries[r["alpha2"].upper()] = reg
    alpha3 = {reg.alpha3.upper(): reg for reg in countries.values()}
    names = {reg.name.lower(): reg for reg in countries.values()}
    subs: Dict[str, Region] = {}
    for r in _read("subregions.csv"):
        subs[r["code"].upper()] = Region(
            code=r["code"], name=r["name"], g_per_kwh=float(r["g_per_kwh"]), year=int(r["year"]),
            source=_cite(r["source"]), kind="subregion", country=r["country"])
    world = _world_table()
    grids = {**countries, **subs}
    cloud: Dict[str, Region] = {}
    for r in _read("cloud_regions.csv"):
        grid = grids.get(r["grid"].upper())
        if grid is None:  # a table error, caught by the tests
            raise CarbonError(f"cloud region {r['provider']}:{r['region']} maps to unknown grid {r['grid']}")
        code = f"{r['provider']}:{r['region']}"
        cloud[code.lower()] = Region(
            code=code, name=f"{r['provider'].upper()} {r['region']} ({r['location']})",
            g_per_kwh=grid.g_per_kwh, year=grid.year,
            source=f"grid {grid.code}: {grid.source}; region location: {r['source']}",
            kind="cloud", provider=r["provider"], location=r["location"], grid=grid.code,
            country=grid.country)
    return {"country": countries, "alpha3": alpha3, "names": names, "subregion": subs,
            "world": world, "cloud": cloud}


@functools.lru_cache(maxsize=1)
def _world_table() -> Dict[str, Region]:
    return {r["code"].upper(): Region(code=r["code"], name=r["name"], g_per_kwh=float(r["g_per_kwh"]),
                                      year=int(r["year"]), source=_cite(r["source"]), kind="world")
            for r in _read("world.csv")}


def world() -> Region:
    # its own small table: a run with no region given (the default) reads none of the others
    return _world_table()["WORLD"]


def _find(code: str) -> Optional[Region]:
    t = _tables()
    c = code.strip()
    if ":" in c:
        prov, _, reg = c.partition(":")
        prov = PROVIDER_ALIASES.get(prov.strip().lower(), prov.strip().lower())
        return t["cloud"].get(f"{prov}:{reg.strip().lower()}")
    u = c.upper()
    for table in ("country", "subregion", "world"):
        if u in t[table]:
            return t[table][u]
    if u in t["alpha3"]:
        return t["alpha3"][u]
    return t["names"].get(c.lower())


def lookup(code: str) -> Region:
    """The table row for a country (alpha-2, alpha-3 or name), subregion, cloud region or WORLD."""
    if not isinstance(code, str) or not code.strip():
        raise CarbonError("empty region code")
    reg = _find(code)
    if reg is not None:
        return reg
    t = _tables()
    display = {}
    for k in list(t["country"]) + list(t["alpha3"]) + list(t["subregion"]) + list(t["world"]):
        display.setdefault(k.lower(), k)
    for reg in t["cloud"].values():
        display.setdefault(reg.code.lower(), reg.code)
    for reg in t["country"].values():
        display.setdefault(reg.name.lower(), reg.name)
    import difflib  # only for this error: not on every run's start-up path
    close = difflib.get_close_matches(code.strip().lower(), list(display), n=5, cutoff=0.6)
    close = [display[c] for c in close]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise CarbonError(f"unknown region '{code.strip()}'{hint} (see `pyprof-carbon regions`)")


def regions(query: Optional[str] = None) -> List[Region]:
    """All table rows (countries, subregions, cloud regions, world), filtered by a substring of
    the code, name or location (case-insensitive)."""
    t = _tables()
    rows = (sorted(t["country"].values(), key=lambda r: r.code)
            + sorted(t["subregion"].values(), key=lambda r: r.code)
            + sorted(t["cloud"].values(), key=lambda r: r.code)
            + list(t["world"].values()))
    if not query:
        return rows
    q = query.strip().lower()
    hits = [r for r in rows if q in r.code.lower() or q in r.name.lower()
            or (r.alpha3 and q in r.alpha3.lower()) or (r.location and q in r.location.lower())]
    exact = _find(query)  # an exact code or name comes first in its group
    if exact is not None and exact in hits:
        hits.remove(exact)
        hits.insert(next((i for i, r in enumerate(hits) if r.kind == exact.kind), len(hits)), exact)
    return hits
