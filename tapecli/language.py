"""The expression language's vocabulary: constants, functions, operators and names.

One home for what the words of EXPRESSIONS.md mean: the builder of a parse
(tapecli.expression) looks names up here, the drivers and the CLI check
variable names here, and a printer (formulas, the tape listing) reads the
operators' precedence ladder here. Adding a function to the language is its
row in tapecli.ops plus its name in FUNCTIONS.
"""

from __future__ import annotations

import math
import re

from . import ops
from .errors import UsageError

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
    # What formulas of the kinks' derivatives need (README, "Formulas").
    "heaviside": (ops.heaviside, 1),
    "ifzero": (ops.ifzero, 3),
}

# Names other tools use for our functions, too far apart for difflib to see.
ALIASES = {"ln": "log", "sgn": "sign", "arcsin": "asin", "arccos": "acos",
           "arctan": "atan", "arctan2": "atan2"}

# The grammar's operators (its `->` aliases) and the primitives they call.
OPERATORS = {"add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "div": ops.divide,
             "pow": ops.pow, "neg": ops.negative}


class Operator:
    """How a printer writes an operator: its symbol, its rung on the precedence
    ladder (higher binds tighter) and its associativity."""

    __slots__ = ("symbol", "precedence", "associativity")

    def __init__(self, symbol: str, precedence: int, associativity: str):
        self.symbol, self.precedence, self.associativity = symbol, precedence, associativity


# EXPRESSIONS.md, loosest first: + -, then * /, then unary -, then ** (right).
# `-x**2` is -(x**2); a function call or an atom binds tightest (ATOM).
PRECEDENCE = {
    "add": Operator("+", 1, "left"),
    "sub": Operator("-", 1, "left"),
    "mul": Operator("*", 2, "left"),
    "div": Operator("/", 2, "left"),
    "neg": Operator("-", 3, "prefix"),
    "pow": Operator("**", 4, "right"),
}
ATOM = 5

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


def arity_text(arity) -> str:
    """'1 argument', '2 arguments', '1 or 2 arguments'."""
    counts = arity if isinstance(arity, tuple) else (arity,)
    words = " or ".join(str(n) for n in counts)
    return f"{words} argument" + ("" if counts == (1,) else "s")


def suggestion(name: str) -> str:
    """'did you mean sin?' for a near miss, else the list of functions."""
    import difflib  # only errors need it

    near = ALIASES.get(name.lower()) or next(
        iter(difflib.get_close_matches(name.lower(), FUNCTIONS, n=1, cutoff=0.6)), None)
    if near:
        return f"did you mean {near}?"
    return "known functions: " + " ".join(sorted(FUNCTIONS))
