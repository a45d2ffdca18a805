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


# ---- one table of primitives: every list of names is read off the rows ------------------------
def _rows():
    from tapecli import ops

    return ops.PRIMITIVES


def test_the_languages_words_are_the_rows_language_names():
    from tapecli import language

    rows = _rows()
    assert set(language.FUNCTIONS) == {p.language for p in rows if p.language}
    for name, (call, arity) in language.FUNCTIONS.items():
        row = language.PRIMITIVES[name]
        assert row.language == name and call is row.call and arity == row.arity
    assert language.ALIASES == {a: p.language for p in rows if p.language for a in p.aliases}
    assert language.OPERATORS == {p.operator: p for p in rows if p.operator}


def test_the_public_namespaces_are_the_rows_api():
    from tapecli import ops

    for namespace, module in (("", tapecli), ("math", tapecli.math), ("nn", tapecli.nn),
                              ("linalg", tapecli.linalg)):
        for name, thing in ops.public(namespace).items():
            assert getattr(module, name) is thing, (namespace, name)
    assert set(ops.public()) <= set(tapecli.__all__)
    every_row_with_api = {p for p in _rows() if p.api}
    # Some rows show only under a namespace, as TensorFlow has them (tf.math.is_nan).
    shown = {thing for namespace in ("", "math", "nn", "linalg")
             for thing in ops.public(namespace).values()}
    assert every_row_with_api <= shown


def test_every_language_function_has_a_taylor_rule_latex_and_a_formula_reading():
    from tapecli import formula, language

    for name, row in language.PRIMITIVES.items():
        assert row.taylor is not None, name
        assert row.latex is not None, name
        n = max(row.arity) if isinstance(row.arity, tuple) else row.arity
        text = f"{name}({', '.join(['x', 'y', 'z'][:n])})"
        assert formula.to_latex(formula.from_graph(*_value_graph(text))[0])


def _value_graph(text):
    from tapecli.derivatives import recorded_graph, value_program

    expr = tapecli.parse(text)
    return recorded_graph(value_program, (expr,), ())


def _names_in(node: ast.AST) -> list[str]:
    """The words a literal lists: its strings (split at spaces) and ops.NAME references."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split()
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "ops":
        return ["ops." + node.attr]
    return []


def kept_lists(path: Path) -> list[str]:
    """Literal collections in `path` that list three or more of the language's
    functions or two or more rows of the op table: a list of primitives kept
    apart from the rows."""
    from tapecli import language, ops

    words = set(language.FUNCTIONS) - {"pow", "max", "min", "abs", "log", "exp"}  # everyday words
    rows = {f"ops.{name}" for name, value in vars(ops).items()
            if isinstance(value, ops.Primitive)}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            items = [node]
        else:
            continue
        listed = [w for item in items for w in _names_in(item)]
        if len({w for w in listed if w in words}) >= 3 or len({w for w in listed if w in rows}) >= 2:
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_module_but_the_table_keeps_a_list_of_primitives_or_function_names():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in ("ops.py", "series.py", "ball_rules.py"):  # the rows and their rules
            continue
        assert kept_lists(path) == []


def test_the_list_finder_sees_a_list_of_names_and_of_rows(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('NAMED = {"sin", "cos", "tanh"}\nARITH = {ops.add: 1, ops.divide: 2}\n'
                      'WORDS = "sinh cosh atanh".split()\nFINE = ("sin", "x")\n')
    assert kept_lists(module) == ["m.py:1", "m.py:2", "m.py:3"]
