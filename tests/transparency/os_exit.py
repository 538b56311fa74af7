# os._exit skips the exit sequence.
import atexit
import os

atexit.register(print, "must not run")
print("bye", flush=True)
os._exit(3)
