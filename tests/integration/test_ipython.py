"""`%load_ext pyprof_carbon`, `%%pyprof_carbon` on a cell and `%pyprof_carbon` on a line, in
IPython's InteractiveShell: text summary, inline self-contained HTML, the result kept in a
variable, the recording saved."""
import os
import re
import sys
from html import unescape

import pytest

from pcrun import native_error

pytest.importorskip("IPython")
pytestmark = pytest.mark.skipif(bool(native_error(sys.executable)), reason="native sampler not built")

CELL = """def busy(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

x = busy(400_000)
"""


@pytest.fixture
def ip(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYPROF_CARBON_NO_CLOUD_METADATA", "1")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "pyprof_carbon")
    return shell


def run(ip, source):
    from IPython.utils.capture import capture_output
    with capture_output() as cap:
        result = ip.run_cell(source)
    return result, cap


def test_cell_magic(ip, tmp_path):
    result, cap = run(ip, "%%pyprof_carbon -o cell.pcarbon\n" + CELL)
    assert result.success, result.error_in_exec
    assert ip.user_ns["x"] == sum(i * i % 7 for i in range(400_000))  # ran in the user's namespace
    assert "Top functions by self energy" in cap.stdout and "busy" in cap.stdout
    assert "recording: cell.pcarbon" in cap.stdout
    html = [o.data["text/html"] for o in cap.outputs if "text/html" in o.data]
    assert len(html) == 1 and html[0].startswith('<div class="pyprof-carbon"><iframe srcdoc="')
    page = unescape(re.search(r'<iframe srcdoc="([^"]*)"', html[0]).group(1))
    assert page.lstrip().lower().startswith("<!doctype html") and "busy" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from the network
    res = ip.user_ns["_pyprof_carbon"]
    assert res.path == "cell.pcarbon" and os.path.exists(tmp_path / "cell.pcarbon")
    assert res.recording.sched.backend == "procfs"  # cheap to start, unlike ebpf
    funcs = res.profile.function_table()
    assert funcs[0]["qualname"] == "busy" and funcs[0]["self_energy_j"] > 0
    # IPython's own frames above the cell are gone: the cell's module is the root of every stack
    roots = {res.recording.functions[s[0][0]].qualname for s in res.recording.stacks if s}
    assert roots <= {"<module>"}, roots
    from pyprof_carbon import load
    assert load(str(tmp_path / "cell.pcarbon")).n_samples == res.recording.n_samples
    assert repr(res).startswith("<pyprof-carbon profile: ")


def test_line_magic_options(ip, tmp_path):
    run(ip, CELL.replace("x = busy(400_000)", ""))
    result, cap = run(ip, "%pyprof_carbon --no-html -q --var res busy(300_000)")
    assert result.success, result.error_in_exec
    assert cap.stdout == "" and not cap.outputs  # -q and --no-html: nothing shown
    res = ip.user_ns["res"]
    assert os.path.exists(tmp_path / res.path) and res.path.startswith("pyprof-carbon-cell-")
    assert any(f["qualname"] == "busy" for f in res.profile.function_table())


def test_failing_cell_still_saves_and_raises(ip, tmp_path):
    result, cap = run(ip, "%%pyprof_carbon -o fail.pcarbon --no-html -q\nsum(range(10000))\nraise ValueError('boom')\n")
    assert isinstance(result.error_in_exec, ValueError)
    assert os.path.exists(tmp_path / "fail.pcarbon")


def test_extension_entry_is_lazy():
    """`load_ipython_extension` is on the package, without the package importing IPython."""
    import subprocess
    from pcrun import ROOT, env_for
    code = "import sys, pyprof_carbon; assert callable(pyprof_carbon.load_ipython_extension); print('IPython' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env_for(), capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
