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
    return np.sum(x, axis=axis, keepdims=keepdims)


# ---- arithmetic ---------------------------------------------------------------
add = Primitive("add", np.add, operator.add, commutative=True)
subtract = Primitive("subtract", np.subtract, operator.sub)
multiply = Primitive("multiply", np.multiply, operator.mul, commutative=True)
divide = Primitive("divide", np.divide, operator.truediv)
negative = Primitive("negative", np.negative, operator.neg)
pow = Primitive("pow", np.power)
square = Primitive("square", np.square, lambda x: x * x)

# ---- elementwise functions ------------------------------------------------------
sin = Primitive("sin", np.sin)
cos = Primitive("cos", np.cos)
tan = Primitive("tan", np.tan)
asin = Primitive("asin", np.arcsin)
acos = Primitive("acos", np.arccos)
atan = Primitive("atan", np.arctan)
sinh = Primitive("sinh", np.sinh)
cosh = Primitive("cosh", np.cosh)
tanh = Primitive("tanh", np.tanh)
asinh = Primitive("asinh", np.arcsinh)
acosh = Primitive("acosh", np.arccosh)
atanh = Primitive("atanh", np.arctanh)
exp = Primitive("exp", np.exp)
expm1 = Primitive("expm1", np.expm1)
log = Primitive("log", np.log)
log2 = Primitive("log2", np.log2)
log10 = Primitive("log10", np.log10)
log1p = Primitive("log1p", np.log1p)
sqrt = Primitive("sqrt", np.sqrt, math.sqrt)
cbrt = Primitive("cbrt", np.cbrt)
abs = Primitive("abs", np.abs, math.fabs)
sign = Primitive("sign", np.sign, _scalar_sign)
sigmoid = Primitive("sigmoid", _sigmoid, _scalar_sigmoid)
softplus = Primitive("softplus", _softplus, _scalar_softplus)
relu = Primitive("relu", lambda x: np.maximum(x, 0.0), lambda x: x if x > 0 or x != x else 0.0)
atan2 = Primitive("atan2", np.arctan2)
hypot = Primitive("hypot", np.hypot)
maximum = Primitive("maximum", np.maximum, lambda x, y: x if x >= y or x != x else y)
minimum = Primitive("minimum", np.minimum, lambda x, y: x if x <= y or x != x else y)
where = Primitive("where", np.where, lambda c, x, y: x if c else y)
# The kinks' derivatives as functions of the language (README, "Formulas"): the step
# with relu's convention heaviside(0) = 0, and a select that picks x where c == 0.
heaviside = Primitive("heaviside", lambda x: np.heaviside(x, 0.0),
                      lambda x: (1.0 if x > 0 else 0.0) if x == x else x)
ifzero = Primitive("ifzero", lambda c, x, y: np.where(c == 0, x, y),
                   lambda c, x, y: x if c == 0 else y)

# ---- shapes, reductions, linear algebra (not elementwise: a recorded graph of them
# holds only for the shapes it was recorded with) ------------------------------------
_reduce_sum = Primitive("reduce_sum", _sum, elementwise=False)
_broadcast_to = Primitive("broadcast_to", lambda x, *, shape: np.broadcast_to(x, shape),
                          elementwise=False)
_reshape = Primitive("reshape", lambda x, *, shape: np.reshape(x, shape), elementwise=False)
getitem = Primitive("getitem", lambda x, *, index: x[index], elementwise=False)
scatter = Primitive("scatter", _scatter, elementwise=False)
_stack = Primitive("stack", lambda *xs, axis=0: np.stack(xs, axis), elementwise=False)
_transpose = Primitive("transpose", lambda x, *, perm=None: np.transpose(x, perm),
                       elementwise=False)
matrix_transpose = Primitive("matrix_transpose", lambda x: np.swapaxes(x, -1, -2),
                             elementwise=False)
matmul = Primitive("matmul", _matmul, elementwise=False)
_cast = Primitive("cast", lambda x, *, dtype: x.astype(dtype), elementwise=False)
identity = Primitive("identity", lambda x: x, lambda x: x)

# ---- no gradient: comparisons, constants of a shape, stop_gradient --------------
less = Primitive("less", np.less, operator.lt, boolean=True)
less_equal = Primitive("less_equal", np.less_equal, operator.le, boolean=True)
greater = Primitive("greater", np.greater, operator.gt, boolean=True)
greater_equal = Primitive("greater_equal", np.greater_equal, operator.ge, boolean=True)
equal = Primitive("equal", np.equal, operator.eq, boolean=True)
not_equal = Primitive("not_equal", np.not_equal, operator.ne, boolean=True)
ones_like = Primitive("ones_like", lambda x: np.ones_like(x, dtype=np.float64), lambda x: 1.0)
zeros_like = Primitive("zeros_like", lambda x: np.zeros_like(x, dtype=np.float64),
                       lambda x: 0.0)
stop_gradient = Primitive("stop_gradient", lambda x: x, lambda x: x)


# ---- vector-Jacobian products ---------------------------------------------------
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


def _reduce_sum_vjp(g, ans, x, *, axis=None, keepdims=False):
    if not keepdims and axis is not None:
        axes = (axis,) if isinstance(axis, int) else axis
        kept = list(x.shape)
        for a in axes:
            kept[a % x.ndim] = 1
        g = reshape(g, shape=tuple(kept))
    return broadcast_to(g, shape=x.shape)


class _EachInput:
    """VJPs of a variadic primitive: `vjps[i]` for any input position i."""

    def __init__(self, vjp):
        self._vjp = vjp

    def __getitem__(self, i):
        return lambda g, ans, *inputs, **params: self._vjp(i, g, ans, *inputs, **params)


add.defvjp(lambda g, ans, x, y: unbroadcast(g, x),
           lambda g, ans, x, y: unbroadcast(g, y))
subtract.defvjp(lambda g, ans, x, y: unbroadcast(g, x),
                lambda g, ans, x, y: unbroadcast(-g, y))
multiply.defvjp(lambda g, ans, x, y: unbroadcast(g * y, x),
                lambda g, ans, x, y: unbroadcast(g * x, y))
divide.defvjp(lambda g, ans, x, y: unbroadcast(g / y, x),
              lambda g, ans, x, y: unbroadcast(-g * (ans / y), y))
negative.defvjp(lambda g, ans, x: -g)
pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)
square.defvjp(lambda g, ans, x: g * (2.0 * x))

sin.defvjp(lambda g, ans, x: g * cos(x))
cos.defvjp(lambda g, ans, x: -g * sin(x))
tan.defvjp(lambda g, ans, x: g * (1.0 + square(ans)))
asin.defvjp(lambda g, ans, x: g / sqrt(1.0 - square(x)))
acos.defvjp(lambda g, ans, x: -g / sqrt(1.0 - square(x)))
atan.defvjp(lambda g, ans, x: g / (1.0 + square(x)))
sinh.defvjp(lambda g, ans, x: g * cosh(x))
cosh.defvjp(lambda g, ans, x: g * sinh(x))
tanh.defvjp(lambda g, ans, x: g * (1.0 - square(ans)))
asinh.defvjp(lambda g, ans, x: g / sqrt(square(x) + 1.0))
acosh.defvjp(lambda g, ans, x: g / sqrt(square(x) - 1.0))
atanh.defvjp(lambda g, ans, x: g / (1.0 - square(x)))
exp.defvjp(lambda g, ans, x: g * ans)
expm1.defvjp(lambda g, ans, x: g * (ans + 1.0))
log.defvjp(lambda g, ans, x: g / x)
log2.defvjp(lambda g, ans, x: g / (x * _LN2))
log10.defvjp(lambda g, ans, x: g / (x * _LN10))
log1p.defvjp(lambda g, ans, x: g / (x + 1.0))
sqrt.defvjp(lambda g, ans, x: g / (2.0 * ans))
cbrt.defvjp(lambda g, ans, x: g / (3.0 * square(ans)))
abs.defvjp(lambda g, ans, x: g * sign(x))
sign.defvjp(lambda g, ans, x: zeros_like(g))
sigmoid.defvjp(lambda g, ans, x: g * (ans * (1.0 - ans)))
softplus.defvjp(lambda g, ans, x: g * sigmoid(x))
relu.defvjp(lambda g, ans, x: where(greater(x, 0.0), g, 0.0))
atan2.defvjp(lambda g, ans, y, x: unbroadcast(g * (x / (square(x) + square(y))), y),
             lambda g, ans, y, x: unbroadcast(-g * (y / (square(x) + square(y))), x))
hypot.defvjp(lambda g, ans, a, b: _hypot_vjp(g, ans, a, b, True),
             lambda g, ans, a, b: _hypot_vjp(g, ans, a, b, False))
maximum.defvjp(lambda g, ans, x, y: unbroadcast(where(greater_equal(x, y), g, 0.0), x),
               lambda g, ans, x, y: unbroadcast(where(greater_equal(x, y), 0.0, g), y))
minimum.defvjp(lambda g, ans, x, y: unbroadcast(where(less_equal(x, y), g, 0.0), x),
               lambda g, ans, x, y: unbroadcast(where(less_equal(x, y), 0.0, g), y))
heaviside.defvjp(lambda g, ans, x: zeros_like(g))
ifzero.defvjp(None,
              lambda g, ans, c, x, y: unbroadcast(where(equal(c, 0.0), g, 0.0), x),
              lambda g, ans, c, x, y: unbroadcast(where(equal(c, 0.0), 0.0, g), y))
where.defvjp(None,
             lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
             lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y))

_reduce_sum.defvjp(_reduce_sum_vjp)
_broadcast_to.defvjp(lambda g, ans, x, *, shape: unbroadcast(g, x))
_reshape.defvjp(lambda g, ans, x, *, shape: reshape(g, shape=x.shape))
getitem.defvjp(lambda g, ans, x, *, index: scatter(g, index=index, shape=x.shape))
scatter.defvjp(lambda g, ans, x, *, index, shape: getitem(g, index=index))
_stack.vjps = _EachInput(lambda i, g, ans, *xs, axis=0:
                        getitem(g, index=(slice(None),) * (axis % ans.ndim) + (i,)))
_transpose.defvjp(lambda g, ans, x, *, perm=None:
                 transpose(g, perm=None if perm is None else tuple(np.argsort(perm))))
matrix_transpose.defvjp(lambda g, ans, x: matrix_transpose(g))
matmul.defvjp(lambda g, ans, a, b: unbroadcast(matmul(g, matrix_transpose(b)), a),
              lambda g, ans, a, b: unbroadcast(matmul(matrix_transpose(a), g), b))
# Gradients flow only between float types: a cast to int or bool stops them, as in TF.
_cast.defvjp(lambda g, ans, x, *, dtype:
             cast(g, dtype=x.dtype) if x.dtype.kind == "f" and ans.dtype.kind == "f" else None)
identity.defvjp(lambda g, ans, x: g)


# ---- Taylor rules (tapecli.series): series in, series out, one per primitive ------
def defzero(*prims) -> None:
    """Ops without a derivative: their series is their value alone (as jet's defzero)."""
    for prim in prims:
        prim.deftaylor(series.zero)


add.deftaylor(series.add)
subtract.deftaylor(series.subtract)
multiply.deftaylor(series.multiply)
divide.deftaylor(series.divide)
negative.deftaylor(series.negative)
pow.deftaylor(series.pow)
square.deftaylor(series.square)
sin.deftaylor(series.sin)
cos.deftaylor(series.cos)
tan.deftaylor(series.tan)
asin.deftaylor(series.asin)
acos.deftaylor(series.acos)
atan.deftaylor(series.atan)
sinh.deftaylor(series.sinh)
cosh.deftaylor(series.cosh)
tanh.deftaylor(series.tanh)
asinh.deftaylor(series.asinh)
acosh.deftaylor(series.acosh)
atanh.deftaylor(series.atanh)
exp.deftaylor(series.exp)
expm1.deftaylor(series.expm1)
log.deftaylor(series.log)
log2.deftaylor(series.log2)
log10.deftaylor(series.log10)
log1p.deftaylor(series.log1p)
sqrt.deftaylor(series.sqrt)
cbrt.deftaylor(series.cbrt)
abs.deftaylor(series.abs)
sigmoid.deftaylor(series.sigmoid)
softplus.deftaylor(series.softplus)
relu.deftaylor(series.relu)
atan2.deftaylor(series.atan2)
hypot.deftaylor(series.hypot)
maximum.deftaylor(series.maximum)
minimum.deftaylor(series.minimum)
where.deftaylor(series.where)
ifzero.deftaylor(series.ifzero)
identity.deftaylor(series.identity)
defzero(sign, heaviside, stop_gradient, ones_like, zeros_like)
defzero(less, less_equal, greater, greater_equal, equal, not_equal)


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


def reduce_sum(input_tensor, axis=None, keepdims=False) -> Tensor:
    return _reduce_sum(input_tensor, axis=_axis(axis), keepdims=keepdims)


def broadcast_to(input, shape) -> Tensor:  # noqa: A002  (TensorFlow's argument name)
    shape = tuple(shape)
    if isinstance(input, Tensor) and input.shape == shape:
        return input
    return _broadcast_to(input, shape=shape)


def reshape(tensor, shape) -> Tensor:
    return _reshape(tensor, shape=tuple(shape) if isinstance(shape, (list, tuple)) else shape)


def stack(values, axis=0) -> Tensor:
    return _stack(*values, axis=axis)


def transpose(a, perm=None) -> Tensor:
    return _transpose(a, perm=_axis(perm))


def cast(x, dtype) -> Tensor:
    return _cast(x, dtype=np.dtype(dtype))


# ---- composites: built from the primitives above, differentiable through them -----
def divide_no_nan(x, y) -> Tensor:
    zero = equal(y, 0.0)
    return where(zero, 0.0, divide(x, _safe(y, zero)))


def log_base(x, base) -> Tensor:
    return log(x) / log(base)


def reduce_mean(x, axis=None, keepdims=False) -> Tensor:
    x = _tensor(x)
    total = reduce_sum(x, axis=axis, keepdims=keepdims)
    return total / float(x._value.size // max(total._value.size, 1))


def clip_by_value(t, clip_value_min, clip_value_max) -> Tensor:
    return minimum(maximum(t, clip_value_min), clip_value_max)


def clip_by_norm(t, clip_norm, axes=None) -> Tensor:
    """Scale `t` so that its L2 norm (over `axes`) is at most `clip_norm`."""
    l2sum = reduce_sum(square(t), axis=axes, keepdims=True)
    positive = greater(l2sum, 0.0)
    l2norm = where(positive, sqrt(where(positive, l2sum, 1.0)), l2sum)
    return t * clip_norm / maximum(l2norm, clip_norm)


def zeros(shape, dtype=np.float64) -> Tensor:
    return constant(np.zeros(shape, dtype=dtype), dtype)


def ones(shape, dtype=np.float64) -> Tensor:
    return constant(np.ones(shape, dtype=dtype), dtype)


def linspace(start, stop, num) -> Tensor:
    """`num` evenly spaced values from `start` to `stop` inclusive (a constant)."""
    return constant(np.linspace(float(start), float(stop), int(num)))


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else constant(x)


_tensor_module._ops = sys.modules[__name__]  # a Tensor's operators call the rows above
