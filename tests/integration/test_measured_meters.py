"""Acceptance of the real meters: `pyprof-carbon run --meter X` on fake counters that a thread of
this test advances at a known power reports that energy as measured, across wraparounds; under
sudo the script runs as the invoking user while root-only counters keep being read."""
import json
import os
import stat

import pytest

from fakes.fake_pynvml import pynvml_shim
from fakes.msr import FakeMsr, FakeMsrWriter
from fakes.powercap import FakePowercap, FakeRaplWriter
from pcrun import ROOT, pc, script, shared_tmp
from pyprof_carbon import load

WORK = script("cpu_spin.py")


def run_measured(tmp_path, meter, env, writer, *extra):
    out = str(tmp_path / "rec.pcarbon")
    r = pc(["run", "-q", "--meter", meter, "--format", "json", "-o", out, *extra, WORK, "0.6"],
           env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    with open(str(tmp_path / "rec.json")) as f:
        return load(out), json.load(f)


def check_domain(rec, report, domain, watts, meter, max_lag_s):
    """The meter's energy over its own span of readings is watts x span, to 2% (plus the writer's
    worst lag between two writes, at each end: a read can miss at most that much)."""
    es = rec.energy[domain]
    span_s = (es.t_ns[-1] - es.t_ns[0]) / 1e9
    assert span_s > 0.5
    want = watts * span_s
    got = float(es.energy_j[-1])
    assert abs(got - want) <= 0.02 * want + 2 * watts * max_lag_s, (domain, got, want, max_lag_s)
    assert (es.energy_j[1:] >= es.energy_j[:-1]).all()
    label = next(m for m in report["meta"]["meters"] if m["domain"] == domain)
    assert label["meter"] == meter and label["measured"] is True
    assert report["measured_j"][domain] == pytest.approx(got, rel=1e-9)


def test_rapl_powercap_measured_across_wraps(tmp_path):
    # 20 J of range at 25 W: a wrap every 0.8 s; psys and core present but never added to package
    fake = FakePowercap(tmp_path / "powercap").socket(0, watts=25.0, core_w=15.0, dram_w=4.0,
                                                       max_uj=20_000_000, start_uj=19_000_000).psys(watts=40.0)
    with FakeRaplWriter(fake.zones) as w:
        rec, rep = run_measured(tmp_path, "rapl-powercap", {"PYPROF_CARBON_POWERCAP_ROOT": str(fake.root)}, w)
    assert w.wraps >= 1
    for domain, watts in (("package", 25.0), ("core", 15.0), ("dram", 4.0), ("psys", 40.0)):
        check_domain(rec, rep, domain, watts, "rapl-powercap", w.max_gap_s)
    assert rep["meta"]["cadence_ms"] == 1.0
    # the total is package + dram: core lies inside package, psys contains both
    assert rep["totals"]["energy_j"]["total"] == pytest.approx(
        rep["totals"]["energy_j"]["package"] + rep["totals"]["energy_j"]["dram"], rel=1e-9)


def test_rapl_msr_intel_two_sockets_measured_across_wrap(tmp_path):
    # model 0x55 (Skylake-X) counts DRAM in the fixed 2^-16 J unit, whatever 0x606 says
    fake = FakeMsr(tmp_path / "msr", packages=2, cores=1, threads=2).intel(
        pkg_w=(30.0, 20.0), core_w=(12.0, 8.0), dram_w=(5.0, 3.0), dram_esu=16, start=0xFFFFF000)
    with FakeMsrWriter(fake) as w:
        rec, rep = run_measured(tmp_path, "rapl-msr", fake.env(), w)
    assert w.wraps >= 1
    for domain, watts in (("package", 50.0), ("core", 20.0), ("dram", 8.0)):
        check_domain(rec, rep, domain, watts, "rapl-msr", w.max_gap_s)


def test_rapl_msr_amd_per_core_measured_across_wrap(tmp_path):
    fake = FakeMsr(tmp_path / "msr", vendor="AuthenticAMD", family=0x19, model=0x01, packages=1,
                   cores=2, threads=2).amd(pkg_w=(60.0,), core_w=5.0, start=0xFFFFF000)
    with FakeMsrWriter(fake) as w:
        rec, rep = run_measured(tmp_path, "rapl-msr", fake.env(), w)
    assert w.wraps >= 3
    check_domain(rec, rep, "package", 60.0, "rapl-msr", w.max_gap_s)
    # core:N is named by the core's first CPU (CPUs 0-1 are core 0, 2-3 core 1); core c draws 5 + c W
    assert sorted(d for d in rec.energy if d.startswith("core:")) == ["core:0", "core:2"]
    for core, first_cpu in ((0, 0), (1, 2)):
        check_domain(rec, rep, f"core:{first_cpu}", 5.0 + core, "rapl-msr", w.max_gap_s)
    # per-core attribution: this VM's CPUs 0-1 are the fake's core 0; nothing of ours ran on CPUs 2-3
    assert set(rec.samples["cpu"].tolist()) <= {0, 1}
    assert rep["totals"]["energy_j"]["core:0"] > 0
    assert rep["totals"]["energy_j"]["core:2"] == 0
    assert rep["unattributed_j"]["core:2"] == pytest.approx(rep["measured_j"]["core:2"], rel=1e-9)


def test_cadence_longer_than_msr_wrap_time_is_refused(tmp_path):
    fake = FakeMsr(tmp_path / "msr", packages=1, cores=1, threads=2).intel(pkg_w=(30.0,), core_w=None, dram_w=None)
    r = pc(["run", "-q", "--meter", "rapl-msr", "--cadence", "600000", "-o", str(tmp_path / "r.pcarbon"),
            script("hello.py")], env=fake.env())
    assert r.returncode == 2 and "too long for rapl-msr" in r.stderr and "Traceback" not in r.stderr


def _traversable_by_others(path):
    """Whether a non-root user could reach `path` (o+x on every directory above it)."""
    path = os.path.realpath(path)
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: tests what `sudo pyprof-carbon run` does")
def test_under_sudo_script_runs_as_invoking_user(tmp_path):
    """Root-only energy_uj (Platypus) is opened as root and read by the privileged helper; the
    script runs as SUDO_UID, and the recording belongs to the user."""
    if not _traversable_by_others(WORK):
        pytest.skip(f"{WORK} is not reachable by another user (a parent directory lacks o+x)")
    with shared_tmp("pyprof-carbon-sudo-") as tmp:
        _sudo_run(tmp)


def _sudo_run(tmp_path):
    uid_file = tmp_path / "uid.txt"
    fake = FakePowercap(tmp_path / "powercap").socket(0, watts=25.0, core_w=None, dram_w=None, mode=0o400)
    env = {"PYPROF_CARBON_POWERCAP_ROOT": str(fake.root), "SUDO_UID": "65534", "SUDO_GID": "65534",
           "SUDO_USER": "nobody", "UID_OUT": str(uid_file)}
    with FakeRaplWriter(fake.zones) as w:
        rec, rep = run_measured(tmp_path, "rapl-powercap", env, w, "--format", "html")
    assert uid_file.read_text().split() == ["65534", "65534"]  # uid, euid of the script
    assert os.stat(tmp_path / "rec.pcarbon").st_uid == 65534
    assert "dropped root" in rep["meta"]["privileges"]
    check_domain(rec, rep, "package", 25.0, "rapl-powercap", w.max_gap_s)
    assert rep["totals"]["energy_j"]["total"] > 0  # the scheduler backend kept working as the user


def test_nvml_run_measures_gpu_and_charges_its_share(tmp_path):
    """`run --meter nvml` with a fake pynvml on the path: the device's energy is measured, and
    this process's share of it (75 % from per-process utilization) goes to its samples."""
    shim = pynvml_shim(str(tmp_path / "shim"), watts=300.0)
    out = str(tmp_path / "gpu.pcarbon")
    r = pc(["run", "-q", "--meter", "nvml", "--meter", "model", "--engine", "wall", "--format", "json",
            "-o", out, WORK, "0.6"], env={"PYTHONPATH": shim + os.pathsep + ROOT}, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    rec = load(out)
    with open(str(tmp_path / "gpu.json")) as f:
        rep = json.load(f)
    check_domain(rec, rep, "gpu:0", 300.0, "nvml", 0.03)  # polled every 20 ms from a Python thread
    assert "NVIDIA H200" in next(m["notes"] for m in rep["meta"]["meters"] if m["domain"] == "gpu:0")
    share = rep["totals"]["energy_j"]["gpu:0"] / rep["measured_j"]["gpu:0"]
    assert share == pytest.approx(0.75, abs=0.02)
    assert rep["meta"]["engine"] == "wall"
