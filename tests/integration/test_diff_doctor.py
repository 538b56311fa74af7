"""`diff` shows the saving on the right function and gates regressions; `doctor` explains itself."""
import json

from pcrun import pc


def test_diff_shows_saving_and_gates_increase(tmp_path):
    slow, fast = tmp_path / "slow.py", tmp_path / "fast.py"
    body = "def hot(n):\n    return sum(i * i for i in range(n))\n\ndef cold(n):\n    return sum(range(n))\n\n"
    slow.write_text(body + "hot(3_000_000)\ncold(300_000)\n")
    fast.write_text(body + "hot(300_000)\ncold(300_000)\n")
    for name in ("slow", "fast"):
        r = pc(["run", "-q", "-o", str(tmp_path / f"{name}.pcarbon"), str(tmp_path / f"{name}.py")])
        assert r.returncode == 0, r.stderr
    a, b = str(tmp_path / "slow.pcarbon"), str(tmp_path / "fast.pcarbon")
    r = pc(["diff", a, b, "--fail-if-increase", "5"])
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[3]  # the function that changed most comes first
    assert "hot" in first and "-" in first.split()[2]
    r = pc(["diff", b, a, "--fail-if-increase", "5"])  # reversed: energy rose
    assert r.returncode == 1 and "energy rose" in r.stderr
    r = pc(["diff", a, b, "--format", "collapsed"])
    rows = {ln.rsplit(" ", 2)[0]: (int(ln.split()[-2]), int(ln.split()[-1])) for ln in r.stdout.splitlines()}
    hot = [v for k, v in rows.items() if k.endswith("hot;<genexpr>") or k.endswith("hot")]
    assert hot and sum(v[0] for v in hot) > sum(v[1] for v in hot)


def test_doctor_explains_every_meter_and_backend():
    r = pc(["doctor", "--format", "json"])
    rep = json.loads(r.stdout)
    names = {(c["kind"], c["name"]) for c in rep["checks"]}
    assert {("meter", "model"), ("scheduler", "procfs"), ("engine", "perf")} <= names
    for c in rep["checks"]:
        assert c["ok"] or c["detail"], c  # every unavailable one says why
    assert r.returncode == (0 if rep["measured_meter_available"] else 1)
    text = pc(["doctor"]).stdout
    if not rep["measured_meter_available"]:
        assert "model" in text and "estimated" in text
