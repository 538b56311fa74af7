"""Terminal report: a top table of functions by self and total energy, threads, lines, carbon.

Lines fit the terminal (80 columns when not a terminal): long prose wraps, a table's last column
(the function) is shortened. Every number goes through tree.fmt_num (3 significant digits,
SI prefix)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import textwrap
from typing import List, Optional, Sequence

from ..attributed_profile import Profile
from ..printable import visible
from .tree import fmt_num, sig3


@dataclasses.dataclass(frozen=True)
class Options:
    lines: bool = False             # add the hottest source lines
    top: int = 15                   # rows in the top-functions table (and the lines table)
    color: str = "auto"             # "auto" (a terminal, without NO_COLOR), "always" or "never"
    columns: Optional[int] = None   # line width; None: the terminal's when writing to one, else 80


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


def use_color(mode: str, stream=None) -> bool:
    """Whether to color: `mode` "always" or "never", or "auto": a terminal, without NO_COLOR."""
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


def fmt_j(j: float) -> str:
    return fmt_num(j, "J")


def fmt_g(g: float) -> str:
    return fmt_num(g, "g")


def fmt_s(s: float) -> str:
    return fmt_num(s, "s")


def width_of(columns: Optional[int], stream=None) -> int:
    """`columns`, else the terminal's width when writing to one, else 80 (a file, a pipe)."""
    if columns:
        return max(int(columns), 40)
    if stream is not None and hasattr(stream, "isatty") and stream.isatty():
        return max(shutil.get_terminal_size((80, 24)).columns, 40)
    return 80


def wrap(text: str, width: int, indent: str = "  ", more: str = "    ") -> List[str]:
    """Prose wrapped to the width; continuation lines indented a little more."""
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=more,
                         break_on_hyphens=False) or [indent]


def table(headers: Sequence[str], rows: List[Sequence[str]], align: str, style: Style,
          width: Optional[int] = None) -> List[str]:
    """Aligned columns; `align` has one of '<' or '>' per column. With `width`, the last column
    is cut (ending in '…') so no line is longer."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if width is not None:
        room = width - sum(widths[:-1]) - 2 * (len(widths) - 1)
        widths[-1] = max(min(widths[-1], room), len(headers[-1]))

    def cut(c, w):
        return c if len(c) <= w else c[:max(w - 1, 0)] + "…"

    def line(cells):
        return "  ".join(f"{cut(c, w):{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return [style.bold(line(headers))] + [line(r) for r in rows]


def equivalent_lines(co2_g: float) -> List[str]:
    """'= 0.0319 km driven ...' for each everyday equivalent of at least 0.01 of its unit: a
    millionth of a kilometre means nothing to a reader, so smaller ones are left out."""
    from ..carbon import equivalents
    return [f"= {sig3(eq['value'])} {eq['unit']} {eq['what']} ({eq['source']})"
            for eq in equivalents(max(co2_g, 0.0)) if eq["value"] >= 0.01]


def header_lines(profile: Profile, style: Style, width: int = 80) -> List[str]:
    m, tot = profile.meta, profile.totals()
    rate = m.get("rate_hz", {})
    cmd = visible(" ".join(str(c) for c in m.get("command", [])))
    out = [style.bold(line) for line in wrap(f"pyprof-carbon {visible(m.get('tool_version', ''))}: {cmd}", width, "", "  ")]
    out += wrap(f"{fmt_s(tot['wall_s'])} wall, {fmt_s(tot['cpu_s'])} CPU sampled, {tot['samples']:,} samples "
                f"(engine {visible(m.get('engine', '?'))}, {sig3(rate.get('requested', 0))} Hz asked, "
                f"{sig3(rate.get('achieved', 0))} achieved per {rate.get('per', 'CPU-second')}; "
                f"lost {m.get('lost_samples', 0)})", width)
    label = energy_label(profile)
    energy = fmt_j(tot["energy_j"]["total"])
    out += [ln.replace(energy, style.bold(energy), 1) for ln in wrap(
        f"energy of this program: {energy} ({label}) of {fmt_j(profile.sum_counted(profile.measured_j))} for the whole "
        f"machine; unattributed {fmt_j(profile.sum_counted(profile.unattributed_j))}"
        + (f" ({fmt_j(profile.sum_counted(profile.waiting_j))} of it while the program waited)"
           if profile.waiting_j else ""), width)]
    for mt in m.get("meters", []):
        out += [style.dim(ln) for ln in wrap(
            f"{visible(mt['domain'])}: {visible(mt['meter'])}, {'measured' if mt['measured'] else 'estimated'} "
            f"({fmt_j(profile.measured_j.get(mt['domain'], 0.0))}). {visible(mt.get('notes', ''))}", width, "    ", "      ")]
    it = m.get("intensity", {})
    if it:
        co2 = fmt_g(tot["co2_g"])
        out += [ln.replace(co2, style.bold(co2), 1) for ln in wrap(
            f"carbon: {co2} CO2eq at {it.get('g_per_kwh', 0):.0f} g/kWh ({visible(it.get('kind', 'average'))}) for "
            f"{visible(it.get('name') or it.get('code') or '?')}, from {visible(it.get('origin', '?'))}; source: "
            f"{visible(it.get('source', '?'))}; PUE {m.get('pue', 1.0):g}", width)]
        for eq in equivalent_lines(tot["co2_g"]):
            out += [style.dim(ln) for ln in wrap(eq, width, "    ", "      ")]
    procs = m.get("processes") or []
    if len(procs) > 1:
        out += wrap(f"{len(procs)} processes profiled: the program and {len(procs) - 1} it started "
                    f"(--no-subprocesses: the program only)", width)
    if m.get("cut_short"):
        out += [style.hot(ln) for ln in wrap(f"cut short: {visible(m['cut_short'])}", width)]
    pc = profile.profiler_cost
    if pc:
        out += [style.dim(ln) for ln in wrap(
            f"profiler's own cost (not charged to your code): {fmt_s(pc.get('cpu_s', 0.0))} CPU, "
            f"{fmt_j(pc.get('energy_j', 0.0))}", width)]
    if m.get("sched"):
        sc = m["sched"]
        out += [style.dim(ln) for ln in wrap(
            f"scheduler accounting: {visible(sc.get('backend'))}; {visible(sc.get('resolution_note', ''))}", width)]
    return out


def render(profile: Profile, options: Options = Options(), style: Optional[Style] = None) -> str:
    style = style or Style(False)
    width = width_of(options.columns, sys.stdout)  # `report` prints this; a file written under a terminal gets its width too
    top = options.top
    label = energy_label(profile)
    out = header_lines(profile, style, width)
    funcs = profile.function_table()
    total = sum(f["self_energy_j"] for f in funcs) or 1.0
    rows = []
    for f in funcs[:top]:
        loc = f"{visible(os.path.basename(f['file']))}:{f['line']}" if f["file"] else ""
        rows.append([fmt_j(f["self_energy_j"]), f"{100 * f['self_energy_j'] / total:.1f}",
                     fmt_j(f["self_energy_err_j"]), fmt_j(f["total_energy_j"]), fmt_s(f["self_cpu_s"]),
                     f"{f['samples']:,}", fmt_g(f["co2_g"]), f"{visible(f['qualname'])}  {loc}"])
    heads, align = ["self", "%", "±", "total", "self CPU", "samples", "CO2eq", "function"], ">>>>>>><"
    if width < 100:  # the function's name needs the room more than the sample count (± says it)
        rows = [r[:5] + r[6:] for r in rows]
        heads, align = heads[:5] + heads[6:], align[1:]
    out += ["", style.bold(f"Top functions by self energy (joules, {label})")]
    out += table(heads, rows, align, style, width)
    trows = [[str(t["tid"]), fmt_j(t["energy_j"]), fmt_s(t["cpu_s"]), f"{t['samples']:,}", fmt_g(t["co2_g"]),
              visible(t["name"])] for t in profile.thread_table()]
    out += ["", style.bold(f"Threads (joules, {label})")]
    out += table(["tid", "energy", "CPU", "samples", "CO2eq", "name"], trows, ">>>>><", style, width)
    procs = profile.process_table()
    if len(procs) > 1:
        prows = [[str(p["pid"]), fmt_j(p["energy_j"]), fmt_s(p["cpu_s"]), f"{p['samples']:,}", process_end(p),
                  visible(" ".join(str(a) for a in (p["argv"] if p["how"] == "subprocess" else p["argv"][1:]))
                          + {"fork": " (fork)", "subprocess": " (runs no Python)"}.get(p["how"], ""))]
                 for p in procs]
        out += ["", style.bold(f"Processes (joules, {label})")]
        out += table(["pid", "energy", "CPU", "samples", "exit", "command"], prows, ">>>>><", style, width)
    regions = profile.meta.get("region_table") or []
    if regions:
        rrows = [[fmt_j(r["energy_j"]), fmt_g(r["co2_g"]), fmt_s(r["cpu_s"]), f"{r['samples']:,}",
                  str(r["spans"]) if r["spans"] else "", visible(r["name"])] for r in regions]
        shown = profile.meta.get("region_filter")
        out += ["", style.bold(f"Regions (joules, {label}; the whole run"
                               + (f"; the tables above: region {shown!r} only)" if shown else ")"))]
        out += table(["energy", "CO2eq", "CPU", "samples", "spans", "region"], rrows, ">>>>><", style, width)
    if options.lines:
        lrows = [[fmt_j(ln["self_energy_j"]), fmt_j(ln["self_energy_err_j"]), fmt_s(ln["self_cpu_s"]),
                  f"{ln['samples']:,}", fmt_g(ln["co2_g"]),
                  f"{visible(os.path.basename(ln['file']))}:{ln['line']}  {visible(ln['function'])}"] for ln in profile.line_table()[:top]]
        out += ["", style.bold(f"Top lines by self energy (joules, {label})")]
        out += table(["self", "±", "CPU", "samples", "CO2eq", "line"], lrows, ">>>>><", style, width)
    elsewhere = profile.meta.get("elsewhere") or []
    if elsewhere:
        # a user-given intensity (--carbon-intensity, --intensity-file) has no region code
        erows = [[visible(e.get("code") or "-"), f"{e['g_per_kwh']:.0f}", fmt_g(e["co2_g"]),
                  f"{visible(e.get('name') or '')}  {e.get('note') or ''}".rstrip()]
                 for e in elsewhere]
        out += ["", style.bold("The same work elsewhere")]
        out += table(["region", "g/kWh", "CO2eq", "name"], erows, "<>><", style, width)
    return "\n".join(out) + "\n"


def process_end(p: dict) -> str:
    """How a process ended, as far as the run knows: the program's status; for the others,
    whether its exit work ran (a process ended by os._exit or SIGKILL has no last chunk)."""
    if p.get("exit_status") is not None:
        s = p["exit_status"]
        return str(s) if s >= 0 else f"signal {-s}"
    return "done" if p.get("complete", True) else "cut short"


def summary(profile: Profile, options: Options, written: Sequence[str], stream=None) -> str:
    """What `run` prints at the end: the text report, then where the files went."""
    style = Style(use_color(options.color, stream))
    text = render(profile, dataclasses.replace(options, columns=width_of(options.columns, stream)), style)
    # Sampling that was starved or degraded (pyprof_carbon/sampling_health.py): one line each,
    # at the end where it is seen, since the numbers above cover less than they seem to.
    for w in profile.meta.get("sampling_warnings") or []:
        text += "\n" + style.hot("warning: " + visible(w))
    if profile.meta.get("sampling_warnings"):
        text += "\n"
    if written:
        text += "\n" + style.dim("Written: " + ", ".join(written)) + "\n"
    return text
