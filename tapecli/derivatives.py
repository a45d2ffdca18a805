"""Derivative drivers: value, gradient, Hessian, any mixed partial, Jacobian.

Each driver runs a *program*, a Python function: tensors for the variables in,
result tensors out, running the Expression's ops under GradientTapes (nested for
higher orders): no finite differences, no symbolic algebra. A program runs on
the tape directly or, the usual way, is captured once into a Graph
(tapecli.graph) and compiled into a plan (tapecli.plan) that replays the very
same ops for every later point. A point maps names to floats
or arrays; they are broadcast together, so a batch of N rows is one call.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .language import check_variable_name
from .plan import NotCompilable, Plan, compile_program
from .tape import GradientTape, shared_subexpressions
from .tensor import Tensor, constant

if TYPE_CHECKING:  # annotations only: expression imports the drivers, not the reverse
    from .expression import Expression

ZERO = "zero"
Program = Callable[[list[Tensor]], list[Tensor]]
_settings = threading.local()  # per thread: `tape_only` in one thread leaves others alone


@contextlib.contextmanager
def tape_only():
    """Run every driver on the tape itself, op by op (for tracing and diagnosis)."""
    previous = getattr(_settings, "tape_only", False)
    _settings.tape_only = True
    try:
        yield
    finally:
        _settings.tape_only = previous


# ---- programs: what each driver computes, as tape code ---------------------------
def _value_program(exprs: tuple[Expression, ...], names: tuple[str, ...], wrt) -> Program:
    def program(xs):
        env = dict(zip(names, xs))
        return [e(env) for e in exprs]
    return program


def _hessian_program(exprs, names, wrt) -> Program:
    def program(xs):
        env = dict(zip(names, xs))
        sources = [env[n] for n in wrt]
        with GradientTape(persistent=True) as outer:
            outer.watch(sources)
            with GradientTape() as inner:
                inner.watch(sources)
                f = exprs[0](env)
            grads = inner.gradient(f, sources, unconnected_gradients=ZERO)
        # The Hessian is symmetric: sweep i needs only the entries (i, j >= i), and
        # mirroring them makes the result exactly symmetric too.
        upper = [outer.gradient(g, sources[i:], unconnected_gradients=ZERO)
                 for i, g in enumerate(grads)]
        n = len(sources)
        hess = [upper[i][j - i] if j >= i else upper[j][i - j]
                for i in range(n) for j in range(n)]
        return [f, *grads, *hess]
    return program


def _derivative_program(exprs, names, wrt) -> Program:
    def program(xs):
        env = dict(zip(names, xs))
        # tapes[k] takes the (k+1)-th derivative, so it must enclose tapes[:k].
        tapes = [GradientTape() for _ in wrt]
        entered = []
        try:
            for tape, name in zip(reversed(tapes), reversed(wrt)):
                tape.__enter__()
                entered.append(tape)
                tape.watch(env[name])
            f = d = exprs[0](env)
            for tape, name in zip(tapes, wrt):
                tape.__exit__(None, None, None)
                entered.remove(tape)
                d = tape.gradient(d, env[name], unconnected_gradients=ZERO)
        finally:
            for tape in reversed(entered):
                tape.__exit__(None, None, None)
        return [f, d]
    return program


def _jacobian_program(exprs, names, wrt) -> Program:
    def program(xs):
        env = dict(zip(names, xs))
        sources = [env[n] for n in wrt]
        with GradientTape(persistent=True) as tape:
            tape.watch(sources)
            values = [e(env) for e in exprs]
        rows = [tape.gradient(f, sources, unconnected_gradients=ZERO) for f in values]
        return [*values, *(g for row in rows for g in row)]
    return program


# The gradient of one expression is its one-row Jacobian: [f, df/dx1, ..., df/dxn].
_gradient_program = _jacobian_program


# ---- running a program at a point ---------------------------------------------------
class _Driver:
    """One program for given expressions and wrt: its input names and, once it
    has been worth it, its compiled plan."""

    def __init__(self, make: Callable, exprs: tuple, wrt: tuple):
        self.make, self.exprs, self.wrt = make, exprs, wrt
        self.variables = tuple(dict.fromkeys(v for e in exprs for v in e.variables))
        self.names = self.variables + tuple(n for n in dict.fromkeys(wrt)
                                            if n not in self.variables)
        self.tape_runs = 0
        self._plan: Plan | None | bool = False  # False: not compiled yet
        self._compiling = threading.Lock()  # threads of a batch may ask at once

    def plan(self, shape: tuple[int, ...]) -> Plan | None:
        # Compiling costs about two tape runs: a lone point (one CLI call) runs on
        # the tape; a batch, or a second point, compiles and replays.
        if self._plan is False and (shape or self.tape_runs):
            with self._compiling:
                if self._plan is False:
                    try:
                        self._plan = compile_program(self.program(), len(self.names))
                    except NotCompilable:
                        self._plan = None
        return self._plan or None

    def program(self) -> Program:
        body = self.make(self.exprs, self.names, self.wrt)

        def shared(xs):
            # The programs enter all their tapes before the first op, as
            # shared_subexpressions requires.
            with shared_subexpressions():
                return body(xs)
        return shared


@functools.lru_cache(maxsize=256)
def _driver(make: Callable, exprs: tuple, wrt: tuple) -> _Driver:
    return _Driver(make, exprs, wrt)


def _run(make: Callable, exprs: tuple[Expression, ...], point: Mapping, wrt: tuple[str, ...]
         ) -> np.ndarray:
    """The driver's outputs at `point`, stacked: shape (n_outputs, *point shape)."""
    driver = _driver(make, exprs, wrt)
    inputs, shape = _inputs(driver.variables, driver.names, point)
    plan = None if getattr(_settings, "tape_only", False) else driver.plan(shape)
    if plan is not None:
        return plan.run(inputs, shape)
    driver.tape_runs += 1
    with np.errstate(all="ignore"):
        outputs = driver.program()([constant(x) for x in inputs])
    return np.stack([np.broadcast_to(t.numpy(), shape) for t in outputs])


def _inputs(variables, names, point: Mapping) -> tuple[list, tuple[int, ...]]:
    """The point's values for `names`, broadcast together; missing wrt names are 0."""
    try:
        values = [point[n] if n in point or n in variables else 0.0 for n in names]
    except KeyError as e:
        raise DataError(f"variable {e.args[0]!r} has no value") from None
    if all(type(v) is float or type(v) is int for v in values):
        return [float(v) for v in values], ()  # one point: the fast path needs no arrays
    shape = np.shape(values[0])
    if all(type(v) is np.ndarray and v.dtype == np.float64 and v.shape == shape
           for v in values):
        return values, shape  # a batch of columns, as the CSV reader gives them
    arrays = [_as_float_array(n, v) for n, v in zip(names, values)]
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays))
        raise DataError(f"the point's arrays do not broadcast together: {shapes}") from None
    return arrays, (arrays[0].shape if arrays else ())


def _as_float_array(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = np.asarray(None)
    # Real numbers only: float64 would quietly make None nan and drop imaginary parts.
    if array.dtype.kind not in "biuf":
        raise DataError(f"the value of {name!r} is not a real number or an array of them: "
                        f"{value!r:.60}")
    return array.astype(np.float64, copy=False)


def _wrt_names(wrt: Sequence[str] | str | None, default: Sequence[str]) -> tuple[str, ...]:
    """The names to differentiate by: the default, one name, or a sequence of names."""
    if wrt is None:
        return tuple(default)
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in names:
        check_variable_name(name)  # `pi`, `sin` or `2x` would quietly give zeros
    return names


def _last(rows: np.ndarray, *matrix: int) -> np.ndarray:
    """Stacked outputs (k, *shape) as an array (*shape, k), or (*shape, *matrix)."""
    moved = rows.T if rows.ndim == 2 else np.moveaxis(rows, 0, -1)
    return moved.reshape(moved.shape[:-1] + matrix) if matrix else moved


# ---- the drivers ------------------------------------------------------------------------
def value(expr: Expression, point: Mapping) -> np.ndarray:
    """The expression's value at `point`, of the point's broadcast shape."""
    return _run(_value_program, (expr,), point, ())[0]


def gradient(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    """`(value, gradient)`, the gradient's last axis following `wrt`."""
    wrt = _wrt_names(wrt, expr.variables)
    out = _run(_gradient_program, (expr,), point, wrt)
    return out[0], _last(out[1:])


def hessian(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    """`(value, gradient, hessian)`: a reverse pass over the recorded gradient per row."""
    wrt = _wrt_names(wrt, expr.variables)
    n = len(wrt)
    out = _run(_hessian_program, (expr,), point, wrt)
    return out[0], _last(out[1:n + 1]), _last(out[n + 1:], n, n)


def derivative(expr: Expression, point: Mapping, wrt: Sequence[str]):
    """`(value, d^k f / d wrt[0] ... d wrt[k-1])`: one tape per differentiation, nested."""
    out = _run(_derivative_program, (expr,), point, _wrt_names(wrt, ()))
    return out[0], out[1]


def jacobian(expressions: Sequence[Expression], point: Mapping,
             wrt: Sequence[str] | None = None):
    """`(values, jacobian)` of several expressions: shapes (..., m) and (..., m, n)."""
    exprs = tuple(expressions)
    variables = tuple(dict.fromkeys(v for e in exprs for v in e.variables))
    wrt = _wrt_names(wrt, variables)
    m = len(exprs)
    out = _run(_jacobian_program, exprs, point, wrt)
    return _last(out[:m]), _last(out[m:], m, len(wrt))
