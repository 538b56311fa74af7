"""The summary of repeated runs (`run --repeat N`): mean and spread of the totals and of the top
functions across runs, so a user sees how much a figure moves before trusting a difference."""
from __future__ import annotations

import os
import statistics
from typing import Dict, List, Sequence, Tuple

from ..attributed_profile import Profile


def _cell(values: Sequence[float], unit: str) -> str:
    """mean ± sample standard deviation (coefficient of variation), range."""
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    lo, hi = min(values), max(values)
    cv = f" ({100 * sd / mean:.1f} %)" if mean else ""
    return f"{mean:.4g} {unit} ± {sd:.2g}{cv}, range {lo:.4g}–{hi:.4g}"


def repeat_summary(profiles: List[Profile], top: int = 10) -> str:
    """Totals and the `top` functions by mean self energy (keyed by qualified name and file, so
    the same function matches across runs whatever its line), each as mean ± standard deviation."""
    n = len(profiles)
    totals = [p.totals() for p in profiles]
    out = [f"Across {n} runs (mean ± standard deviation (coefficient of variation), range):",
           f"  energy of the program: {_cell([t['energy_j']['total'] for t in totals], 'J')}",
           f"  CPU time:              {_cell([t['cpu_s'] for t in totals], 's')}",
           f"  wall time:             {_cell([t['wall_s'] for t in totals], 's')}"]
    per_function: Dict[Tuple[str, str], List[float]] = {}
    for i, p in enumerate(profiles):
        for row in p.function_table():
            per_function.setdefault((row["qualname"], row["file"]), [0.0] * n)[i] += row["self_energy_j"]
    ranked = sorted(per_function.items(), key=lambda kv: -sum(kv[1]))[:top]
    if ranked:
        out.append("  top functions by self energy:")
        for (qualname, file), values in ranked:
            out.append(f"    {_cell(values, 'J')}  {qualname}  {os.path.basename(file)}")
    return "\n".join(out) + "\n"
