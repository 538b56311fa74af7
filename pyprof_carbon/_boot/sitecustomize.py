"""The sampler's bootstrap inside the program's own interpreter (`pyprof-carbon run`), and inside
every Python process the program starts.

`run` starts the program as `python script.py ARGS` (or `python -m module ARGS`) with this folder
put first on PYTHONPATH, so that `site` imports this file as `sitecustomize` before the program's
first line. Everything else is python's own: `__main__`, `sys.argv`, `sys.path[0]`, the exit
sequence, tracebacks and the exit status. What this file does, in order:

1. takes its configuration from the environment and puts `os.environ`, `sys.path` and
   `sys.modules` back as the program expects them (PYTHONPATH as the user had it, this folder
   gone). The process's own environment (what a child inherits when it is started without an
   explicit one: subprocess, multiprocessing's spawn and forkserver, os.exec*) keeps this folder
   and the configuration, so that Python children are profiled too (`--no-subprocesses`: removed);
2. under sudo, drops to the invoking user before anything else of ours runs and before the script
   file is opened (privileges.py: the counters opened as root never reach this process);
3. starts the native sampler and collector (`pyprof_carbon._native`, nothing else of ours: no
   numpy, no json, no ctypes); the first process of the run first waits for `run` to open the
   counters (runner.start and runner.configure: this interpreter started while they were being
   opened) and reads the sources it is sent, with their descriptors; every other one reads only
   its own CPU clocks;
4. streams the collector's results into `proc-PID.stream` in the run's working directory every
   FLUSH_NS (pyprof_carbon/process_stream.py has the format and the reader), so a process that dies
   without exit work (os._exit, SIGKILL, a pool worker's exit) leaves all but its last moments;
5. registers the last part with `atexit` before anything else can, so it runs last: after the
   program's own exit work (threading's shutdown and exit hooks, the program's atexit handlers)
   and before the interpreter is torn down; a SIGTERM with the default disposition hands over too,
   and so does multiprocessing's exit of a worker process (its finalizers, before os._exit);
6. in a child forked by the program (os.fork, multiprocessing's fork start method, a forkserver's
   workers), starts afresh for the child: its own collector, its own stream;
7. imports the sitecustomize that this one shadows, if there is one, and gives it this name.
"""

FLUSH_NS = 50_000_000  # a process ended by os._exit or SIGKILL loses at most this much


def _boot():
    import marshal
    import os
    import sys
    import time

    environ = os.environ
    here = os.path.dirname(os.path.abspath(__file__))
    config = marshal.loads(bytes.fromhex(environ["PYPROF_CARBON_CHILD"]))
    mine = environ.get("PYPROF_CARBON_FIRST")  # set for the run's first process only
    first = mine is not None
    totals_fd = None
    if first:
        del environ["PYPROF_CARBON_FIRST"]  # no child may read the machine's counters
        setup_fd = marshal.loads(bytes.fromhex(mine))["setup_fd"]
        os.set_inheritable(setup_fd, False)  # no process the program starts inherits it
    else:
        sources = [(4, -1, 0, 0, 0), (5, -1, 0, 0, 0)]  # its own CPU clocks (csrc/counters.h order)
    pythonpath = environ.get("PYTHONPATH", "")
    user_pythonpath = None if pythonpath == here else pythonpath[len(here) + 1:] \
        if pythonpath.startswith(here + os.pathsep) else pythonpath
    if config["follow"]:  # hidden from os.environ only: the C environment keeps them for children
        environ._data.pop(environ.encodekey("PYPROF_CARBON_CHILD"), None)
        if user_pythonpath is None:
            environ._data.pop(environ.encodekey("PYTHONPATH"), None)
        else:
            environ._data[environ.encodekey("PYTHONPATH")] = environ.encodevalue(user_pythonpath)
    else:
        del environ["PYPROF_CARBON_CHILD"]
        if user_pythonpath is None:
            del environ["PYTHONPATH"]
        else:
            environ["PYTHONPATH"] = user_pythonpath
    sys.path[:] = [p for p in sys.path if p != here]
    sys.path_importer_cache.pop(here, None)

    sys.path.insert(0, config["package_parent"])
    try:
        import pyprof_carbon
        from pyprof_carbon import _native
    except ImportError:  # another interpreter than the run's (no sampler built for it): unprofiled
        _chain_sitecustomize(sys)
        return
    finally:
        sys.path.remove(config["package_parent"])
    if first:
        # `run` started this interpreter before opening the meters and the scheduler backend
        # (runner.start): their sources and descriptors, and the sampling settings, arrive here
        # once they are open, before the sampler starts and before the script's first line
        setup = _native.receive_setup(setup_fd)
        os.close(setup_fd)
        if setup is None:  # `run` stopped before the program started (it says why)
            os._exit(config["start_failed_status"])
        payload, fds = setup
        setup = marshal.loads(payload)
        config.update(setup["config"])
        sources = [(k, fds[i] if i >= 0 else -1, offset, key, size) for k, i, offset, key, size in setup["sources"]]
        # pyprof_carbon.current() asks the profiler's process over this descriptor (running_totals.py)
        totals_fd = fds[setup["totals_fd"]] if setup["totals_fd"] is not None else None
        if config["follow"]:  # the Python processes it starts read the settings from their environment
            os.putenv("PYPROF_CARBON_CHILD", marshal.dumps(config).hex())
    pyprof_carbon._run_keeps_regions = True  # named_regions keeps spans from its import on
    if first:
        if config["drop_privileges"]:
            # under sudo (privileges.py): the invoking user from here on, before the sampler, the
            # stream or the script is opened
            from pyprof_carbon import privileges
            privileges.drop_to_invoking_user()
        # killed with the profiler from now on (a change of user clears this: hence after it);
        # until now its death ended the wait for the set-up (EOF)
        if not _native.die_with_parent(config["profiler_pid"]):
            os._exit(config["start_failed_status"])

    # What the stream uses is taken now: a program may replace os functions for its own purposes
    # (pyperformance's sphinx benchmark makes os.replace a no-op).
    getpid, getppid, dumps, write_chunk = os.getpid, os.getppid, marshal.dumps, _native.write_chunk
    os_open, os_close, fstat = os.open, os.close, os.fstat
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    collector = _native.Collector(config["rate"], config["engine"], config["cadence_ns"], sources)
    state = {"pid": getpid(), "stream": None, "path": None, "file": None, "names": {}}
    pyprof_carbon._run_totals = (collector, totals_fd, state["pid"])

    def note_thread_names():
        state["names"].update(_thread_names(sys))

    def is_stream(fd):
        """Whether descriptor `fd` is still our stream file (the program may have closed it and
        opened a file of its own under the same number)."""
        try:
            st = fstat(fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == state["file"]

    def opened():
        """The stream, opened (again, if the program closed our descriptor: os.closerange, as
        daemons do)."""
        first = state["file"] is None  # a pid reused within the run starts its own stream
        fd = state["stream"] = os_open(state["path"], flags | (os.O_TRUNC if first else 0), 0o600)
        st = fstat(fd)
        state["file"] = (st.st_dev, st.st_ino)
        return fd

    def write(chunk):
        # write_chunk checks that the descriptor is still the stream file (a number the program
        # reuses for a file of its own is never written to), and keeps the GIL (csrc/module.cpp)
        payload = dumps(chunk)
        fd = state["stream"]
        if fd < 0 or not write_chunk(fd, *state["file"], payload):
            write_chunk(opened(), *state["file"], payload)

    def flush():  # on the flusher thread (csrc/collector.h), with the GIL
        if getpid() == state["pid"] and state["stream"] is not None:
            note_thread_names()
            write({"results": collector.raw_results(), "thread_names": state["names"]})

    def hand_over(error=None):
        if getpid() != state["pid"] or state["stream"] is None:  # a forked child not ours, or done
            return
        if error is None:
            collector.stop()
            collector.resolve()
            note_thread_names()
            named_regions = sys.modules.get("pyprof_carbon.named_regions")
            write({"results": collector.raw_results(), "thread_names": state["names"], "end": True,
                   "regions": named_regions.stop_keeping() if named_regions else []})
        else:
            write({"error": error, "end": True})
        if is_stream(state["stream"]):
            os_close(state["stream"])
        state["stream"] = None
        if collector.term_caught():  # a SIGTERM that the program's end overtook: die of it now, as
            import signal            # the default action would have done when it came
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(getpid(), signal.SIGTERM)

    def begin(how):
        """Start profiling this process (`how`: first, exec, fork); False when sampling cannot start."""
        pid = state["pid"] = getpid()
        state["path"] = os.path.join(config["workdir"], f"proc-{pid}.stream")  # process_stream.stream_name
        state["stream"] = -1  # opened by the first write
        argv = list(getattr(sys, "orig_argv", sys.argv))
        write({"process": {"pid": pid, "ppid": getppid(), "argv": argv, "how": how, "start_unix_s": time.time(),
                           "python": sys.version.split()[0]}})
        try:
            engine = collector.start()
        except RuntimeError as e:
            hand_over(f"cannot start sampling: {e}")
            return False
        write({"engine": engine})
        collector.on_new_threads(note_thread_names)
        collector.on_flush(flush, FLUSH_NS)
        collector.save_on_sigterm(hand_over)
        return True

    def after_fork_in_child():
        fd = state["stream"]
        if fd is not None and fd >= 0 and is_stream(fd):  # the parent's, inherited: not the child's to keep
            os_close(fd)
        state["file"] = None
        collector.reset_after_fork()
        state["names"] = {}
        if begin("fork"):
            _on_multiprocessing_exit(sys, hand_over)

    if not begin("first" if first else "exec") and first:
        os._exit(config["start_failed_status"])  # `run` says why; a child just runs unprofiled
    # no thread of ours while the program forks (csrc/collector.h: pause_thread)
    os.register_at_fork(before=collector.pause_thread, after_in_parent=collector.resume_thread_soon,
                        **({"after_in_child": after_fork_in_child} if config["follow"] else {}))
    import atexit
    atexit.register(hand_over)

    _chain_sitecustomize(sys)


def _on_multiprocessing_exit(sys, hand_over):
    """A multiprocessing worker started by fork ends with os._exit() after running its finalizers:
    hand over as its last finalizer. multiprocessing clears the finalizers it inherited and then
    runs its after-fork hooks, so ours registers from there (only when multiprocessing is already
    in use: nothing is imported for it)."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        util.register_after_fork(hand_over, lambda f: util.Finalize(None, f, exitpriority=-sys.maxsize))
    except Exception:  # another multiprocessing: the stream's last interval may be lost
        pass


def _chain_sitecustomize(sys):
    """The sitecustomize this file shadows, if any, imported in its place: an import that puts
    another module under its own name in sys.modules hands that module to `site`."""
    ours = sys.modules.pop("sitecustomize")
    try:
        import sitecustomize  # noqa: F401
    except ImportError as e:
        sys.modules["sitecustomize"] = ours
        if e.name != "sitecustomize":
            raise


def _thread_names(sys):
    """Python names of the threads whose Thread objects exist now (`threading._dangling` holds
    every one not yet collected, finished ones too). Called by the flusher thread whenever the
    collector finds new threads, and at the hand-over; threads never seen by `threading` keep their
    OS name. Read without threading's lock: the program may hold it while this runs. (A hook in
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
