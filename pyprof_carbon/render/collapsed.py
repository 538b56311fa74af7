"""Folded stacks (`root;caller;callee weight`), weighted by energy in integer microjoules, so
flamegraph.pl, inferno and speedscope read them. One line per distinct stack, threads merged."""
from __future__ import annotations

from ..attributed_profile import Profile


def frame_name(profile: Profile, frame) -> str:
    fn = profile.functions[frame[0]]
    where = f" ({fn.file}:{frame[1]})" if fn.file else ""
    return (fn.qualname + where).replace(";", ":").replace("\n", " ")


def render(profile: Profile, options: dict) -> str:
    lines = []
    for stack, energy_j, _cpu, _n, _co2 in profile.stack_table():
        uj = int(round(energy_j * 1e6))
        if uj > 0:
            lines.append(";".join(frame_name(profile, f) for f in stack) + f" {uj}")
    return "\n".join(sorted(lines)) + ("\n" if lines else "")
