"""What every energy meter provides: the `Meter` base class.

The raw counters a meter asks the native collector to read, and the helpers on their columns,
are in pyprof_carbon/counters.py (scheduler backends use them too); the RAPL meters' shared
helpers in rapl_common.py.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..counters import CounterSource, Ticks
from ..recording import Domain, EnergySeries


class Meter:
    """Base class of the energy meters. Subclasses set `name` and implement the methods."""

    name = "meter"
    cadence_ms = 10.0  # the reading interval this meter asks for; a run reads at its meters' finest

    def max_interval_s(self) -> float:
        """Longest time between two reads that cannot hide a whole counter wrap."""
        return float("inf")

    @staticmethod
    def rule_out() -> None:
        """Raise errors.Unavailable when a check that costs nothing (a device node) shows this
        meter cannot work here; `auto` asks before opening it, since opening can load a library
        that takes longer than the program's own start-up. Returning says only: open() tells."""

    def open(self) -> None:
        """Discover and open the counters; raise errors.Unavailable with the reason and the fix."""
        raise NotImplementedError

    def domains(self) -> List[Domain]:
        raise NotImplementedError

    def sources(self) -> Sequence[CounterSource]:
        """Raw counters for the native collector, read on every tick, in a fixed order."""
        return ()

    def start(self) -> None:
        """For meters that poll from Python (NVML): start polling. Native-read meters do nothing."""

    def stop(self) -> None:
        """Stop polling (if any)."""

    def energy(self, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
        """Cumulative joules per domain, wraparound-corrected, non-decreasing, starting at 0.

        `ticks.of(self.name)` holds this meter's raw columns; `sched` is the run's SchedTimeline
        (the model meter derives power from machine utilization)."""
        raise NotImplementedError

    def arithmetic(self) -> Optional[dict]:
        """How energy() turns the raw columns into joules, as plain data (JSON), for a run saved
        unconverted (profiler.Profiler.arithmetic): `energy_from` with it gives what energy() does.
        None: this meter's energy is not in the ticks alone (NVML polls from Python)."""
        return None

    def close(self) -> None:
        """Close whatever open() opened."""


# Meter.arithmetic()["kind"] -> the module that converts it (its energy_from_arithmetic)
ARITHMETIC = {"model": "model", "columns": "rapl_common"}


def energy_from(arithmetic: dict, ticks: Ticks, sched) -> Dict[str, EnergySeries]:
    """A meter's energy from its arithmetic() alone: where a run saved unconverted is read. A
    value the arithmetic does not hold raises KeyError, TypeError or ValueError."""
    import importlib
    module = importlib.import_module(f"{__package__}.{ARITHMETIC[arithmetic['kind']]}")
    out = module.energy_from_arithmetic(arithmetic, ticks, sched)
    keep = arithmetic.get("keep")  # select.Subset: some of the meter's domains
    return out if keep is None else {d: es for d, es in out.items() if d in keep}
