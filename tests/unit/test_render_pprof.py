"""pprof: a hand-encoded gzip'd perftools.profiles.Profile, read back by `go tool pprof` and by a
small decoder here."""
import gzip
import os
import shutil
import subprocess

import pytest

from profile_fixtures import realistic
from pyprof_carbon.render import pprof

GO = shutil.which("go")


def decode(buf):
    """{field number: [values]} of one message (varint and length-delimited fields)."""
    out, i = {}, 0
    def vint():
        nonlocal i
        v = s = 0
        while True:
            b = buf[i]; i += 1
            v |= (b & 0x7F) << s; s += 7
            if b < 0x80:
                return v
    while i < len(buf):
        key = vint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.setdefault(num, []).append(vint())
        elif wt == 2:
            n = vint(); out.setdefault(num, []).append(bytes(buf[i:i + n])); i += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
    return out


def packed(b):
    return list(decode_varints(b))


def decode_varints(b):
    i = 0
    while i < len(b):
        v = s = 0
        while True:
            x = b[i]; i += 1
            v |= (x & 0x7F) << s; s += 7
            if x < 0x80:
                break
        yield v


def test_varint_encoding():
    assert pprof.varint(0) == b"\x00" and pprof.varint(1) == b"\x01" and pprof.varint(300) == b"\xac\x02"
    assert len(pprof.varint(-1)) == 10


def test_structure_decodes():
    p = realistic()
    msg = decode(gzip.decompress(pprof.render(p)))
    strings = [s.decode() for s in msg[6]]
    assert strings[0] == ""
    types = [(strings[d[1][0]], strings[d[2][0]]) for d in map(decode, msg[1])]
    assert types == [("samples", "count"), ("cpu", "nanoseconds"), ("energy", "microjoules"), ("co2", "micrograms")]
    assert strings[msg[14][0]] == "energy"
    assert msg[10][0] == 10 * 10**9 and msg[9][0] > 0
    funcs = {d[1][0]: d for d in map(decode, msg[5])}
    locs = {d[1][0]: decode(d[4][0]) for d in map(decode, msg[4])}
    total_uj = 0
    leaf_names = set()
    for s in map(decode, msg[2]):
        vals = packed(s[2][0])
        assert len(vals) == 4
        total_uj += vals[2]
        ids = packed(s[1][0])
        leaf_fn = funcs[locs[ids[0]][1][0]]
        root_fn = funcs[locs[ids[-1]][1][0]]
        leaf_names.add(strings[leaf_fn[2][0]])
        assert strings[root_fn[3][0]] in ("<module>", "_bootstrap_inner")  # system_name; root is last
        labels = [decode(x) for x in s[3]]
        assert {strings[lb[1][0]] for lb in labels} == {"thread", "thread_id"}
    assert "matmul" in leaf_names and "compress" in leaf_names
    assert abs(total_uj / 1e6 - p.totals()["energy_j"]["total"]) < 1e-3
    f = next(d for d in funcs.values() if strings[d[2][0]] == "matmul")
    assert strings[f[4][0]] == "/app/model.py" and f[5][0] == 50


def top_rows(out):
    """Function names of `pprof -top`, in order."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["flat", "flat%"])
    return [ln.split()[-1] for ln in lines[start + 1:] if ln.strip()]


@pytest.mark.skipif(GO is None, reason="go not installed (Debian golang-go): run scripts/setup.sh")
def test_go_tool_pprof_reads_it(tmp_path):
    path = tmp_path / "profile.pb.gz"
    path.write_bytes(pprof.render(realistic()))
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"), GOFLAGS="-mod=mod",
               GOTOOLCHAIN="local", PPROF_TMPDIR=str(tmp_path))
    r = subprocess.run([GO, "tool", "pprof", "-top", str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Type: energy" in r.stdout
    rows = top_rows(r.stdout)
    assert rows[0] == "matmul" and rows[1] == "compress"
    r = subprocess.run([GO, "tool", "pprof", "-top", "-sample_index=cpu", "-tagfocus=thread=compressor", str(path)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert top_rows(r.stdout)[0] == "compress" and "matmul" not in r.stdout
    r = subprocess.run([GO, "tool", "pprof", "-traces", str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert "thread:  MainThread" in r.stdout and "thread_id:  1001" in r.stdout and "‹module›" in r.stdout


def test_samples_carry_the_pid_of_their_process():
    p = realistic()
    tids = sorted({int(t) for t in p.row_tid})
    p.meta["threads"] = [{"tid": t, "pid": 500 + i} for i, t in enumerate(tids)]
    msg = decode(gzip.decompress(pprof.render(p, {})))
    strings = [s.decode() for s in msg[6]]
    seen = {}
    for s in map(decode, msg[2]):
        labels = {strings[lb[1][0]]: lb for lb in map(decode, s[3])}
        seen[labels["thread_id"][3][0]] = labels["pid"][3][0]
    assert seen == {t: 500 + i for i, t in enumerate(tids)}
