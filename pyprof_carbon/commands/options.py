"""Options that several commands share (DESIGN §3), and turning them into objects."""
from __future__ import annotations

import argparse

from ..render import ALIASES, FORMATS

FORMAT_CHOICES = sorted(FORMATS) + sorted(ALIASES)


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Rendering and carbon options, shared by `run` and `report`."""
    from .. import carbon
    p.add_argument("--format", dest="formats", action="append", choices=FORMAT_CHOICES, metavar="FORMAT",
                   help=f"output format, repeatable: {', '.join(FORMAT_CHOICES)}")
    p.add_argument("--attribution", choices=("share", "active", "dynamic"), default=None,
                   help="how machine energy is handed to the process (default: share; see DESIGN §4)")
    p.add_argument("--split", choices=("power", "cpu"), default=None,
                   help="inside a meter interval, weigh samples by their function's estimated power "
                        "(default, measured domains) or by CPU time alone (docs/attribution.md)")
    p.add_argument("--lines", action="store_true", help="text: add the hottest source lines")
    p.add_argument("--top", type=int, default=15, help="text: rows in the top-functions table")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    carbon.add_arguments(p)


def carbon_args(**values) -> argparse.Namespace:
    """The carbon options with their defaults, overridden by `values` (for the Python API)."""
    from .. import carbon
    p = argparse.ArgumentParser(add_help=False)
    carbon.add_arguments(p)
    ns = p.parse_args([])
    for k, v in values.items():
        setattr(ns, k, v)
    return ns


def intensity_for(**values):
    from .. import carbon
    return carbon.from_args(carbon_args(**values))


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return v
