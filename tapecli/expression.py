"""The language's meaning: its functions and constants, and the Expression they build.

An Expression is a flat, immutable program: node i is a constant, a variable, or
an op applied to earlier nodes. Identical subexpressions are one node. Running
it is a loop over the nodes calling tapecli ops, so the same Expression runs
under fresh, nested or batched tapes alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from . import ops
from .errors import DataError, ExpressionSyntaxError, UsageError
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

# Names other tools use for our functions, too far apart for difflib to see.
_ALIASES = {"ln": "log", "sgn": "sign", "arcsin": "asin", "arccos": "acos",
            "arctan": "atan", "arctan2": "atan2"}

OPERATORS = {"add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "div": ops.divide,
             "pow": ops.pow, "neg": ops.negative}


_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def check_variable_name(name: str) -> None:
    """Refuse a variable name that is not one, or that the language reserves."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a variable name")
    if name in CONSTANTS:
        raise UsageError(f"{name!r} is a constant, not a variable")
    if name in FUNCTIONS:
        raise UsageError(f"{name!r} is a function, not a variable")


def check_wrt(wrt, variables) -> None:
    """Refuse a --wrt name that is not one of the expression's variables."""
    for name in wrt:
        check_variable_name(name)
        if name not in variables:
            raise UsageError(f"--wrt {name}: not a variable of the expression "
                             f"(its variables: {', '.join(variables) or 'none'})")


def _arity_text(arity) -> str:
    counts = arity if isinstance(arity, tuple) else (arity,)
    words = " or ".join(str(n) for n in counts)
    return f"{words} argument" + ("" if counts == (1,) else "s")


class ExpressionBuilder:
    """Collects nodes as the parser reduces; shares identical subexpressions.

    Mistakes that the grammar cannot see (an unknown function, a wrong number of
    arguments, a function used as a variable) are reported at their column.
    """

    def __init__(self, text: str):
        self._text = text
        self._nodes: list[tuple] = []
        self._index: dict[tuple, int] = {}
        self._first_seen: dict[str, int] = {}  # variable -> its first position in the text

    def _add(self, node: tuple) -> int:
        found = self._index.get(node)
        if found is None:
            found = self._index[node] = len(self._nodes)
            self._nodes.append(node)
        return found

    def _error(self, token, problem: str, hint: str = "") -> ExpressionSyntaxError:
        return ExpressionSyntaxError(self._text, token.start_pos + 1, problem, hint=hint)

    def constant(self, value: float) -> int:
        return self._add(("const", value))

    def name(self, token) -> int:
        name = str(token)
        if name in CONSTANTS:
            return self.constant(CONSTANTS[name])
        if name in FUNCTIONS:
            raise self._error(token, f"{name!r} is a function, it cannot be a variable",
                              f"call it as {name}(...)")
        # Keep the earliest position, whatever order the nodes come in.
        position = self._first_seen.get(name)
        if position is None or token.start_pos < position:
            self._first_seen[name] = token.start_pos
        return self._add(("var", name))

    def call(self, token, args: list[int]) -> int:
        name = str(token)
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise self._error(token, f"{name!r} is a constant, not a function",
                                  f"to multiply, write {name}*(...)")
            hint = _suggestion(name)
            if self._text[token.end_pos:token.end_pos + 1].isspace():  # x (y+1)
                hint += f"; to multiply, write {name}*(...)"
            raise self._error(token, f"unknown function {name!r}", hint)
        arity = FUNCTIONS[name][1]
        if len(args) not in (arity if isinstance(arity, tuple) else (arity,)):
            raise self._error(token, f"{name}() takes {_arity_text(arity)}, got {len(args)}")
        return self._add(("call", name, *args))

    def operator(self, kind: str, args: list[int]) -> int:
        return self._add((kind, *args))

    def finish(self, root: int) -> Expression:
        variables = tuple(sorted(self._first_seen, key=self._first_seen.__getitem__))
        return Expression(self._text, tuple(self._nodes), root, variables)


def _suggestion(name: str) -> str:
    """'did you mean sin?' for a near miss, else the list of functions."""
    import difflib  # only errors need it

    near = _ALIASES.get(name.lower()) or next(
        iter(difflib.get_close_matches(name.lower(), FUNCTIONS, n=1, cutoff=0.6)), None)
    if near:
        return f"did you mean {near}?"
    return "known functions: " + " ".join(sorted(FUNCTIONS))


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

    def __delattr__(self, name):
        raise AttributeError("Expression is immutable")

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

    # -- Taylor mode (tapecli.taylor; the drivers above use it for orders >= 3) --
    def taylor(self, point: Mapping, direction: Mapping[str, float], order: int) -> np.ndarray:
        """Coefficients c_0..c_order of t -> f(point + t*direction), shape (order+1, ...):
        the k-th derivative along `direction` is k! * c_k."""
        from .derivatives import taylor
        return taylor(self, point, direction, order)

    def derivative_tensors(self, point: Mapping, order: int,
                           wrt: Sequence[str] | None = None) -> list[np.ndarray]:
        """`[value, gradient, hessian, d3f, ..., dKf]` for K = `order`; tensor k has
        shape `(..., n, ..., n)` with k axes following `wrt` (default: variables)."""
        from .derivatives import derivative_tensors
        return derivative_tensors(self, point, order, wrt)
