"""numpy, imported on first use.

`pyprof-carbon run` imports the profiler, the meters and the scheduler backends before it starts
the program, and those modules use numpy only once the program has ended (to turn the raw ticks
into timelines). numpy costs about a tenth of a second and ~20 MB to import: done at the top of
each module, the profiled program would wait for it at start-up. Modules on that path write
`from ._lazy import numpy as np`; numpy is imported at the first attribute access, and its
namespace is copied in then, so later accesses cost what a module's do.
"""
from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def __getattr__(self, attr):
        # only reached for names not copied in yet: the first access, or a name the real module
        # itself provides lazily (numpy's module __getattr__)
        module = importlib.import_module(self.__dict__["_lazy_target"])
        if "_lazy_loaded" not in self.__dict__:
            self.__dict__.update({k: v for k, v in module.__dict__.items() if not k.startswith("__")})
            self.__dict__["_lazy_loaded"] = True
        return getattr(module, attr)

    def __dir__(self):
        return dir(importlib.import_module(self.__dict__["_lazy_target"]))


numpy = LazyModule("numpy")
