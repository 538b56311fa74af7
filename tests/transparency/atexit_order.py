# atexit handlers, threading's exit hooks, daemon threads abandoned, stdout flushed at exit.
import atexit
import sys
import threading
import time

atexit.register(print, "atexit registered first, runs last")
atexit.register(print, "atexit registered second, runs first")
threading._register_atexit(print, "threading exit hook")
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
worker = threading.Thread(target=lambda: (time.sleep(0.2), print("non-daemon thread finished")))
worker.start()
sys.stdout.write("no newline, not flushed")
