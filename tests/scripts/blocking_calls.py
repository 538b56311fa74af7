"""Blocking calls that the kernel does not restart after a signal, in one thread, while other
threads burn CPU under sampling. Each must complete normally (no EINTR leaking out)."""
import ctypes
import os
import select
import socket
import threading
import time

stop = threading.Event()


def burner():
    x = 0
    while not stop.is_set():
        x += 1


burners = [threading.Thread(target=burner, daemon=True) for _ in range(2)]
for b in burners:
    b.start()
burn_main = 0
for _ in range(200_000):
    burn_main += 1  # the blocking thread itself is sampled too, between calls

r, w = os.pipe()
t0 = time.monotonic()
assert select.select([r], [], [], 0.2) == ([], [], [])
p = select.poll()
p.register(r, select.POLLIN)
assert p.poll(200) == []
time.sleep(0.2)
a, b = socket.socketpair()
threading.Timer(0.2, lambda: b.send(b"x")).start()
assert a.recv(1) == b"x"
# libc poll() directly: python's wrappers retry EINTR, a C extension may not.
libc = ctypes.CDLL(None, use_errno=True)


class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


fds = PollFd(r, 1, 0)
rc = libc.poll(ctypes.byref(fds), 1, 300)
assert rc == 0, f"libc poll returned {rc}, errno {ctypes.get_errno()}"
rc = libc.usleep(200_000)
assert rc == 0, f"usleep returned {rc}, errno {ctypes.get_errno()}"
stop.set()
for b_ in burners:
    b_.join()
print("blocking ok", round(time.monotonic() - t0, 2))
