"""Derivative drivers: value, gradient, Hessian, any mixed partial, Jacobian.

Every one of them runs an Expression's ops under GradientTapes, nested for
higher orders: no finite differences, no symbolic algebra. A point maps names to
floats or arrays; they are broadcast together, so a batch of N rows is one call
and one pass over the tape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import DataError
from .expression import Expression
from .tape import GradientTape
from .tensor import Tensor, constant

ZERO = "zero"


def _point_tensors(variables: Sequence[str], point: Mapping, wrt: Sequence[str] = ()
                   ) -> tuple[dict[str, Tensor], tuple[int, ...]]:
    """One float64 tensor per variable, all of the point's broadcast shape."""
    for name in variables:
        if name not in point:
            raise DataError(f"variable {name!r} has no value")
    names = list(dict.fromkeys([*variables, *(n for n in wrt if n in point)]))
    try:
        arrays = np.broadcast_arrays(*(np.asarray(point[n], dtype=np.float64) for n in names))
    except ValueError as e:
        raise DataError(f"the point's arrays do not broadcast together: {e}") from None
    except TypeError as e:
        raise DataError(f"a point value is not a number: {e}") from None
    shape = arrays[0].shape if arrays else ()
    env = {n: constant(a) for n, a in zip(names, arrays)}
    for n in wrt:  # a variable the expression lacks: its derivatives are zero
        env.setdefault(n, constant(np.zeros(shape)))
    return env, shape


def _full(value: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    # A constant expression still gives one value per row of the batch.
    return np.broadcast_to(value.numpy(), shape).copy() if value.shape != shape else value.numpy()


def value(expr: Expression, point: Mapping) -> np.ndarray:
    env, shape = _point_tensors(expr.variables, point)
    with np.errstate(all="ignore"):
        return _full(expr(env), shape)


def gradient(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    wrt = list(expr.variables if wrt is None else wrt)
    env, shape = _point_tensors(expr.variables, point, wrt)
    sources = [env[n] for n in wrt]
    with np.errstate(all="ignore"):
        with GradientTape() as tape:
            tape.watch(sources)
            f = expr(env)
        grads = tape.gradient(f, sources, unconnected_gradients=ZERO)
    return _full(f, shape), _stack([_full(g, shape) for g in grads], shape)


def hessian(expr: Expression, point: Mapping, wrt: Sequence[str] | None = None):
    wrt = list(expr.variables if wrt is None else wrt)
    env, shape = _point_tensors(expr.variables, point, wrt)
    sources = [env[n] for n in wrt]
    with np.errstate(all="ignore"):
        with GradientTape(persistent=True) as outer:
            outer.watch(sources)
            with GradientTape() as inner:
                inner.watch(sources)
                f = expr(env)
            grads = inner.gradient(f, sources, unconnected_gradients=ZERO)
        rows = [outer.gradient(g, sources, unconnected_gradients=ZERO) for g in grads]
    hess = np.stack([_stack([_full(h, shape) for h in row], shape) for row in rows], axis=-2) \
        if wrt else np.zeros(shape + (0, 0))
    return _full(f, shape), _stack([_full(g, shape) for g in grads], shape), hess


def derivative(expr: Expression, point: Mapping, wrt: Sequence[str]):
    """d^k f / d wrt[0] d wrt[1] ... : one tape per differentiation, nested."""
    wrt = list(wrt)
    env, shape = _point_tensors(expr.variables, point, wrt)
    # tapes[k] takes the (k+1)-th derivative, so it must enclose tapes[:k].
    tapes = [GradientTape() for _ in wrt]
    with np.errstate(all="ignore"):
        entered = []
        try:
            for tape, name in zip(reversed(tapes), reversed(wrt)):
                tape.__enter__()
                entered.append(tape)
                tape.watch(env[name])
            f = d = expr(env)
            for tape, name in zip(tapes, wrt):
                tape.__exit__(None, None, None)
                entered.remove(tape)
                d = tape.gradient(d, env[name], unconnected_gradients=ZERO)
        finally:
            for tape in reversed(entered):
                tape.__exit__(None, None, None)
    return _full(f, shape), _full(d, shape)


def jacobian(expressions: Sequence[Expression], point: Mapping,
             wrt: Sequence[str] | None = None):
    """`(values, jacobian)` of several expressions: shapes (..., m) and (..., m, n)."""
    variables = list(dict.fromkeys(v for e in expressions for v in e.variables))
    wrt = variables if wrt is None else list(wrt)
    env, shape = _point_tensors(variables, point, wrt)
    sources = [env[n] for n in wrt]
    with np.errstate(all="ignore"):
        with GradientTape(persistent=True) as tape:
            tape.watch(sources)
            values = [e(env) for e in expressions]
        rows = [tape.gradient(f, sources, unconnected_gradients=ZERO) for f in values]
    jac = np.stack([_stack([_full(g, shape) for g in row], shape) for row in rows], axis=-2) \
        if expressions else np.zeros(shape + (0, len(wrt)))
    return _stack([_full(v, shape) for v in values], shape), jac


def _stack(arrays: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    return np.stack(arrays, axis=-1) if arrays else np.zeros(shape + (0,))
