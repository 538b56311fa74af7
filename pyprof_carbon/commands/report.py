"""`pyprof-carbon report PROFILE [--format F]... [-o FILE]`: render a saved recording."""
from __future__ import annotations

import sys

from ..errors import UserError
from .options import add_report_options, bounded_int, carbon_overridden, intensity_from_args


def register(sub) -> None:
    p = sub.add_parser("report", help="render a saved recording",
                       description="Render a recording saved by `pyprof-carbon run`; it can be re-attributed "
                                   "(--attribution) and re-priced in carbon (--region, --carbon-intensity).")
    p.add_argument("recording", help="a .pcarbon file written by `pyprof-carbon run`")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write (default: stdout for one text format, else beside the recording)")
    p.add_argument("--region-filter", metavar="NAME",
                   help="render only the samples taken inside the named region (pyprof_carbon.region(NAME))")
    add_report_options(p)
    p.add_argument("--title", metavar="TEXT", help="svg, html: the title (default: the command that was run)")
    p.add_argument("--width", type=bounded_int(100, 100_000), metavar="PIXELS",
                   help="svg: the image's width (default 1200)")
    p.set_defaults(func=main, pue=None)  # None: the PUE recorded with the run


def profile_from_args(path: str, args):
    """Load a recording and attribute it with the options given (the recorded ones otherwise)."""
    from ..attribution import attribute
    from ..journal import load_any as load

    rec = load(path)
    progress = rec.n_samples > 200_000 and sys.stderr.isatty()
    if progress:
        sys.stderr.write(f"attributing {rec.n_samples:,} samples of {path} ...\r")
        sys.stderr.flush()
    intensity = intensity_from_args(args) if carbon_overridden(args) else None
    pue = getattr(args, "pue", None)
    profile = attribute(rec, policy=getattr(args, "attribution", None),
                        intensity=intensity, pue=pue if pue is not None else rec.meta.get("pue") or 1.0,
                        compare=getattr(args, "compare", None),
                        split=getattr(args, "split", None),
                        region_filter=getattr(args, "region_filter", None),
                        native_threads=getattr(args, "native_threads", None))
    if progress:
        sys.stderr.write("\033[K")  # clear the progress line
    return profile


def main(args) -> int:
    from ..output import default_path, render_to
    from ..render import options_from, renderer
    from ..render.text import Style, render, use_color

    profile = profile_from_args(args.recording, args)
    formats = args.formats or ["text"]
    for fmt in formats:
        options = options_from(fmt, args)
        if len(formats) == 1:
            path = args.output
        else:
            path = default_path(args.output or args.recording, fmt, recording=args.recording)
        if fmt == "text" and (path is None or path == "-"):
            sys.stdout.write(render(profile, options, Style(use_color(options.color, sys.stdout))))
            continue
        if path is None and renderer(fmt)[2] and sys.stdout.isatty():  # binary: not for a terminal
            raise UserError(f"{fmt} is binary: give -o FILE")
        where = render_to(profile, fmt, path, options)
        if where != "stdout":
            print(f"wrote {where}", file=sys.stderr)
    return 0
