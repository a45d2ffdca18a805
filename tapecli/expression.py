"""The language's meaning: its functions and constants, and the Expression they build.

An Expression is a flat, immutable program: node i is a constant, a variable, or
an op applied to earlier nodes. Identical subexpressions are one node. Running
it is a loop over the nodes calling tapecli ops, so the same Expression runs
under fresh, nested or batched tapes alike.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from . import ops
from .errors import DataError, UsageError
from .tensor import Tensor, constant

CONSTANTS = {"pi": math.pi, "e": math.e}

# name -> (op, number of arguments). One row per function of EXPRESSIONS.md.
FUNCTIONS: dict[str, tuple] = {
    **{name: (getattr(ops, name), 1) for name in (
        "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 log2 log10 "
        "log1p sqrt cbrt abs sign sigmoid softplus relu").split()},
    "log": (lambda x, base=None: ops.log(x) if base is None else ops.log_base(x, base), (1, 2)),
    "pow": (ops.pow, 2),
    "atan2": (ops.atan2, 2),
    "hypot": (ops.hypot, 2),
    "min": (ops.minimum, 2),
    "max": (ops.maximum, 2),
}

OPERATORS = {"add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "div": ops.divide,
             "pow": ops.pow, "neg": ops.negative}


_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def check_variable_name(name: str) -> None:
    """Refuse a variable name that is not one, or that the language reserves."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a variable name")
    if name in CONSTANTS:
        raise UsageError(f"{name!r} is a constant, not a variable")
    if name in FUNCTIONS:
        raise UsageError(f"{name!r} is a function, not a variable")


def _arity_text(arity) -> str:
    counts = arity if isinstance(arity, tuple) else (arity,)
    words = " or ".join(str(n) for n in counts)
    return f"{words} argument" + ("" if counts == (1,) else "s")


class ExpressionBuilder:
    """Collects nodes while a parse tree is walked; shares identical subexpressions."""

    def __init__(self, text: str):
        self._text = text
        self._nodes: list[tuple] = []
        self._index: dict[tuple, int] = {}
        self._variables: dict[str, None] = {}  # insertion order = first appearance

    def _add(self, node: tuple) -> int:
        found = self._index.get(node)
        if found is None:
            found = self._index[node] = len(self._nodes)
            self._nodes.append(node)
        return found

    def constant(self, value: float) -> int:
        return self._add(("const", value))

    def name(self, token) -> int:
        name = str(token)
        if name in CONSTANTS:
            return self.constant(CONSTANTS[name])
        if name in FUNCTIONS:
            raise UsageError(f"{name!r} is a function: call it as {name}(...), "
                             f"it cannot be a variable (column {token.column})")
        self._variables.setdefault(name)
        return self._add(("var", name))

    def call(self, token, args: list[int]) -> int:
        name = str(token)
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise UsageError(f"{name!r} is a constant, not a function "
                                 f"(column {token.column})")
            near = difflib.get_close_matches(name, FUNCTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise UsageError(f"unknown function {name!r} (column {token.column}){hint}")
        arity = FUNCTIONS[name][1]
        if len(args) not in (arity if isinstance(arity, tuple) else (arity,)):
            raise UsageError(f"{name}() takes {_arity_text(arity)}, got {len(args)} "
                             f"(column {token.column})")
        return self._add(("call", name, *args))

    def operator(self, kind: str, args: list[int]) -> int:
        return self._add((kind, *args))

    def finish(self, root: int) -> Expression:
        # Variables appear in the nodes in the order the parse reduced them; the
        # spec wants the order of first appearance in the text.
        return Expression(self._text, tuple(self._nodes), root, self._first_appearance())

    def _first_appearance(self) -> tuple[str, ...]:
        names = _NAME.finditer(self._text)
        seen = dict.fromkeys(m.group(0) for m in names if m.group(0) in self._variables)
        return tuple(seen)


class Expression:
    """A parsed expression: its text, its free variables in order of first
    appearance, and evaluation as tapecli op calls for any point."""

    __slots__ = ("text", "variables", "_nodes", "_root", "__weakref__")

    def __init__(self, text: str, nodes: tuple, root: int, variables: tuple[str, ...]):
        self.text = text
        self.variables = variables
        self._nodes = nodes
        self._root = root

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, variables={list(self.variables)})"

    def __setattr__(self, name, value):
        if hasattr(self, "_root"):
            raise AttributeError("Expression is immutable")
        object.__setattr__(self, name, value)

    def __call__(self, env: Mapping[str, Tensor]) -> Tensor:
        """Run the expression's ops on tensors (recorded by any active tape)."""
        slots: list = []
        append = slots.append
        for node in self._nodes[:self._root + 1]:
            kind = node[0]
            if kind == "var":
                try:
                    append(env[node[1]])
                except KeyError:
                    raise DataError(f"variable {node[1]!r} has no value") from None
            elif kind == "const":
                append(constant(node[1]))
            elif kind == "call":
                append(FUNCTIONS[node[1]][0](*(slots[i] for i in node[2:])))
            else:
                append(OPERATORS[kind](*(slots[i] for i in node[1:])))
        return slots[self._root]

    # -- derivative drivers (tapecli.derivatives does the work) ---------------
    def value(self, point: Mapping) -> np.ndarray:
        """The expression's value at `point` (names to floats or arrays)."""
        from .derivatives import value
        return value(self, point)

    def gradient(self, point: Mapping, wrt: Sequence[str] | None = None):
        """`(value, gradient)`; the gradient's last axis follows `wrt` (default: variables)."""
        from .derivatives import gradient
        return gradient(self, point, wrt)

    def hessian(self, point: Mapping, wrt: Sequence[str] | None = None):
        """`(value, gradient, hessian)`; the Hessian has shape `(..., n, n)`."""
        from .derivatives import hessian
        return hessian(self, point, wrt)

    def derivative(self, point: Mapping, wrt: Sequence[str]):
        """`(value, d^k f / d wrt[0] ... d wrt[k-1])` for any sequence of variables."""
        from .derivatives import derivative
        return derivative(self, point, wrt)

    def trace(self, point: Mapping, wrt: Sequence[str] | None = None):
        """The recorded tape of one evaluation and its backward pass (see tapecli.trace)."""
        from .trace import record_trace
        return record_trace(self, point, wrt)
