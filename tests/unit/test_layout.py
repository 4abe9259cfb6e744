"""The layout holds: no import cycles between modules or packages (imports inside functions count), the
packages stack in the order docs/architecture.md draws, each says what it owns, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = ("workflows", "api", "tasks")
MAX_LINES = 400
# Bottom to top: a package may import only packages at its own level or below (docs/architecture.md).
LAYERS = [
    {"infra"},
    {"sandbox"},
    {"forms"},
    {"engine"},
    {"people"},
    {"log"},
    {"processes"},
    {"outbox"},
    {"cases"},
    {"children"},
    {"papers"},
    {"ops"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for top in CODE:
        for path in sorted((ROOT / top).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, anywhere in the file (``from pkg import mod`` counts as ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    for name in graph:  # importing a.b.c runs a/__init__ and a/b/__init__ first; those are not cycles of ours
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "workflows" and len(parts) > 1 else None


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_graph()) == []


def test_no_package_imports_itself_back() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        source = _package(module)
        if source is None:
            continue
        packages.setdefault(source, set()).update(
            t for t in map(_package, targets) if t is not None and t != source
        )
    assert _cycles(packages) == []


def test_packages_import_only_their_own_layer_or_below() -> None:
    level = {package: i for i, layer in enumerate(LAYERS) for package in layer}
    wrong = []
    for module, targets in _graph().items():
        source = _package(module)
        if source is None:
            continue
        assert source in level, f"{module}: package {source!r} has no place in LAYERS (docs/architecture.md)"
        for target in targets:
            if (package := _package(target)) is not None and level[package] > level[source]:
                wrong.append(f"{module} → {target}")
    assert wrong == []


def test_api_and_tasks_never_import_each_other_and_the_core_neither() -> None:
    wrong = []
    for module, targets in _graph().items():
        top = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if top != other and (top == "workflows" or {top, other} == {"api", "tasks"}):
                wrong.append(f"{module} → {target}")
    assert wrong == []


@pytest.mark.parametrize("package", sorted({_package(m) for m in _modules() if _package(m)}))
def test_each_package_says_what_it_owns_and_may_import(package: str) -> None:
    doc = ast.get_docstring(
        ast.parse((ROOT / "workflows" / package / "__init__.py").read_text(encoding="utf-8"))
    )
    assert doc and "May import" in doc, f"workflows/{package}/__init__.py needs a docstring with 'May import'"


def test_modules_stay_small() -> None:
    big = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
