"""custom_gradient: a function that supplies its own gradient, TensorFlow-style."""

from __future__ import annotations

import functools

from .primitive import Primitive, _input, record, state
from .tensor import Tensor


def custom_gradient(f):
    """Decorate `f(*inputs) -> (output, grad_fn)`; `grad_fn(upstream)` returns one
    gradient per input (a tensor, or a tuple of them).

    The body of `f` is recorded like any other code, so a `grad_fn` written with
    tapecli ops can use the body's intermediates and still be differentiated
    again by an outer tape. The output itself depends on the inputs only
    through `grad_fn`.
    """

    @functools.wraps(f)
    def wrapper(*args):
        inputs = tuple(_input(a) for a in args)
        result, grad_fn = f(*inputs)
        result = result if isinstance(result, Tensor) else _input(result)
        output = Tensor(result._value)  # a new identity: the body's path is cut here
        primitive = Primitive(f"custom_gradient({f.__name__})", None)
        primitive.vjps = _GradFnVjps(grad_fn, len(inputs))
        if state.tapes:
            record(primitive, inputs, {}, output)
        return output

    return wrapper


class _GradFnVjps:
    """VJP i of a custom-gradient op: item i of grad_fn(g), called once per adjoint."""

    def __init__(self, grad_fn, n_inputs: int):
        self._grad_fn = grad_fn
        self._n_inputs = n_inputs
        self._last: tuple | None = None

    def __getitem__(self, i: int):
        def vjp(g, ans, *inputs):
            if self._last is None or self._last[0] is not g:
                grads = self._grad_fn(g)
                if not isinstance(grads, (list, tuple)):
                    grads = (grads,)
                if len(grads) != self._n_inputs:
                    raise ValueError(f"custom gradient function returned {len(grads)} "
                                     f"gradients for {self._n_inputs} inputs")
                self._last = (g, tuple(grads))
            grad = self._last[1][i]
            return grad if grad is None or isinstance(grad, Tensor) else _input(grad)
        return vjp
