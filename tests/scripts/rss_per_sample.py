"""Burns CPU in pure Python in two stretches and prints, as JSON, the monotonic clock and the
bytes malloc holds allocated (glibc's mallinfo2: every arena, the collector thread's too, and
mmapped blocks; not RSS, which keeps freed pages and moves with the size of each flush) after
each (tests/integration/test_flat_memory_run.py): the samples taken in the second stretch are
streamed away, so what is allocated should not grow with them."""
import ctypes
import json
import sys
import time


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2


def allocated():
    m = libc.mallinfo2()
    return m.uordblks + m.hblkhd


def burn(cpu_s):
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        sum(i * i for i in range(2000))


burn(float(sys.argv[1]))  # past the start: the stream and the stack tables in place
marks = [(time.monotonic_ns(), allocated())]
burn(float(sys.argv[2]))
marks.append((time.monotonic_ns(), allocated()))
print(json.dumps(marks))
