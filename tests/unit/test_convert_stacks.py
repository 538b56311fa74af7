"""The sampler's stacks as the profile shows them (profiler.convert_stacks): the interpreter's own
start-up after the bootstrap (the rest of `site`) is one `[interpreter start-up]` frame, the
program's stacks are kept as they are."""
import numpy as np

from pyprof_carbon.profiler import STARTUP, convert_stacks


def raw(codes, stacks):
    """Raw results with one location per code object (line = its first line); `stacks` are lists
    of code indexes, leaf first."""
    flat = [c for st in stacks for c in st]
    return {"codes": codes, "loc_code": np.arange(len(codes)), "loc_line": np.array([c[3] for c in codes]),
            "stack_offsets": np.cumsum([0] + [len(st) for st in stacks]), "stack_locs": np.array(flat)}


def test_site_after_the_bootstrap_is_interpreter_start_up():
    codes = [("execusercustomize", "execusercustomize", "<frozen site>", 10), ("main", "main", "<frozen site>", 20),
             ("work", "work", "/app/prog.py", 3), ("<module>", "<module>", "/app/prog.py", 1),
             ("addpackage", "addpackage", "/usr/lib/python3.11/site.py", 30)]
    functions, stacks, stack_map = convert_stacks(raw(codes, [[0, 1], [2, 3], [4, 1]]))
    names = [[functions[f].name for f, _ in stacks[k]] for k in stack_map]
    assert names == [[STARTUP.name], ["<module>", "work"], [STARTUP.name]]


def test_a_program_calling_site_keeps_its_stack():
    codes = [("getsitepackages", "getsitepackages", "<frozen site>", 5), ("<module>", "<module>", "/app/prog.py", 1)]
    functions, stacks, stack_map = convert_stacks(raw(codes, [[0, 1]]))
    assert [functions[f].name for f, _ in stacks[stack_map[0]]] == ["<module>", "getsitepackages"]
