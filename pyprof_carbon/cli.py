"""`pyprof-carbon` command line: one small module per subcommand under commands/."""
from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .errors import UserError

COMMANDS = ("run", "report", "diff", "doctor", "regions")


def build_parser(commands=COMMANDS) -> argparse.ArgumentParser:
    """The parser of `commands` (each a module of commands/, imported here)."""
    parser = argparse.ArgumentParser(
        prog="pyprof-carbon",
        description="Energy profiler for Python: joules and grams of CO2eq per function, line and thread.")
    parser.add_argument("--version", action="version", version=f"pyprof-carbon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in commands:
        importlib.import_module(f"pyprof_carbon.commands.{name}").register(sub)
    return parser


def command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (argparse keeps them in its subparsers action)."""
    return parser._subparsers._group_actions[0].choices[name]


def parse_args(argv=None) -> argparse.Namespace:
    """The command line as a namespace; for `run`, the program's words (the script or `-m
    module` and everything after it) never go through our parser: they are `args.program`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # a named command needs its own parser only: the others' modules (and what they import) would
    # add to `run`'s start-up, before the program starts; without one, every command is offered
    parser = build_parser((argv[0],) if argv and argv[0] in COMMANDS else COMMANDS)
    program = None
    if argv and argv[0] == "run":
        from .commands.run import split_program
        options, program = split_program(command_parser(parser, "run"), argv[1:])
        argv = ["run", *options]
    args = parser.parse_args(argv)
    if program is not None:
        args.program = program
    return args


def main(argv=None) -> int:
    """The command line (`argv` None: sys.argv, as the `pyprof-carbon` command and `python -m
    pyprof_carbon` call it, and the process exits next)."""
    args = parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"pyprof-carbon: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if argv is None:
            # The interpreter's final collection would traverse every object numpy and the
            # profiler allocated (~17 ms at the end of every `run` here, benchmarks/overhead.py
            # --startup); frozen, they are left to the process's exit. Not for a call from code
            # (argv given), whose process goes on.
            import gc
            gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
