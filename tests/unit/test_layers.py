"""The import graph runs one way: no module imports from a layer above its own.

Layers, bottom up (docs/architecture.md): core <- devices (meters, sched) and carbon <- attribution
<- render <- api (Profiler, output) <- commands and front ends. Imports are read with `ast`,
function-local ones included, so a late import cannot hide an arrow that runs back up.
"""
import ast
import os

import pytest

PKG = os.path.join(os.path.dirname(__file__), "..", "..", "pyprof_carbon")

# module (or package prefix) -> layer; the longest matching prefix decides
LAYERS = {
    "_version": 0, "errors": 0, "printable": 0, "counters": 0, "recording": 0, "recording_check": 0,
    "safe_write": 0, "sampling": 0, "named_regions": 0, "privileges": 0, "stats": 0, "_native": 0,
    "_lazy": 0, "process_stream": 0, "sampling_health": 0, "speed_probe": 0,
    "native_threads": 2, "running_totals": 4,
    "meters": 1, "sched": 1, "carbon": 1,
    "attributed_profile": 2, "attribution": 2, "diff": 2,
    "render": 3,
    "profiler": 4, "output": 4, "runner": 4, "journal": 4, "unconverted": 4,
    "commands": 5, "cli": 5, "__main__": 5, "ipython": 5, "pytest_plugin": 5, "_boot": 5,
}
NAMES = ["core", "devices and carbon", "attribution", "render", "api", "commands"]
# Within the devices layer the families stay apart: a meter never imports a scheduler backend,
# nor either of them carbon.
FAMILIES = ("meters", "sched", "carbon")


def layer_of(module: str) -> int:
    if module == "":  # the package __init__: the public API's front door (lazily loads Profiler)
        return len(NAMES) - 1
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(f"pyprof_carbon.{module} has no layer in test_layers.LAYERS: give it one")


def modules():
    for root, _, files in os.walk(PKG):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, PKG)[:-3].replace(os.sep, ".")
                yield (rel[:-len(".__init__")] if rel.endswith("__init__") else rel.replace("__init__", "")), path


def imports(module: str, path: str, is_pkg: bool):
    """(imported module inside pyprof_carbon, line) for every import of the package's own modules."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = [p for p in (module.split(".") if is_pkg else module.split(".")[:-1]) if p]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("pyprof_carbon."):
                    yield a.name[len("pyprof_carbon."):], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("pyprof_carbon"):
                target = node.module[len("pyprof_carbon"):].lstrip(".")
            else:
                continue
            for a in node.names:  # `from . import carbon` imports a module, not a name
                sub = f"{target}.{a.name}" if target else a.name
                yield (sub if _is_module(sub) else target), node.lineno


def _is_module(dotted: str) -> bool:
    p = os.path.join(PKG, *dotted.split("."))
    return os.path.isdir(p) or os.path.exists(p + ".py") or dotted in LAYERS  # _native: an extension


def arrows():
    for module, path in modules():
        is_pkg = path.endswith("__init__.py")
        for target, line in imports(module, path, is_pkg):
            yield module, path, target, line


def test_every_module_has_a_layer():
    for module, _ in modules():
        layer_of(module)


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: v if "/" not in str(v) else "")
def test_no_arrow_runs_back_up(module, path):
    bad = []
    is_pkg = path.endswith("__init__.py")
    for target, line in imports(module, path, is_pkg):
        src, dst = layer_of(module), layer_of(target)
        if dst > src:
            bad.append(f"pyprof_carbon.{module} ({NAMES[src]}) -> pyprof_carbon.{target} ({NAMES[dst]}), line {line}")
        fa, fb = module.split(".")[0], target.split(".")[0]
        if fa in FAMILIES and fb in FAMILIES and fa != fb:
            bad.append(f"pyprof_carbon.{module} -> pyprof_carbon.{target}, line {line}: {fa} must not import {fb}")
    assert not bad, "imports that run back up:\n" + "\n".join(bad)


def test_the_checker_sees_a_function_local_import(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from ..commands.options import finite_float\n")
    assert list(imports("carbon.m", str(src), False)) == [("commands.options", 2)]
