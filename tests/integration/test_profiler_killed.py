"""The profiler's own process dies or is interrupted while finishing (docs/reliability.md):

- `kill -9` of `pyprof-carbon run` after 3 s: the program dies with it (PR_SET_PDEATHSIG), the
  working directory `OUT.pcarbon.partial/` stays, and `report OUT.pcarbon` renders the samples of
  those seconds, marked cut short, their CPU time agreeing with what the program itself measured;
- Ctrl-C (SIGINT) arriving again and again while the run is being saved: held until the recording
  is complete, then the profiler exits by it, the recording whole and the working directory gone.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fakes.fake_pynvml import pynvml_shim
from pcrun import ROOT, env_for, pc
from pyprof_carbon import load

# Burns CPU; writes its pid, then (every ~20 ms of CPU) its own CPU time so far: what it had
# measured when it was killed is the last line.
BURN = textwrap.dedent("""
    import os, sys, time
    out = open(sys.argv[1], "w", buffering=1)
    out.write(f"pid {os.getpid()}\\n")
    next_at = 0.0
    while True:
        sum(i * i for i in range(2000))
        cpu = time.process_time()
        if cpu >= next_at:
            out.write(f"cpu {cpu}\\n")
            next_at = cpu + 0.02
""")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except OSError:
        return True


@pytest.mark.parametrize("meter", ["model", "nvml"])
def test_kill_9_of_the_run_leaves_a_recording_report_renders(tmp_path, meter):
    """`model`: the journal holds the meters' arithmetic and the recovery converts every sample;
    `nvml` (a fake device; its energy is polled from Python, not in the streams): the journal
    converts the energy as the run goes, and the recovery keeps what its last checkpoint covers."""
    script, progress, out = tmp_path / "burn.py", tmp_path / "progress.txt", str(tmp_path / "run.pcarbon")
    script.write_text(BURN)
    meters, env = ["--meter", "model"], env_for()
    if meter == "nvml":
        meters = ["--meter", "nvml", *meters]
        env["PYTHONPATH"] = pynvml_shim(str(tmp_path / "shim"), watts=300.0) + os.pathsep + env["PYTHONPATH"]
    run = subprocess.Popen([sys.executable, "-m", "pyprof_carbon", "run", "-q", *meters, "-o", out, str(script),
                            str(progress)], cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    time.sleep(3.0)  # how long the run lasts; no assertion depends on it
    run.kill()
    run.wait()
    assert run.returncode == -signal.SIGKILL, run.stderr.read()
    lines = progress.read_text().split("\n")
    pid = int(lines[0].split()[1])
    program_cpu_s = float([ln for ln in lines if ln.startswith("cpu ")][-1].split()[1])
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:  # PR_SET_PDEATHSIG: the program ends too
        time.sleep(0.05)
    assert _gone(pid), "the program outlived the profiler"
    assert not os.path.exists(out) and os.path.isdir(out + ".partial")

    r = pc(["report", out], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "cut short: the profiler was killed" in r.stdout and "burn.py" in r.stdout
    r = pc(["report", out, "--format", "json"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["meta"]["cut_short"].startswith("the profiler was killed")
    assert ("last checkpoint" in rep["meta"]["cut_short"]) == (meter == "nvml"), rep["meta"]["cut_short"]
    # the samples are those of the seconds the program ran: their CPU time (the sampler's count
    # times its period, and the scheduler's timeline) is what the program measured of itself,
    # less the moments after the profiler's last checkpoint and the interpreter's start-up
    rec = load_recovered(out + ".partial")
    sampled_cpu_s = rec.samples["cpu_ns"].sum() / 1e9
    timeline_cpu_s = (rec.sched.process_cpu_ns[-1] - rec.sched.process_cpu_ns[0]) / 1e9
    assert program_cpu_s > 0.3, lines[-3:]  # the machine let it run at all
    assert 0.4 * program_cpu_s <= sampled_cpu_s <= 1.1 * program_cpu_s + 0.05, (sampled_cpu_s, program_cpu_s)
    assert 0.4 * program_cpu_s <= timeline_cpu_s <= 1.1 * program_cpu_s + 0.2, (timeline_cpu_s, program_cpu_s)
    assert rec.n_samples >= 0.4 * program_cpu_s * 997 * 0.5  # 997 Hz per CPU-second, half of it at worst
    assert rec.energy and all(es.energy_j[-1] > 0 for es in rec.energy.values())

    # a damaged journal is bad input like any: one line, exit 2
    journal = os.path.join(out + ".partial", "profiler.stream")
    good = open(journal, "rb").read()
    for damaged in (good[:7], b"PCS1" + os.urandom(64), good[:len(good) // 2]):
        with open(journal, "wb") as f:
            f.write(damaged)
        r = pc(["report", out], cwd=str(tmp_path))
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr
        if r.returncode == 2:
            assert r.stderr.startswith("pyprof-carbon: error: ") and r.stderr.count("\n") == 1, r.stderr
    with open(journal, "wb") as f:
        f.write(good)

    # the directory is refused as the output of a new run (nothing recoverable is overwritten)
    r = pc(["run", "-o", out, str(script), str(progress)], cwd=str(tmp_path))
    assert r.returncode == 2 and "holds a run that was cut short" in r.stderr
    assert "Traceback" not in r.stderr


def load_recovered(path):
    from pyprof_carbon.journal import recover
    return recover(path)


SIGNAL_LOOP = textwrap.dedent("""
    # Started by the program and left running after it: once the program has ended, it sends
    # SIGINT to the profiler every millisecond until the profiler has ended. It tells the program
    # it is up (a line on its stdout), so the first SIGINT comes within a millisecond of the
    # program's end, however slowly this interpreter started, and never after the save.
    import os, sys, time
    profiler, program = int(sys.argv[1]), int(sys.argv[2])
    print("up", flush=True)
    def running(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    while running(program):
        time.sleep(0.001)
    while running(profiler):
        os.kill(profiler, 2)
        time.sleep(0.001)
""")

PROGRAM = textwrap.dedent("""
    import os, subprocess, sys
    sum(i * i for i in range(300000))
    loop = subprocess.Popen([sys.executable, sys.argv[1], str(os.getppid()), str(os.getpid())], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if not k.startswith("PYPROF_CARBON")})
    assert loop.stdout.readline() == b"up\\n"
""")


def test_ctrl_c_while_saving_is_held_until_the_recording_is_complete(tmp_path):
    (tmp_path / "loop.py").write_text(SIGNAL_LOOP)
    (tmp_path / "prog.py").write_text(PROGRAM)
    out = str(tmp_path / "run.pcarbon")
    r = subprocess.run([sys.executable, "-m", "pyprof_carbon", "run", "--no-subprocesses", "--format", "html",
                        "-o", out, str(tmp_path / "prog.py"), str(tmp_path / "loop.py")],
                       cwd=str(tmp_path), env=env_for(), capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGINT, (r.returncode, r.stderr)  # it ended by the held signal
    assert "saving the recording first" in r.stderr and "Traceback" not in r.stderr
    rec = load(out)  # complete and valid
    assert rec.n_samples > 0 and "cut_short" not in rec.meta
    assert not os.path.exists(out + ".partial")
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp") or ".tmp" in p] == []


def test_held_signal_mechanism_in_process():
    """runner.Finishing: a signal held while finishing, acted on by sealed() (here: SIGINT with a
    handler of the test's own, so the process survives to tell)."""
    code = textwrap.dedent("""
        import os, signal, sys
        from pyprof_carbon import runner
        seen = []
        signal.signal(signal.SIGINT, lambda s, f: seen.append("late"))
        with runner.Finishing() as f:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            print("held", f.pending == signal.SIGINT, seen == [], flush=True)
            try:
                f.sealed()
            except SystemExit as e:
                print("exit", e.code, flush=True)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env_for(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == -signal.SIGINT, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("held True True")
    assert r.stderr.count("saving the recording first") == 1
