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

from .tensor import Tensor, Variable, as_weak, constant, weak_dtype


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

    Every fact about the op is a column of its row (tapecli.ops), read by the
    consumers of a recorded graph and by the language; no other module keeps a
    list of primitives:

    - flags: `elementwise` (the op maps equal-shaped arrays entry by entry, so a
      recorded graph of such ops runs on any batch shape), `boolean` (its result
      is a truth value), `commutative` (f(a, b) == f(b, a) exactly in IEEE);
    - `taylor`: the forward Taylor-mode rule (tapecli.series), or a family's;
      `ball`: the ball-arithmetic rule (tapecli.ball_rules), set with `defball`;
    - `language`: its name in the expression language (None: not a word of it),
      with `arity` (a count, or a tuple of allowed counts), `aliases` (other
      tools' names for it, suggested on a miss) and `call` (what a call in the
      language runs; default the op itself);
    - `operator`: the grammar's alias when an operator means the op (`sub`);
    - `latex`: how a formula prints a call: a command such as `\\sin` (then
      `\\sin\\left(x\\right)`) or a function of the arguments' LaTeX;
    - `capture`: an exact rewrite when a graph is captured (tapecli.graph): a
      function of the graph's builder and the argument nodes, giving a node or
      None (no rewrite applies);
    - `formula`: how a formula reads the op (a function of a tapecli.formula
      builder and the arguments' terms) when it is arithmetic, not a call;
      `condition`: for a comparison, (test, compare q - p instead of p - q,
      swap the branches) as a formula reads `where(p < q, a, b)`;
    - `exact`: float64 computes it exactly, or tapecli.accuracy can check at a
      point that it did (a sum by two-sum, a product by its error term);
    - `api`: where the public API shows it (`"{}"`: tapecli.NAME, `"math.{}"`:
      tapecli.math.NAME; a string without braces is a path of its own).
    """

    __slots__ = ("name", "forward", "vjps", "scalar", "taylor", "ball", "elementwise",
                 "boolean", "commutative", "language", "arity", "aliases", "call",
                 "operator", "latex", "capture", "formula", "condition", "api", "exact")

    def __init__(self, name: str, forward: Callable, scalar: Callable | None = None, *,
                 elementwise: bool = True, boolean: bool = False, commutative: bool = False,
                 taylor: Callable | None = None, ball: Callable | None = None,
                 language: str | None = None, arity: int | tuple[int, ...] | None = None,
                 aliases: tuple[str, ...] = (), call: Callable | None = None,
                 operator: str | None = None, latex: str | Callable | None = None,
                 capture: Callable | None = None, formula: Callable | None = None,
                 condition: tuple | None = None, api: tuple[str, ...] = (),
                 exact: bool = False):
        self.name = name
        self.forward = forward
        self.vjps: tuple = ()
        self.taylor = taylor
        self.ball = ball
        self.elementwise = elementwise
        self.boolean = boolean
        self.commutative = commutative
        self.language = language
        self.arity = arity if arity is not None or language is None else 1
        self.aliases = aliases
        self.call = call if call is not None else self
        self.operator = operator
        if latex is None and language is not None:
            latex = rf"\operatorname{{{language}}}"
        self.latex = latex
        self.capture = capture
        self.formula = formula
        self.condition = condition
        self.api = api
        self.exact = exact
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
            inputs = _inputs(args)
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
        # Overflow gives inf and 0/0 nan silently, as in TensorFlow: numpy's
        # RuntimeWarnings would point at this line, not at the user's code.
        with np.errstate(all="ignore"):
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
        found = memo[key] = constant(float(number))
    return found


def _inputs(args: tuple) -> tuple[Tensor, ...]:
    """The op's arguments as tensors: numbers, lists and arrays take the dtype of
    the tensors beside them (tensor.as_weak), so float32 stays float32."""
    for a in args:
        if type(a) is not Tensor:
            break
    else:
        return args
    like = weak_dtype(args)
    return tuple(_input(a, like) for a in args)


def _input(value, like=None) -> Tensor:
    if type(value) is Tensor:
        return value
    if type(value) is Variable:
        if value.trainable:
            for tape in state.tapes:  # tapes that watch accessed variables watch it
                tape._variable_accessed(value)
        return value._read()
    if isinstance(value, Tensor):
        return value
    return Tensor(as_weak(value, like))
