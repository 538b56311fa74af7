"""diff: per function and per stack changes, totals with combined sampling error, the differential
flame graph (widths AFTER, blue saved, red added) and the CLI (`--format`, `--fail-if-increase`)."""
import math
import re
import xml.etree.ElementTree as ET

import pytest

from profile_fixtures import realistic
from pyprof_carbon import cli, diff

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def pair():
    # after: matmul halved (an optimization), wait_io doubled
    return realistic(seed=0), realistic(seed=3, scale={"matmul": 0.5, "wait_io": 2.0})


def test_by_function_and_totals(pair):
    before, after = pair
    rows = diff.by_function(before, after)
    assert rows[0]["qualname"] == "matmul" and rows[0]["self_delta_j"] < -30
    wait = next(r for r in rows if r["qualname"] == "wait_io")
    assert wait["self_delta_j"] > 0 and wait["self_delta_err_j"] > 0
    t = diff.totals(before, after)
    assert t["delta_j"] == pytest.approx(t["energy_j_after"] - t["energy_j_before"])
    assert t["delta_err_j"] == pytest.approx(math.hypot(diff.total_error(before), diff.total_error(after)))
    assert 0 < t["delta_err_j"] < abs(t["delta_j"]) and t["delta_pct"] < -20
    same = diff.totals(before, before)
    assert same["delta_j"] == 0 and same["delta_err_j"] > 0


def test_by_stack(pair):
    rows = diff.by_stack(*pair)
    assert rows[0]["stack"] == "<module>;main;train;matmul" and rows[0]["delta_j"] < 0
    assert sum(r["delta_j"] for r in rows) == pytest.approx(diff.totals(*pair)["delta_j"])


def test_differential_flame_graph_colors_and_widths(pair):
    before, after = pair
    doc = diff.flame_svg(before, after)
    root = ET.fromstring(doc)
    frames = {}
    for g in root.iter(NS + "g"):
        if g.get("class") == "f":
            r = g.find(NS + "rect")
            frames.setdefault(g.get("data-n"), []).append((float(r.get("width")), r.get("fill"), g.find(NS + "title").text))
    w_all = frames["all"][0][0]
    matmul_after = sum(e for s, e, *_ in after.stack_table() if s[-1][0] == 5)
    assert frames["matmul"][0][0] / w_all == pytest.approx(matmul_after / after.totals()["energy_j"]["total"], rel=1e-4)
    hue_sat = lambda f: tuple(float(x) for x in re.match(r"hsl\(([\d.]+),([\d.]+)%", f).groups())
    assert hue_sat(frames["matmul"][0][1])[0] == 215      # saved: blue
    assert hue_sat(frames["wait_io"][0][1])[0] == 0       # added: red
    assert "saved" in frames["matmul"][0][2] and "added" in frames["wait_io"][0][2]
    unchanged = diff.flame_svg(before, before)
    assert all(f.endswith(",0%,96%)") for f in re.findall(r'fill="(hsl\([^"]+)"', unchanged))
    page = diff.flame_html(before, after)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "matmul" in page and "https://" not in page


@pytest.fixture
def fake_recordings(monkeypatch, pair):
    from pyprof_carbon.commands import report
    files = {"before.pcarbon": pair[0], "after.pcarbon": pair[1]}
    monkeypatch.setattr(report, "profile_from_args", lambda path, args: files[path.rsplit("/", 1)[-1]], raising=False)


def test_cli_text_and_gate(fake_recordings, capsys):
    assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--fail-if-increase", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Energy: 130 J -> 86.8 J (-43.18 ±") and "-33.2%" in out
    first = out.splitlines()[3]
    assert first.split()[-1] == "matmul" and first.split()[2].startswith("-")
    assert cli.main(["diff", "after.pcarbon", "before.pcarbon", "--fail-if-increase", "5"]) == 1
    assert "energy rose" in capsys.readouterr().err
    assert cli.main(["diff", "after.pcarbon", "before.pcarbon", "--fail-if-increase", "60"]) == 0


def test_cli_flame_graph_files(fake_recordings, tmp_path, capsys):
    for fmt in ("svg", "html", "collapsed"):
        out = tmp_path / f"d.{fmt}"
        assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--format", fmt, "-o", str(out)]) == 0
        text = out.read_text()
        assert "matmul" in text
    ET.fromstring((tmp_path / "d.svg").read_text())
    assert "Energy diff" in (tmp_path / "d.html").read_text()
