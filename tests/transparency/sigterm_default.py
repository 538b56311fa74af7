# SIGTERM with its default disposition kills at once: no atexit, no flush of buffered output.
import atexit
import os
import signal
import sys

atexit.register(print, "must not run")
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
sys.stdout.write("buffered, lost")
os.kill(os.getpid(), signal.SIGTERM)
signal.pause()
