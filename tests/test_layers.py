"""Straight floors: a module of app/ imports only from its own floor or below, and no modules
import each other in a circle, not even behind an import inside a function.

Read with `ast` (nothing runs). Every import counts: at the top of a module, inside a function,
under `if TYPE_CHECKING`, and `importlib.import_module(...)`: with a literal name, or with a
name taken from a list, in which case every "app.x" string of the module counts (the lists of
feature modules that app/main.py, app/cli.py and app/models.py load). The floors are those of
/work/shared/STYLE.md ("Layers and rules"); docs/architecture.md draws them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

# The first part of a module's name under app/ -> its floor, lowest first.
FLOORS: dict[str, int] = {
    "__init__": 0,
    "core": 0,
    "ledger": 1,
    "identity": 2,
    "funds": 2,
    "members": 3,
    "schemes": 4,
    "collections": 5,
    "payments": 5,
    "remittances": 6,
    "web": 7,
    "ops": 7,
    "cli": 7,
    "demo": 7,
    "main": 7,
    "models": 7,
}

# Edges still to straighten, each named with the issue that removes it: (importer, imported).
# Only these may break the rules; any other back-edge or circle fails.
KNOWN: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _floor(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    assert first in FLOORS, f"{module}: give app/{first} a floor in FLOORS (tests/test_layers.py)"
    return FLOORS[first]


def _target(name: str) -> str | None:
    """The app module an imported name stands for (a module, or the package holding it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported app module) for every import the module makes, wherever it is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    dynamic = False
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from app.ledger import service` imports the module app.ledger.service
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names = [arg.value]
            else:
                dynamic = True
        for name in names:
            target = _target(name) if name.startswith("app") else None
            if target is not None and target != module:
                yield node.lineno, target
    if dynamic:  # import_module(name): the "app.x" strings of the module are what it loads
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in MODULES
            ):
                yield node.lineno, node.value


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def _rel(module: str) -> str:
    return MODULES[module].relative_to(APP.parent).as_posix()


GRAPH: dict[str, dict[str, int]] = defaultdict(dict)  # importer -> {imported: first line}
for _module, _path in MODULES.items():
    for _line, _imported in _imports(_module, _path):
        GRAPH[_module].setdefault(_imported, _line)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_floor_imports_only_its_own_floor_or_below() -> None:
    upward = [
        f"{_rel(src)}:{line} imports {dst} (floor {_floor(src)} -> {_floor(dst)})"
        for src, targets in sorted(GRAPH.items())
        for dst, line in sorted(targets.items())
        if _floor(dst) > _floor(src) and (src, dst) not in KNOWN
    ]
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {
        src: {dst: line for dst, line in targets.items() if (src, dst) not in KNOWN}
        for src, targets in GRAPH.items()
    }
    circles = []
    for component in _cycles(graph):
        members = set(component)
        edges = [
            f"  {_rel(src)}:{line} imports {dst}"
            for src in component
            for dst, line in sorted(graph.get(src, {}).items())
            if dst in members
        ]
        circles.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    assert not circles, "modules that import each other in a circle:\n" + "\n".join(circles)


def test_the_reader_sees_imports_inside_functions_and_by_name() -> None:
    # guards against a reader that quietly finds nothing
    assert len(GRAPH) > 100
    assert "app.ledger.models" in GRAPH["app.ledger.service"] or any(
        "app.ledger" in d for d in GRAPH["app.ledger.service"]
    )
    assert "app.ops.router" in GRAPH["app.main"]  # imported inside create_app()
    assert "app.collections.models" in GRAPH["app.models"]  # by name, from a list
    known_unused = {edge for edge in KNOWN if edge[1] not in GRAPH.get(edge[0], {})}
    assert not known_unused, f"KNOWN edges that are gone (take them out): {sorted(known_unused)}"
