"""Native threads charged by cause (pyprof_carbon/native_threads.py), on hand-made recordings."""
import numpy as np

from pyprof_carbon import native_threads
from pyprof_carbon.recording import NO_PYTHON_FRAME, FunctionInfo
from synthetic import recording


def with_pool(nvcsw_at_wakes, calls_until=None, pool_from=0):
    """A recording whose thread 11 runs Python (`call` then `after`, alternating every 10 ms) and
    thread 99 runs no Python: it works from `pool_from` on, and blocked once before each of
    `nvcsw_at_wakes`' times. With
    `calls_until`, the samples of `call` before that time were taken inside a library's code."""
    rec = recording(n_samples=10, tids=(11,))
    call, after = FunctionInfo("call", "call", "/a.py", 1), FunctionInfo("after", "after", "/a.py", 9)
    rec.functions[:] = [call, after, NO_PYTHON_FRAME]
    rec.stacks[:] = [((0, 2),), ((1, 10),), ((2, 0),)]
    t_py = np.arange(0, 100_000_000, 1_000_000)
    py_stack = np.where((t_py // 10_000_000) % 2 == 0, 0, 1)
    t_nat = np.arange(pool_from + 500_000, 100_000_000, 1_000_000)
    nvcsw = np.searchsorted(nvcsw_at_wakes, t_nat, side="right")  # blocked once before each wake
    t = np.concatenate((t_py, t_nat))
    order = np.argsort(t, kind="stable")
    n = len(t)
    rec.samples.clear()
    rec.samples.update(
        t_ns=t[order], cpu_ns=np.full(n, 1_000_000)[order],
        tid=np.concatenate((np.full(len(t_py), 11), np.full(len(t_nat), 99)))[order].astype(np.int32),
        cpu=np.zeros(n, np.int16), stack=np.concatenate((py_stack, np.full(len(t_nat), 2)))[order].astype(np.int32),
        pid=np.full(n, 7, np.int32),
        nvcsw=np.concatenate((np.zeros(len(t_py), np.int64), nvcsw))[order].astype(np.uint32))
    if calls_until is not None:
        in_call = (py_stack == 0) & (t_py < calls_until)
        rec.samples["native"] = np.concatenate((in_call, np.zeros(len(t_nat), bool)))[order].astype(np.uint8)
    return rec


def leaf_of_native(rec):
    s = rec.samples
    out = {}
    for k in np.flatnonzero(s["tid"] == 99):
        st = rec.stacks[s["stack"][k]]
        out.setdefault(tuple(rec.functions[f].name for f, _ in st), 0)
        out[tuple(rec.functions[f].name for f, _ in st)] += 1
    return out


def test_a_busy_period_goes_to_the_python_stack_that_ran_when_it_began():
    # woken at 20.2 ms (during `call`) and at 60.2 ms (during `call`): the pool keeps spinning
    # through `after`, and all of it is charged to `call`
    rec = native_threads.by_cause(with_pool([20_200_000, 60_200_000]))
    charged = leaf_of_native(rec)
    assert set(charged) == {("call", "[native threads]")}, charged
    assert sum(charged.values()) == 100


def test_separate_periods_get_their_own_callers():
    rec = native_threads.by_cause(with_pool([10_200_000]))  # woken during `after` (10..20 ms)
    charged = leaf_of_native(rec)
    assert ("after", "[native threads]") in charged


def test_a_pool_that_never_sleeps_goes_to_the_last_library_call():
    # started during `after` (at 10 ms) and never blocking, it spins on for the whole run: each of
    # its samples is charged to the library call running or last run, never to the Python code
    # in between (without the library-call marks, all of it would go to `after`)
    rec = with_pool([], calls_until=100_000_000, pool_from=10_000_000)
    charged = leaf_of_native(native_threads.by_cause(rec))
    assert charged == {("call", "[native threads]"): 90}, charged
    del rec.samples["native"]
    assert leaf_of_native(native_threads.by_cause(rec)) == {("after", "[native threads]"): 90}


def test_a_pool_that_slept_since_the_last_library_call_goes_to_the_python_code_that_woke_it():
    # library calls only in the first 10 ms; the pool sleeps at 49.5 ms and is woken at 50.2 ms,
    # during `after`: no library call was sampled since it slept, so `after` caused that period
    rec = native_threads.by_cause(with_pool([50_200_000], calls_until=10_000_000))
    charged = leaf_of_native(rec)
    assert charged == {("call", "[native threads]"): 50, ("after", "[native threads]"): 50}, charged


def test_threads_that_run_python_are_left_alone():
    rec = with_pool([20_200_000])
    before = rec.samples["stack"][rec.samples["tid"] == 11].copy()
    after = native_threads.by_cause(rec)
    assert (after.samples["stack"][after.samples["tid"] == 11] == before).all()


def test_period_starts_without_switch_counts_use_the_wall_gap():
    t = np.array([0, 1, 2, 10, 11]) * 1_000_000
    q = np.full(5, 1_000_000)
    assert native_threads.period_starts(t, q).tolist() == [True, False, False, True, False]
