"""`run --repeat N --warmup K`: N recordings in a directory, the mean and spread across runs."""
import os

from pcrun import pc, report_json, script


def test_repeat_saves_each_run_and_summarises(tmp_path):
    folder = tmp_path / "runs"
    r = pc(["run", "--repeat", "3", "--warmup", "1", "-o", str(folder), script("cpu_spin.py"), "0.3"])
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(folder)) == ["run-001.pcarbon", "run-002.pcarbon", "run-003.pcarbon"]
    assert "warm-up 1 of 1" in r.stderr and "run 3 of 3" in r.stderr
    assert "Across 3 runs" in r.stderr and "energy of the program:" in r.stderr
    per_run = [report_json(str(folder / f"run-00{i}.pcarbon"))["totals"]["samples"] for i in (1, 2, 3)]
    assert all(n > 0 for n in per_run)


def test_repeat_stops_at_a_failing_run_with_its_status(tmp_path):
    r = pc(["run", "--repeat", "3", "-o", str(tmp_path / "f"), script("argv_probe.py"), "exit", "7"],
           env={"PROBE_OUT": str(tmp_path / "p.json")})
    assert r.returncode == 7
    assert "run 1 of 3: exit status 7" in r.stderr and "run 2 of 3" not in r.stderr


def test_repeat_must_be_positive(tmp_path):
    r = pc(["run", "--repeat", "0", script("cpu_spin.py"), "0.3"])
    assert r.returncode == 2 and "--repeat" in r.stderr


def test_repeat_into_a_folder_with_other_recordings_is_refused(tmp_path):
    """diff reads every recording in a folder: an earlier, longer --repeat's run-004 must not
    be compared as one of these runs. The ones this --repeat writes are overwritten, as -o FILE."""
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("run-001.pcarbon", "run-004.pcarbon"):
        (folder / name).write_bytes(b"earlier")
    r = pc(["run", "--repeat", "2", "-o", str(folder), script("cpu_spin.py"), "0.05"])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "already holds 1 other recording (run-004.pcarbon)" in r.stderr
    assert (folder / "run-001.pcarbon").read_bytes() == b"earlier"  # nothing touched
    (folder / "run-004.pcarbon").unlink()
    r = pc(["run", "--repeat", "2", "-q", "-o", str(folder), script("cpu_spin.py"), "0.05"])
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(folder)) == ["run-001.pcarbon", "run-002.pcarbon"]
    assert (folder / "run-001.pcarbon").read_bytes() != b"earlier"
