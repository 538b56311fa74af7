"""The render toolkit every renderer (and the diff's) draws with: stacks merged into a call tree,
its flame-graph layout, a frame's name, and the one number format of every report.

Numbers: 3 significant digits with an SI prefix (2.50 J, 331 µg, 1.20 kJ), so a column of joules
reads the same in the terminal, the HTML and the SVG. The HTML report's script mirrors fmt_num
(report.js `fmt`). Folding library and import frames for a first view is render/folding.py.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..attributed_profile import Profile


# ---- numbers ---------------------------------------------------------------------------------
_PREFIXES = ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"))


def sig3(x: float) -> str:
    """x with 3 significant digits, trailing zeros kept (2.50, 25.0, 0.0319) so precision is
    the same on every line; no exponent for 0.001 <= |x| < 1e6."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = 2 - math.floor(math.log10(abs(float(f"{x:.3g}"))))  # after rounding: 999.7 -> 1000
    if not -3 <= 2 - digits < 6:
        return f"{x:.2e}"
    return f"{x:.{digits}f}" if digits >= 0 else f"{round(x, digits):.0f}"  # 1234.5 -> 1230


def fmt_num(v: float, unit: str) -> str:
    """2.50 J, 331 µg, 1.20 kJ; unit "" is a count (1,234)."""
    if unit == "":
        return f"{int(round(v)):,}"
    if not math.isfinite(v):
        return "–"
    if v == 0:
        return f"0 {unit}"
    r = float(f"{abs(v):.3g}")  # round first, so 999.7 mJ reads 1.00 J, not 1000 mJ
    for f, p in _PREFIXES:
        if r < f * 1000 or p == "G":
            return f"{sig3(v / f)} {p}{unit}"
    return f"{sig3(v)} {unit}"  # unreachable: the loop ends at G


# ---- frames and the call tree ----------------------------------------------------------------
def frame_name(profile: Profile, frame) -> str:
    fn = profile.functions[frame[0]]
    where = f" ({fn.file}:{frame[1]})" if fn.file else ""
    return (fn.qualname + where).replace(";", ":").replace("\n", " ")


class CallTree:
    """Stacks merged by function into a tree; node 0 is the root ("all"). Parents come before
    their children, so sums flow up in one reverse pass."""

    def __init__(self, profile: Profile, key=None):
        key = key or (lambda fr: fr[0])  # merge frames by function
        self.parent: List[int] = [-1]
        self.func: List[int] = [-1]
        self.depth: List[int] = [0]
        index: Dict[Tuple[int, object], int] = {}
        node_of_stack = np.zeros(len(profile.stacks), np.int64)
        for sid, stack in enumerate(profile.stacks):
            node = 0
            for fr in stack:
                k = (node, key(fr))
                child = index.get(k)
                if child is None:
                    child = index[k] = len(self.parent)
                    self.parent.append(node)
                    self.func.append(fr[0])
                    self.depth.append(self.depth[node] + 1)
                node = child
            node_of_stack[sid] = node
        self.node_of_stack = node_of_stack
        self.n = len(self.parent)
        self.parent_a = np.array(self.parent, np.int64)

    def self_values(self, row_stack: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.node_of_stack[row_stack], weights=np.asarray(values, np.float64), minlength=self.n)

    def totals(self, self_vals: np.ndarray) -> np.ndarray:
        tot = np.array(self_vals, np.float64, copy=True)
        par = self.parent
        for i in range(self.n - 1, 0, -1):
            tot[par[i]] += tot[i]
        return tot

    def children(self) -> List[List[int]]:
        return children_of(self.parent)


def children_of(parent: Sequence[int]) -> List[List[int]]:
    """Each node's children, in node order, from the parent of each node (node 0 the root)."""
    ch: List[List[int]] = [[] for _ in range(len(parent))]
    for i in range(1, len(parent)):
        ch[parent[i]].append(i)
    return ch


def node_label(profile: Profile, func: int) -> str:
    return "all" if func < 0 else profile.functions[func].qualname


def layout(tree, total: np.ndarray, width: float, min_px: float = 0.3,
           names: Optional[Sequence[str]] = None):
    """(node, x, w, depth) for every node at least min_px wide, children ordered by name
    (flamegraph.pl). `tree`: a CallTree, or any tree with `children()` and `depth` (the diff's)."""
    ch = tree.children()
    out = []
    if total[0] <= 0:
        return out
    scale = width / total[0]
    todo = [(0, 0.0)]
    while todo:
        node, x = todo.pop()
        w = total[node] * scale
        if w < min_px:
            continue
        out.append((node, x, w, tree.depth[node]))
        kids = sorted(ch[node], key=lambda k: names[k] if names else k)
        cx = x
        for k in kids:
            todo.append((k, cx))
            cx += total[k] * scale
    return out
