"""The packages of safetylens import each other in one direction only (no cycles).

Every ``import safetylens.X`` / ``from safetylens.X import ...`` counts, at module level or inside a
function (a deferred import is still a dependency), except those under ``if TYPE_CHECKING:``, which
never run. Top-level modules (``spec.py``, ``tables.py``, ...) count as packages of their own.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import safetylens

ROOT = Path(safetylens.__file__).resolve().parent


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.targets: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        is_type_checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not is_type_checking:
            self.generic_visit(node)
        else:
            for n in node.orelse:
                self.visit(n)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.startswith("safetylens."):
                self.targets.add(a.name.split(".")[1])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.startswith("safetylens."):
            self.targets.add(node.module.split(".")[1])
        elif node.module == "safetylens":
            self.targets.update(a.name for a in node.names)


def package_graph() -> dict[str, set[str]]:
    """Package -> the packages its modules import at run time."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        v = _Imports()
        v.visit(ast.parse(path.read_text(encoding="utf-8")))
        src = _unit(path)
        graph[src].update(t for t in v.targets if (ROOT / t).is_dir() or (ROOT / f"{t}.py").is_file())
        graph[src].discard(src)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert graph["benchmarks"] and graph["scorers"], "the walk found the packages"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_lower_layers_never_import_upper_ones() -> None:
    graph = package_graph()
    # A scorer never imports a benchmark; data loaders, statistics and reference rows import neither.
    assert "benchmarks" not in graph["scorers"]
    for low in ("datasets", "stats", "reference", "tables"):
        assert not graph[low] & {"benchmarks", "scorers", "runs", "report", "cli", "human"}, low


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
