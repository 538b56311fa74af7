"""Comparing two profiles: joules and CO2 saved or added, per function and per stack."""
from __future__ import annotations

import math
from typing import Dict, List

from .profile import Profile


def _key(f: dict):
    return (f["qualname"], f["file"])


def by_function(before: Profile, after: Profile) -> List[dict]:
    """Per function: self and total energy before and after, the change, and its uncertainty."""
    a = {_key(f): f for f in before.function_table()}
    b = {_key(f): f for f in after.function_table()}
    rows = []
    for k in set(a) | set(b):
        fa, fb = a.get(k, {}), b.get(k, {})
        row = {"qualname": k[0], "file": k[1], "line": (fb or fa).get("line", 0)}
        for what in ("self_energy_j", "total_energy_j", "co2_g", "self_cpu_s"):
            row[f"{what}_before"] = fa.get(what, 0.0)
            row[f"{what}_after"] = fb.get(what, 0.0)
        row["self_delta_j"] = row["self_energy_j_after"] - row["self_energy_j_before"]
        row["total_delta_j"] = row["total_energy_j_after"] - row["total_energy_j_before"]
        row["co2_delta_g"] = row["co2_g_after"] - row["co2_g_before"]
        row["self_delta_err_j"] = math.hypot(fa.get("self_energy_err_j", 0.0), fb.get("self_energy_err_j", 0.0))
        rows.append(row)
    rows.sort(key=lambda r: (-abs(r["self_delta_j"]), r["qualname"]))
    return rows


def totals(before: Profile, after: Profile) -> dict:
    ta, tb = before.totals(), after.totals()
    ea, eb = ta["energy_j"]["total"], tb["energy_j"]["total"]
    # run-to-run uncertainty is not known from one run each; what is known is the sampling error
    # of the split, which for the total is zero; report the change and the relative change
    return {"energy_j_before": ea, "energy_j_after": eb, "delta_j": eb - ea,
            "delta_pct": 100.0 * (eb - ea) / ea if ea > 0 else float("inf") if eb > 0 else 0.0,
            "co2_g_before": ta["co2_g"], "co2_g_after": tb["co2_g"], "co2_delta_g": tb["co2_g"] - ta["co2_g"],
            "cpu_s_before": ta["cpu_s"], "cpu_s_after": tb["cpu_s"]}


def stack_energy(p: Profile) -> Dict[str, float]:
    from .render.collapsed import frame_name
    out: Dict[str, float] = {}
    for stack, energy, _cpu, _n, _co2 in p.stack_table():
        key = ";".join(frame_name(p, fr).rsplit(" (", 1)[0] for fr in stack)  # lines may move: by function
        out[key] = out.get(key, 0.0) + energy
    return out


def difffolded(before: Profile, after: Profile) -> str:
    """`stack before_uJ after_uJ` per stack (flamegraph.pl's difffolded input)."""
    a, b = stack_energy(before), stack_energy(after)
    return "".join(f"{k} {int(round(a.get(k, 0) * 1e6))} {int(round(b.get(k, 0) * 1e6))}\n"
                   for k in sorted(set(a) | set(b)))
