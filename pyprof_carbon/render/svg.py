"""A static energy flame graph as one SVG file (the flamegraph.pl tradition): one rect per call
tree node, width = joules, color = power density (W while running: joules per CPU-second) of the
measured domains so power-hungry code stands out, or the frame's package when no meter measured
the joules; <title> tooltips; a small embedded script for click-to-zoom and search. Readable in
any browser, no extension. Other weights, one thread, left-heavy and icicle views are the HTML
report's (interactive, kept in its URL).

The SVG document itself (svg_document) is shared with the differential flame graph.
"""
from __future__ import annotations

import dataclasses
import math
import re
from html import escape as _html_escape
from typing import List, Tuple

import numpy as np

from ..attributed_profile import Profile, sampling_error
from .folding import USER, kind, package_of
from .tree import CallTree, fmt_num, layout, node_label


@dataclasses.dataclass(frozen=True)
class Options:
    title: str = ""     # empty: "Energy flame graph — COMMAND"
    width: int = 1200   # pixels

    def __post_init__(self):
        if not 100 <= self.width <= 100_000:
            raise ValueError(f"svg width must be between 100 and 100000 pixels, got {self.width}")

# XML 1.0 forbids most C0 controls, lone surrogates and U+FFFE/U+FFFF anywhere in a document, even
# as character references: one in a function name would make the whole SVG unparseable. Dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text) -> str:
    """Text for SVG content or an attribute value: XML-escaped, characters XML cannot hold dropped."""
    return _html_escape(_NOT_XML.sub("", str(text)))


def density_color(w_per_cpu_s: float, lo: float, hi: float) -> str:
    """Yellow (low power density) to deep red (high), on a log scale between lo and hi."""
    if not (w_per_cpu_s > 0) or not math.isfinite(w_per_cpu_s):
        return "hsl(210,25%,72%)"  # no CPU time: waiting (GPU, I/O)
    if hi <= lo:
        t = 0.5
    else:
        t = (math.log(w_per_cpu_s) - math.log(lo)) / (math.log(hi) - math.log(lo))
    t = min(1.0, max(0.0, t))
    return f"hsl({52 - 52 * t:.0f},{88 + 7 * t:.0f}%,{66 - 20 * t:.0f}%)"


def measured_domains(profile: Profile) -> List[str]:
    """The counted domains a meter measured (not a model's estimate): only their joules per
    CPU-second say something about the code; a model's would only repeat its own assumption."""
    flags = {m.get("domain"): bool(m.get("measured")) for m in profile.meta.get("meters") or [] if isinstance(m, dict)}
    return [d for d in profile.counted_domains() if flags.get(d)]


def module_color(package: str, user: bool) -> str:
    """A hue per package name (the HTML report's script computes the same); the user's code
    bright, libraries pale."""
    h = 0
    for c in package:
        h = (h * 31 + ord(c)) & 0xFFFFFFFF
    return f"hsl({h % 360},{'70%,62%' if user else '35%,80%'})"


def density_range(energy: np.ndarray, cpu_s: np.ndarray, weight: np.ndarray) -> Tuple[float, float]:
    """Weighted 2nd..98th percentile of W per CPU-second over the nodes (robust to tiny frames)."""
    m = (cpu_s > 0) & (energy > 0)
    if not m.any():
        return 1.0, 1.0
    d = energy[m] / cpu_s[m]
    w = weight[m]
    order = np.argsort(d)
    c = np.cumsum(w[order])
    c /= c[-1]
    lo = d[order][min(np.searchsorted(c, 0.02), len(d) - 1)]
    hi = d[order][min(np.searchsorted(c, 0.98), len(d) - 1)]
    hi = max(hi, lo)
    if hi < 2 * lo:  # nearly equal densities get the middle colors, not the extremes
        gm = math.sqrt(lo * hi)
        lo, hi = gm / math.sqrt(2), gm * math.sqrt(2)
    return float(lo), float(hi)


_SCRIPT = """
var svg=document.getElementById('fg'),W=%(width)d,PAD=10,frames=[].slice.call(document.querySelectorAll('g.f'));
frames.forEach(function(g){var r=g.querySelector('rect');g.ox=+r.getAttribute('x');g.ow=+r.getAttribute('width');
 g.onclick=function(){zoom(g)};});
function fit(g){var t=g.querySelector('text'),r=g.querySelector('rect'),w=+r.getAttribute('width'),n=g.dataset.n;
 var c=Math.floor((w-6)/7);t.textContent=c<3?'':(n.length<=c?n:n.slice(0,c-2)+'..');}
function zoom(z){var x0=z?z.ox:PAD,w0=z?z.ow:W-2*PAD,s=(W-2*PAD)/w0,d=z?+z.dataset.d:0;
 frames.forEach(function(g){var r=g.querySelector('rect'),t=g.querySelector('text'),gd=+g.dataset.d;
  var inside=g.ox>=x0-1e-6&&g.ox+g.ow<=x0+w0+1e-6, anc=gd<d&&g.ox<=x0+1e-6&&g.ox+g.ow>=x0+w0-1e-6;
  if(z&&!inside&&!anc){g.style.display='none';return;} g.style.display='';
  var nx=anc?PAD:PAD+(g.ox-x0)*s,nw=anc?W-2*PAD:g.ow*s; r.setAttribute('x',nx);r.setAttribute('width',nw);
  t.setAttribute('x',nx+3);g.style.opacity=anc?0.6:1;fit(g);});
 document.getElementById('unzoom').style.display=z?'':'none';}
document.getElementById('unzoom').onclick=function(){zoom(null)};
document.getElementById('search').onclick=function(){var q=prompt('Search (regular expression)','');if(q===null)return;
 var re;try{re=new RegExp(q)}catch(e){return} var hit=0,tot=+svg.dataset.total;
 frames.forEach(function(g){var r=g.querySelector('rect');if(!g.dataset.c)g.dataset.c=r.getAttribute('fill');
  var m=q&&re.test(g.dataset.n);r.setAttribute('fill',m?'rgb(230,0,230)':g.dataset.c);});
 var roots=frames.filter(function(g){return q&&re.test(g.dataset.n)});
 roots.forEach(function(g){if(!roots.some(function(h){return h!==g&&+h.dataset.d<+g.dataset.d&&h.ox<=g.ox&&h.ox+h.ow>=g.ox+g.ow}))hit+=g.ow;});
 document.getElementById('matched').textContent=q?'Matched: '+(100*hit/(W-2*PAD)).toFixed(1)+'%%':'';};
"""


def svg_document(boxes, width: int, title: str, subtitle: str, total: float, legend: str = "",
                 row_h: int = 17) -> str:
    """boxes: (x, w, depth, name, tooltip, fill), drawn as a flame (root at the bottom)."""
    pad, top = 10, 62
    max_depth = max((b[2] for b in boxes), default=0)
    height = top + (max_depth + 1) * row_h + 40
    out = [f'<?xml version="1.0" standalone="no"?>\n'
           f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" id="fg" class="flame" data-total="{total!r}">',
           '<style>text{font:12px Verdana,sans-serif;fill:#222}g.f text{pointer-events:none;font-size:11px}'
           'g.f:hover rect{stroke:#000;stroke-width:0.7}g.f{cursor:pointer}.b{cursor:pointer;fill:#1d4ed8}</style>',
           '<rect width="100%" height="100%" fill="#fbfbf8"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" style="font-size:16px">{escape(title)}</text>',
           f'<text x="{width / 2}" y="40" text-anchor="middle" style="fill:#555">{escape(subtitle)}</text>',
           f'<text id="unzoom" class="b" x="{pad}" y="22" style="display:none">Reset zoom</text>',
           f'<text id="search" class="b" x="{width - pad}" y="22" text-anchor="end">Search</text>',
           f'<text id="matched" x="{width - pad}" y="{height - 8}" text-anchor="end"></text>',
           f'<text x="{pad}" y="{height - 8}" style="fill:#555">{escape(legend)}</text>']
    for x, w, depth, name, tip, fill in boxes:
        y = top + (max_depth - depth) * row_h
        chars = int((w - 6) / 7)
        label = "" if chars < 3 else (name if len(name) <= chars else name[:chars - 2] + "..")
        out.append(f'<g class="f" data-n="{escape(name)}" data-d="{depth}"><title>{escape(tip)}</title>'
                   f'<rect x="{x + pad:.2f}" y="{y}" width="{w:.2f}" height="{row_h - 1}" fill="{fill}" rx="1.5"/>'
                   f'<text x="{x + pad + 3:.2f}" y="{y + row_h - 5}">{escape(label)}</text></g>')
    out.append(f'<script type="text/ecmascript"><![CDATA[{_SCRIPT % {"width": width}}]]></script>')
    out.append("</svg>\n")
    return "\n".join(out)


def render(profile: Profile, options: Options = Options()) -> str:
    width = options.width
    tree = CallTree(profile)
    rs = profile.row_stack
    energy = tree.totals(tree.self_values(rs, profile.row_energy_total))
    co2 = tree.totals(tree.self_values(rs, profile.row_co2_g))
    cpu = tree.totals(tree.self_values(rs, profile.row_cpu_ns / 1e9))
    samples = tree.totals(tree.self_values(rs, profile.row_samples))
    names = [node_label(profile, f) for f in tree.func]
    measured = measured_domains(profile)
    if measured:
        e_measured = tree.totals(tree.self_values(rs, np.sum([profile.row_energy_j[d] for d in measured], axis=0)))
        lo, hi = density_range(e_measured, cpu, energy)
    n_all, e_all = samples[0], energy[0]
    boxes = []
    for node, x, w, depth in layout(tree, energy, width - 20, names=names):
        f = tree.func[node]
        fn = profile.functions[f] if f >= 0 else None
        where = f" ({fn.file}:{fn.line})" if fn else ""
        dens = energy[node] / cpu[node] if cpu[node] > 0 else float("nan")
        if not fn:
            fill = "hsl(40,10%,82%)"
        elif measured:
            fill = density_color(e_measured[node] / cpu[node] if cpu[node] > 0 else float("nan"), lo, hi)
        else:
            fill = module_color(package_of(fn.file), kind(fn.file) == USER)
        pct = 100.0 * energy[node] / e_all if e_all else 0.0
        err = sampling_error(samples[node], n_all, e_all)
        tip = (f"{names[node]}{where}\n{fmt_num(energy[node], 'J')} ± {fmt_num(err, 'J')}, "
               f"{fmt_num(co2[node], 'g')} CO2eq, {fmt_num(cpu[node], 's')} CPU, "
               f"{fmt_num(dens, 'W') + ' while running' if dens == dens else 'no CPU time'}, "
               f"{int(samples[node]):,} samples; {pct:.2f}% of the energy")
        boxes.append((x, w, depth, names[node], tip, fill))
    meta = profile.meta
    cmd = meta.get("command")
    cmd = " ".join(cmd) if isinstance(cmd, (list, tuple)) else (cmd or "")
    title = options.title or f"Energy flame graph — {cmd}".strip(" —")
    sub = f"width: energy; {fmt_num(e_all, 'J')}, {fmt_num(co2[0], 'g')} CO2eq, {int(n_all):,} samples"
    estimated = [d for d in profile.counted_domains() if d not in measured]
    if measured:
        legend = (f"color: power while running ({', '.join(measured)}"
                  + (f"; {', '.join(estimated)} estimated, left out" if estimated else "")
                  + f"), yellow {fmt_num(lo, 'W')} → red {fmt_num(hi, 'W')}; grey-blue: no CPU time")
    else:
        legend = ("color: package (bright: your code, pale: libraries), not power: no meter measured "
                  "these joules, a model estimated them")
    return svg_document(boxes, width, title, sub, float(e_all), legend)
