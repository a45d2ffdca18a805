"""The expression language's vocabulary: constants, functions, operators and names.

One home for what the words of EXPRESSIONS.md mean: the builder of a parse
(tapecli.expression) looks names up here, the drivers and the CLI check
variable names here, and a printer (formulas, the tape listing) reads the
operators' precedence ladder here. The words themselves are columns of the
rows of tapecli.ops (`language`, `arity`, `aliases`, `operator`): adding a
function to the language is its row there, and nothing here.
"""

from __future__ import annotations

import math
import re

from . import ops
from .errors import UsageError
from .primitive import Primitive

CONSTANTS = {"pi": math.pi, "e": math.e}

# The words and operators of EXPRESSIONS.md, read off the rows of tapecli.ops.
# name -> the row of the language's function of that name.
PRIMITIVES: dict[str, Primitive] = {p.language: p for p in ops.PRIMITIVES if p.language}

# name -> (what a call runs, number of arguments: a count or a tuple of counts).
FUNCTIONS: dict[str, tuple] = {name: (p.call, p.arity) for name, p in PRIMITIVES.items()}

# Names other tools use for our functions, too far apart for difflib to see.
ALIASES = {alias: p.language for p in PRIMITIVES.values() for alias in p.aliases}

# The grammar's operators (its `->` aliases) and the primitives they call.
OPERATORS = {p.operator: p for p in ops.PRIMITIVES if p.operator}


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
