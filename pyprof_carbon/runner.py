"""Running a script or module exactly as `python` would: same sys.argv, __main__, sys.path[0],
exit status, tracebacks and Ctrl-C behaviour. The caller saves the profile before we exit."""
from __future__ import annotations

import dataclasses
import os
import runpy
import signal
import sys
import threading
import traceback
import types
from typing import Callable, List, Optional

from .errors import UserError


@dataclasses.dataclass
class Outcome:
    exit_code: int = 0
    signal: Optional[int] = None  # re-raise this signal after saving (Ctrl-C, SIGTERM)


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so the profile is saved before we die of it."""


def check_target(script: Optional[str], module: Optional[str]) -> None:
    if module is None and not os.path.isfile(script):
        raise UserError(f"can't open file {os.path.abspath(script)!r}: no such file")


def prepare(script: Optional[str], module: Optional[str], args: List[str]) -> Callable[[], None]:
    """What can be done before profiling starts (reading and compiling the script), so that the
    profile holds the script's own work. A script that does not compile fails inside run(), as
    under python, with the profile still saved."""
    if module is not None:
        return lambda: _run_module(module, args)
    try:
        with open(script, "rb") as f:
            code = compile(f.read(), script, "exec", dont_inherit=True)
    except SyntaxError as e:
        err = e
        def fail():
            raise err
        return fail
    path0 = os.path.dirname(os.path.realpath(script))
    return lambda: _run_code(code, script, path0, args)


def run(target: Callable[[], None]) -> Outcome:
    """Run a prepared target in this process. Never raises for what the script does."""
    previous_term = signal.getsignal(signal.SIGTERM)
    if previous_term == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        target()
        _wait_for_threads()  # python waits for non-daemon threads before exiting
        return Outcome(0)
    except SystemExit as e:
        return Outcome(_exit_code(e.code))
    except KeyboardInterrupt as e:
        traceback.print_exception(e.with_traceback(_user_frames(e.__traceback__)))
        return Outcome(130, signal.SIGINT)
    except _Terminated:
        return Outcome(143, signal.SIGTERM)
    except BaseException as e:  # the script's uncaught exception: print it as python does
        e = e.with_traceback(_user_frames(e.__traceback__))  # the hook prints e.__traceback__
        sys.excepthook(type(e), e, e.__traceback__)
        return Outcome(1)
    finally:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous_term)
        sys.stdout.flush()


def _user_frames(tb):
    """The traceback without this module's frames, so it reads as python's would."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _on_sigterm(signum, frame):
    raise _Terminated()


def _default_sigterm_in_child():
    """A child forked by the script (a multiprocessing worker) dies of SIGTERM as it would have."""
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_sigterm_in_child)


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_code(code, path: str, path0: str, args: List[str]) -> None:
    sys.argv = [path, *args]
    sys.path[0] = path0
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=path, __cached__=None, __loader__=None, __package__=None,
                         __spec__=None, __builtins__=__builtins__)
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _run_module(module: str, args: List[str]) -> None:
    sys.argv = [module, *args]  # runpy replaces argv[0] with the module's path, as `python -m`
    sys.path[0] = os.getcwd()
    runpy._run_module_as_main(module, alter_argv=True)


def _wait_for_threads() -> None:
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon and t.is_alive():
            t.join()


def finish(outcome: Outcome) -> int:
    """Exit as python would have: by the signal that interrupted the script, or with its status."""
    if outcome.signal is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(outcome.signal, signal.SIG_DFL)
        os.kill(os.getpid(), outcome.signal)
    return outcome.exit_code
