"""Options that several commands share (docs/design.md#command-line-contract), and turning them into objects."""
from __future__ import annotations

import argparse
import math

from ..render import ALIASES, FORMATS

FORMAT_CHOICES = sorted(FORMATS) + sorted(ALIASES)


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Rendering and carbon options, shared by `run` and `report`."""
    from .. import carbon
    p.add_argument("--format", dest="formats", action="append", choices=FORMAT_CHOICES, metavar="FORMAT",
                   help=f"output format, repeatable: {', '.join(FORMAT_CHOICES)}")
    p.add_argument("--attribution", choices=("share", "active", "dynamic"), default=None,
                   help="how machine energy is handed to the process (default: share; see docs/attribution.md)")
    p.add_argument("--split", choices=("power", "cpu"), default=None,
                   help="inside a meter interval, weigh samples by their function's estimated power "
                        "(default, measured domains) or by CPU time alone (docs/attribution.md)")
    p.add_argument("--lines", action="store_true", help="text: add the hottest source lines")
    p.add_argument("--top", type=bounded_int(0, 1_000_000), default=15, help="text: rows in the top-functions table")
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
