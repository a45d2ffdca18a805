"""The package's shape: which module may import which.

tapecli's modules form no import cycle, except the operator edge between the
tensor type and the op table (a Tensor's `+` is ops.add, and ops make Tensors).
Lazy imports inside functions count too: a cycle through them is still a knot
a reader has to untie. Imports under `if TYPE_CHECKING:` do not run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tapecli

PACKAGE = Path(tapecli.__file__).parent
ALLOWED_CYCLES = [{"tensor", "ops"}]


def _imports(path: Path) -> set[str]:
    """The tapecli modules that `path` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import ops, __version__
                found.update(a.name if (PACKAGE / f"{a.name}.py").exists() else "__init__"
                             for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tapecli."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("tapecli."))
    return found - {path.stem}


def import_graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of more than one module (iterative: no recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def test_no_import_cycle_but_the_tensor_ops_operator_edge():
    for component in strongly_connected(import_graph()):
        assert any(component <= allowed for allowed in ALLOWED_CYCLES), component


def test_the_cycle_finder_sees_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [{"a", "b", "c"}]


def test_no_module_but_the_table_knows_the_set_of_primitives():
    # Flags live on the rows: no other module keeps its own set of primitives.
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "frozenset({ops." not in text and "frozenset({\n    ops." not in text, path.name
