"""The bootstrap's chunk writer (`_native.write_chunk`, csrc/module.cpp): it frames a payload as
process_stream reads it (zlib's CRC-32), writes it whole through short writes and EINTR, and
writes nothing to a descriptor that is no longer the stream file."""
import marshal
import os
import signal
import subprocess
import zlib

import pytest

from pyprof_carbon import _native, process_stream

SIZES = (0, 1, 5 * 1024 + 1, 300_000)  # zlib.crc32 itself would give up the GIL over 5 KiB


PAYLOADS = [marshal.dumps({"results": {"t_ns": os.urandom(n)}, "thread_names": {1: "main"}}) for n in SIZES]


def identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def test_chunks_read_back_as_written(tmp_path):
    path = str(tmp_path / process_stream.stream_name(1))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for p in PAYLOADS:
            assert _native.write_chunk(fd, *identity(fd), p)
    finally:
        os.close(fd)
    data = open(path, "rb").read()
    expected = b"".join(process_stream.MAGIC + len(p).to_bytes(4, "little") + zlib.crc32(p).to_bytes(4, "little") + p
                        for p in PAYLOADS)
    assert len(data) == len(expected) and data[:4] == process_stream.MAGIC
    chunks, end, damaged = process_stream.decode(data)
    assert end == len(data) and damaged == "" and chunks == [marshal.loads(p) for p in PAYLOADS]


def test_nothing_is_written_to_a_descriptor_that_is_not_the_stream(tmp_path):
    ours = os.open(str(tmp_path / "stream"), os.O_WRONLY | os.O_CREAT, 0o600)
    dev, ino = identity(ours)
    os.close(ours)
    # the program closed our descriptor and opened a file of its own under the same number
    theirs = os.open(str(tmp_path / "theirs"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert theirs == ours
        assert not _native.write_chunk(theirs, dev, ino, b"payload")
    finally:
        os.close(theirs)
    assert os.path.getsize(tmp_path / "theirs") == 0
    assert not _native.write_chunk(theirs, dev, ino, b"payload")  # closed: fstat fails


def test_short_writes_and_interrupted_writes_still_write_the_whole_chunk(tmp_path):
    """Into a pipe that a slow reader drains, with a Python signal handler interrupting the
    blocked write every millisecond (CPython installs handlers without SA_RESTART)."""
    out = tmp_path / "read"
    r, w = os.pipe()
    reader = subprocess.Popen(["sh", "-c", f"sleep 0.2; cat > {out}"], stdin=r)
    os.close(r)
    interrupted = []
    old = signal.signal(signal.SIGALRM, lambda *_: interrupted.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        big = PAYLOADS[-1]
        assert _native.write_chunk(w, *identity(w), big)  # 300 kB: blocks while the reader sleeps
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
        os.close(w)
    assert reader.wait(timeout=30) == 0
    assert interrupted, "the write was never interrupted: the test proves nothing here"
    chunks, end, damaged = process_stream.decode(out.read_bytes())
    assert damaged == "" and chunks == [marshal.loads(big)]


def test_a_failed_write_raises_oserror(tmp_path):
    r, w = os.pipe()
    os.close(r)  # EPIPE (SIGPIPE is ignored in Python)
    try:
        with pytest.raises(OSError):
            _native.write_chunk(w, *identity(w), b"payload")
    finally:
        os.close(w)
