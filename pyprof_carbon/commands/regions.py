"""`pyprof-carbon regions [QUERY] [--format text|json]`: the shipped carbon intensity tables."""
from __future__ import annotations

import dataclasses
import json
import sys

from .. import carbon

KIND_TITLES = (("country", "Countries"), ("subregion", "Grid subregions"),
               ("cloud", "Cloud regions (intensity of the grid they map to)"), ("world", "Fallback"))


def register(sub) -> None:
    p = sub.add_parser("regions", help="list the carbon intensity table the reports use",
                       description="List grid regions with their carbon intensity (gCO2eq/kWh), "
                                   "year and source. QUERY filters by a substring of the code or name.")
    p.add_argument("query", nargs="?", metavar="QUERY", help="substring of a code, name or location")
    p.add_argument("--format", dest="format", choices=("text", "json"), default="text")
    p.set_defaults(func=main)


def _sources_footer(rows):
    seen = []
    for r in rows:
        src = r.source.split("; region location:")[0]
        if src.startswith("grid "):
            src = src.split(": ", 1)[1]
        if src not in seen:
            seen.append(src)
    return [f"  [{i + 1}] {s}" for i, s in enumerate(seen)], seen


def render_text(rows, query=None) -> str:
    if not rows:
        return f"no region matches {query!r}\n"
    foot, seen = _sources_footer(rows)
    def ref(r):
        src = r.source.split("; region location:")[0]
        src = src.split(": ", 1)[1] if src.startswith("grid ") else src
        return seen.index(src) + 1
    out = []
    for kind, title in KIND_TITLES:
        sel = [r for r in rows if r.kind == kind]
        if not sel:
            continue
        out.append(f"{title} ({len(sel)}):")
        for r in sel:
            name = r.name if kind != "cloud" else f"{r.location} -> {r.grid}"
            extra = f" {r.alpha3}" if r.alpha3 else ""
            out.append(f"  {r.code + extra:<32} {name[:40]:<40} {r.g_per_kwh:>6.0f} g/kWh  "
                       f"{r.year or '':<4}  [{ref(r)}]")
        out.append("")
    out.append(f"Unit: {carbon.UNIT}, annual average (location-based). Sources:")
    out.extend(foot)
    locs = sorted({r.source.split("; region location: ", 1)[1] for r in rows if r.kind == "cloud"})
    if locs:
        out.append("Cloud region locations: " + "; ".join(locs))
    return "\n".join(out) + "\n"


def main(args) -> int:
    rows = carbon.regions(getattr(args, "query", None))
    if getattr(args, "format", "text") == "json":
        doc = {"unit": carbon.UNIT, "query": getattr(args, "query", None),
               "regions": [dataclasses.asdict(r) for r in rows]}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        sys.stdout.write(render_text(rows, getattr(args, "query", None)))
    return 0 if rows else 1
