# A script's own SIGTERM handler receives it.
import os
import signal
import sys


def on_term(signum, frame):
    print("got", signal.Signals(signum).name)
    sys.exit(4)


signal.signal(signal.SIGTERM, on_term)
os.kill(os.getpid(), signal.SIGTERM)
signal.pause()
