"""pyprof-carbon: an energy profiler for Python.

Importing the package imports nothing else: the program that `run` profiles imports
`pyprof_carbon._native` through it, and must see no more modules than under plain python.
`Profiler` and `profile` (the in-code API) load on first use.
"""
import sys as _sys

if not _sys.platform.startswith("linux"):  # say so before the native module's import fails obscurely
    raise ImportError(f"pyprof-carbon supports Linux only (perf_event_open, /proc); this is {_sys.platform}")

from ._version import __version__  # noqa: E402

__all__ = ["Profiler", "profile", "region", "current", "load", "__version__"]


def current():
    """The energy (J, measured or estimated), CO2eq (g) and CPU time (s) of the profiling session
    so far, under `pyprof-carbon run` or the in-code API; None when nothing profiles this process.
    A dict: energy_j, energy_kind, co2_g, cpu_s, duration_s, domains (running_totals.py)."""
    from .running_totals import current as totals_so_far
    return totals_so_far()


def load(path: str):
    """The Recording at `path`, whatever `run` left there: a saved recording (`run -q` saves the
    run unconverted: it is converted now), or a killed run's working directory (cut short). A bad
    file raises errors.UserError with one line saying why."""
    from .journal import load_any
    return load_any(path)


def __getattr__(name):
    if name in ("Profiler", "profile"):  # `profile`: the API (context manager / decorator)
        from . import profiler
        return getattr(profiler, name)
    if name == "region":
        from .named_regions import region
        return region
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext pyprof_carbon`: the %pyprof_carbon and %%pyprof_carbon magics. Imported here
    only when IPython asks, so the package does not import IPython."""
    from .ipython import load_ipython_extension as load
    load(ipython)
