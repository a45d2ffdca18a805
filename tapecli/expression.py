"""The Expression a parse builds: a flat list of nodes over the language's vocabulary.

An Expression is a flat, immutable list of nodes: node i is a constant, a variable, or
an op applied to earlier nodes. Identical subexpressions are one node. Running
it is a loop over the nodes calling tapecli ops, so the same Expression runs
under fresh, nested or batched tapes alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import DataError, ExpressionSyntaxError
from .language import (  # noqa: F401  (check_* re-exported: the names users import)
    CONSTANTS,
    FUNCTIONS,
    OPERATORS,
    arity_text,
    check_variable_name,
    check_wrt,
    suggestion,
)
from .tensor import Tensor, constant

# tapecli.parser.parse, which binds itself here when it loads: the parser builds
# Expressions, so an Expression cannot import it (see Expression.parse).
_parse = None


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
            hint = suggestion(name)
            if self._text[token.end_pos:token.end_pos + 1].isspace():  # x (y+1)
                hint += f"; to multiply, write {name}*(...)"
            raise self._error(token, f"unknown function {name!r}", hint)
        arity = FUNCTIONS[name][1]
        if len(args) not in (arity if isinstance(arity, tuple) else (arity,)):
            raise self._error(token, f"{name}() takes {arity_text(arity)}, got {len(args)}")
        return self._add(("call", name, *args))

    def operator(self, kind: str, args: list[int]) -> int:
        return self._add((kind, *args))

    def finish(self, root: int) -> Expression:
        variables = tuple(sorted(self._first_seen, key=self._first_seen.__getitem__))
        return Expression(self._text, tuple(self._nodes), root, variables)


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
        """The recorded tape of one evaluation and its backward pass (see tapecli.tape_listing)."""
        from .tape_listing import list_tape
        return list_tape(self, point, wrt)

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

    # -- formulas: derivatives as Expressions (tapecli.formula does the work) --
    @staticmethod
    def parse(text: str) -> Expression:
        """`tapecli.parse(text)`: how a formula's printed text becomes an Expression."""
        return _parse(text)

    def __str__(self) -> str:
        """The simplified formula: `str(parse("x*1 + 0"))` is 'x'."""
        from .formula import text
        return text(self)

    def latex(self) -> str:
        """The simplified formula as LaTeX math."""
        from .formula import latex
        return latex(self)

    def simplify(self) -> Expression:
        """The same function as a simplified Expression (constants folded, like terms
        gathered, x*x as x**2, ...; see the README, "Formulas")."""
        from .formula import simplify
        return simplify(self)

    def differentiate(self, wrt: str | Sequence[str]) -> Expression:
        """d^k f / d wrt[0] ... d wrt[k-1] as a new, simplified Expression (as sympy.diff):
        `f.differentiate("x")`, `f.differentiate(["x", "x", "y"])`."""
        from .formula import differentiate
        return differentiate(self, wrt)

    def gradient_formulas(self, wrt: Sequence[str] | None = None) -> list[Expression]:
        """[df/dx for x in wrt] as Expressions (default wrt: the variables)."""
        from .formula import gradient_formulas
        return gradient_formulas(self, wrt)

    def hessian_formulas(self, wrt: Sequence[str] | None = None) -> list[list[Expression]]:
        """The Hessian as rows of Expressions, d2f/dx_i dx_j."""
        from .formula import hessian_formulas
        return hessian_formulas(self, wrt)

    def jacobian_formulas(self, wrt: Sequence[str] | None = None) -> list[list[Expression]]:
        """The one-row Jacobian [[df/dx for x in wrt]] as Expressions."""
        from .formula import jacobian_formulas
        return jacobian_formulas([self], wrt)
