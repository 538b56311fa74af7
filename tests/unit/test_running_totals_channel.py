"""The framing of pyprof_carbon.current()'s channel, and None when nothing profiles."""
import os
import socket
import threading

import pyprof_carbon
from pyprof_carbon import running_totals


def test_messages_larger_than_the_socket_buffer_arrive_whole():
    a, b = socket.socketpair()
    big = (bytes(range(256)) * 40_000, b"x" * 3)  # 10 MB: many reads and writes on each side
    got = []
    reader = threading.Thread(target=lambda: got.append(running_totals._receive(b.fileno())))
    reader.start()
    running_totals._send(a.fileno(), big)
    reader.join(timeout=60)
    assert got == [big]
    a.close()
    assert running_totals._receive(b.fileno()) is None  # end of file: no message, no exception
    b.close()


def test_nothing_profiles_returns_none(monkeypatch):
    monkeypatch.setattr(running_totals, "_in_process", [])
    monkeypatch.delattr(pyprof_carbon, "_run_totals", raising=False)
    assert pyprof_carbon.current() is None


def test_a_forked_child_of_a_run_gets_none(monkeypatch):
    # the state `run`'s bootstrap leaves, as seen in a child forked later (another pid)
    monkeypatch.setattr(pyprof_carbon, "_run_totals", (object(), 0, os.getpid() + 1), raising=False)
    monkeypatch.setattr(running_totals, "_in_process", [])
    assert pyprof_carbon.current() is None
