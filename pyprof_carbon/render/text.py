"""Terminal report: a top table of functions by self and total energy, threads, lines, carbon."""
from __future__ import annotations

import os
import re
from typing import List, Optional, Sequence

from ..profile import Profile, sum_total


class Style:
    def __init__(self, color: bool):
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, t: str) -> str:
        return self._wrap("1", t)

    def dim(self, t: str) -> str:
        return self._wrap("2", t)

    def hot(self, t: str) -> str:
        return self._wrap("31", t)


# Names come from the profiled program and the recording: a control character in one (an escape
# sequence, a newline, a carriage return) would restyle the terminal or break a row in two. They
# are shown as visible escapes instead, as are the Unicode line separators and bidi overrides.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text) -> str:
    """`text` with every control character written as an escape (\\x1b, \\n, \\u202e)."""
    return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def use_color(options: dict, stream=None) -> bool:
    mode = options.get("color") or "auto"
    if mode != "auto":
        return mode == "always"
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty()
                and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb")


def energy_label(profile: Profile) -> str:
    """'estimated', 'measured', or which domain is which: every joule says how it was obtained."""
    meters = profile.meta.get("meters", [])
    kinds = {m["measured"] for m in meters}
    if kinds == {False}:
        return "estimated"
    if kinds == {True}:
        return "measured"
    return ", ".join(f"{m['domain']} {'measured' if m['measured'] else 'estimated'}" for m in meters)


def fmt_si(value: float, unit: str) -> str:
    """2.51 J, 331.4 µg, 1.20 kJ: a value with an SI prefix that keeps it readable."""
    a = abs(value)
    for scale, prefix in ((1e3, "k"), (1.0, ""), (1e-3, "m")):
        if a >= scale or (a == 0 and scale == 1.0):
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value * 1e6:.1f} µ{unit}"


def fmt_j(j: float) -> str:
    return fmt_si(j, "J")


def fmt_g(g: float) -> str:
    return fmt_si(g, "g")


def table(headers: Sequence[str], rows: List[Sequence[str]], align: str, style: Style) -> List[str]:
    """Aligned columns; `align` has one of '<' or '>' per column."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return [style.bold(line(headers))] + [line(r) for r in rows]


def header_lines(profile: Profile, style: Style) -> List[str]:
    m, tot = profile.meta, profile.totals()
    rate = m.get("rate_hz", {})
    cmd = visible(" ".join(str(c) for c in m.get("command", [])))
    out = [style.bold(f"pyprof-carbon {visible(m.get('tool_version', ''))}: {cmd}"),
           f"  {tot['wall_s']:.2f} s wall, {tot['cpu_s']:.2f} s CPU sampled, {tot['samples']:,} samples "
           f"(engine {visible(m.get('engine', '?'))}, {rate.get('requested', 0):g} Hz asked, "
           f"{rate.get('achieved', 0):.0f} achieved per {rate.get('per', 'CPU-second')}; "
           f"lost {m.get('lost_samples', 0)})"]
    label = energy_label(profile)
    measured_total = sum_total(profile.measured_j)
    out.append(f"  energy of this program: {style.bold(fmt_j(tot['energy_j']['total']))} ({label}) of "
               f"{fmt_j(measured_total)} for the whole machine; unattributed "
               f"{fmt_j(sum_total(profile.unattributed_j))}")
    for mt in m.get("meters", []):
        out.append(style.dim(f"    {visible(mt['domain'])}: {visible(mt['meter'])}, "
                             f"{'measured' if mt['measured'] else 'estimated'}"
                             f" ({fmt_j(profile.measured_j.get(mt['domain'], 0.0))}). {visible(mt.get('notes', ''))}"))
    it = m.get("intensity", {})
    if it:
        out.append(f"  carbon: {style.bold(fmt_g(tot['co2_g']))} CO2eq at {it.get('g_per_kwh', 0):.0f} g/kWh "
                   f"({visible(it.get('kind', 'average'))}) for {visible(it.get('name') or it.get('code') or '?')}, from "
                   f"{visible(it.get('origin', '?'))}; source: {visible(it.get('source', '?'))}; PUE {m.get('pue', 1.0):g}")
        from ..carbon import equivalents
        for eq in equivalents(max(tot["co2_g"], 0.0)):
            out.append(style.dim(f"    = {eq['value']:.3g} {eq['unit']} {eq['what']} ({eq['source']})"))
    pc = profile.profiler_cost
    if pc:
        out.append(style.dim(f"  profiler's own cost (not charged to your code): {pc.get('cpu_s', 0):.3f} s CPU, "
                             f"{fmt_j(pc.get('energy_j', 0.0))}"))
    if m.get("sched"):
        s = m["sched"]
        out.append(style.dim(f"  scheduler accounting: {visible(s.get('backend'))}; {visible(s.get('resolution_note', ''))}"))
    return out


def render(profile: Profile, options: Optional[dict] = None, style: Optional[Style] = None) -> str:
    options = options or {}
    style = style or Style(False)
    top = int(options.get("top") or 15)
    label = energy_label(profile)
    out = header_lines(profile, style)
    funcs = profile.function_table()
    total = sum(f["self_energy_j"] for f in funcs) or 1.0
    rows = []
    for f in funcs[:top]:
        loc = f"{visible(os.path.basename(f['file']))}:{f['line']}" if f["file"] else ""
        rows.append([f"{f['self_energy_j']:.4g}", f"{100 * f['self_energy_j'] / total:.1f}",
                     f"{f['self_energy_err_j']:.2g}", f"{f['total_energy_j']:.4g}",
                     f"{f['self_cpu_s']:.3f}", f"{f['samples']:,}", fmt_g(f["co2_g"]),
                     f"{visible(f['qualname'])}  {style.dim(loc)}"])
    out += ["", style.bold(f"Top functions by self energy (joules, {label})")]
    out += table(["self J", "%", "± J", "total J", "self CPU s", "samples", "CO2eq", "function"],
                 rows, ">>>>>>><", style)
    trows = [[str(t["tid"]), visible(t["name"]), f"{t['energy_j']:.4g}", f"{t['cpu_s']:.3f}", f"{t['samples']:,}",
              fmt_g(t["co2_g"])] for t in profile.thread_table()]
    out += ["", style.bold(f"Threads (joules, {label})")]
    out += table(["tid", "name", "energy J", "CPU s", "samples", "CO2eq"], trows, "><>>>>", style)
    if options.get("lines"):
        lrows = [[f"{ln['self_energy_j']:.4g}", f"{ln['self_energy_err_j']:.2g}", f"{ln['self_cpu_s']:.3f}",
                  f"{ln['samples']:,}", fmt_g(ln["co2_g"]), f"{visible(os.path.basename(ln['file']))}:{ln['line']}",
                  visible(ln["function"])] for ln in profile.line_table()[:top]]
        out += ["", style.bold(f"Top lines by self energy (joules, {label})")]
        out += table(["self J", "± J", "CPU s", "samples", "CO2eq", "line", "function"], lrows, ">>>>><<", style)
    elsewhere = profile.meta.get("elsewhere") or []
    if elsewhere:
        # a user-given intensity (--carbon-intensity, --intensity-file) has no region code
        erows = [[visible(e.get("code") or "-"), visible(e.get("name") or ""), f"{e['g_per_kwh']:.0f}", fmt_g(e["co2_g"]),
                  e.get("note") or ""]
                 for e in elsewhere]
        out += ["", style.bold("The same work elsewhere")]
        out += table(["region", "name", "g/kWh", "CO2eq", ""], erows, "<<>><", style)
    return "\n".join(out) + "\n"


def summary(profile: Profile, options: dict, written: Sequence[str], stream=None) -> str:
    """What `run` prints at the end: the text report, then where the files went."""
    style = Style(use_color(options, stream))
    text = render(profile, options, style)
    if written:
        text += "\n" + style.dim("Written: " + ", ".join(written)) + "\n"
    return text
