"""Compiled plans: a recorded graph (tapecli.graph) replayed as bound numpy calls.

A derivative driver's body is captured once on a probe point into a Graph,
simplified there with exact rewrites, and laid out here as a straight-line list
of numpy calls into registers, replayed for every later point. Running the plan
gives bit for bit what the tape gives. Large batches run in chunks on two
threads (numpy releases the GIL inside its loops), each intermediate in a
reused scratch buffer; a single point runs on Python floats through the
primitives' `scalar` functions (numpy's own loops, called on floats), falling
back to numpy arrays whenever a float op raises (1/0 in Python), so IEEE
results stay.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from .graph import Graph, Node, NotCompilable, capture
from .tensor import Tensor

__all__ = ["Plan", "compile_program", "NotCompilable", "CHUNK_ROWS", "PARALLEL_ROWS"]

# Measured on 2 cores: chunks of 64k rows (512 KiB per intermediate)
# balance numpy's per-call cost against cache misses; below PARALLEL_ROWS one
# thread is faster than two.
CHUNK_ROWS = 65536
PARALLEL_ROWS = 20000
_SCALAR_FALLBACK = (ArithmeticError, ValueError)


class Plan:
    """A Graph laid out as a straight list of numpy calls into registers: inputs -> outputs."""

    def __init__(self, graph: Graph):
        self.n_inputs = n_inputs = len(graph.inputs)
        outputs = graph.outputs
        order = graph.nodes
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
        self.registers = [None] * registers
        for i, v in self.constants:
            self.registers[i] = v
        op_nodes = [n for n in order if n.prim is not None]
        self.n_steps = len(op_nodes)
        self.scalar_steps = None
        if all(n.prim.scalar is not None for n in op_nodes):
            # (fn, a, b, c, out) with -1 for absent arguments: cheaper to test than len()
            self.scalar_steps = [(n.prim.scalar, *(a.index for a in n.args),
                                  *(-1,) * (3 - len(n.args)), n.index) for n in op_nodes]
            self.scalar_constants = [(i, v.item()) for i, v in self.constants]
        self._lay_out_buffers(op_nodes)

    def _lay_out_buffers(self, op_nodes: list[Node]) -> None:
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
                    and not node.prim.boolean:
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
            fn = _bound(node)
            if dest >= 0 and fn in _OUT_BY_KEYWORD:
                fn = functools.partial(_out_by_keyword, fn)
            self.steps.append((fn, args, a, b, dest, node.index))
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
            if 0 < size <= CHUNK_ROWS and size < PARALLEL_ROWS:  # one chunk, this thread
                self._run_chunk(flat, _thread_buffers(self.n_buffers, size), list(results))
                return results.reshape((len(self.outputs),) + shape)
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
        r = self.registers[:]  # the constants in place
        r[:self.n_inputs] = inputs
        dests = buffers[:self.n_buffers] + results  # a thread's pool may hold more buffers
        # A ufunc's `out` passed by position: a keyword costs 0.15 us a call,
        # a tenth of a small batch's step.
        for fn, args, a, b, dest, out in self.steps:
            if dest < 0:
                r[out] = fn(*[r[i] for i in args])
            elif b < 0:
                r[out] = fn(r[a], dests[dest])
            else:
                r[out] = fn(r[a], r[b], dests[dest])
        for k, reg in enumerate(self.outputs):
            if r[reg] is not results[k]:
                results[k][...] = r[reg]


def compile_program(program: Callable[[list[Tensor]], list[Tensor]],
                    n_inputs: int) -> Plan:
    """Capture `program` (tensors in -> tensors out) on a probe point and compile it."""
    return Plan(capture(program, n_inputs))


# numpy 2.4 deprecates a positional `out` for these two (a third argument might
# be meant as a third operand).
_OUT_BY_KEYWORD = {np.maximum, np.minimum}


def _out_by_keyword(fn, *args):
    return fn(*args[:-1], out=args[-1])


def _bound(node: Node) -> Callable:
    forward, params = node.prim.forward, node.params
    if not params:
        return forward
    return lambda *args: forward(*args, **params)


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
