"""pyprof-carbon: an energy profiler for Python."""
__version__ = "0.1.0"
__all__ = ["Profiler", "profile", "__version__"]


def __getattr__(name):  # import the profiler (and the native extension) only when asked for
    if name in ("Profiler", "profile"):
        from . import profiler
        return getattr(profiler, name)
    raise AttributeError(name)
