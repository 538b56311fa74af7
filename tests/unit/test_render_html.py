"""HTML report: self-contained, data embedded and aggregated, conservation of the rows."""
import json
import re

import numpy as np

from profile_fixtures import big, realistic
from pyprof_carbon.render import html


def payload(doc):
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', doc, re.S).group(1))


def decoded(d):
    node = np.cumsum(d["rows"]["node"])
    return node, {k: np.array(d["rows"][k], np.float64) * d["units"][k] for k in ("e", "co2", "cpu", "n")}


def test_self_contained_no_network():
    doc = html.render(realistic())
    assert doc.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', doc)
    assert "http://" not in doc.replace("http://www.w3.org", "") and "https://" not in doc
    assert "<style>" in doc and "function drawFlame" in doc


def test_embedded_rows_conserve_energy_and_keep_time_bins():
    p = realistic()
    d = payload(html.render(p))
    node, v = decoded(d)
    tot = p.totals()
    assert abs(v["e"].sum() - tot["energy_j"]["total"]) < 1e-6 * tot["energy_j"]["total"]
    assert abs(v["co2"].sum() - tot["co2_g"]) < 1e-6 * tot["co2_g"]
    assert abs(v["cpu"].sum() - tot["cpu_s"]) < 1e-6 and v["n"].sum() == tot["samples"]
    assert len(d["bins"]) == 51 and max(d["rows"]["bin"]) == 49
    assert [t["name"] for t in d["threads"]] == ["MainThread", "compressor", "fetcher"]
    # the tree: node 0 is the root, parents before children
    assert d["parent"][0] == -1 and all(0 <= d["parent"][i] < i for i in range(1, len(d["parent"])))
    names = [d["funcs"][f][0] if f >= 0 else "all" for f in d["func"]]
    assert names.count("fib") == 7
    # energy in the last second is only fib and wait_io (main and fetcher threads)
    late = np.array(d["rows"]["bin"]) >= 45
    assert {names[n] for n in node[late & (v["e"] > 0)]} == {"fib", "wait_io"}
    assert {(t["domain"], t["measured"]) for t in d["timeline"]} == {("package", True), ("dram", False)}


def test_details_meta_meters_carbon_cost_elsewhere():
    doc = html.render(realistic())
    for text in ("python train.py --epochs 3", "rapl-powercap", "estimated", "France (FR)", "56 gCO2eq/kWh",
                 "Ember yearly electricity data", "profiler energy", "Same work elsewhere", "Poland (PL)",
                 "997 Hz achieved of 1000 Hz requested"):
        assert text in doc, text


def test_missing_meta_is_fine():
    p = realistic()
    p.meta = {}
    p.timeline = {}
    p.profiler_cost = {}
    doc = html.render(p)
    assert "not recorded" in doc and payload(doc)["timeline"] == []


def test_million_samples_aggregate_to_a_small_file():
    p = big()
    assert p.totals()["samples"] > 900_000
    doc = html.render(p)
    assert len(doc.encode()) < 3_000_000
    d = payload(doc)
    assert len(d["rows"]["n"]) <= html.MAX_ROWS and len(d["parent"]) <= html.MAX_NODES
    _, v = decoded(d)
    tot = p.totals()
    assert abs(v["e"].sum() - tot["energy_j"]["total"]) < 1e-6 * tot["energy_j"]["total"]
    assert v["n"].sum() == tot["samples"]  # folded frames' samples go to their callers
    assert d["folded"]["nodes"] > 0


def test_every_renderer_takes_an_attributed_recording():
    from synthetic import recording
    from pyprof_carbon.attribution import attribute
    from pyprof_carbon.render import renderer
    p = attribute(recording(), policy="share")
    for fmt in ("html", "svg", "speedscope", "pprof"):
        render, _, binary = renderer(fmt)
        out = render(p)
        assert isinstance(out, bytes if binary else str) and len(out) > 300
    doc = renderer("html")[0](p)
    assert "2023-11-14T22:13:20+00:00" in doc  # start_unix_s 1.7e9 shown as a date


# ---- first view: imports collapsed, libraries folded -------------------------------------------
from pyprof_carbon.recording import FunctionInfo  # noqa: E402
from pyprof_carbon.render import folding  # noqa: E402

SP = "/usr/lib/python3.11/site-packages"


def test_import_machinery_becomes_one_import_frame():
    fns = [FunctionInfo("<module>", "<module>", "/app/main.py", 1),
           FunctionInfo("_find_and_load", "_find_and_load", "<frozen importlib._bootstrap>", 1165),
           FunctionInfo("exec_module", "_LoaderBasics.exec_module", "<frozen importlib._bootstrap_external>", 934),
           FunctionInfo("<module>", "<module>", f"{SP}/numpy/core/__init__.py", 1),
           FunctionInfo("helper", "helper", "/app/main.py", 5)]
    funcs, stacks = folding.collapse_imports(fns, [((0, 3), (1, 9), (2, 9), (3, 7)), ((0, 3), (1, 9)), ((0, 8), (4, 6))])
    names = [[funcs[f].qualname for f, _ in st] for st in stacks]
    assert names == [["<module>", "import numpy.core", "<module>"], ["<module>", "import (loading)"], ["<module>", "helper"]]
    assert [folding.kind(funcs[f].file) for f, _ in stacks[0]] == ["user", "library", "library"]


def test_library_frames_fold_under_the_call_the_user_made():
    # all -> main(user) -> dumps(lib) -> encode(lib) -> iterencode(lib) -> callback(user) -> sub(lib)
    kinds = ["user", "library", "library", "library", "user", "library"]
    mods = ["app", "json", "json", "json", "app", "re"]
    parent = [-1, 0, 1, 2, 3, 4, 5]
    fold, fparent, ffunc, hidden = folding.fold_tree(parent, [-1, 0, 1, 2, 3, 4, 5], kinds, mods)
    assert ffunc == [-1, 0, 1, 4, 5]            # encode and iterencode hidden
    assert fparent == [-1, 0, 1, 2, 3]          # the user's callback hangs under dumps
    assert fold == [0, 1, 2, 2, 2, 3, 4] and hidden[2] == [2, ["json"]]


def test_folded_tree_in_the_page_keeps_every_joule():
    p = realistic()
    d = payload(html.render(p))
    node, v = decoded(d)
    fmap = np.array(d["fold"]["map"])
    per_fold = np.bincount(fmap[node], weights=v["e"], minlength=len(d["fold"]["parent"]))
    assert abs(per_fold.sum() - p.totals()["energy_j"]["total"]) < 1e-6 * per_fold.sum()
    names = [d["funcs"][f][0] if f >= 0 else "all" for f in d["fold"]["func"]]
    assert "Thread.run" not in names and "Thread._bootstrap_inner" in names and "worker" in names
    assert [d["funcs"][f][3] for f in d["func"][1:3]] == ["user", "user"]


def test_color_by_power_only_for_measured_domains():
    p = realistic()  # package measured, dram estimated
    d = payload(html.render(p))
    assert d["color"] == "density" and d["measured"] == ["package"] and d["estimated"] == ["dram"]
    em = np.array(d["rows"]["em"]) * d["units"]["em"]
    assert abs(em.sum() - p.totals()["energy_j"]["package"]) < 1e-6 * em.sum()
    p.meta["meters"] = [dict(m, measured=False) for m in p.meta["meters"]]
    d = payload(html.render(p))
    assert d["color"] == "module" and "em" not in d["rows"]
    from pyprof_carbon.render import svg
    doc = svg.render(p)
    assert "not power: no meter measured" in doc and "hsl(52" not in doc  # no yellow-to-red scale
    p.meta["meters"] = [dict(m, measured=True) for m in p.meta["meters"]]
    d = payload(html.render(p))
    assert d["color"] == "density" and "em" not in d["rows"]  # every joule measured: e is the density


def test_machine_power_per_bin_and_avg_power_card():
    p = realistic()
    t = np.arange(0, 10, 0.1)
    p.timeline = {"package": (t, np.where(t < 5, 10.0, 0.0)), "dram": (t, np.full(len(t), 2.0))}
    w = html.machine_power(p, np.array([0.0, 2.0, 4.0, 6.0, 10.0]))
    assert np.allclose(w, [12.0, 12.0, 7.0, 2.0])
    k, v, sub = html.avg_power(p)
    tot = p.totals()
    assert v == html.fmt_num(tot["energy_j"]["total"] / tot["wall_s"], "W")
    assert "while running" in sub and "machine" in sub
    doc = html.render(p)
    assert "W per CPU" not in doc and "W/CPU" not in doc


def test_hot_lines_show_the_source_read_at_report_time(tmp_path):
    import dataclasses
    src = tmp_path / "model.py"
    src.write_text("".join(f"x = {i}  # <line {i}>\n" for i in range(1, 80)))
    p = realistic()
    p = dataclasses.replace(p, functions=[dataclasses.replace(f, file=str(src)) if f.file == "/app/model.py" else f
                                          for f in p.functions])
    doc = html.hot_lines(p)
    first = doc.split("</details>")[0]
    assert "<b class='mono'>matmul</b>" in first and "<details open>" in first
    row55 = re.search(r"<tr class=hot><td class='ln'>55</td><td>.*?</tr>", first).group(0)
    assert "x = 55  # &lt;line 55&gt;" in row55 and " J" in row55
    assert "line numbers only" not in first
    # a file that is not here: line numbers only, said so
    other = html.hot_lines(realistic())
    assert "line numbers only" in other and "<td class='ln'>55</td>" in other
