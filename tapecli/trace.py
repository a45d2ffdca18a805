"""What `tapecli trace` shows: one evaluation's tape, its backward pass, as text or JSON.

The forward pass is the tape's own record list: each op that touched a
variable, in order, with its inputs by node id (`%1`) or as constants. Ops on
constants alone are never recorded (nothing to differentiate), so their
results appear as constants. The backward pass is the tape's backward walk,
kept whole: every node's adjoint df/d%i, and what each op sends to its inputs
(the VJPs), so that the chain rule can be read off line by line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .expression import Expression, check_wrt
from .tape import GradientTape
from .tensor import constant


@dataclass(frozen=True)
class TraceNode:
    """A variable (`op == "variable"`, `name` set) or a recorded op.

    `inputs` are node ids or constant floats; `vjp` is parallel to `inputs`:
    the adjoint the backward pass sends to each input (None for a constant or
    an input that does not depend on the differentiation variables)."""

    id: str
    op: str
    name: str | None
    inputs: tuple
    value: float
    adjoint: float | None
    vjp: tuple


@dataclass(frozen=True)
class Trace:
    """The nodes of one evaluation, in tape order; `output` is the id of f's
    node (None when the expression has no variable, so nothing was recorded)."""

    expression: str
    point: dict[str, float]
    wrt: tuple[str, ...]
    nodes: tuple[TraceNode, ...]
    output: str | None
    value: float


def record_trace(expr: Expression, point: Mapping[str, float],
                 wrt: Sequence[str] | None = None) -> Trace:
    """Evaluate `expr` at a single point under a tape and take df/d(wrt) with
    every adjoint kept. All variables are watched so that every op on them
    shows in the forward pass; only nodes that depend on `wrt` get adjoints."""
    wrt = tuple(expr.variables if wrt is None else wrt)
    check_wrt(wrt, expr.variables)
    for name in expr.variables:
        if name not in point:
            raise DataError(f"variable {name!r} has no value")
    env = {name: constant(float(point[name])) for name in expr.variables}
    with np.errstate(all="ignore"):
        with GradientTape() as tape:
            tape.watch(list(env.values()))
            f = expr(env)
        sources = [env[name] for name in wrt]
        adjoints = tape._backward([f], [constant(np.ones_like(f.numpy()))], sources,
                                  keep_all=True)
        vjps = _vjps(tape._records, adjoints)

    ids: dict[int, str] = {}
    nodes = []
    for name, tensor in env.items():
        ids[tensor._id] = f"%{len(ids) + 1}"
        nodes.append(TraceNode(ids[tensor._id], "variable", name, (), float(tensor.numpy()),
                               _float(adjoints.get(tensor._id)), ()))
    for primitive, inputs, _params, output in tape._records:
        ids[output._id] = f"%{len(ids) + 1}"
        inputs_shown = tuple(ids.get(x._id, float(x.numpy())) for x in inputs)
        nodes.append(TraceNode(ids[output._id], primitive.name, None, inputs_shown,
                               float(output.numpy()), _float(adjoints.get(output._id)),
                               tuple(_float(v) for v in vjps.get(output._id, ()))))
    return Trace(expr.text, {name: float(point[name]) for name in expr.variables}, wrt,
                 tuple(nodes), ids.get(f._id), float(f.numpy()))


def _vjps(records, adjoints) -> dict[int, list]:
    """For each op with an adjoint, what its VJPs send to each of its inputs.

    These are the terms that the tape's backward walk adds up into the
    adjoints; computed again here (no tape is active) only to be shown."""
    sent: dict[int, list] = {}
    for primitive, inputs, params, output in records:
        g = adjoints.get(output._id)
        if g is None:
            continue
        row = []
        for x, vjp in zip(inputs, primitive.vjps):
            on_path = vjp is not None and x._id in adjoints
            row.append(vjp(g, output, *inputs, **params) if on_path else None)
        sent[output._id] = row
    return sent


def _float(tensor) -> float | None:
    return None if tensor is None else float(np.asarray(tensor))


# -- presentation ---------------------------------------------------------------

def trace_text(trace: Trace) -> str:
    """The trace as lines a reader can follow, one op per line (like a jaxpr)."""
    from .output import number

    at = ", ".join(f"{name} = {number(v)}" for name, v in trace.point.items())
    lines = [f"trace of {trace.expression}" + (f" at {at}" if at else "")]
    if not trace.nodes:
        lines.append(f"no variables, nothing recorded: f = {number(trace.value)}")
        return "\n".join(lines) + "\n"

    lines.append("forward: each recorded op in order -> its value")
    width = max(len(_equation(n)) for n in trace.nodes) + 2
    for node in trace.nodes:
        mark = "    (f)" if node.id == trace.output else ""
        lines.append(f"  {_equation(node):<{width}}-> {number(node.value)}{mark}")

    wrt = ", ".join(trace.wrt) if trace.wrt else "nothing"
    lines.append(f"backward (with respect to {wrt}): each node's adjoint df/d%i, last first "
                 "-> what it sends to the op's inputs")
    on_path = [n for n in reversed(trace.nodes) if n.adjoint is not None]
    if not on_path:
        lines.append(f"  f does not depend on {wrt}")
    labels = {n.id: f"{n.id} {n.name if n.op == 'variable' else n.op}" for n in on_path}
    width = max(map(len, labels.values()), default=0)
    adjoint_width = max((len(number(n.adjoint)) for n in on_path), default=0)
    for node in on_path:
        head = f"  {labels[node.id]:<{width}}  adjoint {number(node.adjoint):<{adjoint_width}}"
        if node.op == "variable":
            lines.append(f"{head}  = df/d{node.name}")
            continue
        sends = [f"{x} += {number(v)}" for x, v in zip(node.inputs, node.vjp) if v is not None]
        lines.append(f"{head}  -> " + ", ".join(sends))
    return "\n".join(lines) + "\n"


def _equation(node: TraceNode) -> str:
    from .output import number

    if node.op == "variable":
        return f"{node.id} = {node.name}"
    args = " ".join(x if isinstance(x, str) else number(x) for x in node.inputs)
    return f"{node.id} = {node.op} {args}"


def trace_json(trace: Trace) -> str:
    """The trace as a JSON list of nodes (non-finite numbers as null)."""
    def num(x):
        return x if x is not None and np.isfinite(x) else None

    nodes = []
    for node in trace.nodes:
        obj = {"id": node.id, "op": node.op}
        if node.name is not None:
            obj["name"] = node.name
        obj["inputs"] = [x if isinstance(x, str) else num(x) for x in node.inputs]
        obj["value"] = num(node.value)
        obj["adjoint"] = num(node.adjoint)
        if node.op != "variable":
            obj["vjp"] = [num(v) for v in node.vjp] if node.adjoint is not None else None
        if node.id == trace.output:
            obj["output"] = True
        nodes.append(obj)
    return json.dumps(nodes, allow_nan=False) + "\n"
