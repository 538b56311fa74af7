"""Names from the profiled program cannot change a report's structure: the HTML's embedded JSON
has no markup in it, the SVG stays well-formed XML, the text report keeps one row per function."""
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from pyprof_carbon.recording import FunctionInfo
from pyprof_carbon.render.html import script_json
from pyprof_carbon.printable import visible
from recording_mutations import cli
from synthetic import recording

HOSTILE = ["evil<!--", "<script >alert(1)</script>", "a</script><script>x()", "a&amp;<b>'\"",
           "ctl\x1b[2J\x07\x00\x0c\ufffe", "two\nlines\rback", "rtl\u202eevil"]


def hostile_recording(path, names):
    rec = recording(n_samples=400)
    funcs = [FunctionInfo(n, n, f"/s/{n}.py", 10 + i) for i, n in enumerate(names)]
    rec.functions = [rec.functions[0]] + funcs
    rec.stacks = [((0, 1), (i + 1, 11 + i)) for i in range(len(funcs))]
    rec.samples["stack"] = (rec.samples["stack"].astype("int64") * 0 +
                            (rec.samples["t_ns"] % len(funcs))).astype("int32")
    rec.meta["threads"] = [{"tid": t["tid"], "name": names[i % len(names)]} for i, t in enumerate(rec.meta["threads"])]
    rec.meta["command"] = ["app.py", "<!--", "</script>"]
    rec.save(path)
    return path


class Scripts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self._in, self.tags = [], None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self._in = dict(attrs)
            self.scripts.append([self._in, ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self.scripts[-1][1] += data


def test_script_json_escapes_markup():
    text = script_json({"n": "</script><!--<script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"n": "</script><!--<script>&"}


def test_html_report_keeps_its_structure_and_data(tmp_path):
    clean = hostile_recording(str(tmp_path / "clean.pcarbon"), [f"f{i}" for i in range(len(HOSTILE))])
    bad = hostile_recording(str(tmp_path / "bad.pcarbon"), HOSTILE)
    pages = {}
    for name, rec in (("clean", clean), ("bad", bad)):
        out = tmp_path / f"{name}.html"
        rc, _, err = cli(["report", rec, "--format", "html", "-o", str(out)])
        assert rc == 0, err
        p = Scripts()
        p.feed(out.read_text(encoding="utf-8"))
        p.close()
        pages[name] = p
    # the same elements in the same order: no name opened or closed anything
    assert pages["bad"].tags == pages["clean"].tags
    data = [body for attrs, body in pages["bad"].scripts if attrs.get("id") == "data"]
    assert len(data) == 1 and "<" not in data[0]
    doc = json.loads(data[0])
    assert {f[0] for f in doc["funcs"]} >= set(HOSTILE)  # the names round-trip exactly
    # every thread keeps its hostile name (the run's own "not sampled" row aside)
    assert {t["name"] for t in doc["threads"]} - {"(CPU time no sample covers)"} <= set(HOSTILE)


def test_svg_stays_well_formed_xml(tmp_path):
    bad = hostile_recording(str(tmp_path / "bad.pcarbon"), HOSTILE)
    out = tmp_path / "bad.svg"
    rc, _, err = cli(["report", bad, "--format", "svg", "-o", str(out)])
    assert rc == 0, err
    root = ET.parse(out).getroot()
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("ctl[2J") for t in titles)  # controls dropped, the rest kept
    assert any(t.startswith("<script >alert(1)</script>") for t in titles)
    diff_out = tmp_path / "diff.svg"
    assert cli(["diff", bad, bad, "--format", "svg", "-o", str(diff_out)])[0] == 0
    ET.parse(diff_out)


def test_text_report_one_row_per_function(tmp_path):
    bad = hostile_recording(str(tmp_path / "bad.pcarbon"), HOSTILE)
    rc, out, err = cli(["report", bad, "--format", "text", "--color", "always", "--top", "50"])
    assert rc == 0, err
    for ch in "\x00\x07\x0c\r\u202e":
        assert ch not in out
    assert "\x1b[2J" not in out  # only our own SGR colour codes remain
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if "Top functions by self energy" in ln) + 2
    rows = lines[start:start + len(HOSTILE) + 1]
    for name in HOSTILE:
        assert sum(visible(name) in row for row in rows) == 1, name
    assert "two\\nlines\\rback" in out and "ctl\\x1b[2J\\x07\\x00\\x0c" in out and "rtl\\u202eevil" in out
    rc, out, _ = cli(["diff", bad, bad])
    assert rc == 0 and "\x1b[2J" not in out and "\r" not in out


def test_visible_keeps_ordinary_text():
    assert visible("Parser.parse <lambda> é 中") == "Parser.parse <lambda> é 中"
    assert visible("a\tb\x9b") == "a\\tb\\x9b"
