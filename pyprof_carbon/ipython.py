"""IPython / Jupyter magics: `%load_ext pyprof_carbon`, then

    %%pyprof_carbon [options]          profile the cell
    %pyprof_carbon [options] STMT      profile one statement

Prints the text summary, shows the HTML report inline (self-contained, in an iframe's srcdoc, so
its script and styles stay apart from the notebook's and nothing is fetched), saves the recording
(-o FILE, default pyprof-carbon-cell-<N>.pcarbon) and keeps the result in a variable
(--var NAME, default `_pyprof_carbon`: `.recording`, `.profile`, `.path`).

Options: -o FILE, --var NAME, --no-html, -q (no text summary), --rate HZ, --meter NAME,
--region CODE, --top N (text rows), --height PX (of the inline report), --sched BACKEND
(default procfs: starting the ebpf backend loads and attaches BPF programs per cell).
"""
from __future__ import annotations

import dataclasses
import os
from html import escape
from typing import Optional

from IPython.core.magic import Magics, line_cell_magic, magics_class

_HERE = os.path.abspath(__file__)


@dataclasses.dataclass(repr=False)
class CellProfile:
    recording: object   # pyprof_carbon.recording.Recording
    profile: object     # pyprof_carbon.attributed_profile.Profile
    path: Optional[str]

    def __repr__(self):  # the dataclass one would print every array of the recording
        t = self.profile.totals()
        return (f"<pyprof-carbon profile: {t['energy_j']['total']:.4g} J, {t['cpu_s']:.3f} CPU s, "
                f"{t['samples']} samples; {self.path or 'not saved'}>")


def strip_shell_frames(rec) -> None:
    """Drop the frames of IPython's machinery and of this module above the profiled code, so the
    cell's own code is the root of every stack (the profiler only drops its own leading frames)."""
    mine = {i for i, f in enumerate(rec.functions) if os.path.abspath(f.file or "?") == _HERE}
    out = []
    for s in rec.stacks:
        cut = max((k for k, (f, _) in enumerate(s) if f in mine), default=-1)
        out.append(s[cut + 1:] if cut + 1 < len(s) else s)
    rec.stacks = out


def iframe(html: str, height: int) -> str:
    # in a <div>: IPython's HTML() warns about a bare <iframe> (it suggests IFrame, which needs a URL)
    return (f'<div class="pyprof-carbon"><iframe srcdoc="{escape(html, quote=True)}" style="width:100%;height:{height}px;'
            f'border:1px solid #ddd"></iframe></div>')


@magics_class
class CarbonMagics(Magics):
    _intensity = None  # resolved once per session: it can query a cloud metadata service

    @line_cell_magic
    def pyprof_carbon(self, line, cell=None):
        """Profile a cell (%%pyprof_carbon) or a statement (%pyprof_carbon STMT) with pyprof-carbon."""
        opts, stmt = self.parse_options(line, "o:q", "var=", "no-html", "rate=", "meter=", "region=", "top=",
                                        "height=", "sched=", posix=False, strict=False)
        code = cell if cell is not None else stmt
        if not code.strip():
            print("usage: %pyprof_carbon [options] STATEMENT  or  %%pyprof_carbon [options] on a cell")
            return None
        from .carbon import intensity as carbon_intensity
        from .output import write_outputs
        from .profiler import Profiler
        region = opts.get("region")
        if region:
            intensity = carbon_intensity(region=region)
        else:
            if CarbonMagics._intensity is None:
                CarbonMagics._intensity = carbon_intensity()
            intensity = CarbonMagics._intensity
        options = {"intensity": intensity, "command": ["%%pyprof_carbon" if cell is not None else "%pyprof_carbon"],
                   "sched": opts.get("sched") or "procfs"}  # ebpf would load BPF programs per cell
        if "rate" in opts:
            options["rate"] = float(opts["rate"])
        if "meter" in opts:
            options["meters"] = [opts["meter"]]
        n = self.shell.execution_count
        path = opts.get("o") or f"pyprof-carbon-cell-{n}.pcarbon"
        src = self.shell.transform_cell(code)
        compiled = self.shell.compile(src, f"<pyprof_carbon cell {n}>", "exec")
        prof = Profiler(**options)
        prof.start()
        try:
            exec(compiled, self.shell.user_ns)  # the cell's code, in the user's namespace
        finally:
            rec = prof.stop()
            if rec is not None:
                strip_shell_frames(rec)
                profile, _ = write_outputs(rec, path, [])
                result = CellProfile(rec, profile, path)
                self.shell.user_ns[opts.get("var") or "_pyprof_carbon"] = result
                self._show(result, opts)
        return None

    def _show(self, result: CellProfile, opts) -> None:
        from .render import html, text
        if "q" not in opts:
            print(text.render(result.profile, text.Options(top=int(opts.get("top") or 10)), text.Style(False)), end="")
            print(f"recording: {result.path}")
        if "no-html" not in opts:
            from IPython.display import HTML, display
            display(HTML(iframe(html.render(result.profile), int(opts.get("height") or 640))))


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(CarbonMagics)
