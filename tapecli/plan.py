"""Compiled plans: the tape's ops recorded once, replayed as bound numpy calls.

Differentiating an expression always runs the same ops in the same order,
whatever the point: the tape's backward pass depends on the graph, not on the
numbers. So a derivative driver is run once on a probe point while every op
call is captured, and the captured program is simplified and replayed for
every later point:

- constants fold (including the comparisons inside VJPs, such as `b == 0`);
- `ones_like` seeds become 1.0, multiplications by 1.0 vanish, negations move
  out of products and cancel, x**2 becomes x*x (as numpy computes it);
- identical ops are computed once, ops that reach no output are dropped.

Every rewrite is exact in IEEE arithmetic, so a plan gives bit for bit what
the tape gives. Large batches run in chunks on two threads (numpy releases the
GIL inside its loops), each intermediate in a reused scratch buffer; a single
point runs on Python floats through the primitives' `scalar` functions (numpy's
own loops, called on floats), falling back to numpy arrays whenever a float op
raises (1/0 in Python), so IEEE results stay.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from . import ops
from . import tape as _tape
from .tensor import Tensor

# Measured on 2 cores: chunks of 64k rows (512 KiB per intermediate)
# balance numpy's per-call cost against cache misses; below PARALLEL_ROWS one
# thread is faster than two.
CHUNK_ROWS = 65536
PARALLEL_ROWS = 20000
_ELEMENTWISE = frozenset({
    ops.add, ops.subtract, ops.multiply, ops.divide, ops.negative, ops.pow, ops.square,
    ops.sin, ops.cos, ops.tan, ops.asin, ops.acos, ops.atan, ops.sinh, ops.cosh, ops.tanh,
    ops.asinh, ops.acosh, ops.atanh, ops.exp, ops.expm1, ops.log, ops.log2, ops.log10,
    ops.log1p, ops.sqrt, ops.cbrt, ops.abs, ops.sign, ops.sigmoid, ops.softplus, ops.relu,
    ops.atan2, ops.hypot, ops.maximum, ops.minimum, ops.where, ops.identity,
    ops.less, ops.less_equal, ops.greater, ops.greater_equal, ops.equal, ops.not_equal,
    ops.ones_like, ops.zeros_like, ops.stop_gradient,
})
_BOOLEAN = frozenset({ops.less, ops.less_equal, ops.greater, ops.greater_equal, ops.equal,
                      ops.not_equal})
_ARITHMETIC = frozenset({ops.add, ops.subtract, ops.multiply, ops.divide, ops.negative})
_COMMUTATIVE = frozenset({ops.add, ops.multiply})
_SCALAR_FALLBACK = (ArithmeticError, ValueError)


class NotCompilable(Exception):
    """The program is not a shape-independent sequence of elementwise ops."""


class _Node:
    __slots__ = ("prim", "args", "params", "value", "input", "index")

    def __init__(self, prim=None, args=(), params=None, value=None, input=None):
        self.prim, self.args, self.params = prim, args, params
        self.value = value    # constants: a 0-d array
        self.input = input    # inputs: the position in the input list
        self.index = None     # register, assigned when the plan is laid out


class _Builder:
    """Turns captured op calls into simplified nodes (folding, CSE, rewrites)."""

    def __init__(self, inputs: Sequence[Tensor]):
        self.nodes: dict[int, _Node] = {t._id: _Node(input=i) for i, t in enumerate(inputs)}
        self._seen: dict[tuple, _Node] = {}
        self._constants: dict[tuple, _Node] = {}

    def _const(self, value) -> _Node:
        """One node per constant value (and dtype, and sign of zero), so CSE sees them equal."""
        value = np.asarray(value)
        key = (value.dtype.str, value.tobytes())
        node = self._constants.get(key)
        if node is None:
            node = self._constants[key] = _Node(value=value)
        return node

    def node_of(self, tensor: Tensor) -> _Node:
        node = self.nodes.get(tensor._id)
        if node is None:  # a tensor made outside the captured ops: a constant
            if tensor._value.ndim:
                raise NotCompilable("a non-scalar constant ties the program to one shape")
            node = self.nodes[tensor._id] = self._const(tensor._value)
        return node

    def capture(self, prim, inputs, params, output) -> None:
        if prim not in _ELEMENTWISE:
            raise NotCompilable(f"{prim.name} is not elementwise")
        self.nodes[output._id] = self._make(prim, [self.node_of(x) for x in inputs], params)

    def _make(self, prim, args: list[_Node], params: dict) -> _Node:
        if prim is ops.ones_like:
            return self._const(1.0)
        if prim is ops.zeros_like:
            return self._const(0.0)
        if prim in (ops.identity, ops.stop_gradient):
            return args[0]
        if all(a.value is not None for a in args):
            with np.errstate(all="ignore"):
                return self._const(prim.forward(*(a.value for a in args), **params))
        if prim in _ARITHMETIC:
            found = self._arithmetic(prim, args)
            if found is not None:
                return found
        if prim is ops.pow and args[1].value is not None:
            # Exact: IEEE pow(x, 0) = 1 and pow(x, 1) = x; numpy computes x**2 as
            # x*x and x**-1 as 1/x (tests check plan and tape agree bit for bit).
            exponent = float(args[1].value)
            if exponent == 0.0:
                return self._const(1.0)
            if exponent == 1.0:
                return args[0]
            if exponent == 2.0:
                return self._make(ops.multiply, [args[0], args[0]], {})
            if exponent == -1.0:
                return self._make(ops.divide, [self._const(1.0), args[0]], {})
        if prim is ops.where:
            if args[0].value is not None:
                return args[1] if args[0].value else args[2]
            if args[1] is args[2] or (args[1].value is not None and args[2].value is not None
                                      and args[1].value.dtype == args[2].value.dtype
                                      and args[1].value == args[2].value):
                return args[1]
        if prim in _COMMUTATIVE and id(args[1]) < id(args[0]):
            args = [args[1], args[0]]  # IEEE a+b = b+a and a*b = b*a: one node for both
        key = (prim, tuple(id(a) for a in args), tuple(sorted(params.items())))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = _Node(prim, tuple(args), params)
        return found


    def _arithmetic(self, prim, args: list[_Node]) -> _Node | None:
        """Exact rewrites of + - * / and negation; None when none applies.

        Multiplying or dividing by 1 changes nothing; IEEE rounding is symmetric
        in sign, so negations move out of products and quotients, cancel in
        pairs, and turn a + (-b) into a - b."""
        a = args[0]
        b = args[1] if len(args) > 1 else None
        if prim is ops.negative:
            return a.args[0] if a.prim is ops.negative else None
        if b.prim in _BOOLEAN or a.prim in _BOOLEAN:
            return None  # 1.0 * (x > 0) is a float, not the boolean
        if prim is ops.multiply or prim is ops.divide:
            if _is_number(b, 1.0):
                return a
            if prim is ops.multiply and _is_number(a, 1.0):
                return b
            if prim is ops.multiply and _is_number(a, -1.0):
                return self._make(ops.negative, [b], {})
            if a.prim is ops.negative or b.prim is ops.negative:
                inner = [x.args[0] if x.prim is ops.negative else x for x in (a, b)]
                product = self._make(prim, inner, {})
                if (a.prim is ops.negative) != (b.prim is ops.negative):
                    return self._make(ops.negative, [product], {})
                return product
            return None
        if prim is ops.add:
            if b.prim is ops.negative:
                return self._make(ops.subtract, [a, b.args[0]], {})
            if a.prim is ops.negative:
                return self._make(ops.subtract, [b, a.args[0]], {})
            return None
        if b.prim is ops.negative:  # subtract
            return self._make(ops.add, [a, b.args[0]], {})
        if a.prim is ops.negative:  # -a - b = -(a + b)
            return self._make(ops.negative, [self._make(ops.add, [a.args[0], b], {})], {})
        return None


def _is_number(node: _Node, number: float) -> bool:
    return node.value is not None and node.value.dtype.kind == "f" and node.value == number


class Plan:
    """A straight-line program: inputs -> outputs, as a list of numpy calls."""

    def __init__(self, n_inputs: int, outputs: list[_Node]):
        self.n_inputs = n_inputs
        order = _topological(outputs)
        registers = n_inputs
        for node in order:
            if node.input is not None:
                node.index = node.input
            else:
                node.index = registers
                registers += 1
        self.n_registers = registers
        self.outputs = [n.index for n in outputs]
        self.constants = [(n.index, n.value) for n in order if n.value is not None]
        op_nodes = [n for n in order if n.prim is not None]
        self.n_steps = len(op_nodes)
        self.scalar_steps = None
        if all(n.prim.scalar is not None for n in op_nodes):
            # (fn, a, b, c, out) with -1 for absent arguments: cheaper to test than len()
            self.scalar_steps = [(n.prim.scalar, *(a.index for a in n.args),
                                  *(-1,) * (3 - len(n.args)), n.index) for n in op_nodes]
            self.scalar_constants = [(i, v.item()) for i, v in self.constants]
        self._lay_out_buffers(op_nodes)

    def _lay_out_buffers(self, op_nodes: list[_Node]) -> None:
        """Give each float ufunc step an output buffer, reusing a buffer once the
        register it held is read for the last time; outputs go straight into
        the result arrays. Buffers are chunk-sized, so they stay in cache."""
        last_read = {}
        for k, node in enumerate(op_nodes):
            for a in node.args:
                last_read[a.index] = k
        first_target = {}
        for k, reg in enumerate(self.outputs):
            first_target.setdefault(reg, k)
            last_read[reg] = len(op_nodes)  # never freed
        free: list[int] = []
        holder: dict[int, int] = {}  # register -> buffer it lives in
        n_buffers = 0
        steps = []
        for k, node in enumerate(op_nodes):
            for a in set(a.index for a in node.args):
                if last_read.get(a) == k and a in holder:
                    free.append(holder.pop(a))
            target = None
            if isinstance(node.prim.forward, np.ufunc) and not node.params \
                    and node.prim not in _BOOLEAN:
                if node.index in first_target:
                    target = -1 - first_target[node.index]  # a result array
                else:
                    if not free:
                        free.append(n_buffers)
                        n_buffers += 1
                    target = holder[node.index] = free.pop()
            steps.append((node, target))
        # Destinations of a chunk are its buffers, then its result rows.
        self.steps = []
        for node, target in steps:
            args = tuple(a.index for a in node.args)
            dest = -1 if target is None else target if target >= 0 else n_buffers - 1 - target
            a, b = (args + (-1, -1))[:2]
            self.steps.append((_bound(node), args, a, b, dest, node.index))
        self.n_buffers = n_buffers

    # -- running --------------------------------------------------------------
    def run(self, inputs: Sequence, shape: tuple[int, ...]) -> np.ndarray:
        """The outputs, stacked: shape (n_outputs, *shape), for inputs of `shape`."""
        with np.errstate(all="ignore"):
            if not shape and self.scalar_steps is not None:
                try:
                    return np.array(self.run_floats([float(x) for x in inputs]))
                except _SCALAR_FALLBACK:
                    pass  # IEEE semantics: let numpy give the nan/inf
            size = math.prod(shape)
            flat = [np.ascontiguousarray(x, dtype=np.float64).reshape(size) for x in inputs]
            results = np.empty((len(self.outputs), size))
            workers = _WORKERS if size >= PARALLEL_ROWS else 1
            # Each worker takes a contiguous share of the rows and walks it in
            # equal chunks of at most CHUNK_ROWS: few, large tasks keep the two
            # threads busy without handing the GIL back and forth per chunk.
            shares = [size * k // workers for k in range(workers + 1)]

            def share(k: int) -> None:
                start, stop = shares[k], shares[k + 1]
                if start == stop:  # an empty batch
                    return
                count = max(1, -(-(stop - start) // CHUNK_ROWS))
                rows = -(-(stop - start) // count)
                buffers = _thread_buffers(self.n_buffers, rows)
                # numpy's error state is per thread: a pool thread needs its own.
                with np.errstate(all="ignore"):
                    for lo in range(start, stop, rows):
                        hi = min(lo + rows, stop)
                        self._run_chunk([x[lo:hi] for x in flat],
                                        buffers if hi - lo == rows
                                        else [b[:hi - lo] for b in buffers],
                                        list(results[:, lo:hi]))

            # The calling thread takes the first share itself: one thread fewer to wake.
            others = [_pool().submit(share, k) for k in range(1, workers)]
            share(0)
            for other in others:
                other.result()
            return results.reshape((len(self.outputs),) + shape)

    def run_floats(self, inputs: Sequence[float]) -> list[float]:
        r = [None] * self.n_registers
        r[:self.n_inputs] = inputs
        for i, v in self.scalar_constants:
            r[i] = v
        for fn, a, b, c, out in self.scalar_steps:
            if b < 0:
                r[out] = fn(r[a])
            elif c < 0:
                r[out] = fn(r[a], r[b])
            else:
                r[out] = fn(r[a], r[b], r[c])
        return [r[i] for i in self.outputs]

    def _run_chunk(self, inputs: Sequence[np.ndarray], buffers: list[np.ndarray],
                   results: list[np.ndarray]) -> None:
        r = [None] * self.n_registers
        r[:self.n_inputs] = inputs
        for i, v in self.constants:
            r[i] = v
        dests = buffers[:self.n_buffers] + results  # a thread's pool may hold more buffers
        for fn, args, a, b, dest, out in self.steps:
            if dest < 0:
                r[out] = fn(*[r[i] for i in args])
            elif b < 0:
                r[out] = fn(r[a], out=dests[dest])
            else:
                r[out] = fn(r[a], r[b], out=dests[dest])
        for k, reg in enumerate(self.outputs):
            if r[reg] is not results[k]:
                results[k][...] = r[reg]


def compile_program(program: Callable[[list[Tensor]], list[Tensor]],
                    n_inputs: int) -> Plan:
    """Capture `program` (tensors in -> tensors out) on a probe point and compile it."""
    from .tensor import constant

    probe = [constant(np.full(2, 0.5 + i)) for i in range(n_inputs)]
    builder = _Builder(probe)
    failure: list[Exception] = []

    def observe(prim, inputs, params, output):
        if not failure:
            try:
                builder.capture(prim, inputs, params, output)
            except NotCompilable as e:
                failure.append(e)

    _tape.state.observers.append(observe)
    try:
        with np.errstate(all="ignore"):
            outputs = program(probe)
    finally:
        _tape.state.observers.remove(observe)
    if failure:
        raise failure[0]
    return Plan(n_inputs, [builder.node_of(t) for t in outputs])


def _bound(node: _Node) -> Callable:
    forward, params = node.prim.forward, node.params
    if not params:
        return forward
    return lambda *args: forward(*args, **params)


def _topological(outputs: list[_Node]) -> list[_Node]:
    """Nodes reachable from `outputs`, each after its arguments (no recursion)."""
    order: list[_Node] = []
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
        stack.extend((a, False) for a in reversed(node.args) if id(a) not in done)
    return order


_WORKERS = min(2, os.cpu_count() or 1)
_executor = None
_local = threading.local()


def _thread_buffers(n: int, rows: int) -> list[np.ndarray]:
    """`n` scratch arrays of `rows` floats for the calling thread, kept for the
    next chunk of the same size."""
    buffers = getattr(_local, "buffers", [])
    if buffers and buffers[0].shape != (rows,):
        buffers = []
    while len(buffers) < n:
        buffers.append(np.empty(rows))
    _local.buffers = buffers
    return buffers


def _pool():
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor  # only batches need threads

        _executor = ThreadPoolExecutor(max_workers=_WORKERS)
    return _executor
