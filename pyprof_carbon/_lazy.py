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
import threading
import types
from collections.abc import Sequence as SequenceABC
from typing import Callable, Sequence


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


class WarmUp:
    """Imports `modules` in a background thread once `started()` is true (polled every 2 ms).

    `run` uses it for what it needs after the program (numpy, attribution, the renderers: ~0.1 s
    of one CPU): the profiler's process only waits while the program runs, so they load while
    it runs rather than after it ends (`started`: when, commands/run.py). The thread is not run at
    a lower priority: starved by a busy machine it would delay the end of the run by far more
    than the import costs (an unprivileged thread may lower
    its priority, never raise it back). `join()` (the program has ended) lets it start at once if
    it has not, and waits for it; failures are left to the caller's own import, which reports them."""

    def __init__(self, modules: Sequence[str], started: Callable[[], bool]):
        self._ended = threading.Event()

        def run():
            while not self._ended.is_set() and not started():
                self._ended.wait(0.002)
            for name in modules:
                try:
                    importlib.import_module(name)
                except Exception:
                    pass

        self._thread = threading.Thread(target=run, name="pyprof-carbon imports", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._ended.set()
        self._thread.join()


class LazyChoices(SequenceABC):
    """An option's choices, `load()`ed when first used: when the option is given (argparse checks
    `in`), or the help or an error lists them. The command line's choices have their homes in
    modules that import the data model (attribution.POLICIES, render.FORMATS...), which `run`
    need not load before the program starts. argparse reads no choices while a parser is built
    when the option names a metavar; the help lists them with %(choices)s."""

    def __init__(self, load: Callable[[], Sequence[str]]):
        self._load, self._values = load, None

    def _all(self) -> tuple:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __getitem__(self, i):
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._all())
