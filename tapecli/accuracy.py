"""Every printed digit right: a Job's results at one point, certified.

The contract (docs/accuracy.md): at one point each printed number is the float64
nearest its exact value, the value in real arithmetic at the doubles the tool read;
with `digits=N`, each is N significant digits, correctly rounded, the point read as
the exact reals it names.

Float64 first: the drivers' float64 results come as they always have. `exact_by_floats`
is the cheap check that vouches for them without any ball: when every op of the
program at the point is arithmetic that a few integer-and-exactness tests prove exact
(+ - * / on doubles whose result IEEE rounding did not touch), the float64 result *is*
the exact value and flint is never imported. Anything else (a transcendental function,
a rounded product, a Taylor-mode order) is recomputed in balls (tapecli.balls) at
rising precision until its rounding is certain. What stays undecided at the cap keeps
its float64 number and is reported (`Uncertain`), as the CLI's one warning line.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from .errors import DataError


class Uncertain(NamedTuple):
    """A result that could not be certified: its name and the digits that are certain."""

    name: str
    digits: int


# ---- which numbers a job's results are ---------------------------------------------------
def _entries(job):
    """[(key, index, balls.Entry)] for every number of the job's results at one point,
    in the order of its CSV columns."""
    from .balls import Entry
    from .commands import entry_shape

    many = len(job.expressions) if job.command.many else None
    out = []
    for key in job.keys:
        if key == "derivative":
            counts = tuple((n, job.sequence.count(n)) for n in dict.fromkeys(job.sequence))
            out.append((key, (), Entry(0, counts)))
            continue
        shape = entry_shape(key, job.variables, many)
        for index in np.ndindex(*shape):
            output = index[0] if many is not None else 0
            axes = index[1:] if many is not None else index
            names = [job.variables[a] for a in axes]
            counts = tuple((n, names.count(n)) for n in dict.fromkeys(names))
            out.append((key, index, Entry(output, counts)))
    return out


@functools.lru_cache(maxsize=64)
def _ball_graph(exprs: tuple, names: tuple):
    from .balls import BallGraph
    from .derivatives import value_program
    from .graph import capture

    return BallGraph(capture(value_program(exprs, names, ()), len(names), fold=False), names)


def _names(job) -> tuple[str, ...]:
    return job.inputs + tuple(n for n in dict.fromkeys(job.variables) if n not in job.inputs)


# ---- the cheap check: is the float64 answer already exact? -------------------------------
def _exact_op(name: str, args: Sequence[float], result: float) -> bool:
    """Whether `result`, the float64 of op `name` on `args`, is its exact real value."""
    if not math.isfinite(result) or not all(math.isfinite(a) for a in args):
        return False
    if name in ("add", "subtract"):
        a, b = args
        b = b if name == "add" else -b
        # Two-sum: the rounding error of a + b, exactly (Knuth).
        bv = result - a
        return (a - (result - bv)) + (b - bv) == 0.0
    if name == "square":
        return _exact_product(args[0], args[0], result)
    if name == "multiply":
        return _exact_product(args[0], args[1], result)
    if name == "divide":
        return args[1] != 0.0 and _exact_product(result, args[1], args[0])
    if name == "pow":
        a, b = args
        if not (b.is_integer() and 0 <= b <= 64):
            return False
        power = 1.0
        for _ in range(int(b)):
            product = power * a
            if not _exact_product(power, a, product):
                return False
            power = product
        return power == result
    return True


_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's constant for float64


def _exact_product(a: float, b: float, p: float) -> bool:
    """Whether a * b == p exactly in real arithmetic (Dekker's two-product: the
    rounding error of a * b is exactly representable, and computed here)."""
    if not (math.isfinite(p) and abs(a) < 1e290 and abs(b) < 1e290):
        return False
    if p == 0.0:
        return a == 0.0 or b == 0.0
    if abs(p) < 1e-290:
        return False  # subnormal products: the splitting below is not exact there
    ca, cb = _SPLIT * a, _SPLIT * b
    ah = ca - (ca - a)
    bh = cb - (cb - b)
    al, bl = a - ah, b - bh
    error = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return error == 0.0 and a * b == p


def exact_by_floats(job, point: Mapping[str, float]) -> bool:
    """Whether every number of the job at `point` is exact in float64: the job's
    derivatives are at most first order (higher ones come from other programs) and
    each op of the value and gradient program at the point is exact."""
    if any(key not in ("value", "gradient", "jacobian") for key in job.keys):
        return False
    from .graph import NotCompilable

    names = _names(job)
    try:
        graph = _program_graph(job.expressions, names, tuple(job.variables))
    except NotCompilable:
        return False
    values: dict[int, float] = {}
    xs = [float(point.get(n, 0.0)) for n in names]
    for node in graph.nodes:
        if node.input is not None:
            values[id(node)] = xs[node.input]
        elif node.value is not None:
            v = node.value.item()
            values[id(node)] = float(v)
        else:
            if not node.prim.exact:  # the row says (Primitive.exact)
                return False
            args = [values[id(a)] for a in node.args]
            result = float(node.prim.scalar(*args, **node.params)) if node.prim.scalar \
                else float(np.asarray(node.prim.forward(*args, **node.params)))
            if not _exact_op(node.prim.name, args, result):
                return False
            values[id(node)] = result
    return True


@functools.lru_cache(maxsize=64)
def _program_graph(exprs: tuple, names: tuple, wrt: tuple):
    """The gradient (Jacobian) program captured unfolded: constants folded by capture
    could hide an inexact operation on constants (1/3)."""
    from .derivatives import jacobian_program
    from .graph import capture
    from .tape import shared_subexpressions

    body = jacobian_program(exprs, names, wrt)

    def program(xs):
        with shared_subexpressions():
            return body(xs)
    return capture(program, len(names), fold=False)


# ---- certifying ----------------------------------------------------------------------------
def certify(job, point: Mapping[str, float], result: Mapping[str, np.ndarray],
            digits: int | None = None) -> tuple[dict[str, np.ndarray], list[Uncertain]]:
    """The job's results at one point, each the float64 nearest its exact value (or,
    with `digits`, a Decimal of that many significant digits); and the results that
    could not be certified (they keep their float64 number)."""
    if digits is None and exact_by_floats(job, point):
        return dict(result), []
    from .balls import evaluate

    names = _names(job)
    entries = _entries(job)
    xs = [float(point.get(n, 0.0)) for n in names]
    graph = _ball_graph(job.expressions, names)
    certified = evaluate(graph, xs, [e for _, _, e in entries], digits=digits,
                         exact_reals=digits is not None)
    out = {key: np.array(result[key], dtype=object if digits else np.float64, copy=True)
           for key in job.keys}
    uncertain = []
    labels = [name for key in job.keys for name in job.key_names(key)]
    for label, (key, index, _), c in zip(labels, entries, certified):
        current = out[key][index] if index else out[key][()]
        floated = float(current)
        if c.number is not None:
            number = c.number
        elif digits is None and not math.isfinite(floated):
            continue  # inf and nan are the float64 tape's own report (tapecli.domain)
        else:
            uncertain.append(Uncertain(label, min(c.digits, 17)))
            number = floated if digits is None else _decimal(floated, digits)
        if index:
            out[key][index] = number
        else:
            out[key] = np.array(number, dtype=object if digits else np.float64)
    return out, uncertain


def _decimal(x: float, digits: int) -> Decimal:
    if not math.isfinite(x):
        return Decimal(repr(x).replace("inf", "Infinity"))
    return Decimal(f"{x:.{digits - 1}e}")


def describe(uncertain: Sequence[Uncertain]) -> str:
    """The warning line's text: `d5f/dx^5 is certain to 6 digits only`."""
    parts = [f"{u.name} is certain to {u.digits} digit{'s' if u.digits != 1 else ''}"
             for u in uncertain]
    return "; ".join(parts) + " only"


def strict_error(uncertain: Sequence[Uncertain]) -> DataError:
    return DataError(describe(uncertain) + " (--strict)")
