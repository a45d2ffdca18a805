"""The tape: recording op calls, and the backward walk that turns them into gradients.

A tape is an append-only list of records `(primitive, inputs, params, output)`.
Reverse record order is a topological order, so the backward pass is a plain
loop. Vector-Jacobian products are built from tapecli ops, so while one tape
runs its backward pass, every enclosing tape records it: that is all it takes
for second and higher derivatives.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

import numpy as np

from . import ops as _ops
from .primitive import state
from .tensor import Tensor, Variable, constant


class Record(NamedTuple):
    """One recorded op: its primitive, input tensors, static parameters and output."""

    primitive: object
    inputs: tuple
    params: dict
    output: Tensor


class UnconnectedGradients(str, Enum):
    NONE = "none"
    ZERO = "zero"


@contextlib.contextmanager
def shared_subexpressions():
    """Within the block, an op called again on the same inputs returns the tensor it
    gave the first time, so nested differentiation does not redo (and record) the
    same work over and over: the n-th derivative's tape stays polynomial in size.

    Safe only where no tape is entered after ops were shared (a tape entered later
    would not see the shared op): the derivative drivers enter all their tapes first.
    """
    previous, state.memo = state.memo, {}
    try:
        yield
    finally:
        state.memo = previous


class GradientTape:
    """Records operations on watched tensors so that gradients can be taken.

    As in TensorFlow: trainable Variables read inside the block are watched
    automatically (unless `watch_accessed_variables=False`), other tensors with
    `watch`. A non-persistent tape computes one set of gradients; a persistent
    one any number. Tapes nest: a tape that watches `x` also records the
    gradient computations of the tapes inside it, so it can differentiate them.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed_variables = watch_accessed_variables
        self._records: list = []
        self._connected: set[int] = set()
        self._watched_variables: dict[int, Variable] = {}
        self._paused = False
        self._used = False

    # -- context -----------------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self in state.tapes:
            raise ValueError("this GradientTape is already recording")
        state.tapes.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        state.tapes.remove(self)

    @contextlib.contextmanager
    def stop_recording(self):
        """Temporarily stop recording operations on this tape."""
        was_paused, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = was_paused

    def reset(self) -> None:
        """Forget everything recorded and watched so far."""
        self._records.clear()
        self._connected.clear()
        self._watched_variables.clear()
        self._used = False

    # -- watching ----------------------------------------------------------
    def watch(self, tensor) -> None:
        """Ensure `tensor` (or every tensor of a list, tuple or dict) is traced."""
        for t in _flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(f"can only watch tensors, not {type(t).__name__}")
            if t.dtype.kind != "f":
                # As TensorFlow: a warning, and the tensor's gradient is None.
                warnings.warn(f"The dtype of the watched tensor must be floating "
                              f"(e.g. tf.float32), got {t.dtype}: it is not watched",
                              stacklevel=2)
                continue
            self._watch_one(t)

    def _record(self, primitive, inputs: tuple[Tensor, ...], params: dict,
                output: Tensor) -> None:
        """Keep the op if it reads a watched tensor (the dispatcher calls this).

        An integer or boolean result is not kept: no gradient flows through it."""
        if self._paused or output._value.dtype.kind != "f":
            return
        connected = self._connected
        for x in inputs:
            if x._id in connected:
                self._records.append((primitive, inputs, params, output))
                connected.add(output._id)
                return

    def _variable_accessed(self, variable: Variable) -> None:
        """A trainable variable was read: watch it if this tape watches accessed ones."""
        if self._watch_accessed_variables and not self._paused:
            self._watch_one(variable)

    def _watch_one(self, tensor: Tensor) -> None:
        self._connected.add(tensor._id)
        if isinstance(tensor, Variable):
            self._watched_variables.setdefault(tensor._id, tensor)

    def watched_variables(self) -> tuple[Variable, ...]:
        return tuple(self._watched_variables.values())

    # -- gradients ---------------------------------------------------------
    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE):
        """d(sum of target)/d(source) for each source, shaped like `sources`.

        `target` may be a tensor or a list of tensors (their gradients add up);
        `output_gradients` weights the target (one tensor per target).
        A source the target does not depend on gives None, or zeros with
        `unconnected_gradients="zero"`.
        """
        self._check_usable("gradient")
        unconnected = UnconnectedGradients(unconnected_gradients)
        targets = [_as_tensor(t) for t in _flatten(target)]
        if output_gradients is None:
            seeds = [_ops.ones_like(t) for t in targets]
        else:
            seeds = [_as_tensor(g) for g in _flatten(output_gradients)]
            if len(seeds) != len(targets):
                raise ValueError(f"{len(seeds)} output_gradients for {len(targets)} targets")
        flat_sources = _flatten(sources)
        for s in flat_sources:
            if not isinstance(s, Tensor):
                raise TypeError(f"sources must be tensors or variables, "
                                f"not {type(s).__name__}")
        adjoints = self.backward(targets, seeds, flat_sources)
        grads = []
        for s in flat_sources:
            g = adjoints.get(s._id)
            if g is None and unconnected is UnconnectedGradients.ZERO:
                g = _ops.zeros_like(s)
            grads.append(g)
        return _unflatten(sources, grads)

    def jacobian(self, target, sources, unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """d(target)/d(source) of shape target.shape + source.shape, for each source."""
        self._check_usable("jacobian")
        unconnected = UnconnectedGradients(unconnected_gradients)
        target = _as_tensor(target)
        flat_sources = _flatten(sources)
        size = int(np.prod(target.shape))
        rows: list[list] = [[] for _ in flat_sources]
        for k in range(size):
            seed = np.zeros(size, _float_dtype(target))
            seed[k] = 1.0
            adjoints = self.backward([target], [constant(seed.reshape(target.shape))],
                                      flat_sources)
            for row, s in zip(rows, flat_sources):
                row.append(adjoints.get(s._id))
        jacobians = []
        for row, s in zip(rows, flat_sources):
            if all(g is None for g in row):
                jacobians.append(None if unconnected is UnconnectedGradients.NONE else
                                 _ops.zeros(target.shape + s.shape))
                continue
            row = [_ops.zeros_like(s) if g is None else g for g in row]
            jacobians.append(_ops.reshape(_ops.stack(row), shape=target.shape + s.shape))
        return _unflatten(sources, jacobians)

    def batch_jacobian(self, target, source, unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """Per-example Jacobian: target[b, ...] by source[b, ...] for each batch row b.

        Rows must be independent of each other, as in TensorFlow.
        """
        self._check_usable("batch_jacobian")
        target = _as_tensor(target)
        batch, inner = target.shape[0], target.shape[1:]
        size = int(np.prod(inner))
        columns = []
        for k in range(size):
            seed = np.zeros((batch, size), _float_dtype(target))
            seed[:, k] = 1.0
            adjoints = self.backward([target], [constant(seed.reshape(target.shape))],
                                      [source])
            g = adjoints.get(source._id)
            if g is None:
                if UnconnectedGradients(unconnected_gradients) is UnconnectedGradients.NONE:
                    return None
                g = _ops.zeros_like(source)
            columns.append(g)
        stacked = _ops.stack(columns, axis=1)  # (batch, size, *source.shape[1:])
        return _ops.reshape(stacked, shape=(batch, *inner, *source.shape[1:]))

    def _check_usable(self, what: str) -> None:
        if self._used and not self._persistent:
            raise RuntimeError(f"A non-persistent GradientTape can only be used to compute "
                               f"one set of gradients (or jacobians); this {what} call is "
                               "its second. Use GradientTape(persistent=True).")
        self._used = True

    @property
    def records(self) -> tuple[Record, ...]:
        """What the tape recorded, in order: one Record per op on a watched tensor."""
        return tuple(Record(*r) for r in self._records)

    def backward(self, targets, seeds, sources, *, keep_all: bool = False,
                 on_vjp: Callable | None = None) -> dict[int, Tensor]:
        """The backward walk itself: adjoints keyed by tensor id (`Tensor._id`).

        Gives the adjoints of the `sources` or, with `keep_all`, of every recorded
        tensor between `sources` and `targets`; `on_vjp(record, i, sent)` is told
        each term a VJP sends to input i of a record (tapecli.tape_listing shows
        them). `gradient` and `jacobian` are built on this."""
        records = self._records[:]  # a persistent tape may record our own ops meanwhile
        # Forward reachability: only inputs that depend on a source need VJPs.
        # An unwatched source gets None, as in TensorFlow, even if a watched
        # tensor flowed through the same ops.
        reaches = {s._id for s in sources if s._id in self._connected}
        for _, inputs, _, output in records:
            for x in inputs:
                if x._id in reaches:
                    reaches.add(output._id)
                    break
        adjoints: dict[int, Tensor] = {}
        source_ids = {s._id for s in sources}
        for t, seed in zip(targets, seeds):
            # A target that is itself a source gets its seed, watched or not, as in
            # TensorFlow (`result = v0` then tape.gradient(result, v0) is 1).
            if t._id in reaches or t._id in source_ids:
                _accumulate(adjoints, t._id, _ops.broadcast_to(seed, shape=t.shape))
        keep = reaches if keep_all else reaches.intersection(s._id for s in sources)
        # A non-persistent tape does not record its own backward pass.
        pause = contextlib.nullcontext() if self._persistent else self.stop_recording()
        with pause:
            for primitive, inputs, params, output in reversed(records):
                g = adjoints.get(output._id) if output._id in keep else \
                    adjoints.pop(output._id, None)
                if g is None:
                    continue
                for i, x in enumerate(inputs):
                    if x._id in reaches:
                        vjp = primitive.vjps[i]
                        if vjp is not None:
                            sent = _run_vjp(primitive, vjp, g, output, inputs, params)
                            if on_vjp is not None:
                                on_vjp(Record(primitive, inputs, params, output), i, sent)
                            _accumulate(adjoints, x._id, sent)
        return adjoints


def _run_vjp(primitive, vjp, g, output, inputs, params):
    outer, state.differentiating = state.differentiating, primitive
    try:
        return vjp(g, output, *inputs, **params)
    finally:
        state.differentiating = outer


def _accumulate(adjoints: dict[int, Tensor], key: int, contribution: Tensor | None) -> None:
    if contribution is None:  # a VJP (or a custom grad_fn) said "no gradient" for this input
        return
    previous = adjoints.get(key)
    # A recorded add, never += in place: an outer tape may be watching both terms.
    adjoints[key] = contribution if previous is None else _ops.add(previous, contribution)


def _float_dtype(target: Tensor) -> np.dtype:
    # Seeds of the target's own float type, so float32 Jacobians stay float32.
    return target.dtype if target.dtype.kind == "f" else np.dtype(np.float64)


def _as_tensor(value) -> Tensor:
    if isinstance(value, Variable):
        return value
    return value if isinstance(value, Tensor) else constant(value)


def _flatten(structure) -> list:
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in _flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


def _unflatten(structure, leaves: list):
    it = iter(leaves)

    def rebuild(s):
        if isinstance(s, dict):
            return {key: rebuild(s[key]) for key in s}
        if isinstance(s, list):
            return [rebuild(item) for item in s]
        if isinstance(s, tuple):
            items = [rebuild(item) for item in s]
            return type(s)(*items) if hasattr(s, "_fields") else type(s)(items)  # namedtuple
        return next(it)

    return rebuild(structure)

