# An exception in a thread goes through threading.excepthook; faulthandler works.
import faulthandler
import sys
import threading


def boom():
    raise RuntimeError("in a thread")


t = threading.Thread(target=boom, name="worker")
t.start()
t.join()
faulthandler.enable()
print(faulthandler.is_enabled())
faulthandler.dump_traceback(file=sys.stdout, all_threads=False)
