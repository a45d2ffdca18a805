"""Check a function's derivatives, of any order, against central finite differences.

The idea of HIPS/autograd's `check_grads`: rather than building whole Jacobians,
pick a random direction `v` for the inputs and a random projection `u` for the
outputs, and compare two numbers that must agree,

    exact   = < v, VJP(u) >                 (one backward pass on the tape)
    numeric = < u, (f(x + eps v) - f(x - eps v)) / (2 eps) >   (numpy only)

For order 2 the VJP itself, `(x, u) -> J(x)^T u`, is a function built from
tapecli ops, so the same check applies to it: that compares the VJP of the VJP
(what an outer tape computes) with central differences of first derivatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import tapecli as tf

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


def check_grads(f: Callable, *args, order: int = 2, seed: int = 0, eps: float = EPS,
                rtol: float = RTOL, atol: float = ATOL) -> None:
    """Assert that f's VJPs up to `order` agree with central differences at `args`.

    `f` takes tapecli tensors (one per arg) and returns a tensor or a tuple of
    tensors; `args` are floats or float arrays (static parameters such as an
    axis or an index belong in a closure). Raises AssertionError on mismatch.
    """
    rng = np.random.default_rng(seed)
    points = tuple(np.array(a, dtype=np.float64) for a in args)
    _check_grads(f, points, order, rng, eps, rtol, atol, level=1)


def _check_grads(f, points, order, rng, eps, rtol, atol, level):
    if order == 0:
        return
    _check_vjp(f, points, rng, eps, rtol, atol, level)
    if order == 1:
        return
    projection = tuple(rng.standard_normal(y.shape) for y in evaluate(f, points))
    n = len(points)

    def f_vjp(*inputs):
        return vjp(f, inputs[:n], inputs[n:])

    _check_grads(f_vjp, points + projection, order - 1, rng, eps, rtol, atol, level + 1)


def _check_vjp(f, points, rng, eps, rtol, atol, level):
    outputs = evaluate(f, points)
    u = tuple(rng.standard_normal(y.shape) for y in outputs)
    v = tuple(rng.standard_normal(x.shape) for x in points)
    grads = vjp(f, [tf.constant(x) for x in points], [tf.constant(ui) for ui in u])
    for g, x in zip(grads, points):
        assert g.shape == x.shape, f"gradient of shape {g.shape} for an input of shape {x.shape}"
    exact = sum(float(np.sum(g.numpy() * vi)) for g, vi in zip(grads, v))

    plus = evaluate(f, tuple(x + eps * vi for x, vi in zip(points, v)))
    minus = evaluate(f, tuple(x - eps * vi for x, vi in zip(points, v)))
    numeric = sum(float(np.sum(ui * (p - m))) / (2 * eps) for ui, p, m in zip(u, plus, minus))

    scale = max(abs(exact), abs(numeric))
    assert np.isfinite(exact) and abs(exact - numeric) <= atol + rtol * scale, (
        f"order-{level} VJP disagrees with central differences: "
        f"exact {exact!r}, numeric {numeric!r} at {points!r}")


def vjp(f: Callable, inputs: Sequence, cotangents: Sequence) -> tuple:
    """J(inputs)^T cotangents, one tensor per input, computed on a tape.

    The result is built from tapecli ops, so an enclosing tape can
    differentiate it again with respect to both inputs and cotangents.
    """
    inputs = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = _as_tuple(f(*inputs))
    grads = tape.gradient(list(outputs), inputs, output_gradients=list(cotangents),
                          unconnected_gradients="zero")
    return tuple(grads)


def evaluate(f: Callable, points: Sequence) -> tuple[np.ndarray, ...]:
    """f's outputs as numpy arrays, computed off any tape."""
    return tuple(np.asarray(y.numpy(), dtype=np.float64)
                 for y in _as_tuple(f(*(tf.constant(x) for x in points))))


def _as_tuple(result) -> tuple:
    return tuple(result) if isinstance(result, (list, tuple)) else (result,)
