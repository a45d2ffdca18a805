"""Primitives: named numpy functions with vector-Jacobian products, applied under the tape."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import tape as _tape
from .tensor import Tensor, Variable, constant


class Primitive:
    """An op of the tape: `forward` on numpy arrays, one VJP per tensor input.

    Positional arguments are tensor inputs (numbers and arrays are made
    constants); keyword arguments are static parameters such as `axis`.
    A VJP is `vjp(g, ans, *inputs, **params)` written with tapecli ops, so that
    it can be recorded and differentiated again. `None` marks an input that has
    no gradient; a primitive without VJPs (a comparison) is never recorded.
    """

    __slots__ = ("name", "forward", "vjps", "scalar")

    def __init__(self, name: str, forward: Callable, scalar: Callable | None = None):
        self.name = name
        self.forward = forward
        self.vjps: tuple = ()
        # float -> float for the one-point fast path. It must agree with `forward`
        # to the last bit, so by default a ufunc is called on the float itself:
        # libm's math.exp and numpy's np.exp differ in the last place now and then.
        if scalar is None and isinstance(forward, np.ufunc):
            scalar = _on_float(forward)
        self.scalar = scalar

    def defvjp(self, *vjps) -> None:
        self.vjps = vjps

    def __call__(self, *args, **params) -> Tensor:
        state = _tape.state
        memo = state.memo
        if memo is None:
            inputs = tuple(_input(a) for a in args)
        else:
            # Inside tapecli.tape.shared_subexpressions(): the same op on the same
            # inputs gives the same tensor, computed and recorded once.
            inputs = tuple(_constant_in(memo, a) if type(a) in (float, int) else _input(a)
                           for a in args)
            key = (self, *[x._id for x in inputs], *params.items())
            try:
                found = memo.get(key)
            except TypeError:  # an unhashable parameter (an index): not shared
                found = key = None
            if found is not None:
                return found
        value = self.forward(*(x._value for x in inputs), **params)
        output = Tensor(value if type(value) is np.ndarray else np.asarray(value))
        if self.vjps and state.tapes:
            _tape.record(self, inputs, params, output)
        for observe in state.observers:
            observe(self, inputs, params, output)
        if memo is not None and key is not None:
            memo[key] = output
        return output

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def _on_float(ufunc: np.ufunc) -> Callable:
    def scalar(*args):
        return float(ufunc(*args))
    return scalar


def _constant_in(memo: dict, number) -> Tensor:
    key = ("constant", float(number).hex())  # hex keeps -0.0 apart from 0.0
    found = memo.get(key)
    if found is None:
        found = memo[key] = constant(number)
    return found


def _input(value) -> Tensor:
    if type(value) is Tensor:
        return value
    if type(value) is Variable:
        if value.trainable and _tape.state.tapes:
            _tape.variable_accessed(value)
        return value._read()
    if isinstance(value, Tensor):
        return value
    return constant(value)
