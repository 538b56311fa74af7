"""What went wrong with sampling and counter reads during a run, in words (meta["sampling_warnings"]).

The native sampler never lets the program die or hang for its sake: when the program takes its
signal, blocks it, overflows the signal queue or closes the profiler's file descriptors, sampling
degrades (csrc/sampler.h). A recording made that way is still a recording, but its numbers cover
less of the program than they seem to, so each such event becomes one line here, shown by the
text summary and kept in the recording.
"""
from __future__ import annotations

from typing import Dict, List

from ._lazy import numpy as np

from .counters import MISSING

# Achieved rates below this fraction of the requested one are worth a warning (perf skips
# overflows that fall in the kernel, so a syscall-heavy program reaches less than asked anyway).
LOW_RATE_FRACTION = 0.25
LOW_RATE_MIN_EXPECTED = 200  # samples the requested rate would have given: below that, noise


def sampling_stats(st: dict) -> dict:
    """The sampler's health counters (csrc/module.cpp raw_results stats), as meta["sampling"]."""
    keys = ("signal", "starved", "sigio", "rate_halvings", "final_period_ns", "fds_rearmed", "guard_reinstalled",
            "torn", "rereads", "rounds", "late_cpu_ns")  # the last four: the observer engine's (csrc/observer.h)
    return {k: st[k] for k in keys if k in st}


def sampling_warnings(st: dict, threads: List[dict], rate: dict, tick_raw: np.ndarray,
                      columns: Dict[str, slice], user_cpu_s: float) -> List[str]:
    out = []
    sig = st.get("signal", 0)
    if st.get("starved"):
        out.append(f"sampling starved: {st['starved']}")
    blocked = [t for t in threads if t.get("blocked")]
    if blocked:
        names = ", ".join(f"{t['name']} ({t['tid']})" for t in blocked[:5]) + (" ..." if len(blocked) > 5 else "")
        out.append(f"{len(blocked)} thread(s) blocked the profiler's signal {sig} and went unsampled while "
                   f"they did: {names}")
    if st.get("sigio"):
        msg = f"the real-time signal queue overflowed ({st['sigio']} SIGIO from the kernel; RLIMIT_SIGPENDING, ulimit -i)"
        if st.get("rate_halvings"):
            msg += f": the rate was halved {st['rate_halvings']} time(s), to {1e9 / st['final_period_ns']:.0f} Hz"
        out.append(msg)
    period = st.get("final_period_ns", 0)
    if period and not st.get("rate_halvings") and rate.get("requested", 0) * period > 1.01e9:
        out.append(f"the rate was capped at {1e9 / period:.0f} Hz (faster, signal delivery alone would take "
                   f"the program's whole time)")
    if st.get("fds_rearmed"):
        out.append(f"the program closed the profiler's perf file descriptors ({st['fds_rearmed']} times, e.g. "
                   f"os.closerange): the threads were armed again at the next scan, unsampled in between")
    if tick_raw.size and len(tick_raw) >= 2:
        last = tick_raw[-1] == np.uint64(MISSING)  # the last tick reads every source
        seen = (tick_raw[:-1] != np.uint64(MISSING)).any(axis=0)
        for owner, cols in columns.items():
            if (last[cols] & seen[cols]).any():
                out.append(f"counter source(s) of {owner} stopped reading during the run (their file descriptors "
                           f"closed by the program?): later ticks keep the last good value, so energy after that "
                           f"point is undercounted")
    expected = rate.get("requested", 0) * user_cpu_s
    if (not out and rate.get("per", "").startswith("CPU") and expected >= LOW_RATE_MIN_EXPECTED
            and rate.get("achieved", 0) < LOW_RATE_FRACTION * rate["requested"]):
        out.append(f"sampling reached {rate['achieved']:.0f} Hz of the {rate['requested']:.0f} Hz asked: most of "
                   f"the program's CPU time was not sampled (time in the kernel, or threads that block "
                   f"signal {sig})")
    return out
