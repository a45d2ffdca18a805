"""Every primitive's first and second derivatives against central differences.

Hypothesis draws the points (inside each function's domain, away from its
kinks) and the shapes (scalars, batches, and pairs that broadcast); the
checker in gradcheck.py compares VJPs and VJPs of VJPs with finite differences
through random projections.
"""

import numpy as np
import pytest
from gradcheck import check_grads
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tapecli as tf

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
SHAPES = [(), (1,), (4,), (2, 3)]
# Pairs of shapes that broadcast together, including size-1 axes on either side.
BROADCAST_SHAPES = [((), ()), ((3,), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                    ((2, 3), (2, 3)), ((4, 1, 3), (2, 1))]
seeds = st.integers(0, 2**32 - 1)


def reals(lo: float, hi: float, avoid: tuple = (), margin: float = 0.05):
    """Floats in [lo, hi], at least `margin` away from each point of `avoid` (the kinks)."""
    return st.floats(lo, hi).filter(lambda v: all(abs(v - k) > margin for k in avoid))


def points(shape, elements):
    return arrays(np.float64, shape, elements=elements)


# ---- one-argument functions of EXPRESSIONS.md (and square) ------------------------
# name -> (function, domain lo, domain hi, kinks to keep away from)
UNARY = {
    "sin": (tf.sin, -3, 3, ()),
    "cos": (tf.cos, -3, 3, ()),
    "tan": (tf.tan, -1.2, 1.2, ()),
    "asin": (tf.asin, -0.9, 0.9, ()),
    "acos": (tf.acos, -0.9, 0.9, ()),
    "atan": (tf.atan, -3, 3, ()),
    "sinh": (tf.sinh, -3, 3, ()),
    "cosh": (tf.cosh, -3, 3, ()),
    "tanh": (tf.tanh, -3, 3, ()),
    "asinh": (tf.asinh, -3, 3, ()),
    "acosh": (tf.acosh, 1.1, 4, ()),
    "atanh": (tf.atanh, -0.9, 0.9, ()),
    "exp": (tf.exp, -3, 3, ()),
    "expm1": (tf.expm1, -3, 3, ()),
    "log": (tf.math.log, 0.1, 5, ()),
    "log2": (tf.log2, 0.1, 5, ()),
    "log10": (tf.log10, 0.1, 5, ()),
    "log1p": (tf.math.log1p, -0.9, 5, ()),
    "sqrt": (tf.sqrt, 0.1, 5, ()),
    "cbrt": (tf.cbrt, -5, 5, (0.0,)),
    "abs": (tf.abs, -3, 3, (0.0,)),
    "sign": (tf.sign, -3, 3, (0.0,)),
    "sigmoid": (tf.sigmoid, -6, 6, ()),
    "softplus": (tf.nn.softplus, -6, 6, ()),
    "relu": (tf.nn.relu, -3, 3, (0.0,)),
    "square": (tf.square, -3, 3, ()),
    "negative": (tf.negative, -3, 3, ()),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data(), shape=st.sampled_from(SHAPES), seed=seeds)
def test_unary(name, data, shape, seed):
    f, lo, hi, kinks = UNARY[name]
    x = data.draw(points(shape, reals(lo, hi, kinks)))
    check_grads(f, x, seed=seed)


def test_unary_table_covers_every_one_argument_function_of_the_language():
    language = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
                "acosh", "atanh", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt",
                "cbrt", "abs", "sign", "sigmoid", "softplus", "relu"]
    assert set(language) <= set(UNARY)


# ---- two-argument functions, with broadcasting ------------------------------------
# name -> (function, elements of the first argument, elements of the second)
BINARY = {
    "add": (tf.add, reals(-3, 3), reals(-3, 3)),
    "subtract": (tf.subtract, reals(-3, 3), reals(-3, 3)),
    "multiply": (tf.multiply, reals(-3, 3), reals(-3, 3)),
    "divide": (tf.divide, reals(-3, 3), reals(-3, 3, (0.0,), 0.3)),
    "pow": (tf.pow, reals(0.2, 3), reals(-2, 2)),
    # y away from 0: atan2 jumps across the negative x axis.
    "atan2": (tf.atan2, reals(-3, 3, (0.0,), 0.3), reals(-3, 3)),
    "hypot": (tf.hypot, reals(-3, 3, (0.0,), 0.3), reals(-3, 3)),
    "log_base": (tf.log_base, reals(0.1, 5), reals(1.5, 5)),
    "divide_no_nan": (tf.divide_no_nan, reals(-3, 3), reals(-3, 3, (0.0,), 0.3)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data(), shapes=st.sampled_from(BROADCAST_SHAPES), seed=seeds)
def test_binary(name, data, shapes, seed):
    f, first, second = BINARY[name]
    a = data.draw(points(shapes[0], first))
    b = data.draw(points(shapes[1], second))
    check_grads(f, a, b, seed=seed)


def _apart(a, b, gap=0.05):
    x, y = np.broadcast_arrays(a, b)
    return bool(np.all(np.abs(x - y) > gap))


@pytest.mark.parametrize("f", [tf.maximum, tf.minimum], ids=["maximum", "minimum"])
@SETTINGS
@given(data=st.data(), shapes=st.sampled_from(BROADCAST_SHAPES), seed=seeds)
def test_maximum_minimum_away_from_ties(f, data, shapes, seed):
    a = data.draw(points(shapes[0], reals(-3, 3)))
    b = data.draw(points(shapes[1], reals(-3, 3)))
    assume(_apart(a, b))
    check_grads(f, a, b, seed=seed)


@SETTINGS
@given(data=st.data(), n=st.integers(-3, 4), shape=st.sampled_from(SHAPES), seed=seeds)
def test_integer_power_of_any_sign(data, n, shape, seed):
    # x**n with a constant integer n is defined (and smooth) for negative x too.
    x = data.draw(points(shape, reals(-3, 3, (0.0,), 0.2)))
    check_grads(lambda x: x ** float(n), x, seed=seed)
    check_grads(lambda x: tf.pow(x, n), x, seed=seed)


@SETTINGS
@given(data=st.data(), shapes=st.sampled_from(BROADCAST_SHAPES), seed=seeds)
def test_where(data, shapes, seed):
    x = data.draw(points(shapes[0], reals(-3, 3)))
    y = data.draw(points(shapes[1], reals(-3, 3)))
    condition = data.draw(arrays(np.bool_, np.broadcast_shapes(shapes[0], shapes[1])))
    check_grads(lambda x, y: tf.where(condition, x, y), x, y, seed=seed)


# ---- reductions, shapes and linear algebra ----------------------------------------
REDUCTIONS = [((), None, False), ((4,), None, False), ((4,), 0, True), ((2, 3), 0, False),
              ((2, 3), -1, True), ((2, 3), [0, 1], False), ((2, 3, 4), (0, 2), False),
              ((2, 3, 4), 1, True), ((2, 3, 4), None, True), ((2, 3), -1, False),
              ((2, 3, 4), (-1, 0), False), ((2, 3, 4), [1, 2], True)]


@pytest.mark.parametrize("reduce", [tf.reduce_sum, tf.reduce_mean], ids=["sum", "mean"])
@pytest.mark.parametrize("shape, axis, keepdims", REDUCTIONS)
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_reductions(reduce, shape, axis, keepdims, data, seed):
    x = data.draw(points(shape, reals(-3, 3)))
    check_grads(lambda x: reduce(x, axis=axis, keepdims=keepdims), x, seed=seed)
    # Second derivatives are zero for a linear op: make them non-trivial too.
    check_grads(lambda x: reduce(tf.square(x) * x, axis=axis, keepdims=keepdims), x, seed=seed)


MATMUL_SHAPES = [((2, 3), (3, 4)), ((1, 1), (1, 1)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
                 ((2, 1, 2, 3), (4, 3, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_matmul(shapes, data, seed):
    a = data.draw(points(shapes[0], reals(-2, 2)))
    b = data.draw(points(shapes[1], reals(-2, 2)))
    check_grads(tf.matmul, a, b, seed=seed)
    check_grads(lambda a, b: a @ b, a, b, seed=seed)


RESHAPES = [((2, 3), (3, 2)), ((2, 3), (6,)), ((2, 3), (-1, 1)), ((2, 3, 4), [4, -1]),
            ((), (1, 1)), ((4,), (2, 2))]


@pytest.mark.parametrize("shape, new_shape", RESHAPES, ids=str)
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_reshape(shape, new_shape, data, seed):
    x = data.draw(points(shape, reals(-3, 3)))
    check_grads(lambda x: tf.reshape(tf.sin(x), new_shape), x, seed=seed)


TRANSPOSES = [((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), [2, 0, 1])]


@pytest.mark.parametrize("shape, perm", TRANSPOSES, ids=str)
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_transpose(shape, perm, data, seed):
    x = data.draw(points(shape, reals(-3, 3)))
    check_grads(lambda x: tf.transpose(tf.sin(x), perm), x, seed=seed)


@pytest.mark.parametrize("axis", [0, 1, -1])
@SETTINGS
@given(data=st.data(), shape=st.sampled_from([(3,), (2, 3)]), seed=seeds)
def test_stack(axis, data, shape, seed):
    xs = [data.draw(points(shape, reals(-3, 3))) for _ in range(3)]
    check_grads(lambda a, b, c: tf.stack([a, b * c, tf.sin(c)], axis=axis), *xs, seed=seed)


# index -> shape of the indexed tensor
INDEXES = [
    (2, (5,)), (-1, (5,)), (slice(1, 4), (5,)), (slice(None, None, -2), (5,)),
    ((1, slice(None)), (3, 4)), ((slice(None), 2), (3, 4)), (([0, 2, 0],), (3, 4)),
    ((Ellipsis, 1), (3, 4)), ((None, 1), (3, 4)), ((1, slice(0, 2), [3, 0, 3]), (2, 3, 4)),
    (np.array([True, False, True]), (3, 2)), ((slice(None), [1, 1]), (3, 2)),
]


@pytest.mark.parametrize("index, shape", INDEXES, ids=str)
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_getitem(index, shape, data, seed):
    # Repeated indices must add up their adjoints; x * x keeps second order non-trivial.
    x = data.draw(points(shape, reals(-3, 3)))
    check_grads(lambda x: (x * x)[index], x, seed=seed)


@SETTINGS
@given(data=st.data(), shapes=st.sampled_from([((3,), (2, 3)), ((2, 1), (2, 3)), ((), (4,))]),
       seed=seeds)
def test_broadcast_to(data, shapes, seed):
    x = data.draw(points(shapes[0], reals(-3, 3)))
    check_grads(lambda x: tf.broadcast_to(x * x, shapes[1]), x, seed=seed)


@SETTINGS
@given(data=st.data(), shape=st.sampled_from(SHAPES), seed=seeds)
def test_cast_between_float_types(data, shape, seed):
    x = data.draw(points(shape, reals(-3, 3)))
    check_grads(lambda x: tf.cast(x * x, tf.float64), x, seed=seed)


def test_cast_to_float32_passes_the_gradient_back_as_the_source_dtype():
    x = tf.constant([1.5, -2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cast(x, tf.float32) * tf.constant([3.0, 4.0], tf.float32)
    g = tape.gradient(y, x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.numpy(), [3.0, 4.0])


# ---- clipping ----------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), shape=st.sampled_from(SHAPES), seed=seeds)
def test_clip_by_value(data, shape, seed):
    t = data.draw(points(shape, reals(-3, 3, (-1.0, 1.5))))
    check_grads(lambda t: tf.clip_by_value(t * t * t, -1.0, 1.5), np.cbrt(t), seed=seed)
    check_grads(lambda t: tf.clip_by_value(t, -1.0, 1.5), t, seed=seed)


@SETTINGS
@given(data=st.data(), shape=st.sampled_from(SHAPES), seed=seeds)
def test_clip_by_value_with_tensor_bounds(data, shape, seed):
    t = data.draw(points(shape, reals(-3, 3)))
    lo = data.draw(reals(-2, 0))
    hi = data.draw(reals(0.5, 2))
    assume(np.all(np.abs(t - lo) > 0.05) and np.all(np.abs(t - hi) > 0.05))
    check_grads(tf.clip_by_value, t, lo, hi, seed=seed)


@SETTINGS
@given(data=st.data(), shape=st.sampled_from([(1,), (4,), (2, 3)]), seed=seeds)
def test_clip_by_norm(data, shape, seed):
    t = data.draw(points(shape, reals(-3, 3)))
    clip = data.draw(reals(0.2, 4))
    norm = np.sqrt(np.sum(t * t))
    assume(norm > 0.05 and abs(norm - clip) > 0.05)
    check_grads(tf.clip_by_norm, t, clip, seed=seed)


@SETTINGS
@given(data=st.data(), seed=seeds)
def test_clip_by_norm_along_an_axis(data, seed):
    t = data.draw(points((3, 2), reals(-3, 3)))
    clip = data.draw(reals(0.2, 4))
    norms = np.sqrt(np.sum(t * t, axis=1))
    assume(np.all(norms > 0.05) and np.all(np.abs(norms - clip) > 0.05))
    check_grads(lambda t, c: tf.clip_by_norm(t, c, axes=[1]), t, clip, seed=seed)


# ---- the checker itself ------------------------------------------------------------
def test_checker_catches_a_wrong_first_derivative():
    from tapecli.primitive import Primitive
    wrong = Primitive("wrong_sin", np.sin)
    wrong.defvjp(lambda g, ans, x: g * tf.cos(x) * 1.01)
    with pytest.raises(AssertionError, match="order-1"):
        check_grads(wrong, np.array([0.3, 1.1]))


def test_checker_catches_a_vjp_the_tape_cannot_differentiate_again():
    from tapecli.primitive import Primitive
    opaque = Primitive("opaque_sin", np.sin)
    # Right first derivative, but computed in numpy: an outer tape sees a constant.
    opaque.defvjp(lambda g, ans, x: g * tf.constant(np.cos(x.numpy())))
    check_grads(opaque, np.array([0.3, 1.1]), order=1)
    with pytest.raises(AssertionError, match="order-2"):
        check_grads(opaque, np.array([0.3, 1.1]), order=2)
