"""drop_to_invoking_user(): root with SUDO_UID/SUDO_GID becomes that user in every thread, and a
file opened before (a root-only counter) still reads."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import json, os, sys, threading
    sys.path.insert(0, sys.argv[2])
    from pyprof_carbon.privileges import drop_to_invoking_user
    fd = os.open(sys.argv[1], os.O_RDONLY)          # a root-only file, opened as root
    seen = {}
    ready, go, done = threading.Event(), threading.Event(), threading.Event()
    def other():                                     # a thread started before the drop
        ready.set(); go.wait()
        seen["thread_uid"] = os.getuid()
        try:
            open(sys.argv[1]).read(); seen["thread_reopen"] = "allowed"
        except PermissionError:
            seen["thread_reopen"] = "denied"
        done.set()
    threading.Thread(target=other).start()
    ready.wait()
    desc = drop_to_invoking_user()
    go.set(); done.wait()
    try:
        open(sys.argv[1]).read(); reopen = "allowed"
    except PermissionError:
        reopen = "denied"
    print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
                      "read_before": os.pread(fd, 64, 0).decode().strip(), "reopen": reopen,
                      "home": os.environ.get("HOME"), "sudo": "SUDO_UID" in os.environ, "desc": desc, **seen}))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop from")
def test_drop_in_subprocess(tmp_path):
    secret = tmp_path / "energy_uj"
    secret.write_text("123456\n")
    os.chmod(secret, 0o400)
    os.chmod(tmp_path, 0o755)
    script = tmp_path / "drop.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534", SUDO_USER="nobody")
    r = subprocess.run([sys.executable, str(script), str(secret), ROOT], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == 65534 and out["euid"] == 65534 and out["gid"] == 65534
    assert 0 not in out["groups"]
    assert out["read_before"] == "123456"       # the fd opened as root still reads
    assert out["reopen"] == "denied"            # but the file cannot be opened again
    assert out["thread_uid"] == 65534 and out["thread_reopen"] == "denied"  # every thread dropped
    assert not out["sudo"] and out["desc"].startswith("dropped root")


def test_noop_without_sudo_vars(monkeypatch):
    from pyprof_carbon.privileges import drop_to_invoking_user
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.delenv("SUDO_GID", raising=False)
    uid = os.getuid()
    assert drop_to_invoking_user() is None and os.getuid() == uid
    monkeypatch.setenv("SUDO_UID", "0")
    monkeypatch.setenv("SUDO_GID", "0")
    assert drop_to_invoking_user() is None and os.getuid() == uid


def test_helper_readings_are_placed_at_the_programs_ticks():
    """Helper.merged: each held column is the helper's latest reading at or before the program's
    tick (MISSING before its first); the program's own columns stay as they are."""
    import numpy as np
    from pyprof_carbon import process_stream
    from pyprof_carbon.privileges import MISSING, Helper
    readings_r, readings_w = os.pipe()
    helper = Helper(0, -1, readings_r, held=[0, 2])
    for t, raw in (([100, 200], [[1, 10], [2, 20]]), ([300], [[3, 30]])):
        os.write(readings_w, process_stream.encode({"t": np.array(t, np.uint64).tobytes(),
                                                    "raw": np.array(raw, np.uint64).tobytes()}))
    os.close(readings_w)
    helper._thread.join()
    os.close(readings_r)
    program = np.array([[7], [8], [9], [10]], dtype=np.uint64)
    out = helper.merged(np.array([50, 100, 250, 400]), program, 3)
    assert out[:, 1].tolist() == [7, 8, 9, 10]
    assert out[:, 0].tolist() == [MISSING, 1, 2, 3] and out[:, 2].tolist() == [MISSING, 10, 20, 30]
