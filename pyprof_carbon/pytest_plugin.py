"""pytest plugin (entry point `pytest11: pyprof_carbon`): energy, CO2eq and CPU time per test.

    pytest --energy                  a table at the end, most energy first (--energy-top N rows)
    pytest --energy-save DIR         also keep one recording per test (DIR/<test id>.pcarbon)
    @pytest.mark.energy_budget(joules=2.0)   fail a test whose energy significantly exceeds 2 J

Only the call phase is measured (not fixtures' setup and teardown), with the in-process Profiler
around it, so `-x`, `-k`, fixtures and output capture work as without the plugin; `-p no:pyprof_carbon`
turns it off. A test with an energy budget is measured even without --energy. The carbon
intensity is resolved once per session (it can query a cloud metadata service).
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

import pytest

MARKER = "energy_budget"
# A budget fails only when the energy E is above it by more than this many E/sqrt(N) (N samples):
# one sided at 97.5 %, the same rule as the diff intervals' 95 % two-sided bound. A test runs once,
# so there is no spread between runs to measure; E/sqrt(N) is the stand-in `diff` uses for a side
# of one run (docs/diff.md), a tolerance wider for a shorter test.
Z_BUDGET = 1.959964


def pytest_addoption(parser):
    group = parser.getgroup("pyprof-carbon", "energy per test (pyprof-carbon)")
    group.addoption("--energy", action="store_true", default=False,
                    help="measure each test's energy, CO2eq and CPU time; print a table at the end")
    group.addoption("--energy-top", type=int, default=20, metavar="N",
                    help="rows in the --energy table, most energy first (0: all; default 20)")
    group.addoption("--energy-save", metavar="DIR", default=None,
                    help="keep one pyprof-carbon recording per measured test in DIR (implies --energy)")
    group.addoption("--energy-sched", default="procfs", choices=("auto", "ebpf", "perf", "procfs"),
                    help="scheduler backend per test (default procfs: starting ebpf loads and attaches BPF "
                         "programs for each test)")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(joules): fail the test when its energy significantly "
                                       "exceeds `joules` (measured by pyprof-carbon)")
    config.pluginmanager.register(EnergyPlugin(config), "pyprof-carbon-energy")


def budget_of(item) -> Optional[float]:
    m = item.get_closest_marker(MARKER)
    if m is None:
        return None
    j = m.kwargs.get("joules", m.args[0] if m.args else None)
    if j is None:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} needs joules=X")
    return float(j)


def file_name(nodeid: str) -> str:
    """A test id as a file name: path separators and brackets become '_', kept readable."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", nodeid).strip("_")[:200] + ".pcarbon"


class EnergyPlugin:
    def __init__(self, config):
        self.save_dir = config.getoption("energy_save")
        self.enabled = bool(config.getoption("energy") or self.save_dir)
        self.top = config.getoption("energy_top")
        self.sched = config.getoption("energy_sched")
        self.results: List[Dict] = []
        self._intensity = None
        self._warned = False

    def _wanted(self, item) -> bool:
        return self.enabled or item.get_closest_marker(MARKER) is not None

    def _start(self, item):
        """A started Profiler, or None (with one warning) where none can run here."""
        from .errors import UserError
        from .profiler import Profiler
        try:
            if self._intensity is None:
                from .carbon import intensity
                self._intensity = intensity()
            prof = Profiler(intensity=self._intensity, command=["pytest", item.nodeid], sched=self.sched)
            prof.start()
            return prof
        except (UserError, RuntimeError, OSError) as e:
            if not self._warned:
                self._warned = True
                item.warn(pytest.PytestWarning(f"pyprof-carbon: cannot measure energy: {e}"))
            return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        if not self._wanted(item):
            yield
            return
        prof = self._start(item)
        outcome = yield
        if prof is None:
            return
        rec = prof.stop()
        if rec is None:  # a forked child of the test
            return
        from .output import write_outputs
        path = None
        if self.save_dir:
            os.makedirs(self.save_dir, exist_ok=True)
            path = os.path.join(self.save_dir, file_name(item.nodeid))
        profile, _ = write_outputs(rec, path, [])
        t = profile.totals()
        energy = t["energy_j"]["total"]
        err = energy / t["samples"] ** 0.5 if t["samples"] else 0.0
        estimated = not any(m.get("measured") for m in profile.meta.get("meters", []))
        self.results.append({"nodeid": item.nodeid, "energy_j": energy, "err_j": err, "co2_g": t["co2_g"],
                             "cpu_s": t["cpu_s"], "samples": t["samples"], "estimated": estimated,
                             "recording": path})
        budget = budget_of(item)
        if budget is not None and outcome.excinfo is None and energy - Z_BUDGET * err > budget:
            msg = (f"energy {energy:.4g} J ± {err:.2g} J (E/√N, N = {t['samples']} samples) is above the budget "
                   f"of {budget:g} J{' (estimated by the model meter)' if estimated else ''}")
            # the test's own failure (its call phase fails); pluggy >= 1.1 takes it through the
            # outcome, older ones from an exception raised in the wrapper
            if hasattr(outcome, "force_exception"):
                outcome.force_exception(pytest.fail.Exception(msg, pytrace=False))
            else:  # pragma: no cover - pluggy < 1.1
                pytest.fail(msg, pytrace=False)

    def pytest_terminal_summary(self, terminalreporter):
        if not self.enabled or not self.results:
            return
        from .render.tree import fmt_num
        tr = terminalreporter
        rows = sorted(self.results, key=lambda r: -r["energy_j"])
        shown = rows if self.top <= 0 else rows[:self.top]
        label = "estimated" if all(r["estimated"] for r in rows) else "measured" if not any(
            r["estimated"] for r in rows) else "measured and estimated"
        tr.write_sep("=", f"energy per test (pyprof-carbon, {label}; top {len(shown)} of {len(rows)})")
        head = f"{'energy':>10}  {'± J':>8}  {'CO2eq':>10}  {'CPU s':>7}  test"
        tr.write_line(head)
        for r in shown:
            tr.write_line(f"{fmt_num(r['energy_j'], 'J'):>10}  {r['err_j']:>8.2g}  {fmt_num(r['co2_g'], 'g'):>10}  "
                          f"{r['cpu_s']:>7.3f}  {r['nodeid']}")
        total = sum(r["energy_j"] for r in rows)
        tr.write_line(f"total: {fmt_num(total, 'J')}, {fmt_num(sum(r['co2_g'] for r in rows), 'g')} CO2eq, "
                      f"{sum(r['cpu_s'] for r in rows):.3f} CPU s in {len(rows)} tests (call phase only; "
                      f"± J: E/√N for N samples, one run)")
        if self.save_dir:
            tr.write_line(f"recordings: {self.save_dir}")
