"""doctor: one row per meter and scheduler backend, reasons and fixes, exit status, JSON."""
import argparse
import json

from fakes.powercap import FakePowercap
from pyprof_carbon.commands import doctor


def run(capsys, fmt="text"):
    rc = doctor.main(argparse.Namespace(format=fmt))
    return rc, capsys.readouterr().out


def isolate(monkeypatch, tmp_path, powercap=None):
    """Point every meter at empty or fake trees so the result does not depend on the host."""
    monkeypatch.setenv("PYPROF_CARBON_POWERCAP_ROOT", powercap or str(tmp_path / "no-powercap"))
    monkeypatch.setenv("PYPROF_CARBON_MSR_ROOT", str(tmp_path / "no-msr"))
    monkeypatch.setenv("PYPROF_CARBON_PERF_PMU_ROOT", str(tmp_path / "no-power"))
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
                       "flags\t\t: fpu hypervisor\n\n")
    monkeypatch.setenv("PYPROF_CARBON_CPUINFO", str(cpuinfo))


def test_every_meter_and_backend_listed_with_reason_and_fix(capsys, monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    rc, out = run(capsys, "json")
    rep = json.loads(out)
    names = {(c["kind"], c["name"]) for c in rep["checks"]}
    assert {("meter", n) for n in ("rapl-perf", "rapl-msr", "rapl-powercap", "nvml", "model")} <= names
    assert {("scheduler", n) for n in ("procfs", "perf", "ebpf")} <= names
    for c in rep["checks"]:
        if not c["ok"]:
            assert c["detail"] and c["fix"], c
    pc = next(c for c in rep["checks"] if c["name"] == "rapl-powercap")
    assert "VM without RAPL passthrough" in pc["detail"]
    model = next(c for c in rep["checks"] if c["name"] == "model")
    assert model["ok"] and not model["measured"] and model["status"] == "estimated"
    assert rc == 1 and rep["measured_meter_available"] is False
    rc, out = run(capsys)
    assert rc == 1 and "model" in out and "estimated" in out and "fix:" in out


def test_measured_meter_gives_exit_0(capsys, monkeypatch, tmp_path):
    FakePowercap(tmp_path / "pc").socket(0).socket(1)
    isolate(monkeypatch, tmp_path, str(tmp_path / "pc"))
    rc, out = run(capsys)
    assert rc == 0
    line = next(ln for ln in out.splitlines() if " rapl-powercap " in ln and not ln.lstrip().startswith("fix:"))
    assert line.startswith("ok") and "package (measured)" in line and "dram (measured)" in line
    assert "Measured energy here: rapl-powercap" in out


def test_platypus_reason(capsys, monkeypatch, tmp_path):
    FakePowercap(tmp_path / "pc").socket(0, mode=0o400)
    isolate(monkeypatch, tmp_path, str(tmp_path / "pc"))
    from pyprof_carbon.meters import powercap
    real = powercap.RaplPowercap.__init__

    def as_user(self, *a, **k):
        real(self, *a, readable=lambda p: powercap.kernel_readable(p, euid=1000, egid=1000, groups=[]))

    monkeypatch.setattr(powercap.RaplPowercap, "__init__", as_user)
    rc, out = run(capsys, "json")
    pc = next(c for c in json.loads(out)["checks"] if c["name"] == "rapl-powercap")
    assert "readable by root only since Linux 5.10" in pc["detail"] and "CVE-2020-8694" in pc["detail"]
    assert "root" in pc["fix"] and "CAP_PERFMON" in pc["fix"]


def test_missing_scheduler_module_shows_not_built(capsys, monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    from pyprof_carbon import sched
    monkeypatch.setitem(sched.BACKENDS, "ebpf", ("no_such_module", "X"))
    rc, out = run(capsys, "json")
    eb = next(c for c in json.loads(out)["checks"] if c["name"] == "ebpf")
    assert not eb["ok"] and eb["status"] == "not built" and eb["fix"]


def test_cli_registers_doctor():
    from pyprof_carbon.cli import build_parser
    args = build_parser().parse_args(["doctor", "--format", "json"])
    assert args.func is doctor.main and args.format == "json"
