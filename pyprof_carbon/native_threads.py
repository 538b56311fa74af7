"""Native threads charged by cause: the work of threads that never run Python code (BLAS and
OpenMP pools, PyTorch's intra-op threads, C++ worker pools) is put under the Python stack that
set them working, as a `[native threads]` leaf frame (docs/attribution.md, "Native threads").

The cause is the library call that set the thread working. A Python thread inside a library's
call is interrupted in that library's code, not the interpreter's: the sampler marks such samples
(`native`, csrc/interpreter_code.h). Pools do not always sleep between calls (OpenBLAS's threads
spin through the Python code that follows a matmul, measured: no voluntary switch in 60 calls), so
a native thread's sample is charged to the last library-call sample of its process at or before it:
the call that is running, or the last one, which the pool is still spinning for. A thread that
slept since (a busy period begins where its count of voluntary context switches went up) was woken
by a call after that; where no library-call sample falls after it slept (a call too short to be
sampled, an older recording) the period goes to the Python thread of the same process sampled last
before the period's first sample: in a process with one thread calling the library, the caller.

`separate` keeps them apart, as `<no Python frame>` stacks of their own threads.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

from ._lazy import numpy as np
from .recording import NO_PYTHON_FRAME, FunctionInfo, Recording

MODES = ("caller", "separate")
NATIVE_THREADS = FunctionInfo("[native threads]", "[native threads]", "", 0)
GAP_NS = 2_000_000  # wall time beyond its CPU time between two samples of a thread: it slept


def by_cause(rec: Recording) -> Recording:
    """The recording with each native thread's samples moved under their cause's stack."""
    s = rec.samples
    if not len(s["t_ns"]) or NO_PYTHON_FRAME not in rec.functions:
        return rec
    none_fid = rec.functions.index(NO_PYTHON_FRAME)
    no_python = np.array([len(st) == 1 and st[0][0] == none_fid for st in rec.stacks], dtype=bool)
    stack = s["stack"].astype(np.int64)
    sample_native = no_python[stack]
    tid, pid = s["tid"].astype(np.int64), s["pid"].astype(np.int64)
    native_tids = set(np.unique(tid[sample_native]).tolist()) - set(np.unique(tid[~sample_native]).tolist())
    if not native_tids:
        return rec
    t, q = s["t_ns"].astype(np.int64), s["cpu_ns"].astype(np.int64)
    nvcsw = s["nvcsw"].astype(np.int64) if "nvcsw" in s else None
    in_call = s["native"].astype(bool) if "native" in s else np.zeros(len(t), dtype=bool)
    functions = list(rec.functions)
    if NATIVE_THREADS not in functions:
        functions.append(NATIVE_THREADS)
    leaf = (functions.index(NATIVE_THREADS), 0)
    stacks = list(rec.stacks)
    stack_ids: Dict[Tuple, int] = {st: i for i, st in enumerate(stacks)}
    new_stack = stack.copy()
    python = ~sample_native
    for p in np.unique(pid):
        mine = pid == p
        callers = np.flatnonzero(mine & python)  # in time order, as the samples are
        if not len(callers):
            continue
        calls = np.flatnonzero(mine & python & in_call)
        caller_t, call_t = t[callers], t[calls]
        for th in native_tids & set(np.unique(tid[mine]).tolist()):
            idx = np.flatnonzero(mine & (tid == th))
            starts = period_starts(t[idx], q[idx], nvcsw[idx] if nvcsw is not None else None)
            period = np.cumsum(starts) - 1
            first = np.flatnonzero(starts)
            # when the thread was last seen before each period: it slept after that
            slept = np.where(first > 0, t[idx][np.maximum(first - 1, 0)], np.iinfo(np.int64).min)
            c = np.searchsorted(call_t, t[idx], side="right") - 1
            by_call = (c >= 0) & (np.append(call_t, 0)[c] > slept[period])  # c = -1: none before
            k = np.searchsorted(caller_t, t[idx][first], side="right") - 1
            for j, sample in enumerate(idx):
                if by_call[j]:
                    cause = calls[c[j]]
                elif k[period[j]] >= 0:
                    cause = callers[k[period[j]]]
                else:
                    continue  # nothing ran Python in this process before: it stays where it is
                key = tuple(rec.stacks[stack[cause]]) + (leaf,)
                if key not in stack_ids:
                    stack_ids[key] = len(stacks)
                    stacks.append(key)
                new_stack[sample] = stack_ids[key]
    samples = dict(s, stack=new_stack.astype(np.int32))
    return dataclasses.replace(rec, functions=functions, stacks=stacks, samples=samples)


def period_starts(t: np.ndarray, q: np.ndarray, nvcsw=None) -> np.ndarray:
    """For one thread's samples in time order: True where a busy period begins. With the thread's
    voluntary context switches at each sample (the sampler reads them for threads without Python),
    where it blocked since its previous sample; otherwise (older recordings) where the wall time
    since then exceeds its CPU time by GAP_NS, which preemption on a busy machine can also cause."""
    starts = np.ones(len(t), dtype=bool)
    if len(t) > 1:
        if nvcsw is not None and nvcsw.any():
            starts[1:] = nvcsw[1:] != nvcsw[:-1]
        else:
            starts[1:] = (t[1:] - t[:-1]) - q[1:] > GAP_NS
    return starts

