"""The HTML report opened in headless Chromium: the script ran without errors and drew the flame
graph, the top-functions table, the threads table and the power timeline; a time range and a
thread given in the URL re-compute the view; on real runs (examples/hotspots.py, a numpy + json +
re script) the first screen shows the user's hottest function and the page never scrolls sideways.
Screenshots go to the test's tmp dir, and those of real runs also to out/screenshots/ (ignored by
git) to look at."""
import os
import re
import shutil
import subprocess

import pytest

from profile_fixtures import big, realistic
from pyprof_carbon.render import html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: run scripts/setup.sh")


def chromium(tmp_path, url, *extra, timeout=90, size="1300,1500"):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}", f"--window-size={size}",
           *extra, url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r


def dom(tmp_path, path, fragment="", size="1300,1500"):
    r = chromium(tmp_path, f"file://{path}{fragment}", "--virtual-time-budget=5000", "--dump-dom", size=size)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def frames(page):
    """(function name, width px) of the flame graph nodes the script created."""
    return [(m.group(2), float(m.group(1))) for m in
            re.finditer(r'<div class="fr[^"]*" data-i="\d+" data-fn="-?\d+" style="left:[\d.]+px;width:([\d.]+)px;[^"]*">'
                        r'([^<]*)(?:<i>[^<]*</i>)?</div>', page)]


def body_facts(page):
    """The layout facts the report's script writes on <body> (report.js layoutFacts)."""
    tag = re.search(r"<body([^>]*)>", page).group(1)
    return {k: html_unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', tag)}


def html_unescape(s):
    import html as h
    return h.unescape(s)


def check_page(page):
    assert "JS error" not in page.split("</title>")[0], page[:500]
    assert re.search(r'<div id="errors" hidden="">', page), "the page reported script errors"
    assert 'data-ready="1"' in page


def test_html_report_draws_in_chromium(tmp_path):
    path = tmp_path / "report.html"
    path.write_text(html.render(realistic()), encoding="utf-8")
    page = dom(tmp_path, path)
    check_page(page)
    fr = frames(page)
    assert len(fr) >= 15
    widest = {}
    for name, w in fr:
        widest[name] = max(widest.get(name, 0), w)
    # matmul is the hot leaf: the widest frame that is not an ancestor of everything
    assert widest["matmul"] > widest["compress"] > widest.get("Parser.parse", 0)
    # the top-functions table has a row for the hot function, first by self energy
    body = page.split('<table id="functions"', 1)[1].split("</table>")[0]
    first = re.search(r'<tr data-fn="([^"]+)"', body)
    assert first and first.group(1) == "matmul"
    threads = page.split('<table id="threads"', 1)[1].split("</table>")[0]
    assert threads.count("<tr data-t=") == 3 and "compressor" in threads
    # the power timeline drew a line per domain, estimated dram dashed, and the process's area
    assert re.search(r'<polyline class="pw" data-domain="package" points="[\d.]+,[\d.]+ ', page)
    assert re.search(r'data-domain="dram"[^>]*stroke-dasharray', page)
    assert 'class="proc"' in page
    assert_process_under_machine(page)
    assert "Same work elsewhere" in page and "Poland" in page
    shot = tmp_path / "shot.png"
    r = chromium(tmp_path, f"file://{path}", "--virtual-time-budget=5000", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.stat().st_size > 10_000


def assert_process_under_machine(page):
    """The process's area never rises above the machine's power (the domains added), bin by bin."""
    proc = re.search(r'<path d="M[\d.]+,[\d.]+((?:L[\d.]+,[\d.]+)+)L[\d.]+,[\d.]+Z"[^>]*class="proc"', page).group(1)
    proc_y = [float(p.split(",")[1]) for p in proc.split("L")[1:]]
    machine_y = [float(p.split(",")[1]) for p in
                 re.search(r'<polyline class="machine" points="([^"]+)"', page).group(1).split()]
    assert len(proc_y) == len(machine_y) == 100
    assert all(py >= my - 0.06 for py, my in zip(proc_y, machine_y))  # SVG y grows downwards; 1 decimal


def test_process_power_is_drawn_under_the_machines(tmp_path):
    # a meter timeline below the attributed joules in places (bins straddling meter intervals,
    # rounding): the area is cut at the machine's power, not drawn above it
    p = realistic()
    p.timeline = {d: (t, w * 0.5) for d, (t, w) in p.timeline.items()}
    path = tmp_path / "report.html"
    path.write_text(html.render(p), encoding="utf-8")
    page = dom(tmp_path, path)
    check_page(page)
    assert_process_under_machine(page)


def test_time_range_and_thread_in_the_url_recompute_the_view(tmp_path):
    path = tmp_path / "report.html"
    path.write_text(html.render(realistic()), encoding="utf-8")
    # the last second: the main thread only runs the recursive fib
    page = dom(tmp_path, path, "#t=8.2-10&thread=1001")
    check_page(page)
    names = {n for n, _ in frames(page)}
    assert "fib" in names and "matmul" not in names and "compress" not in names
    assert "8.20 s – 10.00 s" in page
    body = page.split('<table id="functions"', 1)[1].split("</table>")[0]
    assert re.search(r'<tr data-fn="([^"]+)"', body).group(1) == "fib"
    # searching highlights the matching frames and says how much of the graph they are
    page = dom(tmp_path, path, "#q=compress&w=cpu&icicle=1")
    check_page(page)
    assert 'class="fr hit"' in page and re.search(r'matched \d+\.\d%', page)


def test_big_profile_opens(tmp_path):
    path = tmp_path / "big.html"
    path.write_text(html.render(big()), encoding="utf-8")
    assert os.path.getsize(path) < 4_000_000
    page = dom(tmp_path, path)
    check_page(page)
    assert len(frames(page)) > 100
    shot = tmp_path / "big.png"
    r = chromium(tmp_path, f"file://{path}", "--virtual-time-budget=5000", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.stat().st_size > 10_000


def test_run_format_html_on_the_example(tmp_path):
    """Issue 6 acceptance: `pyprof-carbon run --format html examples/hotspots.py`, opened in Chromium."""
    from pcrun import ROOT, pc
    r = pc(["run", "-q", "--format", "html", "-o", str(tmp_path / "hs.pcarbon"), f"{ROOT}/examples/hotspots.py"])
    assert r.returncode == 0, r.stderr
    page = dom(tmp_path, tmp_path / "hs.html")
    check_page(page)
    names = {n for n, _ in frames(page)}
    assert {"crunch", "parse"} <= names
    body = page.split('<table id="functions"', 1)[1].split("</table>")[0]
    assert re.search(r'<tr data-fn="crunch"', body)
    assert re.search(r'<polyline class="pw" data-domain="package" points="[\d.]+,[\d.]+ ', page)


SHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "out", "screenshots")


def top_user_function(report):
    """The user's function with the most self energy, from the data embedded in the report."""
    import json
    import numpy as np
    d = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>',
                             report.read_text(encoding="utf-8"), re.S).group(1))
    node = np.cumsum(d["rows"]["node"])
    e = np.bincount(node, weights=np.array(d["rows"]["e"], np.float64), minlength=len(d["func"]))
    per_func = {}
    for n, f in enumerate(d["func"]):
        if f >= 0 and d["funcs"][f][3] == "user":
            per_func[d["funcs"][f][0]] = per_func.get(d["funcs"][f][0], 0.0) + e[n]
    return max(per_func, key=per_func.get)


def check_first_screen(tmp_path, report, name, user_functions):
    """At 1280 px the page is no wider than the window; at 1366x768 the user's hottest function
    has a frame inside the window without scrolling; screenshots at 1366x768 and 1920x1080."""
    top_user = top_user_function(report)
    assert top_user in user_functions
    page = dom(tmp_path, report, size="1280,900")
    check_page(page)
    f = body_facts(page)
    assert int(f["doc-width"]) <= int(f["view-width"]) == 1280, f
    page = dom(tmp_path, report, size="1366,768")
    check_page(page)
    f = body_facts(page)
    assert f["top-user"] == top_user, f
    left, top, right, bottom = map(int, f["top-user-rect"].split(","))
    assert 0 <= top and bottom <= int(f["view-height"]) and 0 <= left < right <= int(f["view-width"]), f
    assert right - left > 24, f  # wide enough to carry its name
    os.makedirs(SHOTS, exist_ok=True)
    for size in ("1366,768", "1920,1080"):
        shot = tmp_path / f"{name}-{size.replace(',', 'x')}.png"
        r = chromium(tmp_path, f"file://{report}", "--virtual-time-budget=5000", f"--screenshot={shot}", size=size)
        assert r.returncode == 0 and shot.stat().st_size > 10_000
        shutil.copy(shot, os.path.join(SHOTS, shot.name))
    return page


def test_first_screen_on_the_hotspots_example(tmp_path):
    from pcrun import ROOT, pc
    r = pc(["run", "-q", "--format", "html", "-o", str(tmp_path / "hs.pcarbon"), f"{ROOT}/examples/hotspots.py"])
    assert r.returncode == 0, r.stderr
    page = check_first_screen(tmp_path, tmp_path / "hs.html", "hotspots", {"crunch"})
    # the user's code has a line-by-line view with its source
    lines = page.split('<section id="lines"', 1)[1].split("</section>")[0]
    assert "<b class=\"mono\">crunch</b>" in lines and "total += (i * 0.5) ** 0.5" in lines


def test_first_screen_on_numpy_json_re(tmp_path):
    """Library code (json, re, numpy) folded under the user's calls, imports collapsed; unfolding
    shows the library frames."""
    from pcrun import ROOT, pc
    r = pc(["run", "-q", "--format", "html", "-o", str(tmp_path / "mix.pcarbon"),
            f"{ROOT}/tests/scripts/numpy_json_re.py", "0.6"])
    assert r.returncode == 0, r.stderr
    report = tmp_path / "mix.html"
    page = check_first_screen(tmp_path, report, "numpy_json_re",
                              {"build_records", "build_records.<locals>.<listcomp>", "roundtrip", "grep_names",
                               "grep_names.<locals>.<genexpr>", "linear_algebra", "main", "<module>"})
    names = {n for n, _ in frames(page)}
    assert {"main", "roundtrip", "dumps", "loads"} <= names
    assert not names & {"_find_and_load", "JSONEncoder.iterencode", "JSONDecoder.raw_decode"}
    assert re.search(r"<i> · \d+ frames? hidden \([^)]*json", page)
    assert "library frames folded" in page
    page = dom(tmp_path, report, "#unfold=1")
    check_page(page)
    unfolded = {n for n, _ in frames(page)}
    assert {"JSONEncoder.iterencode", "JSONDecoder.raw_decode"} <= unfolded
    assert not unfolded & {"_find_and_load", "_find_and_load_unlocked"}  # imports stay one frame
    assert ">Fold library frames<" in page


def test_processes_are_roots_and_a_toggle_merges_them(tmp_path):
    from pcrun import pc
    prog = tmp_path / "pool.py"
    prog.write_text("import multiprocessing as mp\n"
                    "def burn(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n"
                    "if __name__ == '__main__':\n"
                    "    with mp.get_context('fork').Pool(2) as p:\n        print(sum(p.map(burn, [1_500_000] * 4)))\n")
    out = tmp_path / "pool.pcarbon"
    r = pc(["run", "-q", "-o", str(out), "--format", "html", str(prog)], cwd=tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr
    page = dom(tmp_path, tmp_path / "pool.html")
    check_page(page)
    roots = {n for n, _ in frames(page) if n.startswith(("[process]", "[forked process]"))}
    assert any(n.startswith("[process]") for n in roots) and any(n.startswith("[forked process]") for n in roots)
    merged = dom(tmp_path, tmp_path / "pool.html", "#merge=1")
    check_page(merged)
    names = [n for n, _ in frames(merged)]
    assert "burn" in names and not [n for n in names if n.startswith(("[process]", "[forked process]"))]
