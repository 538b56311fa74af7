"""Renderers: one module per output format, each with a function `render(profile, options) -> str | bytes`
and a frozen dataclass `Options` declaring, typed and with defaults, every setting it reads.

A command builds a format's options from its parsed command line with `options_from`: the
declared fields only, so a renderer cannot read a setting no command knows about.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, Tuple

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


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a format that has no settings."""


def _module(fmt: str):
    module, _, _ = FORMATS[ALIASES.get(fmt, fmt)]
    return importlib.import_module(f"{__name__}.{module}")


def renderer(fmt: str) -> Tuple[Callable, str, bool]:
    """(render, file extension, binary?) of a format or alias."""
    _, ext, binary = FORMATS[ALIASES.get(fmt, fmt)]
    return _module(fmt).render, ext, binary


def options_type(fmt: str) -> type:
    """The format's `Options` dataclass."""
    return _module(fmt).Options


def options_from(fmt: str, source: Any):
    """The format's options, each declared field taken from the attribute of `source` (a parsed
    command line) by the same name when it has one that is not None, else the field's default."""
    cls = options_type(fmt)
    given = {f.name: getattr(source, f.name) for f in dataclasses.fields(cls)
             if getattr(source, f.name, None) is not None}
    return cls(**given)
