"""Renderers: one module per output format, each a function `render(profile, options) -> str | bytes`.

`options` is a dict of renderer settings taken from the command line (e.g. `lines`, `color`).
"""
from __future__ import annotations

import importlib
from typing import Callable, Dict, Tuple

# format name -> (module, file extension, binary?)
FORMATS: Dict[str, Tuple[str, str, bool]] = {
    "text": ("text", ".txt", False),
    "collapsed": ("collapsed", ".folded", False),
    "json": ("json_report", ".json", False),
    "html": ("html", ".html", False),
    "svg": ("svg", ".svg", False),
    "speedscope": ("speedscope", ".speedscope.json", False),
    "pprof": ("pprof", ".pb.gz", True),
    "codecarbon-csv": ("codecarbon", ".csv", False),
}
ALIASES = {"emissions.csv": "codecarbon-csv"}


def renderer(fmt: str) -> Tuple[Callable, str, bool]:
    fmt = ALIASES.get(fmt, fmt)
    module, ext, binary = FORMATS[fmt]
    mod = importlib.import_module(f"{__name__}.{module}")
    return mod.render, ext, binary
