"""The package's layers, drawn from its imports: each folder on its own floor, no arrow up, no cycle.

Floors, bottom to top: ``nmftrans.errors`` (and the package's ``__version__``), ``nmftrans.core``
(array code), ``nmftrans.io`` (files), the use cases (the modules at the package's top level) and
the command line (``cli``, ``__main__``, ``kernelcache``). Every ``import`` counts, also those
inside functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nmftrans"
CLI = {"nmftrans.cli", "nmftrans.__main__", "nmftrans.kernelcache"}
FLOORS = ("base", "core", "io", "use cases", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def floor(name: str) -> int:
    if name in ("nmftrans", "nmftrans.errors", "nmftrans.dictionaries"):
        return 0
    if name.startswith("nmftrans.core"):
        return 1
    if name.startswith("nmftrans.io"):
        return 2
    return 4 if name in CLI else 3


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules ``path`` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from nmftrans.io import fileio`` imports the module nmftrans.io.fileio.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "nmftrans")
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known) - {name} for name, path in mods.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} ({FLOORS[floor(a)]}) imports {b} ({FLOORS[floor(b)]})"
                  for a, targets in graph.items() for b in targets if floor(b) > floor(a))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles found by a depth-first search (one per back edge)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_folders_exist_and_hold_the_layers():
    mods = modules()
    assert sum(name.startswith("nmftrans.core.") for name in mods) >= 10
    assert sum(name.startswith("nmftrans.io.") for name in mods) >= 5
    assert "nmftrans.core.kernels" in mods and "nmftrans.io.audio" in mods


def test_no_module_imports_a_floor_above_its_own():
    assert upward_imports(import_graph()) == []


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    """The two checks above on a drawn graph that breaks both rules."""
    graph = {"nmftrans.core.kernels": {"nmftrans.io.audio"}, "nmftrans.io.audio": {"nmftrans.core.kernels"}}
    assert upward_imports(graph) == ["nmftrans.core.kernels (core) imports nmftrans.io.audio (io)"]
    assert cycles(graph) == [["nmftrans.core.kernels", "nmftrans.io.audio", "nmftrans.core.kernels"]]


def test_the_readme_layout_names_every_module():
    """The README's layout section lists every module of the tree (and no module that is gone)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\b([a-z_]+)\.py\b", section))
    files = {p.stem for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts and p.stem != "__init__"}
    assert files - named == set(), "modules missing from the README's layout"
    elsewhere = {p.stem for folder in ("scripts", "tests") for p in (ROOT / folder).glob("*.py")}
    assert named - files - {"__init__"} <= elsewhere, \
        "the README's layout names modules that do not exist"


@pytest.mark.parametrize("folder", ["core", "io"])
def test_each_folder_says_what_it_holds(folder):
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
    assert doc and len(doc) > 20
