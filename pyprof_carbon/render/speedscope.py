"""speedscope's file format (https://www.speedscope.app/file-format-schema.json): frames are
functions (name, file, first line); per thread one `sampled` profile weighted by energy in
integer microjoules (unit "none": speedscope has no joule, so the unit is in the profile name)
and one weighted by CPU time in nanoseconds. Samples are stacks root -> leaf, one per distinct
stack of the thread (all time bins summed)."""
from __future__ import annotations

import json
from typing import Dict, List

import numpy as np

from .._version import __version__
from ..attributed_profile import Profile
from . import NoOptions as Options  # no settings

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def _per_thread_stack(profile: Profile, tid: int, values: np.ndarray) -> np.ndarray:
    m = profile.row_tid == tid
    return np.bincount(profile.row_stack[m], weights=values[m], minlength=len(profile.stacks))


def render(profile: Profile, options: Options = Options()) -> str:
    frames: List[dict] = []
    frame_of: Dict[int, int] = {}

    def frame(func: int) -> int:
        i = frame_of.get(func)
        if i is None:
            fn = profile.functions[func]
            f = {"name": fn.qualname}
            if fn.file:
                f["file"] = fn.file
            if fn.line:
                f["line"] = int(fn.line)
            i = frame_of[func] = len(frames)
            frames.append(f)
        return i

    energy = profile.row_energy_total
    cpu = profile.row_cpu_ns.astype(np.float64)
    threads = sorted(profile.thread_table(), key=lambda t: -t["energy_j"])
    profiles = []
    for th in threads:
        tid, tname = th["tid"], th["name"]
        for what, values, scale, unit, label in (
                ("energy", energy, 1e6, "none", "energy (µJ)"),
                ("cpu", cpu, 1.0, "nanoseconds", "CPU time")):
            per_stack = np.rint(_per_thread_stack(profile, tid, values) * scale).astype(np.int64)
            samples, weights = [], []
            for sid in np.nonzero(per_stack > 0)[0]:
                stack = profile.stacks[sid]
                if not stack:
                    continue
                samples.append([frame(fr[0]) for fr in stack])
                weights.append(int(per_stack[sid]))
            profiles.append({"type": "sampled", "name": f"{tname} ({tid}) — {label}", "unit": unit,
                             "startValue": 0, "endValue": int(sum(weights)),
                             "samples": samples, "weights": weights})
    cmd = profile.meta.get("command")
    cmd = " ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else (cmd or "profile")
    doc = {"$schema": SCHEMA, "shared": {"frames": frames}, "profiles": profiles,
           "name": f"{cmd} — energy", "activeProfileIndex": 0, "exporter": f"pyprof-carbon {__version__}"}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
