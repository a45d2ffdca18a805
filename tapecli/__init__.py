"""tapecli: reverse-mode automatic differentiation on a GradientTape, over numpy.

The names are TensorFlow's, so GradientTape code written for TensorFlow runs with
`import tapecli as tf` wherever it uses only ops that tapecli has.
"""

from types import SimpleNamespace as _Namespace

import numpy as _np

from . import optimizers
from .custom_gradient import custom_gradient
from .derivatives import jacobian  # the Jacobian of several expressions at a point
from .errors import DataError, ExpressionSyntaxError, TapecliError, UsageError
from .expression import Expression
from .ops import (
    abs, acos, acosh, add, asin, asinh, atan, atan2, atanh, broadcast_to, cast, cbrt,
    clip_by_norm, clip_by_value, cos, cosh, divide, divide_no_nan, einsum, equal, exp, expm1,
    eye, greater, greater_equal, hypot, identity, less, less_equal, linspace, log, log1p, log2,
    log10, log_base, matmul, maximum, minimum, multiply, negative, norm, not_equal, ones,
    ones_like, pow, reduce_max, reduce_mean, reduce_prod, reduce_sum, relu, reshape, sigmoid,
    sign, sin, sinh, softplus, sqrt, square, stack, stop_gradient, subtract, tan, tanh,
    transpose, where, zeros, zeros_like,
)
from . import ops as _ops  # the ops TensorFlow has only under tf.math, tf.nn, tf.linalg
from .module import Module
from .parser import parse
from .tape import GradientTape, UnconnectedGradients
from .taylor import jet
from .tensor import Tensor, Variable, constant, convert_to_tensor, name_scope

__version__ = "0.1.0"

float64, float32, bool = _np.float64, _np.float32, _np.bool_  # noqa: A001
int32, int64 = _np.int32, _np.int64
truediv = divide

math = _Namespace(
    abs=abs, acos=acos, acosh=acosh, add=add, asin=asin, asinh=asinh, atan=atan,
    atan2=atan2, atanh=atanh, cos=cos, cosh=cosh, divide=divide,
    divide_no_nan=divide_no_nan, equal=equal, exp=exp, expm1=expm1, greater=greater,
    greater_equal=greater_equal, is_finite=_ops.is_finite, is_inf=_ops.is_inf,
    is_nan=_ops.is_nan, less=less, less_equal=less_equal, log=log, log1p=log1p, maximum=maximum, minimum=minimum,
    multiply=multiply, negative=negative, not_equal=not_equal, pow=pow,
    reduce_max=reduce_max, reduce_mean=reduce_mean, reduce_prod=reduce_prod,
    reduce_sum=reduce_sum, sigmoid=sigmoid, sign=sign, sin=sin, sinh=sinh, softplus=softplus,
    sqrt=sqrt, square=square, subtract=subtract, tan=tan, tanh=tanh, truediv=divide,
)
nn = _Namespace(elu=_ops.elu, relu=relu, sigmoid=sigmoid, softplus=softplus)
linalg = _Namespace(einsum=einsum, eye=eye, matmul=matmul, matrix_transpose=transpose,
                    norm=norm, solve=_ops.solve)


class _Random:
    """tf.random's constructors, drawing from one seedable numpy Generator."""

    def __init__(self):
        self._rng = None  # made on first use: numpy.random is slow to import

    def set_seed(self, seed: int) -> None:
        self._rng = _np.random.default_rng(seed)

    def _generator(self, seed):
        if seed is not None:
            return _np.random.default_rng(seed)
        if self._rng is None:
            self._rng = _np.random.default_rng()
        return self._rng

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=float64, seed=None) -> Tensor:
        rng = self._generator(seed)
        return constant(rng.normal(mean, stddev, size=tuple(shape)), dtype)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=float64, seed=None) -> Tensor:
        rng = self._generator(seed)
        return constant(rng.uniform(minval, maxval, size=tuple(shape)), dtype)


random = _Random()

__all__ = [
    # the tape
    "GradientTape", "UnconnectedGradients", "Tensor", "Variable", "constant",
    "convert_to_tensor", "custom_gradient", "stop_gradient", "optimizers", "Module",
    "name_scope",
    # ops, under TensorFlow's names
    "abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "broadcast_to",
    "cast", "cbrt", "clip_by_norm", "clip_by_value", "cos", "cosh", "divide", "divide_no_nan",
    "einsum", "equal", "exp", "expm1", "eye", "greater", "greater_equal", "hypot", "identity",
    "less", "less_equal", "linspace", "log", "log1p", "log2", "log10", "log_base", "matmul",
    "maximum", "minimum", "multiply", "negative", "norm", "not_equal", "ones", "ones_like",
    "pow", "reduce_max", "reduce_mean", "reduce_prod", "reduce_sum", "relu", "reshape",
    "sigmoid", "sign", "sin", "sinh", "softplus", "sqrt",
    "square", "stack", "subtract", "tan", "tanh", "transpose", "truediv", "where", "zeros",
    "zeros_like", "math", "nn", "linalg", "random",
    "float64", "float32", "bool", "int32", "int64",
    # expressions
    "parse", "Expression", "jacobian", "jet",
    "TapecliError", "UsageError", "DataError", "ExpressionSyntaxError",
]
