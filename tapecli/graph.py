"""The recorded graph: a function's op calls captured once, as nodes that keep their primitive.

Differentiating an expression always runs the same ops in the same order,
whatever the point: the tape's backward pass depends on the graph, not on the
numbers. So a function of tensors (a derivative driver's body, say) is run once
on a probe point while every op call is observed, and what it did becomes a
Graph: input nodes, constant nodes and op nodes, each op node holding its
`Primitive`, its argument nodes and its static parameters. Every consumer of a
recorded function reads this one object: the numpy executor (tapecli.plan), the
Taylor propagator (tapecli.taylor), the formula printer, the tape listing.

`capture` simplifies while it records, with rewrites that are exact in IEEE
arithmetic, so running the graph gives bit for bit what the tape gives:

- constants fold (including the comparisons inside VJPs, such as `b == 0`);
- `ones_like` seeds become 1.0, multiplications by 1.0 vanish, negations move
  out of products and quotients and cancel, x**2 becomes x*x (as numpy computes it);
- identical ops are one node (commutative ones whichever way round), and only
  nodes that reach an output are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import ops
from .primitive import state
from .tensor import Tensor, constant


class NotCompilable(Exception):
    """The function is not a shape-independent sequence of elementwise ops."""


class Node:
    """One value of a recorded function: an input, a constant or an op.

    `prim` is the op's Primitive (None for inputs and constants), `args` its
    argument nodes, `params` its static parameters; `value` is a constant's
    0-d array, `input` an input's position. `origin` is the primitive whose VJP
    was running when the op was recorded (None in the forward pass).
    """

    __slots__ = ("prim", "args", "params", "value", "input", "origin", "index")

    def __init__(self, prim=None, args=(), params=None, value=None, input=None, origin=None):
        self.prim, self.args, self.params = prim, args, params or {}
        self.value = value
        self.input = input
        self.origin = origin
        self.index = None  # free for a consumer: the plan's register, say

    @property
    def is_constant(self) -> bool:
        return self.value is not None

    def __repr__(self) -> str:
        if self.input is not None:
            return f"<input {self.input}>"
        if self.value is not None:
            return f"<constant {self.value!r}>"
        return f"<{self.prim.name} of {len(self.args)}>"


class Graph:
    """Inputs -> outputs as nodes; `nodes` lists every node reachable from the
    outputs (inputs included) with each after its arguments."""

    __slots__ = ("inputs", "outputs", "nodes")

    def __init__(self, inputs: Sequence[Node], outputs: Sequence[Node]):
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.nodes = tuple(topological(self.outputs))

    def op_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.prim is not None]


def capture(function: Callable[[list[Tensor]], list[Tensor]], n_inputs: int,
            fold: bool = True) -> Graph:
    """Run `function` (tensors in -> tensors out) on a probe point and record it.

    With `fold=False` operations on constants stay nodes (`pi/3` is a division, not
    the double nearest pi/3), for ball arithmetic (tapecli.balls).
    Raises NotCompilable if it calls an op that is not elementwise, or uses a
    non-scalar constant: the graph would then hold only for the probe's shape."""
    probe = [constant(np.full(2, 0.5 + i)) for i in range(n_inputs)]
    builder = _Builder(probe, fold)
    failure: list[Exception] = []

    def observe(prim, inputs, params, output):
        if not failure:
            try:
                builder.capture(prim, inputs, params, output)
            except NotCompilable as e:
                failure.append(e)

    state.observers.append(observe)
    try:
        with np.errstate(all="ignore"):
            outputs = function(probe)
    finally:
        state.observers.remove(observe)
    if failure:
        raise failure[0]
    return Graph([builder.node_of(t) for t in probe], [builder.node_of(t) for t in outputs])


class _Builder:
    """Turns observed op calls into simplified nodes (folding, CSE, rewrites)."""

    def __init__(self, inputs: Sequence[Tensor], fold: bool = True):
        self.fold = fold
        self._serial: dict[int, int] = {}  # id(node) -> when it was made
        self.nodes: dict[int, Node] = {t._id: self._new(Node(input=i))
                                       for i, t in enumerate(inputs)}
        self._seen: dict[tuple, Node] = {}
        self._constants: dict[tuple, Node] = {}

    def constant(self, value) -> Node:
        """One node per constant value (and dtype, and sign of zero), so CSE sees them equal."""
        value = np.asarray(value)
        key = (value.dtype.str, value.tobytes())
        node = self._constants.get(key)
        if node is None:
            node = self._constants[key] = self._new(Node(value=value))
        return node

    def node_of(self, tensor: Tensor) -> Node:
        node = self.nodes.get(tensor._id)
        if node is None:  # a tensor made outside the captured ops: a constant
            if tensor._value.ndim:
                raise NotCompilable("a non-scalar constant ties the graph to one shape")
            node = self.nodes[tensor._id] = self.constant(tensor._value)
        return node

    def capture(self, prim, inputs, params, output) -> None:
        if not prim.elementwise:
            raise NotCompilable(f"{prim.name} is not elementwise")
        self.nodes[output._id] = self.make(prim, [self.node_of(x) for x in inputs], params)

    def make(self, prim, args: list[Node], params: dict) -> Node:
        if self.fold and all(a.value is not None for a in args):
            with np.errstate(all="ignore"):
                return self.constant(prim.forward(*(a.value for a in args), **params))
        if prim.capture is not None:  # the row's exact rewrite (Primitive.capture)
            found = prim.capture(self, args)
            if found is not None:
                return found
        if prim is ops.pow and args[1].value is not None:
            # Exact: IEEE pow(x, 0) = 1 and pow(x, 1) = x; numpy computes x**2 as
            # x*x and x**-1 as 1/x (tests check plan and tape agree bit for bit).
            exponent = float(args[1].value)
            if exponent == 0.0:
                return self.constant(1.0)
            if exponent == 1.0:
                return args[0]
            if exponent == 2.0:
                return self.make(ops.multiply, [args[0], args[0]], {})
            if exponent == -1.0:
                return self.make(ops.divide, [self.constant(1.0), args[0]], {})
        if prim is ops.where:
            if args[0].value is not None:
                return args[1] if args[0].value else args[2]
            if args[1] is args[2] or (args[1].value is not None and args[2].value is not None
                                      and args[1].value.dtype == args[2].value.dtype
                                      and args[1].value == args[2].value):
                return args[1]
        if prim.commutative and self._serial[id(args[1])] < self._serial[id(args[0])]:
            # IEEE a+b = b+a and a*b = b*a: one node for both, its arguments in the
            # order they were made (not by address: a Taylor product's sums run in
            # argument order, so the order must not change from process to process).
            args = [args[1], args[0]]
        key = (prim, tuple(id(a) for a in args), tuple(sorted(params.items())))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._new(Node(prim, tuple(args), params,
                                                     origin=state.differentiating))
        return found

    def _new(self, node: Node) -> Node:
        self._serial[id(node)] = len(self._serial)  # the order of making, for make
        return node

    # Exact rewrites of + - * / and negation, which the rows of those ops name as
    # their `capture`; each returns None when none applies.
    # Multiplying or dividing by 1 changes nothing; IEEE rounding is symmetric in
    # sign, so negations move out of products and quotients, cancel in pairs, and
    # turn a + (-b) into a - b.
    def negative(self, args: list[Node]) -> Node | None:
        a = args[0]
        return a.args[0] if a.prim is ops.negative else None

    def product(self, prim, args: list[Node]) -> Node | None:
        a, b = args
        if b.prim is not None and b.prim.boolean or a.prim is not None and a.prim.boolean:
            return None  # 1.0 * (x > 0) is a float, not the boolean
        if _is_number(b, 1.0):
            return a
        if prim is ops.multiply and _is_number(a, 1.0):
            return b
        if prim is ops.multiply and _is_number(a, -1.0):
            return self.make(ops.negative, [b], {})
        if a.prim is ops.negative or b.prim is ops.negative:
            inner = [x.args[0] if x.prim is ops.negative else x for x in (a, b)]
            product = self.make(prim, inner, {})
            if (a.prim is ops.negative) != (b.prim is ops.negative):
                return self.make(ops.negative, [product], {})
            return product
        return None

    def add(self, args: list[Node]) -> Node | None:
        a, b = args
        if b.prim is ops.negative:
            return self.make(ops.subtract, [a, b.args[0]], {})
        if a.prim is ops.negative:
            return self.make(ops.subtract, [b, a.args[0]], {})
        return None

    def subtract(self, args: list[Node]) -> Node | None:
        a, b = args
        if b.prim is ops.negative:
            return self.make(ops.add, [a, b.args[0]], {})
        if a.prim is ops.negative:  # -a - b = -(a + b)
            return self.make(ops.negative, [self.make(ops.add, [a.args[0], b], {})], {})
        return None




def _is_number(node: Node, number: float) -> bool:
    return node.value is not None and node.value.dtype.kind == "f" and node.value == number


def topological(outputs: Sequence, children: Callable = lambda node: node.args) -> list:
    """Nodes reachable from `outputs`, each after its `children` (its arguments, for
    a graph's nodes) and each once: a post-order walk without recursion."""
    order: list = []
    done: set[int] = set()
    stack = [(n, False) for n in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in reversed(children(node)) if id(a) not in done)
    return order
