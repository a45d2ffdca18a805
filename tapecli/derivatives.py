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
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError, UsageError
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
def _setting_on(name: str):
    """Turn a per-thread setting on for a `with` block, restoring it after."""
    previous = getattr(_settings, name, False)
    setattr(_settings, name, True)
    try:
        yield
    finally:
        setattr(_settings, name, previous)


def tape_only():
    """Run every driver on the tape itself, op by op (for tracing and diagnosis)."""
    return _setting_on("tape_only")


# ---- programs: what each driver computes, as tape code ---------------------------
# Public: a reader of the recorded graph (formulas) captures the very program a
# driver runs, with `recorded_graph(program, exprs, wrt)`.
def value_program(exprs: tuple[Expression, ...], names: tuple[str, ...], wrt) -> Program:
    def program(xs):
        env = dict(zip(names, xs))
        return [e(env) for e in exprs]
    return program


def hessian_program(exprs, names, wrt) -> Program:
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


def derivative_program(exprs, names, wrt) -> Program:
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


def jacobian_program(exprs, names, wrt) -> Program:
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
gradient_program = jacobian_program


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


def recorded_graph(make: Callable, exprs: Sequence[Expression], wrt: Sequence[str]):
    """`(graph, names)`: a driver's program captured once (tapecli.graph), and the
    variable name of each graph input, for readers of the graph such as formulas."""
    from .graph import capture

    driver = _driver(make, tuple(exprs), tuple(wrt))
    return capture(driver.program(), len(driver.names)), driver.names


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


def point_for(variables: Sequence[str], given: Mapping[str, float]) -> dict[str, float]:
    """The variables with their given values (others are ignored, like extra CSV
    columns); a missing one is an error that says how to give it."""
    missing = [name for name in variables if name not in given]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        example = ",".join(f"{n}=VALUE" for n in missing)
        which = "variable" if len(missing) == 1 else "variables"
        raise DataError(f"{which} {names} {'has' if len(missing) == 1 else 'have'} no value: "
                        f"give {'it' if len(missing) == 1 else 'them'} with --at {example}")
    return {name: given[name] for name in variables}


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
    for name in dict.fromkeys(names):  # an order-100 derivative names x 100 times
        check_variable_name(name)  # `pi`, `sin` or `2x` would quietly give zeros
    return names


def _last(rows: np.ndarray, *matrix: int) -> np.ndarray:
    """Stacked outputs (k, *shape) as an array (*shape, k), or (*shape, *matrix)."""
    moved = rows.T if rows.ndim == 2 else np.moveaxis(rows, 0, -1)
    return moved.reshape(moved.shape[:-1] + matrix) if matrix else moved


# ---- the drivers ------------------------------------------------------------------------
# Certified results (N digits, or the float64 nearest the exact value) at one point:
# tapecli.accuracy.at_point, which calls these drivers; they stay the plain float64 pass.
def value(expr: Expression, point: Mapping) -> np.ndarray:
    """The expression's value at `point`, of the point's broadcast shape."""
    return _run(value_program, (expr,), point, ())[0]


def gradient(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    """`(value, gradient)`, the gradient's last axis following `wrt`."""
    wrt = _wrt_names(wrt, expr.variables)
    out = _run(gradient_program, (expr,), point, wrt)
    return out[0], _last(out[1:])


def hessian(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    """`(value, gradient, hessian)`: a reverse pass over the recorded gradient per row."""
    wrt = _wrt_names(wrt, expr.variables)
    n = len(wrt)
    out = _run(hessian_program, (expr,), point, wrt)
    return out[0], _last(out[1:n + 1]), _last(out[n + 1:], n, n)


def derivative(expr: Expression, point: Mapping, wrt: Sequence[str], order: int | None = None):
    """`(value, d^k f / d wrt[0] ... d wrt[k-1])`: one tape per differentiation,
    nested, for k < TAYLOR_FROM; one Taylor-mode pass for higher orders. With
    `order` N, `wrt` is one name and the result is d^N f / d wrt^N."""
    wrt = _wrt_names(wrt, ())
    if order is not None:
        order = _order(order, 1)
        if len(wrt) != 1:
            raise UsageError("an order repeats a single variable: give one wrt name")
        if order >= TAYLOR_FROM:
            return _univariate(expr, point, wrt[0], order)
        wrt = wrt * order  # the nested tapes: one per differentiation
    if len(wrt) >= TAYLOR_FROM:
        return _derivative_taylor(expr, point, wrt)
    out = _run(derivative_program, (expr,), point, wrt)
    return out[0], out[1]


def jacobian(expressions: Sequence[Expression], point: Mapping,
             wrt: Sequence[str] | None = None):
    """`(values, jacobian)` of several expressions: shapes (..., m) and (..., m, n)."""
    exprs = tuple(expressions)
    variables = tuple(dict.fromkeys(v for e in exprs for v in e.variables))
    wrt = _wrt_names(wrt, variables)
    m = len(exprs)
    out = _run(jacobian_program, exprs, point, wrt)
    return _last(out[:m]), _last(out[m:], m, len(wrt))


# ---- Taylor mode (tapecli.taylor): high orders in one forward pass ----------------------
# From this order on, a derivative is taken by Taylor mode: nested reverse mode
# doubles its work with every order, Taylor mode grows like the order squared.
# Below it the reverse-mode plans are as fast and give exactly what `hessian` gives.
TAYLOR_FROM = 3


@functools.lru_cache(maxsize=256)
def _propagator(exprs: tuple[Expression, ...], names: tuple[str, ...]):
    """The value program of `exprs`, captured once and laid out for Taylor mode."""
    from .graph import capture
    from .taylor import Propagator

    return Propagator(capture(value_program(exprs, names, ()), len(names)))


def _series_inputs(expr: Expression, point: Mapping, names: tuple[str, ...],
                   slopes: Mapping[str, np.ndarray]):
    """Input series over flattened rows: (2, rows[, D]) along a slope (AlongLanes for rows
    and D lanes), (1, rows[, D]) off it.
    Returns (inputs, point shape, rows)."""
    values, shape = _inputs(expr.variables, names, point)
    rows = math.prod(shape)
    lead = (rows,) if shape else ()  # a single point keeps 1-d series: the fastest path
    width = {np.ndim(s) for s in slopes.values()}
    lanes = () if not width or width == {0} else (len(next(iter(slopes.values()))),)
    if not lead and not lanes:  # one point along one direction: small arrays, built fast
        return [np.array((value, float(slopes[name])) if name in slopes else (value,),
                         dtype=np.float64) for name, value in zip(names, values)], shape, rows
    inputs = []
    for name, value in zip(names, values):
        x0 = np.asarray(value, dtype=np.float64).reshape(lead + (1,) * len(lanes))
        if name in slopes and lead and lanes:  # built chunk by chunk
            from .taylor import AlongLanes

            inputs.append(AlongLanes(x0, np.asarray(slopes[name], dtype=np.float64)))
        elif name in slopes:
            slope = np.broadcast_to(np.asarray(slopes[name], dtype=np.float64), lead + lanes)
            inputs.append(np.stack([np.broadcast_to(x0, lead + lanes), slope]))
        else:
            inputs.append(x0[None])
    return inputs, shape, rows


def _run_series(expr: Expression, point: Mapping, names: tuple[str, ...],
                slopes: Mapping, order: int, keep=None, weights=None, columns=None
                ) -> tuple[np.ndarray, tuple]:
    """The output's Taylor coefficients along `slopes`: (len(keep), rows[, D]), and the
    shape; with `weights` (and `columns`), the lanes combined as run_rows does."""
    from .taylor import run_rows

    shrink = getattr(_settings, "shrunk", False)
    if shrink:
        slopes = {name: np.asarray(slope) * 0.75 for name, slope in slopes.items()}
    inputs, shape, rows = _series_inputs(expr, point, names, slopes)
    serial = getattr(_settings, "tape_only", False)  # op by op, in this thread
    out = run_rows(_propagator((expr,), names), inputs, order, rows, keep, parallel=not serial,
                   weights=weights, columns=columns)
    if shrink:  # combining lanes is linear: coefficient k of every lane scales by 0.75**k
        kept = range(order + 1) if keep is None else keep
        scales = [(4.0 / 3.0) ** k for k in kept]
        with np.errstate(all="ignore"):
            if isinstance(out[0], list):  # combined lanes: one array per kept coefficient
                out[0] = [a * f for a, f in zip(out[0], scales)]
            else:
                out[0] = out[0] * np.array(scales).reshape((-1,) + (1,) * (out[0].ndim - 1))
    return out[0], shape


def shrunk_steps():
    """Run Taylor mode along 3/4 of its usual directions (scaled back after): the
    same derivatives through other roundings, the error estimate of batches."""
    return _setting_on("shrunk")


def _names_for(expr: Expression, wrt: Sequence[str]) -> tuple[str, ...]:
    return expr.variables + tuple(n for n in dict.fromkeys(wrt) if n not in expr.variables)


def taylor(expr: Expression, point: Mapping, direction: Mapping[str, float], order: int
           ) -> np.ndarray:
    """Normalized Taylor coefficients c_0..c_order of t -> f(point + t*direction),
    shape (order+1, *point shape): the k-th derivative along `direction` is k! c_k."""
    order = _order(order, 0)
    names = _names_for(expr, _wrt_names(tuple(direction), ()))
    coefficients, shape = _run_series(expr, point, names, dict(direction), order)
    return coefficients.reshape((order + 1,) + shape)


def _order(order, least: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < least:
        raise UsageError(f"the order must be an integer >= {least}, got {order!r}")
    return int(order)


_EXACT_STEP_ORDERS = 1000  # up to this order the pass's step is an exact power of two


def _univariate(expr: Expression, point: Mapping, name: str, n: int):
    """(value, d^n f / d name^n): one Taylor pass of order n along `name`."""
    names = _names_for(expr, (name,))
    # Coefficient n is f^(n) / n!: for high n an entire function's coefficients
    # underflow. So the pass runs along 2**s (a power of two: exact) with
    # n! / 2**(s n) near 2**500: then the scaled coefficient f^(n) / 2**500 is a
    # normal float for any |f^(n)| from 1e-157 up to float64's largest.
    log2_factorial = math.lgamma(n + 1) / math.log(2)
    if n <= _EXACT_STEP_ORDERS:
        s = max(0, round((log2_factorial - 500) / n))
        step = math.ldexp(1.0, s)
    else:
        # Beyond, the rounding of s moves 2**(s n) by up to 2**(n/2): out of float64's
        # range. A step 2**((log2 n! - 500) / n) that is not a power of two keeps the
        # coefficient near f^(n) / 2**500; its own rounding costs about n ulps
        # (a relative 1e-10 at order 10**6), which the estimate and the balls see.
        step = 2.0 ** max(0.0, (log2_factorial - 500) / n)
    out, shape = _run_series(expr, point, names, {name: step}, n, keep=(0, n))
    # d = coefficient * n! / step**n, as a power of two times a factor near 1:
    # never an OverflowError, inf only where the derivative itself is out of range.
    exponent = log2_factorial - n * math.log2(step)
    whole = math.floor(exponent)
    factor = 2.0 ** (exponent - whole)
    if n <= _EXACT_STEP_ORDERS:  # n! / 2**(s n) to 60 bits, as exactly as float64 can
        factorial = math.factorial(n)
        shift = max(factorial.bit_length() - 60, 0)
        whole = shift - s * n
        factor = float(factorial >> shift)
    with np.errstate(all="ignore"):
        d = np.ldexp(out[1] * factor, whole)
    return out[0].reshape(shape), d.reshape(shape)


def _mixed(expr: Expression, point: Mapping, wrt: tuple[str, ...]):
    """(value, one mixed partial of order len(wrt)) from passes along integer
    directions over the distinct names in `wrt` (tapecli.taylor.one_partial)."""
    from .taylor import one_partial

    distinct = tuple(dict.fromkeys(wrt))
    d = len(wrt)
    directions, row = one_partial(tuple(wrt.count(v) for v in distinct))
    names = _names_for(expr, distinct)
    slopes = {v: directions[:, i] for i, v in enumerate(distinct)}
    out, shape = _run_series(expr, point, names, slopes, d, keep=(0, d))
    with np.errstate(all="ignore"):
        partial = out[1] @ row
    return out[0][..., 0].reshape(shape), partial.reshape(shape)


def _derivative_taylor(expr: Expression, point: Mapping, wrt: tuple[str, ...]):
    if len(set(wrt)) == 1:
        return _univariate(expr, point, wrt[0], len(wrt))
    return _mixed(expr, point, wrt)


def derivative_tensors(expr: Expression, point: Mapping, order: int,
                       wrt: Sequence[str] | None = None) -> list[np.ndarray]:
    """[value, gradient, Hessian, d3f, ..., dKf] for K = `order`: tensor k has shape
    (*point shape, n, ..., n), k axes following `wrt`. Orders up to 2 come from the
    reverse-mode Hessian (exactly what `hessian` gives), orders 3..K from one
    Taylor pass along every integer direction s with |s| <= K, combined with
    integer weights (tapecli.taylor.polarization), so each tensor is exactly
    symmetric and a polynomial's entries are right to rounding."""
    from .taylor import multi_indices, polarization

    order = _order(order, 0)
    wrt = _wrt_names(wrt, expr.variables)
    n = len(wrt)
    if order <= 1:
        return [value(expr, point)] if order == 0 else list(gradient(expr, point, wrt))
    results = list(hessian(expr, point, wrt))
    if order < TAYLOR_FROM:
        return results
    shape = results[0].shape
    if n == 0:
        return results + [np.zeros(shape + (0,) * k) for k in range(TAYLOR_FROM, order + 1)]
    directions, weights = polarization(n, order)
    names = _names_for(expr, wrt)
    slopes = {v: directions[:, i] for i, v in enumerate(wrt)}
    orders = range(TAYLOR_FROM, order + 1)
    # Entry (i, j, ...) of tensor k is partial multi_indices(n, k).index(its counts).
    columns = []
    for k in orders:
        position = {j: p for p, j in enumerate(multi_indices(n, k))}
        columns.append([position[tuple(entry.count(v) for v in range(n))]
                        for entry in np.ndindex(*(n,) * k)])
    # Each order's partials, combined from the lanes and laid out chunk by chunk.
    out, _ = _run_series(expr, point, names, slopes, order, keep=orders,
                         weights=[weights[k - 1].T for k in orders], columns=columns)
    return results + [t.reshape(shape + (n,) * k) for k, t in zip(orders, out)]

