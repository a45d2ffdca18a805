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
from .module import Module
from .ops import public as _public
from .parser import parse
from .tape import GradientTape, UnconnectedGradients
from .taylor import jet
from .tensor import Tensor, Variable, constant, convert_to_tensor, name_scope

__version__ = "0.1.0"

float64, float32, bool = _np.float64, _np.float32, _np.bool_  # noqa: A001
int32, int64 = _np.int32, _np.int64

# The ops under TensorFlow's names, from the `api` of the rows in tapecli.ops.
_OPS = _public()
globals().update(_OPS)
math = _Namespace(**_public("math"))
nn = _Namespace(**_public("nn"))
linalg = _Namespace(**_public("linalg"))


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
    "convert_to_tensor", "custom_gradient", "optimizers", "Module", "name_scope",
    # ops, under TensorFlow's names (stop_gradient among them)
    *_OPS, "math", "nn", "linalg", "random",
    "float64", "float32", "bool", "int32", "int64",
    # expressions
    "parse", "Expression", "jacobian", "jet",
    "TapecliError", "UsageError", "DataError", "ExpressionSyntaxError",
]
