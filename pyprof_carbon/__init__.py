"""pyprof-carbon: an energy profiler for Python.

Importing the package imports nothing else: the program that `run` profiles imports
`pyprof_carbon._native` through it, and must see no more modules than under plain python.
`Profiler` and `profile` (the in-code API) load on first use.
"""
import sys as _sys

if not _sys.platform.startswith("linux"):  # say so before the native module's import fails obscurely
    raise ImportError(f"pyprof-carbon supports Linux only (perf_event_open, /proc); this is {_sys.platform}")

from ._version import __version__  # noqa: E402

__all__ = ["Profiler", "profile", "region", "__version__"]


def __getattr__(name):
    # `profile` is the API (context manager / decorator), not the submodule of the same name: the
    # data model is `pyprof_carbon.profile.Profile`, reached by importing that module explicitly.
    if name in ("Profiler", "profile"):
        from . import profiler  # imports the data model, which binds `profile` to that module: rebind
        globals().update(Profiler=profiler.Profiler, profile=profiler.profile)
        return globals()[name]
    if name == "region":
        from .named_regions import region
        return region
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext pyprof_carbon`: the %pyprof_carbon and %%pyprof_carbon magics. Imported here
    only when IPython asks, so the package does not import IPython."""
    from .ipython import load_ipython_extension as load
    load(ipython)
