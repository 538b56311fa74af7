"""pyprof-carbon: an energy profiler for Python."""
__version__ = "0.1.0"

# `profile` is the public API (context manager / decorator). The submodule of the same name (the
# Profile data model) is imported first by profiler.py, and this assignment then wins, so
# `pyprof_carbon.profile(...)` is always the API; import the data model as
# `from pyprof_carbon.profile import Profile`.
from .profiler import Profiler, profile  # noqa: E402

__all__ = ["Profiler", "profile", "__version__"]


def load_ipython_extension(ipython):
    """`%load_ext pyprof_carbon`: the %pyprof_carbon and %%pyprof_carbon magics. Imported here
    only when IPython asks, so the package does not import IPython."""
    from .ipython import load_ipython_extension as load
    load(ipython)
