"""Options that several commands share (docs/design.md#command-line-contract), and turning them into objects."""
from __future__ import annotations

import argparse
import math
import os
from typing import List, Mapping, Optional

from .._lazy import LazyChoices


def _formats():
    from ..render import ALIASES, FORMATS
    return sorted(FORMATS) + sorted(ALIASES)


def _policies():  # the default first (attribution.py keeps them in that order)
    from ..attribution import POLICIES
    return POLICIES


def _splits():
    from ..attribution import SPLITS
    return SPLITS


def _native_modes():
    from ..native_threads import MODES
    return MODES


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Rendering and carbon options, shared by `run` and `report`. Their choices load when used
    (_lazy.LazyChoices): `run` parses its command line before the program starts."""
    p.add_argument("--format", dest="formats", action="append", choices=LazyChoices(_formats), metavar="FORMAT",
                   help="output format, repeatable: %(choices)s")
    p.add_argument("--attribution", choices=LazyChoices(_policies), default=None, metavar="POLICY",
                   help="how machine energy is handed to the process: %(choices)s (default: the run's, else the "
                        "first; see docs/attribution.md)")
    p.add_argument("--split", choices=LazyChoices(_splits), default=None, metavar="SPLIT",
                   help="inside a meter interval, weigh samples by their function's estimated power "
                        "(power) or by CPU time alone (cpu); default: the run's, else the first of %(choices)s "
                        "(docs/attribution.md)")
    p.add_argument("--native-threads", choices=LazyChoices(_native_modes), default=None, metavar="MODE",
                   help="threads that run no Python code (BLAS, OpenMP pools): charged to the Python stack that "
                        "set them working (caller, default) or shown apart (separate); docs/attribution.md")
    p.add_argument("--lines", action="store_true", help="text: add the hottest source lines")
    p.add_argument("--top", type=bounded_int(0, 1_000_000), default=15, help="text: rows in the top-functions table")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_carbon_options(p)


def add_carbon_options(parser: argparse.ArgumentParser) -> None:
    """The carbon options; each is a keyword of carbon.intensity by the same name (but --pue)."""
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
    g.add_argument("--compare", metavar="CODES", type=code_list, default=None,
                   help="also show the CO2 of the same energy in these regions, e.g. FR,PL,US-CA")
    g.add_argument("--no-cloud-metadata", action="store_true",
                   help="do not ask a cloud metadata service for the region "
                        "(also env PYPROF_CARBON_NO_CLOUD_METADATA=1)")
    g.add_argument("--live-intensity", metavar="ZONE", nargs="?", const="", default=None,
                   help="use the latest live value from Electricity Maps (token in env "
                        "ELECTRICITYMAPS_TOKEN) for ZONE, or for the resolved region")
    g.add_argument("--marginal", action="store_true",
                   help="the given intensity (--carbon-intensity, --intensity-file) is marginal, not average")


# The carbon options that decide the intensity (the keywords of carbon.intensity).
CARBON_KEYS = ("region", "carbon_intensity", "intensity_file", "live_intensity", "marginal", "compare",
               "no_cloud_metadata")


def intensity_from_args(args, start_dir: str = ".", env: Optional[Mapping[str, str]] = None):
    """carbon.intensity with the carbon options of a parsed command line (absent ones: defaults)."""
    from .. import carbon
    given = {k: getattr(args, k) for k in CARBON_KEYS if getattr(args, k, None) is not None}
    return carbon.intensity(**given, start_dir=start_dir, env=os.environ if env is None else env)


def carbon_overridden(args) -> bool:
    """Whether the command line names an intensity (else a report keeps the recorded one)."""
    return any(getattr(args, k, None) for k in ("region", "carbon_intensity", "intensity_file", "live_intensity"))


def code_list(text: str) -> List[str]:
    """An argparse type: a comma-separated list of region codes."""
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("expected a comma-separated list of region codes")
    return codes


def finite_float(lo: float, hi: float = math.inf, lo_open: bool = False):
    """An argparse type: a finite number in [lo, hi] ((lo, hi] with lo_open). Checked when the
    command line is parsed, so a bad value fails before any script starts (not at its end)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        low_ok = v > lo if lo_open else v >= lo
        if not math.isfinite(v) or not low_ok or v > hi:
            raise argparse.ArgumentTypeError(f"must be a finite number {_range(lo, hi, lo_open)}, got {text}")
        return v
    parse.__name__ = "number"
    return parse


def bounded_int(lo: int, hi: int):
    """An argparse type: a whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {text}")
        return v
    parse.__name__ = "whole number"
    return parse


def _range(lo: float, hi: float, lo_open: bool) -> str:
    low = f"> {lo:g}" if lo_open else f">= {lo:g}"
    return low if hi == math.inf else f"{low} and <= {hi:g}"
