"""Primitives: named numpy functions with their derivative rules, and the dispatcher
that applies them under the tapes.

A Primitive is one row of the table in tapecli.ops: its numpy forward, its
vector-Jacobian products (reverse mode), its Taylor rule (forward Taylor mode) and
the flags that the consumers of a recorded graph read (elementwise, boolean,
commutative). Calling it runs the forward and tells every recording tape and op
observer of the thread; what is recording lives here, beside the dispatcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from .tensor import Tensor, Variable, constant


class _ThreadState(threading.local):
    """What is recording, per thread (as in TensorFlow, a tape sees only the
    ops of the thread that entered it)."""

    def __init__(self):
        self.tapes: list = []  # GradientTapes inside their `with` block, outermost first
        self.observers: list = []  # called with every op (tapecli.graph.capture)
        self.differentiating = None  # the primitive whose VJP runs (tapecli.domain)
        self.memo: dict | None = None  # see tapecli.tape.shared_subexpressions


state = _ThreadState()


class Primitive:
    """An op of the tape: `forward` on numpy arrays, one VJP per tensor input.

    Positional arguments are tensor inputs (numbers and arrays are made
    constants); keyword arguments are static parameters such as `axis`.
    A VJP is `vjp(g, ans, *inputs, **params)` written with tapecli ops, so that
    it can be recorded and differentiated again. `None` marks an input that has
    no gradient; a primitive without VJPs (a comparison) is never recorded.

    Flags: `elementwise` (the op maps equal-shaped arrays entry by entry, so a
    recorded graph of such ops runs on any batch shape), `boolean` (its result is
    a truth value), `commutative` (f(a, b) == f(b, a) exactly in IEEE arithmetic).
    `taylor` is the forward Taylor-mode rule (see tapecli.taylor), set with
    `deftaylor` beside `defvjp`; `ball` the ball-arithmetic rule (tapecli.ball_rules),
    set with `defball`.
    """

    __slots__ = ("name", "forward", "vjps", "scalar", "taylor", "ball", "elementwise",
                 "boolean", "commutative")

    def __init__(self, name: str, forward: Callable, scalar: Callable | None = None, *,
                 elementwise: bool = True, boolean: bool = False, commutative: bool = False):
        self.name = name
        self.forward = forward
        self.vjps: tuple = ()
        self.taylor: Callable | None = None
        self.ball: Callable | None = None
        self.elementwise = elementwise
        self.boolean = boolean
        self.commutative = commutative
        # float -> float for the one-point fast path. It must agree with `forward`
        # to the last bit, so by default a ufunc is called on the float itself:
        # libm's math.exp and numpy's np.exp differ in the last place now and then.
        if scalar is None and isinstance(forward, np.ufunc):
            scalar = _on_float(forward)
        self.scalar = scalar

    def defvjp(self, *vjps) -> None:
        self.vjps = vjps

    def deftaylor(self, rule: Callable) -> None:
        self.taylor = rule

    def defball(self, rule: Callable) -> None:
        """Set the ball-arithmetic rule: `rule(*args, **params)` on python-flint
        `arb_series` arguments, returning an `arb_series` of the same length."""
        self.ball = rule

    def __call__(self, *args, **params) -> Tensor:
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
            record(self, inputs, params, output)
        for observe in state.observers:
            observe(self, inputs, params, output)
        if memo is not None and key is not None:
            memo[key] = output
        return output

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def record(primitive, inputs: tuple[Tensor, ...], params: dict, output: Tensor) -> None:
    """Offer the op to every tape of the thread (each keeps it if it watches an input)."""
    for tape in state.tapes:
        tape._record(primitive, inputs, params, output)


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
        if value.trainable:
            for tape in state.tapes:  # tapes that watch accessed variables watch it
                tape._variable_accessed(value)
        return value._read()
    if isinstance(value, Tensor):
        return value
    return constant(value)
