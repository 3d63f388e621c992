"""No import cycle among the project's modules (`components/`, `emulator/`, `tflite_metadata/`).

The graph is read from the source (ast), not by importing it: every `import` and `from … import`
of a project module counts, at module level, inside functions and under `if TYPE_CHECKING:`
alike (a cycle that only a lazy import keeps from failing is still a cycle). An edge goes to
the most specific module named: `from emulator.core import names` → emulator.core.names;
`from emulator.core.names import new_id` → emulator.core.names. The implicit import of parent
packages is not an edge (a package's `__init__` is not its submodules' dependency).
"""

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "emulator", "tflite_metadata")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Module name → file, for every .py file of PACKAGES."""
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, list[str]]]:
    """(module named, names imported from it) of one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, []
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if not is_package:
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        yield base, [alias.name for alias in node.names]


def import_graph() -> dict[str, dict[str, int]]:
    """Module → {project module it imports: line of the first such import}."""
    modules = project_modules()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for base, names in _imported(node, module, path.name == "__init__.py"):
                targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
                if len(targets) < len(names) or not names:
                    # Names that are not submodules come from `base` itself.
                    targets.append(base)
                for target in targets:
                    while target and target not in modules:  # `import a.b.c` of a non-module c
                        target = target.rpartition(".")[0]
                    if target and target != module:
                        edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (each is a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, {})):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def a_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One closed path through a component: [a, b, …, a] (breadth-first, so a short one)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node]):
            if succ == start:
                return [*paths[node], start]
            if succ in members and succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    raise AssertionError(f"{component} is not a cycle")


def describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The component's modules, and one of its cycles hop by hop (file:line of each import)."""
    modules = project_modules()
    cycle = a_cycle(graph, component)
    hops = [
        f"    {a} ({modules[a].relative_to(ROOT)}:{graph[a][b]}) imports {b}"
        for a, b in itertools.pairwise(cycle)
    ]
    return "\n".join([f"  among {', '.join(component)}:", "    " + " → ".join(cycle), *hops])


def test_the_graph_sees_the_project() -> None:
    graph = import_graph()
    assert "emulator.core.errors" in graph["emulator.core.names"]
    assert "components.spec" in graph["components.cli"]  # a `from package import name`
    assert "emulator.server" in graph["emulator.cli"]  # imported inside a function


def test_cycles_are_found() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycle() -> None:
    graph = import_graph()
    cycles = [describe(graph, component) for component in strongly_connected(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
