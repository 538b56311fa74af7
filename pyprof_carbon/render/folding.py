"""Which frames are the user's code, which are libraries, and how to fold them for a first view.

- Import machinery (importlib._bootstrap, <frozen importlib...>) says nothing to a reader: a run
  of those frames becomes one frame `import <module>`, named after the module whose body runs
  under it.
- Library frames (the standard library, site-packages) are folded pyinstrument-style: the first
  library frame called from the user's code stays, the library frames under it are hidden and
  counted ("N frames hidden (numpy, inspect…)"), the user's code called back from a library shows
  again.
"""
from __future__ import annotations

import os
import re
import sysconfig
from typing import Dict, List, Sequence, Tuple

from ..recording import FunctionInfo

USER, LIBRARY, IMPORT = "user", "library", "import"
# site-packages, dist-packages, or a CPython stdlib directory (of any machine: a recording may be
# rendered elsewhere than where it was made)
_LIB = re.compile(r"[/\\](?:site-packages|dist-packages|lib[/\\]python\d+(?:\.\d+)?)[/\\](.+)$")
_STDLIB = tuple(os.path.normpath(p) + os.sep for p in {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib")} if p)


def kind(file: str) -> str:
    if not file:  # the profiler's "<no Python frame>": native code (BLAS threads, the interpreter's own)
        return LIBRARY
    if file.startswith("<frozen importlib") or re.search(r"importlib[/\\]_bootstrap(_external)?\.py$", file):
        return IMPORT
    if file.startswith("<frozen ") or _LIB.search(file) or file.startswith(_STDLIB):
        return LIBRARY
    return USER  # the user's files, and <string>/<stdin>: code the user gave


def module_of(file: str) -> str:
    """Dotted module name from a file path: .../site-packages/numpy/core/_methods.py ->
    numpy.core._methods; a user's file is its name; <frozen zipimport> -> zipimport."""
    if not file:
        return "native"
    if file.startswith("<frozen "):
        return file[len("<frozen "):].rstrip(">")
    m = _LIB.search(file)
    rel = m.group(1) if m else next((file[len(p):] for p in _STDLIB if file.startswith(p)), os.path.basename(file))
    rel = re.sub(r"\.py[cw]?$", "", rel.replace("\\", "/"))
    rel = re.sub(r"^(?:site|dist)-packages/|/__init__$", "", rel)
    return rel.replace("/", ".") or os.path.basename(file)


def package_of(file: str) -> str:
    """Top-level package (what the 'color by module' view and the hidden-frames note show)."""
    return module_of(file).split(".")[0]


def collapse_imports(functions: Sequence[FunctionInfo], stacks: Sequence[Tuple[Tuple[int, int], ...]]):
    """(functions + one `import X` function per imported module, stacks with each run of import
    frames replaced by it). Stack indices are kept, so rows still point at the same stack."""
    kinds = [kind(f.file) for f in functions]
    funcs: List[FunctionInfo] = list(functions)
    made: Dict[str, int] = {}

    def import_frame(next_fn: int) -> Tuple[int, int]:
        # the module being imported is the one whose code runs under the machinery
        name = "import " + (module_of(functions[next_fn].file) if next_fn >= 0 else "(loading)")
        if name not in made:
            made[name] = len(funcs)
            file = functions[next_fn].file if next_fn >= 0 else "<frozen importlib._bootstrap>"
            funcs.append(FunctionInfo(name, name, file, 0))
        return made[name], 0

    out = []
    for stack in stacks:
        new, i = [], 0
        while i < len(stack):
            if kinds[stack[i][0]] != IMPORT:
                new.append(stack[i])
                i += 1
                continue
            j = i
            while j < len(stack) and kinds[stack[j][0]] == IMPORT:
                j += 1
            new.append(import_frame(stack[j][0] if j < len(stack) else -1))
            i = j
        out.append(tuple(new))
    return funcs, out


def fold_tree(parent: Sequence[int], func: Sequence[int], kinds: Sequence[str], modules: Sequence[str]):
    """The library-folded view of a call tree (node 0 the root, parents before children).
    Returns (fold: folded node of each node, fparent, ffunc, hidden: per folded node
    [count, [packages]]). A library frame whose caller is a library frame too is hidden: its time
    goes to the nearest shown frame, its children hang under that frame."""
    fold = [0] * len(parent)
    fparent, ffunc, hidden = [-1], [-1], [[0, []]]
    index: Dict[Tuple[int, int], int] = {}
    for i in range(1, len(parent)):
        p = parent[i]
        f = func[i]
        lib = f >= 0 and kinds[f] != USER
        caller_lib = p > 0 and func[p] >= 0 and kinds[func[p]] != USER
        if lib and caller_lib:
            fold[i] = fold[p]
            h = hidden[fold[p]]
            h[0] += 1
            if modules[f] not in h[1]:
                h[1].append(modules[f])
            continue
        key = (fold[p], f)
        if key not in index:
            index[key] = len(fparent)
            fparent.append(fold[p])
            ffunc.append(f)
            hidden.append([0, []])
        fold[i] = index[key]
    return fold, fparent, ffunc, hidden
