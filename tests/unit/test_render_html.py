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
    doc = html.render(realistic(), {})
    assert doc.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', doc)
    assert "http://" not in doc.replace("http://www.w3.org", "") and "https://" not in doc
    assert "<style>" in doc and "function drawFlame" in doc


def test_embedded_rows_conserve_energy_and_keep_time_bins():
    p = realistic()
    d = payload(html.render(p, {}))
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
    doc = html.render(realistic(), {})
    for text in ("python train.py --epochs 3", "rapl-powercap", "estimated", "France (FR)", "56 gCO2eq/kWh",
                 "Ember yearly electricity data", "profiler energy", "Same work elsewhere", "Poland (PL)",
                 "997 Hz achieved of 1000 Hz requested"):
        assert text in doc, text


def test_missing_meta_is_fine():
    p = realistic()
    p.meta = {}
    p.timeline = {}
    p.profiler_cost = {}
    doc = html.render(p, {})
    assert "not recorded" in doc and payload(doc)["timeline"] == []


def test_million_samples_aggregate_to_a_small_file():
    p = big()
    assert p.totals()["samples"] > 900_000
    doc = html.render(p, {})
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
        out = render(p, {})
        assert isinstance(out, bytes if binary else str) and len(out) > 300
    doc = renderer("html")[0](p, {})
    assert "2023-11-14T22:13:20+00:00" in doc  # start_unix_s 1.7e9 shown as a date
