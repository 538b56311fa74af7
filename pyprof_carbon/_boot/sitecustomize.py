"""The sampler's bootstrap inside the program's own interpreter (`pyprof-carbon run`).

`run` starts the program as `python script.py ARGS` (or `python -m module ARGS`) with this folder
put first on PYTHONPATH, so that `site` imports this file as `sitecustomize` before the program's
first line. Everything else is python's own: `__main__`, `sys.argv`, `sys.path[0]`, the exit
sequence, tracebacks and the exit status. What this file does, in order:

1. takes its configuration from the environment and puts the environment, `sys.path` and
   `sys.modules` back as they were (PYTHONPATH as the user had it, this folder gone);
2. starts the native sampler and collector (`pyprof_carbon._native`, nothing else of ours: no
   numpy, no json, no ctypes), reading the counter sources whose descriptors `run` passed down;
3. registers the hand-over with `atexit` before anything else can, so it runs last: after the
   program's own exit work (threading's shutdown and exit hooks, the program's atexit handlers)
   and before the interpreter is torn down; a SIGTERM with the default disposition hands over too;
4. under sudo, drops to the invoking user before the script file is even opened;
5. imports the sitecustomize that this one shadows, if there is one, and gives it this name.

The hand-over is `marshal` (built into every interpreter) of the collector's raw results into the
file `run` named; `run` builds the recording from it after the program has exited.
"""


def _boot():
    import marshal
    import os
    import sys
    import time

    config = marshal.loads(bytes.fromhex(os.environ.pop("PYPROF_CARBON_CHILD")))
    if config["pythonpath"] is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = config["pythonpath"]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p != here]
    sys.path_importer_cache.pop(here, None)

    sys.path.insert(0, config["package_parent"])
    try:
        import pyprof_carbon
        from pyprof_carbon import _native
    finally:
        sys.path.remove(config["package_parent"])
    pyprof_carbon._run_keeps_regions = True  # named_regions keeps spans from its import on

    pid = os.getpid()
    result = config["result"]
    collector = _native.Collector(config["rate"], config["engine"], config["cadence_ns"],
                                  [tuple(s) for s in config["sources"]])
    # pyprof_carbon.current() asks the profiler's process over this descriptor (running_totals.py);
    # the program's own subprocesses do not inherit it
    totals_fd = config.get("totals_fd")
    if totals_fd is not None:
        os.set_inheritable(totals_fd, False)
    pyprof_carbon._run_totals = (collector, totals_fd, pid)

    names = {}

    def note_thread_names():
        names.update(_thread_names(sys))

    # What the hand-over uses is taken now: a program may replace os.replace or builtins.open for
    # its own purposes (pyperformance's sphinx benchmark makes os.replace a no-op).
    import _io
    getpid, replace, open_file, dump = os.getpid, os.replace, _io.open, marshal.dump

    def hand_over(error=None):
        if getpid() != pid:  # a child forked by the program exits: not ours to save
            return
        if error is None:
            collector.stop()
            collector.resolve()
            raw = collector.raw_results()
            raw["engine"], raw["start_unix_s"] = engine, start_unix
            note_thread_names()
            raw["thread_names"] = names
            named_regions = sys.modules.get("pyprof_carbon.named_regions")
            raw["regions"] = named_regions.stop_keeping() if named_regions else []
        else:
            raw = {"error": error}
        tmp = f"{result}.{pid}.part"
        with open_file(tmp, "wb") as f:
            dump(raw, f)
        replace(tmp, result)

    try:
        start_unix = time.time()  # the wall-clock time of the first tick, for CO2 by the hour
        engine = collector.start()
    except RuntimeError as e:
        hand_over(f"cannot start sampling: {e}")
        os._exit(config["start_failed_status"])
    collector.on_new_threads(note_thread_names)
    # no thread of ours while the program forks (csrc/collector.h: pause_thread)
    os.register_at_fork(before=collector.pause_thread, after_in_parent=collector.resume_thread_soon)
    import atexit
    atexit.register(hand_over)
    collector.save_on_sigterm(hand_over)

    if config["drop_privileges"]:
        from pyprof_carbon import privileges
        privileges.drop_to_invoking_user()

    # The sitecustomize this file shadows, if any, imported in its place: an import that puts
    # another module under its own name in sys.modules hands that module to `site`.
    ours = sys.modules.pop("sitecustomize")
    try:
        import sitecustomize  # noqa: F401
    except ImportError as e:
        sys.modules["sitecustomize"] = ours
        if e.name != "sitecustomize":
            raise


def _thread_names(sys):
    """Python names of the threads whose Thread objects exist now (`threading._dangling` holds
    every one not yet collected, finished ones too). Called by the collector thread whenever it
    finds new threads, and at the hand-over; threads never seen by `threading` keep their OS
    name. Read without threading's lock: the program may hold it while this runs. (A hook in
    every new thread, threading.setprofile, would be seen by the program, and would need
    threading imported before the program imports it.)"""
    threading = sys.modules.get("threading")
    if threading is None:
        return {}
    try:
        threads = [*threading._dangling, *threading._active.values()]
        return {t.native_id: t.name for t in threads if getattr(t, "native_id", None) is not None}
    except Exception:  # another threading implementation (gevent): the OS names will do
        return {}


_boot()
del _boot
