"""A script that uses SIGPROF and SIGALRM itself keeps getting its own signals."""
import signal
import time

hits = {"prof": 0, "alrm": 0}
signal.signal(signal.SIGPROF, lambda *a: hits.__setitem__("prof", hits["prof"] + 1))
signal.signal(signal.SIGALRM, lambda *a: hits.__setitem__("alrm", hits["alrm"] + 1))
signal.setitimer(signal.ITIMER_PROF, 0.01, 0.01)
signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
end = time.monotonic() + 0.6
x = 0
while time.monotonic() < end:
    x += 1
signal.setitimer(signal.ITIMER_PROF, 0)
signal.setitimer(signal.ITIMER_REAL, 0)
assert hits["prof"] > 10 and hits["alrm"] > 10, hits
print("own signals ok", hits["prof"] > 10, hits["alrm"] > 10)
