"""Folded stacks (`root;caller;callee weight`), weighted by energy in integer microjoules, so
flamegraph.pl, inferno and speedscope read them. One line per distinct stack, threads merged."""
from __future__ import annotations

from ..attributed_profile import Profile
from . import NoOptions as Options  # no settings
from .tree import frame_name


def render(profile: Profile, options: Options = Options()) -> str:
    lines = []
    for stack, energy_j, _cpu, _n, _co2 in profile.stack_table():
        uj = int(round(energy_j * 1e6))
        if uj > 0:
            lines.append(";".join(frame_name(profile, f) for f in stack) + f" {uj}")
    return "\n".join(sorted(lines)) + ("\n" if lines else "")
