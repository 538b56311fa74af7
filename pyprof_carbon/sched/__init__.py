"""Scheduler accounting backends: who had how much of the machine, on one timeline type."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import Unavailable, UserError

if TYPE_CHECKING:  # base imports the data model: `run` reads BACKENDS before the program starts
    from .base import SchedBackend

# name -> (module, class); `auto` tries them in this order (most exact first).
BACKENDS = {"ebpf": ("ebpf", "EbpfBackend"), "perf": ("perf", "PerfSchedBackend"),
            "procfs": ("procfs", "ProcfsBackend")}
AUTO_ORDER = ("ebpf", "perf", "procfs")


def backend_class(name: str):
    module, cls = BACKENDS[name]
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    except ImportError as e:
        raise Unavailable(f"the {name} backend is not built in this version ({e})") from None


def choose(name: str = "auto") -> SchedBackend:
    """An opened backend: the named one, or under `auto` the first that works here."""
    if name != "auto" and name not in BACKENDS:
        raise UserError(f"--sched must be one of auto, {', '.join(BACKENDS)}, not {name!r}")
    reasons = []
    for n in (AUTO_ORDER if name == "auto" else (name,)):
        try:
            backend = backend_class(n)()
            backend.open()
            return backend
        except Unavailable as e:
            if name != "auto":
                fix = f" ({e.fix})" if e.fix else ""
                raise UserError(f"scheduler backend {n} is unavailable: {e.reason}{fix}") from None
            reasons.append(f"{n}: {e.reason}")
    raise UserError("no scheduler backend works here: " + "; ".join(reasons))
