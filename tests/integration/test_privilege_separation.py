"""Privilege separation under sudo (docs/reliability.md, privileges.py): root's counters are read by
a privileged helper process; the program runs as the invoking user, holds no descriptor to a BPF
map or program, an MSR or a root-only file, cannot open those files itself, and its measured
energy still arrives. When the run ends the helper's BPF programs are gone."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from fakes.powercap import FakePowercap, FakeRaplWriter
from pcrun import env_for, shared_tmp
from pyprof_carbon import load

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: tests what `sudo pyprof-carbon run` does")

# The program: its uid, every descriptor it holds and where each leads, whether it can open the
# root-only counter itself; then CPU work until the test says "go".
PROGRAM = textwrap.dedent("""
    import os, sys, time  # nothing more: the user may not read this interpreter's standard library
    report, secret, go = sys.argv[1:4]
    lines = [f"uid {os.getuid()} {os.geteuid()}"]
    for fd in os.listdir("/proc/self/fd"):
        try:
            lines.append(f"fd {fd} {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass  # the listing's own descriptor, closed already
    try:
        open(secret).read()
        lines.append("reopen allowed")
    except PermissionError:
        lines.append("reopen denied")
    with open(report + ".tmp", "w") as f:
        f.write("\\n".join(lines))
    os.rename(report + ".tmp", report)
    end = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < end:
        sum(i * i for i in range(20000))
    t = time.process_time() + 0.3
    while time.process_time() < t:
        sum(i * i for i in range(20000))
""")


def _children_as_root(ppid: int):
    """The root processes `ppid` started, but the `cat` that makes the last close of tracepoint
    perf events for it (sched.base.close_concurrently)."""
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{p}/stat").read()
            uid = next(ln for ln in open(f"/proc/{p}/status") if ln.startswith("Uid:")).split()[1]
        except (OSError, StopIteration):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid and uid == "0" and stat.split(" (", 1)[1].split(")")[0] != "cat":
            out.append(int(p))
    return out


def _bpf_program_ids(pid: int):
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            for line in open(f"/proc/{pid}/fdinfo/{fd}"):
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def _bpf_program_loaded(prog_id: int) -> bool:
    from pyprof_carbon.sched import bpf_asm as A
    try:
        fd = A.bpf(13, A._attr(("I", prog_id)))  # BPF_PROG_GET_FD_BY_ID
    except OSError:
        return False
    os.close(fd)
    return True


def test_program_holds_no_root_descriptor_and_energy_still_arrives():
    from pyprof_carbon.sched.ebpf import EbpfBackend
    try:
        EbpfBackend().open()
    except Exception as e:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(f"eBPF unavailable: {e}")
    with shared_tmp("pyprof-carbon-privsep-") as tmp:
        _run(tmp)


def _run(tmp):
    fake = FakePowercap(tmp / "powercap").socket(0, watts=25.0, core_w=None, dram_w=None, mode=0o400)
    secret = fake.zones[0].energy_path  # root's, mode 0400
    assert os.stat(secret).st_uid == 0 and os.stat(secret).st_mode & 0o777 == 0o400
    (tmp / "prog.py").write_text(PROGRAM)
    report, go, out = tmp / "fds.json", tmp / "go", str(tmp / "rec.pcarbon")
    env = env_for({"PYPROF_CARBON_POWERCAP_ROOT": str(fake.root), "SUDO_UID": "65534", "SUDO_GID": "65534",
                   "SUDO_USER": "nobody"})
    with FakeRaplWriter(fake.zones) as w:
        run = subprocess.Popen([sys.executable, "-m", "pyprof_carbon", "run", "-q", "--meter", "rapl-powercap",
                                "--sched", "ebpf", "--format", "json", "-o", out, str(tmp / "prog.py"), str(report),
                                secret, str(go)], cwd=str(tmp), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not report.exists() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            helpers = _children_as_root(run.pid)
            programs = set().union(*(_bpf_program_ids(h) for h in helpers)) if helpers else set()
        finally:
            go.touch()
            stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    seen = report.read_text().split("\n")
    assert seen[0] == "uid 65534 65534"
    assert seen[-1] == "reopen denied"  # the program cannot open the root-only counter itself
    targets = [line.split(" ", 2)[2] for line in seen if line.startswith("fd ")]
    assert targets  # stdin, stdout, stderr at least
    # (its own sampler's perf events are there: opened by its bootstrap after the drop, as the user)
    assert not [t for t in targets if "bpf" in t or "/dev/cpu/" in t or t.startswith(str(fake.root))
                or t.startswith(("/proc/stat", "/sys/"))], targets
    # ... while the helper, root, held the programs it loaded; after the run they are gone
    assert len(helpers) == 1 and programs, (helpers, programs)
    assert not [p for p in programs if _bpf_program_loaded(p)]
    assert not os.path.exists(f"/proc/{helpers[0]}")
    rec = load(out)
    rep = json.loads((tmp / "rec.json").read_text())
    assert "dropped root" in rep["meta"]["privileges"] and "privileged helper" in rep["meta"]["privileges"]
    assert os.stat(out).st_uid == 65534
    es = rec.energy["package"]  # measured through the helper: 25 W over the readings' span
    span_s = (es.t_ns[-1] - es.t_ns[0]) / 1e9
    assert span_s > 0.2
    assert abs(es.energy_j[-1] - 25.0 * span_s) <= 0.05 * 25.0 * span_s + 2 * 25.0 * w.max_gap_s
    assert rep["totals"]["energy_j"]["total"] > 0 and rec.sched.backend == "ebpf"
    assert rec.sched.process_cpu_ns[-1] > 0  # the helper's eBPF counted the program's CPU time
