"""diff: per function and per stack changes, the total's interval (the 1/sqrt(N) stand-in for one
run per side, the runs' spread alone over several), the script matched across two files, the
differential flame graph (widths AFTER, blue saved, red added) and the CLI (`--format`,
`--fail-if-increase` and its hint)."""
import copy
import dataclasses
import math
import re
import xml.etree.ElementTree as ET

import pytest

from profile_fixtures import realistic
from pyprof_carbon import cli, diff
from pyprof_carbon.render import diff as diff_render

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def pair():
    # after: matmul halved (an optimization), wait_io doubled
    return realistic(seed=0), realistic(seed=3, scale={"matmul": 0.5, "wait_io": 2.0})


def test_compare_one_run_per_side(pair):
    before, after = pair
    c = diff.compare(before, after)
    rows = c["functions"]
    assert rows[0]["qualname"] == "matmul" and rows[0]["delta"] < -30 and rows[0]["significant"]
    wait = next(r for r in rows if r["qualname"] == "wait_io")
    assert wait["delta"] > 0 and wait["se"] > 0
    t = c["total"]
    assert c["sampling_only"] and t["delta"] == pytest.approx(t["after"] - t["before"])
    # one run per side: the total's interval is the 1/sqrt(N) of a sampled total, each side's
    n = lambda p: p.totals()["samples"]
    se = math.hypot(t["before"] / math.sqrt(n(before)), t["after"] / math.sqrt(n(after)))
    assert t["se"] == pytest.approx(se, rel=1e-6) and t["pct"] < -20
    same = diff.compare(before, before)["total"]
    assert same["delta"] == 0 and same["se"] > 0


def _moved(p, old, new):
    """p with every function of file `old` in file `new` (a copy of the script, a moved module)."""
    q = copy.copy(p)
    q.functions = [dataclasses.replace(f, file=new) if f.file == old else f for f in p.functions]
    return q


def test_a_copy_of_the_script_matches_its_functions_by_name(pair):
    """before.py against an edited copy after.py: the script's functions match by qualified name
    (shown with AFTER's path); a function moved to another module is still removed and added."""
    # fib, which has self time, lives in the script here; the runs were `run main.py` and
    # `run ../app/main_v2.py`
    one_file = [_moved(p, "/app/algo.py", "/app/main.py") for p in pair]
    before, after = copy.copy(one_file[0]), _moved(one_file[1], "/app/main.py", "/app/main_v2.py")
    before.meta = dict(before.meta, command=["main.py", "--epochs", "3"])
    after.meta = dict(after.meta, command=["../app/main_v2.py"])
    assert diff.script_file(before) == "/app/main.py" and diff.script_file(after) == "/app/main_v2.py"
    assert diff.script_file(pair[0]) is None  # its command, `python train.py`, names no script of it
    c = diff.compare(before, after)
    fib = [r for r in c["functions"] if r["qualname"] == "fib"]
    assert [(r["file"], r["status"]) for r in fib] == [("/app/main_v2.py", "")]
    assert not any(r["status"] for r in c["functions"])
    same = diff.compare(*one_file)["functions"]  # the same runs with the script at one path
    assert [r["delta"] for r in c["functions"]] == [r["delta"] for r in same]
    # the flame graph: the same frames as with one path, AFTER's path shown
    tree = diff_render.DiffTree(before, after)
    assert tree.name == diff_render.DiffTree(*one_file).name and "/app/main_v2.py" in tree.where
    moved = diff.compare(pair[0], _moved(pair[1], "/app/model.py", "/app/model2.py"))["functions"]
    assert {(r["file"], r["status"]) for r in moved if r["qualname"] == "matmul"} == {
        ("/app/model.py", "removed"), ("/app/model2.py", "added")}


def test_total_over_runs_has_no_sampling_floor(pair):
    """The total is measured (CPU clock, meters), not sampled: with 2+ runs per side only their
    spread makes its interval, however few samples each run has; a function's keeps its floor."""
    before, after = pair
    c = diff.compare([before, before], [after, after], adjust=False)
    assert c["total"]["se"] == 0 and c["total"]["significant"]
    matmul = next(r for r in c["functions"] if r["qualname"] == "matmul")
    assert matmul["se"] > 0  # identical runs: the binomial floor is all that is left


def test_differential_flame_graph_colors_and_widths(pair):
    before, after = pair
    doc = diff_render.flame_svg(before, after)
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
    assert "saved" in frames["matmul"][0][2]
    back = ET.fromstring(diff_render.flame_svg(after, before))
    m = next(g for g in back.iter(NS + "g") if g.get("data-n") == "matmul")
    assert hue_sat(m.find(NS + "rect").get("fill")) == (0, 80)  # added: red
    assert "added" in m.find(NS + "title").text
    unchanged = diff_render.flame_svg(before, before)
    assert all(f.endswith(",0%,96%)") for f in re.findall(r'fill="(hsl\([^"]+)"', unchanged))
    # only significant changes are colored: Parser.parse changed by chance (another seed), not significantly
    parse = diff.compare(before, after)["functions"]
    assert not next(r for r in parse if r["qualname"] == "Parser.parse")["significant"]
    assert frames["Parser.parse"][0][1].endswith(",0%,96%)") and "no significant change" in frames["Parser.parse"][0][2]
    page = diff_render.flame_html(before, after)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "matmul" in page and "https://" not in page


@pytest.fixture
def fake_recordings(monkeypatch, pair):
    """`diff` on named fake recordings: before*.pcarbon are `realistic` runs, after*.pcarbon the
    optimized ones (a different seed per file, so repeated runs differ like real ones)."""
    from pyprof_carbon.commands import diff as cmd

    def fake(path):
        name = path.rsplit("/", 1)[-1]
        seed = int("".join(c for c in name if c.isdigit()) or 0)
        if name.startswith("before"):
            return pair[0] if not seed else realistic(seed=10 + seed)
        return pair[1] if not seed else realistic(seed=20 + seed, scale={"matmul": 0.5, "wait_io": 2.0})
    monkeypatch.setattr(cmd, "load_profiles", lambda b, a, args: ([fake(p) for p in b], [fake(p) for p in a]))


def test_cli_text_and_gate(fake_recordings, capsys):
    assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--fail-if-increase", "5"]) == 0
    cap = capsys.readouterr()
    out = cap.out
    assert out.startswith("Energy: 130 J -> 86.8 J (-43.18 J, -33.2%); 95% CI ") and "significant" in out
    assert "metric: attributed energy" in out and "runs: 1 before, 1 after" in out
    assert "ignores run-to-run noise" in out  # one run per side: sampling error only, and it says so
    table = out.splitlines()
    first = next(i for i, ln in enumerate(table) if ln.startswith("before J")) + 1
    row = table[first].split()
    assert row[-1] == "matmul" and row[-2] == "/app/model.py" and row[2].startswith("-") and "*" in row
    assert cap.err.strip().startswith("pyprof-carbon: ok: energy -33.2%") and len(cap.err.strip().splitlines()) == 1
    assert cli.main(["diff", "after.pcarbon", "before.pcarbon", "--fail-if-increase", "5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyprof-carbon: FAIL: energy +49.7%") and "rose more than 5%" in err and "\n" not in err
    # the whole interval must lie above the limit: a rise of +49.7% does not fail a 60% gate
    assert cli.main(["diff", "after.pcarbon", "before.pcarbon", "--fail-if-increase", "60"]) == 0


def test_gate_says_how_many_runs_a_rise_needs():
    """A rise above the limit that the runs' noise hides: the line says how many runs per side
    would show it (the one-sided margin shrinks as 1/sqrt(n))."""
    from pyprof_carbon import stats
    from pyprof_carbon.commands.diff import gate
    before, after = [10.0, 12.0, 9.0, 11.0, 13.0], [12.0, 14.0, 10.0, 13.0, 11.5]
    zeros = [0.0] * 5
    tot = stats.change(before, zeros, after, zeros)
    assert tot["pct"] > 5 and not tot["rise_significant"]
    cmp = {"total": tot, "confidence": 0.95, "runs": (5, 5), "metric": "cpu", "sampling_only": False,
           "speed_adjusted": False}
    status, line = gate(cmp, 5)
    need = math.ceil(5 * ((tot["delta"] - tot["rise_lo"]) / tot["delta"]) ** 2)
    assert status == 0 and need > 5
    assert line.endswith(f"about {need} runs per side would tell a rise of this size from this noise")
    # the same runs three times over (15 per side, above the 14 it asks for): significant; twice (10): not
    more = lambda k: stats.change(before * k, zeros * k, after * k, zeros * k)
    assert need == 14 and more(3)["rise_significant"] and not more(2)["rise_significant"]
    assert "runs per side" not in gate(cmp, 50)[1]  # not above the limit: nothing to tell


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-1", "five"])
def test_cli_gate_rejects_meaningless_limits(fake_recordings, capsys, bad):
    assert cli.main(["diff", "before.pcarbon", "after.pcarbon", f"--fail-if-increase={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyprof-carbon: error: --fail-if-increase") and len(err.splitlines()) == 1


def test_cli_several_runs_per_side(fake_recordings, capsys, tmp_path):
    import json
    assert cli.main(["diff", "--before", "before1.pcarbon", "before2.pcarbon", "before3.pcarbon",
                     "--after", "after1.pcarbon", "after2.pcarbon", "after3.pcarbon", "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert rep["runs"] == [3, 3] and not rep["sampling_only"] and rep["metric"] == "energy"
    assert rep["before"] == ["before1.pcarbon", "before2.pcarbon", "before3.pcarbon"]
    top = rep["functions"][0]
    assert top["qualname"] == "matmul" and top["significant"] and top["hi"] < 0
    assert rep["total"]["df"] < 10  # Welch: the degrees of freedom come from the runs
    # a directory stands for its recordings, in name order
    for side in ("b", "a"):
        (tmp_path / side).mkdir()
    for i in (1, 2):
        (tmp_path / "b" / f"before{i}.pcarbon").write_bytes(b"")
        (tmp_path / "a" / f"after{i}.pcarbon").write_bytes(b"")
    assert cli.main(["diff", str(tmp_path / "b"), str(tmp_path / "a"), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [p.rsplit("/", 1)[1] for p in rep["after"]] == ["after1.pcarbon", "after2.pcarbon"]
    assert cli.main(["diff", "before1.pcarbon"]) == 2
    assert "two paths" in capsys.readouterr().err


def test_cli_flame_graph_files(fake_recordings, tmp_path, capsys):
    for fmt in ("svg", "html", "collapsed"):
        out = tmp_path / f"d.{fmt}"
        assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--format", fmt, "-o", str(out)]) == 0
        text = out.read_text()
        assert "matmul" in text
    ET.fromstring((tmp_path / "d.svg").read_text())
    assert "Energy diff" in (tmp_path / "d.html").read_text()


def test_cli_confidence_level(fake_recordings, capsys):
    import json
    widths = {}
    for level in ("90", "99%", "0.95"):
        assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--format", "json", "--confidence", level]) == 0
        rep = json.loads(capsys.readouterr().out)
        widths[rep["confidence"]] = rep["total"]["hi"] - rep["total"]["lo"]
    assert list(widths) == [0.9, 0.99, 0.95] and widths[0.9] < widths[0.95] < widths[0.99]
    assert cli.main(["diff", "before.pcarbon", "after.pcarbon", "--confidence", "120"]) == 2
    assert "--confidence" in capsys.readouterr().err
