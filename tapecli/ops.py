"""The primitive table: every op's numpy forward beside its vector-Jacobian product.

A VJP row reads `lambda g, ans, x, y: ...`: the adjoint `g` of the output
`ans`, then the op's inputs, returning the adjoint of one input. VJPs use
tapecli ops only (never numpy on raw arrays), so the backward pass is itself
recorded and can be differentiated again. Derivative conventions at kinks are
those of EXPRESSIONS.md: abs'(0) = sign' = relu'(0) = 0, ties of min/max go to
the first argument, sqrt'(0) = inf, d/db a**b = 0 where a == 0.
"""

from __future__ import annotations

import math
import operator
import string
import sys

import numpy as np

from . import ball_rules, series
from . import tensor as _tensor_module
from .primitive import Primitive
from .tensor import Tensor, constant

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _scalar_sign(x: float) -> float:
    return (x > 0) - (x < 0) if x == x else x


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _scalar_sigmoid(x: float) -> float:
    e = float(np.exp(-abs(x)))
    return (1.0 if x >= 0 else e) / (1.0 + e)


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def _scalar_softplus(x: float) -> float:
    return float(np.log1p(np.exp(-abs(x)))) + (x if x >= 0.0 or x != x else 0.0)


def _scatter(g, *, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def _matmul(a, b):
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul needs matrices (rank >= 2), got shapes {a.shape} and {b.shape}")
    return np.matmul(a, b)


def _sum(x, *, axis=None, keepdims=False):
    # Integers sum in their own type, as in TensorFlow (numpy would widen int32).
    return np.sum(x, axis=axis, keepdims=keepdims,
                  dtype=x.dtype if x.dtype.kind in "iu" else None)


# Where a row's op shows in the public API (Primitive.api): tapecli.NAME, and
# tapecli.math.NAME too.
TF, TF_MATH = ("{}",), ("{}", "math.{}")
# The public API's functions that are not rows (signatures, composites), by `api`.
_FUNCTIONS: list = []


def _public(*api: str):
    """Show the decorated function in the public API (as a row's `api` does)."""
    def mark(function):
        _FUNCTIONS.append((function, api))
        return function
    return mark


# ---- helpers of the VJPs below ---------------------------------------------------
def unbroadcast(g: Tensor, x: Tensor) -> Tensor:
    """Sum `g` back to the shape of `x`, undoing numpy broadcasting."""
    if g.shape == x.shape:
        return g
    lead = g.ndim - x.ndim
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(x.shape) if n == 1 and g.shape[lead + i] != 1)
    return reshape(reduce_sum(g, axis=axes), shape=x.shape)


def _safe(x: Tensor, bad: Tensor) -> Tensor:
    # Replace entries where `bad` holds, so that the untaken branch of a where
    # cannot turn a zero adjoint into 0 * inf = nan, now or in a later derivative.
    return where(bad, 1.0, x)


def _pow_vjp_base(g, ans, a, b):
    # Only a == b == 0 needs a guard (0 * 0**-1 = nan; d/da a**0 = 0). Guarding every
    # b == 0 would hide this VJP's own derivative in b there, which is a**-1.
    both_zero = where(equal(a, 0.0), equal(b, 0.0), False)
    return unbroadcast(where(both_zero, 0.0, g * (b * _safe(a, both_zero) ** (b - 1.0))), a)


def _pow_vjp_exponent(g, ans, a, b):
    a_is_zero = equal(a, 0.0)
    return unbroadcast(where(a_is_zero, 0.0, g * (ans * log(_safe(a, a_is_zero)))), b)


def _hypot_vjp(g, ans, a, b, first):
    at_origin = equal(ans, 0.0)
    return unbroadcast(where(at_origin, 0.0, g * ((a if first else b) / _safe(ans, at_origin))),
                       a if first else b)


def _keep_dims(t, x, axis, keepdims):
    """A reduction's result `t` (or its adjoint) reshaped as if reduced with keepdims,
    so that it broadcasts against the reduced input `x`."""
    if keepdims or axis is None:  # already of x's rank, or 0-d
        return t
    axes = (axis,) if isinstance(axis, int) else axis
    kept = list(x.shape)
    for a in axes:
        kept[a % x.ndim] = 1
    return reshape(t, shape=tuple(kept))


def _reduce_sum_vjp(g, ans, x, *, axis=None, keepdims=False):
    return broadcast_to(_keep_dims(g, x, axis, keepdims), shape=x.shape)


class _EachInput:
    """VJPs of a variadic primitive: `vjps[i]` for any input position i."""

    def __init__(self, vjp):
        self._vjp = vjp

    def __getitem__(self, i):
        return lambda g, ans, *inputs, **params: self._vjp(i, g, ans, *inputs, **params)


# ---- arithmetic -----------------------------------------------------------------
# `operator`: the grammar's alias for it; `capture`: the graph's exact rewrite
# (tapecli.graph); `formula`: how a formula reads it (tapecli.formula's canonical
# algebra, not a call of a function).
add = Primitive("add", np.add, operator.add, commutative=True, taylor=series.add,
                operator="add", capture=lambda b, args: b.add(args),
                formula=lambda b, x, y: b.add([x, y]), api=TF_MATH, exact=True)
add.defvjp(lambda g, ans, x, y: unbroadcast(g, x),
           lambda g, ans, x, y: unbroadcast(g, y))
subtract = Primitive("subtract", np.subtract, operator.sub, taylor=series.subtract,
                     operator="sub", capture=lambda b, args: b.subtract(args),
                     formula=lambda b, x, y: b.subtract(x, y), api=TF_MATH, exact=True)
subtract.defvjp(lambda g, ans, x, y: unbroadcast(g, x),
                lambda g, ans, x, y: unbroadcast(-g, y))
multiply = Primitive("multiply", np.multiply, operator.mul, commutative=True,
                     taylor=series.multiply, operator="mul",
                     capture=lambda b, args: b.product(multiply, args),
                     formula=lambda b, x, y: b.multiply([x, y]), api=TF_MATH, exact=True)
multiply.defvjp(lambda g, ans, x, y: unbroadcast(g * y, x),
                lambda g, ans, x, y: unbroadcast(g * x, y))
divide = Primitive("divide", np.divide, operator.truediv, taylor=series.divide,
                   operator="div", capture=lambda b, args: b.product(divide, args),
                   formula=lambda b, x, y: b.divide(x, y),
                   api=(*TF_MATH, "truediv", "math.truediv"), exact=True)
divide.defvjp(lambda g, ans, x, y: unbroadcast(g / y, x),
              lambda g, ans, x, y: unbroadcast(-g * (ans / y), y))
negative = Primitive("negative", np.negative, operator.neg, taylor=series.negative,
                     operator="neg", capture=lambda b, args: b.negative(args),
                     formula=lambda b, x: b.negate(x), api=TF_MATH, exact=True)
negative.defvjp(lambda g, ans, x: -g)
pow = Primitive("pow", np.power, taylor=series.pow, language="pow", arity=2, operator="pow",
                formula=lambda b, x, y: b.power(x, y), api=TF_MATH, exact=True)
pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)
square = Primitive("square", np.square, lambda x: x * x, taylor=series.square,
                   formula=lambda b, x: b.power(x, b.number(2.0)), api=TF_MATH, exact=True)
square.defvjp(lambda g, ans, x: g * (2.0 * x))

# ---- elementwise functions: the words of the language (EXPRESSIONS.md) ---------------
sin = Primitive("sin", np.sin, taylor=series.sin, language="sin", latex=r"\sin", api=TF_MATH)
sin.defvjp(lambda g, ans, x: g * cos(x))
cos = Primitive("cos", np.cos, taylor=series.cos, language="cos", latex=r"\cos", api=TF_MATH)
cos.defvjp(lambda g, ans, x: -g * sin(x))
tan = Primitive("tan", np.tan, taylor=series.tan, language="tan", latex=r"\tan", api=TF_MATH)
tan.defvjp(lambda g, ans, x: g * (1.0 + square(ans)))
asin = Primitive("asin", np.arcsin, taylor=series.asin, language="asin", aliases=("arcsin",),
                 latex=r"\arcsin", api=TF_MATH)
asin.defvjp(lambda g, ans, x: g / sqrt(1.0 - square(x)))
acos = Primitive("acos", np.arccos, taylor=series.acos, language="acos", aliases=("arccos",),
                 latex=r"\arccos", api=TF_MATH)
acos.defvjp(lambda g, ans, x: -g / sqrt(1.0 - square(x)))
atan = Primitive("atan", np.arctan, taylor=series.atan, language="atan", aliases=("arctan",),
                 latex=r"\arctan", api=TF_MATH)
atan.defvjp(lambda g, ans, x: g / (1.0 + square(x)))
sinh = Primitive("sinh", np.sinh, taylor=series.sinh, language="sinh", latex=r"\sinh",
                 api=TF_MATH)
sinh.defvjp(lambda g, ans, x: g * cosh(x))
cosh = Primitive("cosh", np.cosh, taylor=series.cosh, language="cosh", latex=r"\cosh",
                 api=TF_MATH)
cosh.defvjp(lambda g, ans, x: g * sinh(x))
tanh = Primitive("tanh", np.tanh, taylor=series.tanh, language="tanh", latex=r"\tanh",
                 api=TF_MATH)
tanh.defvjp(lambda g, ans, x: g * (1.0 - square(ans)))
asinh = Primitive("asinh", np.arcsinh, taylor=series.asinh, language="asinh", api=TF_MATH)
asinh.defvjp(lambda g, ans, x: g / sqrt(square(x) + 1.0))
acosh = Primitive("acosh", np.arccosh, taylor=series.acosh, language="acosh", api=TF_MATH)
acosh.defvjp(lambda g, ans, x: g / sqrt(square(x) - 1.0))
atanh = Primitive("atanh", np.arctanh, taylor=series.atanh, language="atanh", api=TF_MATH)
atanh.defvjp(lambda g, ans, x: g / (1.0 - square(x)))
exp = Primitive("exp", np.exp, taylor=series.exp, language="exp", latex=r"\exp", api=TF_MATH)
exp.defvjp(lambda g, ans, x: g * ans)
expm1 = Primitive("expm1", np.expm1, taylor=series.expm1, language="expm1", api=TF_MATH)
expm1.defvjp(lambda g, ans, x: g * (ans + 1.0))
# log(x, base) in the language is log(x)/log(base), two primitives.
log = Primitive("log", np.log, taylor=series.log, language="log", arity=(1, 2),
                aliases=("ln",), latex=r"\log", api=TF_MATH,
                call=lambda x, base=None: log(x) if base is None else log_base(x, base))
log.defvjp(lambda g, ans, x: g / x)
log2 = Primitive("log2", np.log2, taylor=series.log2, language="log2", api=TF)
log2.defvjp(lambda g, ans, x: g / (x * _LN2))
log10 = Primitive("log10", np.log10, taylor=series.log10, language="log10", api=TF)
log10.defvjp(lambda g, ans, x: g / (x * _LN10))
log1p = Primitive("log1p", np.log1p, taylor=series.log1p, language="log1p", api=TF_MATH)
log1p.defvjp(lambda g, ans, x: g / (x + 1.0))
sqrt = Primitive("sqrt", np.sqrt, math.sqrt, taylor=series.sqrt, language="sqrt",
                 latex=lambda x: rf"\sqrt{{{x}}}", api=TF_MATH)
sqrt.defvjp(lambda g, ans, x: g / (2.0 * ans))
cbrt = Primitive("cbrt", np.cbrt, taylor=series.cbrt, language="cbrt", api=TF)
cbrt.defvjp(lambda g, ans, x: g / (3.0 * square(ans)))
abs = Primitive("abs", np.abs, math.fabs, taylor=series.abs, language="abs",
                latex=lambda x: rf"\left|{x}\right|", api=TF_MATH, exact=True)
abs.defvjp(lambda g, ans, x: g * sign(x))
sign = Primitive("sign", np.sign, _scalar_sign, taylor=series.zero, language="sign",
                 aliases=("sgn",), api=TF_MATH, exact=True)
sign.defvjp(lambda g, ans, x: zeros_like(g))
sigmoid = Primitive("sigmoid", _sigmoid, _scalar_sigmoid, taylor=series.sigmoid,
                    language="sigmoid", api=(*TF_MATH, "nn.{}"))
sigmoid.defvjp(lambda g, ans, x: g * (ans * (1.0 - ans)))
softplus = Primitive("softplus", _softplus, _scalar_softplus, taylor=series.softplus,
                     language="softplus", api=(*TF_MATH, "nn.{}"))
softplus.defvjp(lambda g, ans, x: g * sigmoid(x))
relu = Primitive("relu", lambda x: np.maximum(x, 0.0), lambda x: x if x > 0 or x != x else 0.0,
                 taylor=series.relu, language="relu", api=(*TF, "nn.{}"), exact=True)
relu.defvjp(lambda g, ans, x: where(greater(x, 0.0), g, 0.0))
atan2 = Primitive("atan2", np.arctan2, taylor=series.atan2, language="atan2", arity=2,
                  aliases=("arctan2",), api=TF_MATH)
atan2.defvjp(lambda g, ans, y, x: unbroadcast(g * (x / (square(x) + square(y))), y),
             lambda g, ans, y, x: unbroadcast(-g * (y / (square(x) + square(y))), x))
hypot = Primitive("hypot", np.hypot, taylor=series.hypot, language="hypot", arity=2, api=TF)
hypot.defvjp(lambda g, ans, a, b: _hypot_vjp(g, ans, a, b, True),
             lambda g, ans, a, b: _hypot_vjp(g, ans, a, b, False))
maximum = Primitive("maximum", np.maximum, lambda x, y: x if x >= y or x != x else y,
                    taylor=series.maximum, language="max", arity=2, latex=r"\max",
                    api=TF_MATH, exact=True)
maximum.defvjp(lambda g, ans, x, y: unbroadcast(where(greater_equal(x, y), g, 0.0), x),
               lambda g, ans, x, y: unbroadcast(where(greater_equal(x, y), 0.0, g), y))
minimum = Primitive("minimum", np.minimum, lambda x, y: x if x <= y or x != x else y,
                    taylor=series.minimum, language="min", arity=2, latex=r"\min",
                    api=TF_MATH, exact=True)
minimum.defvjp(lambda g, ans, x, y: unbroadcast(where(less_equal(x, y), g, 0.0), x),
               lambda g, ans, x, y: unbroadcast(where(less_equal(x, y), 0.0, g), y))
where = Primitive("where", np.where, lambda c, x, y: x if c else y, taylor=series.where,
                  api=TF, exact=True)
where.defvjp(None,
             lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
             lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y))
# The kinks' derivatives as functions of the language (README, "Formulas"): the step
# with relu's convention heaviside(0) = 0, and a select that picks x where c == 0.
heaviside = Primitive("heaviside", lambda x: np.heaviside(x, 0.0),
                      lambda x: (1.0 if x > 0 else 0.0) if x == x else x, taylor=series.zero,
                      language="heaviside", latex=r"\theta", exact=True)
heaviside.defvjp(lambda g, ans, x: zeros_like(g))
ifzero = Primitive("ifzero", lambda c, x, y: np.where(c == 0, x, y),
                   lambda c, x, y: x if c == 0 else y, taylor=series.ifzero,
                   language="ifzero", arity=3,
                   latex=lambda c, a, b: (rf"\begin{{cases}} {a} & \text{{if }} {c} = 0 \\ "
                                          rf"{b} & \text{{otherwise}} \end{{cases}}"), exact=True)
ifzero.defvjp(None,
              lambda g, ans, c, x, y: unbroadcast(where(equal(c, 0.0), g, 0.0), x),
              lambda g, ans, c, x, y: unbroadcast(where(equal(c, 0.0), 0.0, g), y))

# ---- shapes, reductions, linear algebra (not elementwise: a recorded graph of them
# holds only for the shapes it was recorded with) ------------------------------------
_reduce_sum = Primitive("reduce_sum", _sum, elementwise=False)
_reduce_sum.defvjp(_reduce_sum_vjp)
_broadcast_to = Primitive("broadcast_to", lambda x, *, shape: np.broadcast_to(x, shape),
                          elementwise=False)
_broadcast_to.defvjp(lambda g, ans, x, *, shape: unbroadcast(g, x))
_reshape = Primitive("reshape", lambda x, *, shape: np.reshape(x, shape), elementwise=False)
_reshape.defvjp(lambda g, ans, x, *, shape: reshape(g, shape=x.shape))
getitem = Primitive("getitem", lambda x, *, index: x[index], elementwise=False)
getitem.defvjp(lambda g, ans, x, *, index: scatter(g, index=index, shape=x.shape))
scatter = Primitive("scatter", _scatter, elementwise=False)
scatter.defvjp(lambda g, ans, x, *, index, shape: getitem(g, index=index))
_stack = Primitive("stack", lambda *xs, axis=0: np.stack(xs, axis), elementwise=False)
_stack.vjps = _EachInput(lambda i, g, ans, *xs, axis=0:
                         getitem(g, index=(slice(None),) * (axis % ans.ndim) + (i,)))
_transpose = Primitive("transpose", lambda x, *, perm=None: np.transpose(x, perm),
                       elementwise=False)
_transpose.defvjp(lambda g, ans, x, *, perm=None:
                  transpose(g, perm=None if perm is None else tuple(np.argsort(perm))))
matrix_transpose = Primitive("matrix_transpose", lambda x: np.swapaxes(x, -1, -2),
                             elementwise=False)
matrix_transpose.defvjp(lambda g, ans, x: matrix_transpose(g))
matmul = Primitive("matmul", _matmul, elementwise=False, api=(*TF, "linalg.{}"))
matmul.defvjp(lambda g, ans, a, b: unbroadcast(matmul(g, matrix_transpose(b)), a),
              lambda g, ans, a, b: unbroadcast(matmul(matrix_transpose(a), g), b))
_cast = Primitive("cast", lambda x, *, dtype: x.astype(dtype), elementwise=False)
# Gradients flow only between float types: a cast to int or bool stops them, as in TF.
_cast.defvjp(lambda g, ans, x, *, dtype:
             cast(g, dtype=x.dtype) if x.dtype.kind == "f" and ans.dtype.kind == "f" else None)
identity = Primitive("identity", lambda x: x, lambda x: x, taylor=series.identity,
                     capture=lambda b, args: args[0], api=TF, exact=True)
identity.defvjp(lambda g, ans, x: g)

# ---- no gradient: comparisons, constants of a shape, stop_gradient --------------
# `condition`: how a formula reads where(p OP q, a, b) (see Primitive).
less = Primitive("less", np.less, operator.lt, boolean=True, taylor=series.zero,
                 condition=("positive", True, False), api=TF_MATH, exact=True)
less_equal = Primitive("less_equal", np.less_equal, operator.le, boolean=True,
                       taylor=series.zero, condition=("positive", False, True), api=TF_MATH,
                       exact=True)
greater = Primitive("greater", np.greater, operator.gt, boolean=True, taylor=series.zero,
                    condition=("positive", False, False), api=TF_MATH, exact=True)
greater_equal = Primitive("greater_equal", np.greater_equal, operator.ge, boolean=True,
                          taylor=series.zero, condition=("positive", True, True), api=TF_MATH,
                          exact=True)
equal = Primitive("equal", np.equal, operator.eq, boolean=True, taylor=series.zero,
                  condition=("zero", False, False), api=TF_MATH, exact=True)
not_equal = Primitive("not_equal", np.not_equal, operator.ne, boolean=True, taylor=series.zero,
                      condition=("zero", False, True), api=TF_MATH, exact=True)
# ones_like, zeros_like: of x's dtype, as in TensorFlow (float32 seeds, float32 gradients).
ones_like = Primitive("ones_like", np.ones_like, lambda x: 1.0,
                      taylor=series.zero, capture=lambda b, args: b.constant(1.0), api=TF,
                      exact=True)
zeros_like = Primitive("zeros_like", np.zeros_like, lambda x: 0.0, taylor=series.zero, capture=lambda b, args: b.constant(0.0),
                       api=TF, exact=True)
stop_gradient = Primitive("stop_gradient", lambda x: x, lambda x: x, taylor=series.zero,
                          capture=lambda b, args: args[0], api=TF, exact=True)


# ---- ball rules (tapecli.ball_rules): the same series on python-flint's balls -----
add.defball(ball_rules.add)
subtract.defball(ball_rules.subtract)
multiply.defball(ball_rules.multiply)
divide.defball(ball_rules.divide)
negative.defball(ball_rules.negative)
pow.defball(ball_rules.pow)
square.defball(ball_rules.square)
sin.defball(ball_rules.sin)
cos.defball(ball_rules.cos)
tan.defball(ball_rules.tan)
asin.defball(ball_rules.asin)
acos.defball(ball_rules.acos)
atan.defball(ball_rules.atan)
sinh.defball(ball_rules.sinh)
cosh.defball(ball_rules.cosh)
tanh.defball(ball_rules.tanh)
asinh.defball(ball_rules.asinh)
acosh.defball(ball_rules.acosh)
atanh.defball(ball_rules.atanh)
exp.defball(ball_rules.exp)
expm1.defball(ball_rules.expm1)
log.defball(ball_rules.log)
log2.defball(ball_rules.log2)
log10.defball(ball_rules.log10)
log1p.defball(ball_rules.log1p)
sqrt.defball(ball_rules.sqrt)
cbrt.defball(ball_rules.cbrt)
abs.defball(ball_rules.abs)
sign.defball(ball_rules.sign)
sigmoid.defball(ball_rules.sigmoid)
softplus.defball(ball_rules.softplus)
relu.defball(ball_rules.relu)
atan2.defball(ball_rules.atan2)
hypot.defball(ball_rules.hypot)
maximum.defball(ball_rules.maximum)
minimum.defball(ball_rules.minimum)
where.defball(ball_rules.where)
heaviside.defball(ball_rules.heaviside)
ifzero.defball(ball_rules.ifzero)
identity.defball(ball_rules.identity)
less.defball(ball_rules.less)
less_equal.defball(ball_rules.less_equal)
greater.defball(ball_rules.greater)
greater_equal.defball(ball_rules.greater_equal)
equal.defball(ball_rules.equal)
not_equal.defball(ball_rules.not_equal)
ones_like.defball(ball_rules.ones_like)
zeros_like.defball(ball_rules.zeros_like)
stop_gradient.defball(ball_rules.zero)


# ---- public signatures of the ops with static parameters (TensorFlow's) -----------
def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


@_public(*TF_MATH)
def reduce_sum(input_tensor, axis=None, keepdims=False) -> Tensor:
    return _reduce_sum(input_tensor, axis=_axis(axis), keepdims=keepdims)


@_public(*TF)
def broadcast_to(input, shape) -> Tensor:  # noqa: A002  (TensorFlow's argument name)
    shape = tuple(shape)
    if isinstance(input, Tensor) and input.shape == shape:
        return input
    return _broadcast_to(input, shape=shape)


@_public(*TF)
def reshape(tensor, shape) -> Tensor:
    return _reshape(tensor, shape=tuple(shape) if isinstance(shape, (list, tuple)) else shape)


@_public(*TF)
def stack(values, axis=0) -> Tensor:
    return _stack(*values, axis=axis)


@_public(*TF, "linalg.matrix_transpose")
def transpose(a, perm=None) -> Tensor:
    return _transpose(a, perm=_axis(perm))


@_public(*TF)
def cast(x, dtype) -> Tensor:
    return _cast(x, dtype=np.dtype(dtype))


# ---- composites: built from the primitives above, differentiable through them -----
@_public(*TF_MATH)
def divide_no_nan(x, y) -> Tensor:
    zero = equal(y, 0.0)
    return where(zero, 0.0, divide(x, _safe(y, zero)))


@_public(*TF)
def log_base(x, base) -> Tensor:
    return log(x) / log(base)


@_public(*TF_MATH)
def reduce_mean(x, axis=None, keepdims=False) -> Tensor:
    x = _tensor(x)
    total = reduce_sum(x, axis=axis, keepdims=keepdims)
    mean = total / float(x._value.size // max(total._value.size, 1))
    # The mean of integers is an integer, truncated, as in TensorFlow.
    return cast(mean, x.dtype) if x.dtype.kind in "iu" else mean


@_public(*TF)
def clip_by_value(t, clip_value_min, clip_value_max) -> Tensor:
    return minimum(maximum(t, clip_value_min), clip_value_max)


@_public(*TF)
def clip_by_norm(t, clip_norm, axes=None) -> Tensor:
    """Scale `t` so that its L2 norm (over `axes`) is at most `clip_norm`."""
    l2sum = reduce_sum(square(t), axis=axes, keepdims=True)
    positive = greater(l2sum, 0.0)
    l2norm = where(positive, sqrt(where(positive, l2sum, 1.0)), l2sum)
    return t * clip_norm / maximum(l2norm, clip_norm)


@_public(*TF)
def zeros(shape, dtype=np.float64) -> Tensor:
    return constant(np.zeros(shape, dtype=dtype), dtype)


@_public(*TF)
def ones(shape, dtype=np.float64) -> Tensor:
    return constant(np.ones(shape, dtype=dtype), dtype)


@_public(*TF)
def linspace(start, stop, num) -> Tensor:
    """`num` evenly spaced values from `start` to `stop` inclusive (a constant)."""
    return constant(np.linspace(float(start), float(stop), int(num)))


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else constant(x)


# ==== TensorFlow's API only ========================================================
# Ops that TensorFlow's guides use and the expression language does not have: rows
# with their VJPs (built from tapecli ops, so nested tapes give Hessians), then
# their public signatures. None is a function of the language.
def _max(x, *, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _prod(x, *, axis=None, keepdims=False):
    return np.prod(x, axis=axis, keepdims=keepdims,
                   dtype=x.dtype if x.dtype.kind in "iu" else None)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))  # no overflow for large x


def _solve(a, b):
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"solve needs a matrix and a right-hand side of rank >= 2 "
                         f"(columns), got shapes {a.shape} and {b.shape}")
    return np.linalg.solve(a, b)


is_nan = Primitive("is_nan", np.isnan, math.isnan, boolean=True, api=("math.{}",))
is_finite = Primitive("is_finite", np.isfinite, math.isfinite, boolean=True,
                      api=("math.{}",))
is_inf = Primitive("is_inf", np.isinf, math.isinf, boolean=True, api=("math.{}",))
elu = Primitive("elu", _elu, api=("nn.{}",))
_reduce_max = Primitive("reduce_max", _max, elementwise=False)
_reduce_prod = Primitive("reduce_prod", _prod, elementwise=False)
_einsum = Primitive("einsum", lambda *xs, equation: np.einsum(equation, *xs),
                    elementwise=False)
_solve_op = Primitive("solve", _solve, elementwise=False)


def _reduce_max_vjp(g, ans, x, *, axis=None, keepdims=False):
    # Ties share the adjoint equally, as in TensorFlow.
    hit = equal(x, _keep_dims(ans, x, axis, keepdims))
    count = reduce_sum(cast(hit, x.dtype), axis=axis, keepdims=True)
    return where(hit, _keep_dims(g, x, axis, keepdims) / count, 0.0)


def _reduce_prod_vjp(g, ans, x, *, axis=None, keepdims=False):
    g = _keep_dims(g, x, axis, keepdims)
    if not np.any(x._value == 0):
        return g * (_keep_dims(ans, x, axis, keepdims) / x)
    return g * _product_of_the_others(x, axis)  # exact where an entry is 0


def _product_of_the_others(x, axis):
    """Each entry's product of the other entries along `axis`, without division:
    the n entries of a reduction, repeated n times with a diagonal of ones."""
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    reduced = sorted(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in reduced]
    perm = kept + reduced
    kept_shape = tuple(x.shape[a] for a in kept)
    n = int(np.prod([x.shape[a] for a in reduced], dtype=np.int64))
    rows = reshape(transpose(x, perm=perm), shape=kept_shape + (1, n))
    rows = where(np.eye(n, dtype=bool), 1.0, broadcast_to(rows, kept_shape + (n, n)))
    others = reshape(reduce_prod(rows, axis=-1), shape=tuple(x.shape[a] for a in perm))
    return transpose(others, perm=tuple(np.argsort(perm)))


def _einsum_vjp(i, g, ans, *xs, equation):
    """The adjoint of operand i: g contracted with the other operands onto operand
    i's subscripts. A letter repeated in them (a diagonal, 'bxby') is put back with
    an identity matrix, a letter summed in that operand alone with a vector of ones."""
    inputs, output = equation.split("->")
    inputs = inputs.split(",")
    target, x = inputs[i], xs[i]
    subscripts = [output] + [s for j, s in enumerate(inputs) if j != i]
    operands = [g] + [y for j, y in enumerate(xs) if j != i]
    present = set("".join(subscripts))
    fresh = (c for c in string.ascii_letters if c not in equation)
    result = ""
    for letter, size in zip(target, x.shape):
        if letter in result:
            other = next(fresh)
            subscripts.append(letter + other)
            operands.append(eye(size, dtype=g.dtype))
            result += other
            continue
        if letter not in present and target.count(letter) == 1:
            subscripts.append(letter)
            operands.append(ones((size,), dtype=g.dtype))
        result += letter
    return _einsum(*operands, equation=",".join(subscripts) + "->" + result)


def _solve_vjp_b(g, ans, a, b):
    return unbroadcast(_solve_op(matrix_transpose(a), g), b)


def _solve_vjp_a(g, ans, a, b):
    return unbroadcast(-matmul(_solve_op(matrix_transpose(a), g), matrix_transpose(ans)), a)


elu.defvjp(lambda g, ans, x: where(greater(x, 0.0), g, g * (ans + 1.0)))
_reduce_max.defvjp(_reduce_max_vjp)
_reduce_prod.defvjp(_reduce_prod_vjp)
_einsum.vjps = _EachInput(_einsum_vjp)
_solve_op.defvjp(_solve_vjp_a, _solve_vjp_b)
for _predicate in (is_nan, is_finite, is_inf):
    _predicate.deftaylor(series.zero)


@_public("{}", "math.{}")
def reduce_max(input_tensor, axis=None, keepdims=False) -> Tensor:
    return _reduce_max(input_tensor, axis=_axis(axis), keepdims=keepdims)


@_public("{}", "math.{}")
def reduce_prod(input_tensor, axis=None, keepdims=False) -> Tensor:
    return _reduce_prod(input_tensor, axis=_axis(axis), keepdims=keepdims)


@_public("{}", "linalg.{}")
def einsum(equation: str, *inputs) -> Tensor:
    """Einstein summation as numpy's einsum (explicit '->' or implicit output; no '...')."""
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise ValueError("einsum: '...' is not supported; name every axis with a letter")
    if "->" not in equation:  # implicit: the letters seen once, in alphabetical order
        letters = equation.replace(",", "")
        equation += "->" + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return _einsum(*inputs, equation=equation)


@_public("linalg.{}")
def solve(matrix, rhs) -> Tensor:
    """x with matrix @ x == rhs (rhs has one column per system, as in TensorFlow)."""
    return _solve_op(matrix, rhs)


@_public("{}", "linalg.{}")
def eye(num_rows: int, num_columns: int | None = None, batch_shape=None,
        dtype=np.float64) -> Tensor:
    """The identity matrix (a constant), optionally repeated over `batch_shape`."""
    matrix = np.eye(int(num_rows), None if num_columns is None else int(num_columns),
                    dtype=dtype)
    if batch_shape is not None:
        matrix = np.broadcast_to(matrix, tuple(batch_shape) + matrix.shape)
    return constant(matrix)


@_public("{}", "linalg.{}")
def norm(tensor, ord="euclidean", axis=None, keepdims=False) -> Tensor:
    """The vector norm (over all entries if `axis` is None, or along an int axis) or
    matrix norm (`axis` a pair): 'euclidean'/'fro', 1, np.inf, or a p > 0 for vectors.
    As in TensorFlow, its gradient at 0 is nan (the derivative of sqrt there)."""
    x = _tensor(tensor)
    axis = _axis(axis)
    keepdims = bool(keepdims)
    if ord in ("euclidean", "fro"):
        return sqrt(reduce_sum(square(x), axis=axis, keepdims=keepdims))
    if isinstance(axis, tuple) and len(axis) == 2:  # a matrix norm
        if ord not in (1, np.inf):
            raise ValueError(f"norm: matrix norm ord must be 'euclidean', 'fro', 1 or inf, "
                             f"not {ord!r}")
        down, across = axis if ord == 1 else axis[::-1]
        sums = reduce_sum(abs(x), axis=down, keepdims=True)
        result = reduce_max(sums, axis=across, keepdims=True)
        return result if keepdims else reshape(
            result, shape=tuple(n for a, n in enumerate(x.shape) if a % x.ndim not in
                                {down % x.ndim, across % x.ndim}))
    if ord == 1:
        return reduce_sum(abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return reduce_max(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        return reduce_sum(abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    raise ValueError(f"norm: ord must be 'euclidean', 'fro', 1, inf or a positive number, "
                     f"not {ord!r}")


_tensor_module._ops = sys.modules[__name__]  # a Tensor's operators call the rows above

# Every row of the table: what the language, the formula printer and the public
# API derive their lists from.
PRIMITIVES: tuple[Primitive, ...] = tuple(
    v for v in globals().values() if isinstance(v, Primitive))


def public(namespace: str = "") -> dict[str, object]:
    """The public API's names in `namespace` ("" for tapecli itself, "math", "nn",
    "linalg") and what they are, from the rows' and functions' `api`."""
    found: dict[str, object] = {}
    entries = [(p, p.api) for p in PRIMITIVES] + _FUNCTIONS
    for thing, api in entries:
        own = thing.name if isinstance(thing, Primitive) else thing.__name__
        for path in api:
            home, _, name = path.format(own).rpartition(".")
            if home == namespace:
                found[name] = thing
    return found
