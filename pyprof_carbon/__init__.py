"""pyprof-carbon: an energy profiler for Python."""
__version__ = "0.1.0"

import sys as _sys

if not _sys.platform.startswith("linux"):  # say so before the native module's import fails obscurely
    raise ImportError(f"pyprof-carbon supports Linux only (perf_event_open, /proc); this is {_sys.platform}")

# `profile` is the public API (context manager / decorator). The submodule of the same name (the
# Profile data model) is imported first by profiler.py, and this assignment then wins, so
# `pyprof_carbon.profile(...)` is always the API; import the data model as
# `from pyprof_carbon.profile import Profile`.
from .profiler import Profiler, profile  # noqa: E402

__all__ = ["Profiler", "profile", "__version__"]
