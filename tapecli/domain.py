"""Domain problems: which op turned finite inputs into nan or inf, on how many rows.

Evaluation always gives IEEE results. Only when a result is non-finite on a row
whose inputs are all finite is the job run again on those rows with every op
watched, so the common case costs one isfinite check per result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .primitive import state
from .derivatives import tape_only
from .errors import DataError


def problem_rows(point: Mapping[str, np.ndarray], result: Mapping[str, np.ndarray],
                 shape: tuple[int, ...]) -> np.ndarray:
    """Mask (of the batch's shape) of rows with finite inputs but a non-finite result."""
    bad = np.zeros(shape, dtype=bool)
    for array in result.values():
        finite = np.isfinite(array)
        bad |= ~finite.reshape(shape + (-1,)).all(axis=-1) if array.shape != shape else ~finite
    if bad.any():
        for value in point.values():
            bad &= np.broadcast_to(np.isfinite(value), shape)
    return bad


def find_problems(job, point: Mapping[str, np.ndarray], result: Mapping[str, np.ndarray]
                  ) -> dict[str, int]:
    """`{op name: rows}` for the ops that produced nan/inf from finite inputs.

    An op's derivative is named with a prime (`sqrt'`)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in point.values())) if point else ()
    bad = problem_rows(point, result, shape)
    if not bad.any():
        return {}
    rows = {name: np.broadcast_to(np.asarray(v, dtype=float), shape)[bad]
            for name, v in point.items()}
    n = int(bad.sum())
    masks: dict[str, np.ndarray] = {}

    def observe(prim, inputs, params, output):
        out = output._value
        if out.dtype.kind != "f":
            return
        new = ~np.isfinite(out)
        if not new.any():
            return
        for x in inputs:
            if x._value.dtype.kind == "f":
                new = new & np.isfinite(x._value)
        if new.any():
            outer = state.differentiating
            name = prim.name if outer is None else f"{outer.name}'"
            new = np.broadcast_to(new, (n,)) if new.ndim <= 1 else new.reshape(n, -1).any(-1)
            masks[name] = masks[name] | new if name in masks else new.copy()

    state.observers.append(observe)
    try:
        with tape_only():  # op by op, so that every op is seen
            job.compute(rows)
    finally:
        state.observers.remove(observe)
    return {name: int(mask.sum()) for name, mask in masks.items()}


def describe(problems: Mapping[str, int], total_rows: int | None = None) -> str:
    """'log on 2 rows, sqrt' on 1 row' style summary."""
    parts = []
    for name, count in problems.items():
        if total_rows is None:
            parts.append(f"{name} on {count} row{'s' if count != 1 else ''}")
        else:
            parts.append(f"{name} on {count} of {total_rows} row{'s' if total_rows != 1 else ''}")
    return "non-finite results (nan or inf) from " + ", ".join(parts)


def strict_error(problems: Mapping[str, int]) -> DataError:
    return DataError(describe(problems) + " (--strict)")
