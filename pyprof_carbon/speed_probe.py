"""The speed probe's readings (csrc/speed_probe.h) as a run's one number, and that number as
`diff`'s covariate (docs/diff.md, "The machine's speed")."""
import math
from typing import Iterable, Optional

OPS = 500            # csrc/speed_probe.h kOps
BUCKETS_PER_OCTAVE = 16  # csrc/speed_probe.h kBucketsPerOctave
TRIM = 0.02          # the slowest 2 % of probes: an interrupt or the hypervisor stretched them
MIN_PROBES = 20      # fewer, and a run's mean says little: diff does not adjust with it


def summarize(hists: Iterable[bytes], unit: str) -> Optional[dict]:
    """meta["speed_probe"] from each process's histogram (uint32 counts per 1/16 octave of the
    probe's time): how many probes ran, and the mean of log2(time) over all but the slowest TRIM.
    None when no probe ran (observer engine, or a run too short)."""
    counts = None
    for h in hists:
        c = memoryview(h).cast("I")
        counts = list(c) if counts is None else [a + b for a, b in zip(counts, c)]
    n = sum(counts) if counts else 0
    if n == 0:
        return None
    keep = n - int(n * TRIM)
    total, taken = 0.0, 0
    for b, k in enumerate(counts):
        if taken == keep:
            break
        k = min(k, keep - taken)
        total += k * (b + 0.5) / BUCKETS_PER_OCTAVE  # the bucket's middle
        taken += k
    return {"probes": n, "log2_time": total / taken, "unit": unit, "ops": OPS}


def valid(v) -> bool:
    """What recording_check accepts as meta["speed_probe"]."""
    return v is None or (isinstance(v, dict) and isinstance(v.get("probes"), int) and v["probes"] >= 0
                         and isinstance(v.get("log2_time"), (int, float)) and math.isfinite(v["log2_time"])
                         and isinstance(v.get("unit"), str))


def covariate(meta: dict) -> Optional[float]:
    """A run's speed for diff: its mean log2 probe time, or None when it has too few probes."""
    v = meta.get("speed_probe")
    return float(v["log2_time"]) if v and v.get("probes", 0) >= MIN_PROBES else None
