"""Running the program in an interpreter of its own, exactly as `python` runs it.

`run` does not execute the script inside the profiler's process: that process has imported
argparse, the meters, the scheduler backends and the rest of the profiler, and a script run under
it would see those modules, a different `__main__`, extra frames below its own and an exit
sequence that is not python's. Instead the program runs as `python [flags] script.py ARGS` (or
`-m module ARGS`) in a child process, with the sampler started inside it by
`_boot/sitecustomize.py`; the profiler's process keeps the meters and the scheduler backend,
passes their counter descriptors down, waits, and builds the recording from what the program and
the Python processes it started streamed into the run's working directory (process_stream.py).

Signals meant for the program reach it: a terminal's Ctrl-C (SIGINT, SIGQUIT) goes to the whole
foreground process group, so the profiler ignores those while it waits and passes on only the ones
sent to it alone (no terminal, or not in the foreground); SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to the
profiler are passed on. The profiler then exits as the program did: with its status, or by the
same signal.
"""
from __future__ import annotations

import contextlib
import marshal
import os
import shutil
import signal
import subprocess
import sys
from typing import List, Optional, Sequence

from .errors import UserError

BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_FAILED = 70  # the child's status when its sampler could not start (it then says why)
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
TERMINAL = (signal.SIGINT, signal.SIGQUIT)


WORKDIR_SUFFIX = ".partial"


def workdir_for(output: str) -> str:
    """The run's working directory for output `output` (the journal's too: journal.py)."""
    return output + WORKDIR_SUFFIX


def check_no_leftover(output: str) -> None:
    """Before a run: a working directory left by a killed run at this output is not overwritten."""
    d = workdir_for(output)
    if os.path.lexists(d):
        raise UserError(f"{d} holds a run that was cut short: render it with `pyprof-carbon report {output}`, "
                        f"then remove it")


class Child:
    """The program's process. (Not a dataclass: this module is imported before the program
    starts, and dataclasses imports inspect, ~5 ms of the program's start-up.)"""

    def __init__(self, process: subprocess.Popen, workdir: str, setup: Optional[object] = None):
        self.process = process
        self.workdir = workdir  # where every profiled process of the run writes its stream (process_stream.py)
        self.status: Optional[int] = None  # as Popen.returncode: negative = killed by that signal
        self.setup = setup  # until configure(): the socket its bootstrap waits on (start)


def check_target(script: Optional[str], module: Optional[str]) -> None:
    if module is None and not os.path.isfile(script):
        raise UserError(f"can't open file {os.path.abspath(script)!r}: no such file")


def interpreter_command(script: Optional[str], module: Optional[str], args: Sequence[str]) -> List[str]:
    """`python [the options this interpreter was started with] script.py ARGS` (or `-m module
    ARGS`): the program sees the options it would have seen had the user typed them for python
    (`python -X dev -m pyprof_carbon run s.py` runs `python -X dev s.py`; the `pyprof-carbon`
    command has none); the environment carries the rest (PYTHONDONTWRITEBYTECODE...). -E, -I and
    -S are left out: they would skip the bootstrap (PYTHONPATH, site)."""
    target = ["-m", module] if module is not None else [script]
    return [sys.executable, *interpreter_options(getattr(sys, "orig_argv", [])[1:]), *target, *args]


def interpreter_options(argv: Sequence[str]) -> List[str]:
    """The interpreter's own options at the start of `argv` (up to -m, -c, - or the script)."""
    out, i = [], 0
    while i < len(argv):
        word = argv[i]
        if word in ("-m", "-c", "-", "--") or not word.startswith("-") or word.startswith(("-m", "-c")):
            break
        takes_value = word in ("-X", "-W", "--check-hash-based-pycs")
        option = [word, argv[i + 1]] if takes_value and i + 1 < len(argv) else [word]
        i += len(option)
        if word.lstrip("-") and set(word.lstrip("-")) <= set("EIS"):  # -E, -I, -S, -IS...
            continue
        out += option
    return out


def start(command: List[str], workdir: Optional[str] = None, drop_to: Optional[tuple] = None,
          subprocesses: bool = True) -> Child:
    """Start the program's interpreter with the sampler bootstrap, before the counters are open:
    its start-up (~50 ms) runs on another CPU while this process opens the meters and the
    scheduler backend, and its bootstrap waits for them (`configure`) before it starts the sampler
    and before the script's first line; `abandon` ends it there when the run cannot go on.
    `workdir`: where the run's processes stream (created here, and refused when it exists:
    workdir_for); None: a temporary directory. `drop_to` (uid, gid): under sudo, the
    program's process becomes that user first thing in its bootstrap, before its sampler starts
    and before the script file is opened. `subprocesses`: the Python processes the program starts
    are profiled too (the bootstrap stays in their environment).

    The program gets SIGKILL when the profiler's process dies (PR_SET_PDEATHSIG, set by its
    bootstrap once configured; until then the profiler's death ends its wait for the set-up):
    `kill -9` of the run ends the program as it would end `python script.py`, and no program keeps
    running unmeasured. Processes the program starts are left alone, as python leaves them."""
    import socket
    if workdir is None:
        import tempfile
        workdir = tempfile.mkdtemp(prefix="pyprof-carbon-")
    else:
        try:
            os.mkdir(workdir, 0o700)
        except OSError as e:
            raise UserError(f"cannot create the run's working directory {workdir}: {e.strerror}") from None
    if drop_to is not None:
        os.chown(workdir, *drop_to)
    # what every profiled process of the run reads from its environment; `configure` completes it
    config = {"package_parent": PACKAGE_PARENT, "workdir": workdir, "follow": bool(subprocesses),
              "start_failed_status": START_FAILED, "drop_privileges": drop_to is not None,
              "profiler_pid": os.getpid()}
    # one message, with the counters' descriptors: SEQPACKET keeps it whole
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = dict(os.environ)
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYPROF_CARBON_CHILD"] = marshal.dumps(config).hex()
    # the program's own process: not its children's
    env["PYPROF_CARBON_FIRST"] = marshal.dumps({"setup_fd": theirs.fileno()}).hex()
    try:
        proc = subprocess.Popen(command, env=env, pass_fds=[theirs.fileno()], restore_signals=True)
    except OSError as e:
        ours.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise UserError(f"cannot start {command[0]}: {e.strerror}") from None
    finally:
        theirs.close()
    return Child(proc, workdir, setup=ours)


MAX_SETUP_FDS = 253  # SCM_MAX_FD: the descriptors one message can carry


def configure(child: Child, rate: float, engine: str, cadence_ns: int, sources: Sequence[tuple],
              totals_fd: Optional[int] = None) -> None:
    """What the program's bootstrap waits for (`start`): the sampling settings, the counter
    sources (kind, fd, offset, key, size) its collector reads, and `totals_fd`, its end of the
    channel of pyprof_carbon.current() (running_totals.Server); the descriptors go along
    (SCM_RIGHTS), received close-on-exec: no process the program starts inherits them."""
    import socket
    fds = sorted({s[1] for s in sources if s[1] >= 0} | ({totals_fd} if totals_fd is not None else set()))
    if len(fds) > MAX_SETUP_FDS:
        raise UserError(f"the meters opened {len(fds)} counters: more than the {MAX_SETUP_FDS} one run can pass on")
    index = {fd: i for i, fd in enumerate(fds)}
    setup = {"config": {"rate": float(rate), "engine": engine, "cadence_ns": int(cadence_ns)},
             "sources": [(int(k), index.get(int(fd), -1), int(o), int(key), int(size))
                         for k, fd, o, key, size in sources],
             "totals_fd": index[totals_fd] if totals_fd is not None else None}
    try:
        socket.send_fds(child.setup, [marshal.dumps(setup)], fds)
    except OSError:  # it died before its bootstrap read it (its status says how)
        pass
    finally:
        child.setup.close()
        child.setup = None


def abandon(child: Child) -> None:
    """The run stops before the program was configured (an error, Ctrl-C): its interpreter,
    waiting in its bootstrap, has run none of the program, and goes without a word."""
    if child.setup is not None:
        child.setup.close()
        child.setup = None
    try:
        child.process.kill()
    except OSError:
        pass
    child.process.wait()
    discard(child)


@contextlib.contextmanager
def passing_signals(child: Child):
    """Signals meant for the program are passed on to it (module docstring) while this is entered:
    from before its script can start until it has ended."""
    pid = child.process.pid

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def terminal(signum, frame):
        if not _in_terminal_foreground():
            forward(signum, frame)

    previous = {}
    for sig in (*FORWARDED, *TERMINAL):
        previous[sig] = signal.signal(sig, forward if sig in FORWARDED else terminal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait(child: Child) -> int:
    """Wait for the program (inside passing_signals); its Popen-style status."""
    child.status = child.process.wait()
    return child.status


def _in_terminal_foreground() -> bool:
    """Whether a Ctrl-C typed now would reach the child by itself (we share its process group)."""
    for stream in (sys.stdin, sys.stderr, sys.stdout):
        try:
            fd = stream.fileno()
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except (AttributeError, OSError, ValueError):
            continue
    return False


def handed_over(child: Child) -> list:
    """What the run's processes streamed, the program's own first (empty when it died before
    its sampler started); raises UserError when its sampler could not start. The working
    directory stays until the recording is saved (`discard`): a profiler killed before then leaves
    it for `report` to recover (journal.py)."""
    from . import process_stream
    streams = process_stream.read_all(child.workdir)
    if streams and streams[0].process.get("how") == "first" and streams[0].error and not streams[0].parts:
        discard(child)
        raise UserError(streams[0].error)
    return streams


def discard(child: Child) -> None:
    shutil.rmtree(child.workdir, ignore_errors=True)


class Finishing:
    """From the program's end until the recording is saved, SIGINT, SIGTERM and SIGHUP are held
    back: a second Ctrl-C (the first ended the program) would otherwise lose the whole run. The
    first one held says so on stderr; `sealed()` (the recording is on disk) then acts on it at
    once: the profiler exits by that signal, skipping the reports still to render."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.pending, self.previous = None, {}
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, self._hold)
        return self

    def _hold(self, signum, frame):
        if self.pending is None:
            self.pending = signum
            os.write(2, b"pyprof-carbon: saving the recording first; then stopping\n")

    def _restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def sealed(self) -> None:
        self._restore()
        if self.pending is not None:
            sys.exit(finish(-self.pending))

    def __exit__(self, *exc):
        self._restore()
        return False


def describe(status: Optional[int]) -> str:
    if status is None:
        return "did not run"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def finish(status: int) -> int:
    """Exit as the program did: by the signal that ended it, or with its status."""
    if status < 0:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        return 128 - status  # the signal is ignored or blocked here: its shell status
    return status
