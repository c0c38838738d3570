"""The core's import graph has no cycle, counting every import there is.

An import under ``if TYPE_CHECKING:`` or inside a function is still an import: it is how a cycle
hides (the module graph is then only acyclic at run time, and only in the order modules happen
to load). So this graph counts both, and importing ``a.b.c`` counts as importing the packages
``a`` and ``a.b`` too, whose ``__init__`` runs first (a package that re-exports a module makes
everything under it depend on that module). The layers themselves are checked by
``lint-imports`` (``.importlinter``); this test covers every module, layered or not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sluicegate

CORE = Path(sluicegate.__file__).parent


def modules_of(root: Path) -> dict[str, Path]:
    """Module name -> file, for the package at ``root`` (packages named by their ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(name, line) of everything ``module`` imports, wherever the import statement sits."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno  # a submodule, or a name in ``base``


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {module it depends on: line}, within the package at ``root``."""
    modules = modules_of(root)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for module, path in modules.items():
        for name, line in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            # The module and every package above it, except the importer's own packages (they
            # are already running when it is imported).
            while name:
                if name != module and not module.startswith(name + "."):
                    graph[module].setdefault(name, line)
                name = name.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    return "\n".join(
        f"  {module} -> {target} (line {line})"
        for module in component
        for target, line in sorted(graph[module].items())
        if target in members
    )


def test_the_core_import_graph_has_no_cycle():
    graph = import_graph(CORE)
    assert len(graph) > 50  # the whole core was read
    found = cycles(graph)
    assert not found, "import cycles in the core:\n" + "\n\n".join(describe(c, graph) for c in found)


def test_a_cycle_hidden_behind_type_checking_or_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (package / "b.py").write_text("def make():\n    from pkg import a\n    return a\n")
    # A package that re-exports its module makes a cycle of an import of its sibling.
    (package / "sub" / "__init__.py").write_text("from pkg.sub.loader import load\n")
    (package / "sub" / "loader.py").write_text("from pkg.c import C\n")
    (package / "sub" / "checks.py").write_text("")
    (package / "c.py").write_text("from .sub.checks import x\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub", "pkg.sub.loader"]]
