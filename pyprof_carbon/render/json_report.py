"""The JSON report (docs/design.md#json-report; schema: report.schema.json beside this file):
meta, totals, functions, threads, processes, lines, regions, unattributed_j (waiting_j: the part of it while the program used no
CPU), measured_j, profiler_cost."""
from __future__ import annotations

import json

from ..attributed_profile import Profile
from . import NoOptions as Options  # no settings


def report(profile: Profile) -> dict:
    return {
        "meta": profile.meta,
        "totals": profile.totals(),
        "functions": profile.function_table(),
        "threads": [{k: t[k] for k in ("tid", "name", "energy_j", "cpu_s", "co2_g", "samples")}
                    for t in profile.thread_table()],
        "processes": profile.process_table(),
        "lines": profile.line_table(),
        "regions": profile.meta.get("region_table", []),
        "unattributed_j": profile.unattributed_j,
        "waiting_j": profile.waiting_j,
        "measured_j": profile.measured_j,
        "profiler_cost": profile.profiler_cost,
    }


def render(profile: Profile, options: Options = Options()) -> str:
    return json.dumps(report(profile), indent=1, default=float) + "\n"
