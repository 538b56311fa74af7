"""Static SVG flame graph: well-formed, widths in joules, colors by power density, tooltips, script."""
import re
import xml.etree.ElementTree as ET

import pytest

from profile_fixtures import big, realistic
from pyprof_carbon.render import svg

NS = "{http://www.w3.org/2000/svg}"


def frames(doc):
    root = ET.fromstring(doc)
    out = []
    for g in root.iter(NS + "g"):
        if g.get("class") == "f":
            r = g.find(NS + "rect")
            out.append((g.get("data-n"), float(r.get("x")), float(r.get("width")), r.get("fill"), g.find(NS + "title").text))
    return root, out


def test_svg_flame_graph_is_energy_weighted():
    p = realistic()
    root, fr = frames(svg.render(p))
    assert root.find(NS + "script") is not None
    by = {}
    for name, x, w, fill, tip in fr:
        by.setdefault(name, []).append((w, fill, tip))
    (w_all, _, tip_all), = by["all"]
    assert abs(w_all - 1180) < 0.01
    # widths are energy shares
    e_total = p.totals()["energy_j"]["total"]
    matmul_e = next(r["total_energy_j"] for r in p.function_table() if r["name"] == "matmul")
    assert abs(by["matmul"][0][0] / w_all - matmul_e / e_total) < 1e-6
    assert "matmul (/app/model.py:50)" in by["matmul"][0][2] and "W while running" in by["matmul"][0][2]
    assert "±" in by["matmul"][0][2] and "samples" in by["matmul"][0][2]
    # power-hungry matmul (30 W/CPU-s) is redder than wait_io (3 W/CPU-s)
    hue = lambda fill: float(re.match(r"hsl\(([\d.]+)", fill).group(1))
    assert hue(by["matmul"][0][1]) < hue(by["compress"][0][1]) < hue(by["wait_io"][0][1])
    assert len(by["fib"]) == 5 + 2  # recursion: 5 deep on main, 2 deep on a worker


def test_svg_options_title_and_width():
    p = realistic()
    root, fr = frames(svg.render(p, svg.Options(title="nightly <train>", width=600)))
    assert root.get("width") == "600"
    (w_all,) = [w for n, x, w, f, t in fr if n == "all"]
    assert abs(w_all - 580) < 0.01  # 10 px margins
    assert "nightly <train>" in [t.text for t in root.iter(NS + "text")]
    default_title = [t.text for t in frames(svg.render(p))[0].iter(NS + "text")][0]
    assert default_title == "Energy flame graph — python train.py --epochs 3"
    with pytest.raises(ValueError, match="width"):
        svg.Options(width=5)


def test_svg_big_profile_prunes_thin_frames():
    doc = svg.render(big())
    ET.fromstring(doc)
    assert len(doc) < 3_000_000
