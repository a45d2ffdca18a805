"""The tape listing (`tapecli trace`): one evaluation's tape and its backward pass, as text or JSON.

The forward pass is the tape's own record list: each op that touched a
variable, in order, with its inputs by node id (`%1`) or as constants. Ops on
constants alone are never recorded (nothing to differentiate), so their
results appear as constants. The backward pass is the tape's backward walk,
kept whole: every node's adjoint df/d%i, and what each op sends to its inputs
(the VJPs), so that the chain rule can be read off line by line. It reads the
tape's public record and backward walk (`GradientTape.records`, `.backward`):
nothing here runs a VJP of its own.

(Named a listing, not a trace: in JAX and autograd "tracing" is what
tapecli.graph.capture does.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .language import check_wrt
from .tape import GradientTape
from .tensor import constant

if TYPE_CHECKING:  # annotations only: expression imports the drivers, not the reverse
    from .expression import Expression


@dataclass(frozen=True)
class ListedNode:
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
class TapeListing:
    """The nodes of one evaluation, in tape order; `output` is the id of f's
    node (None when the expression has no variable, so nothing was recorded)."""

    expression: str
    point: dict[str, float]
    wrt: tuple[str, ...]
    nodes: tuple[ListedNode, ...]
    output: str | None
    value: float


def list_tape(expr: Expression, point: Mapping[str, float],
              wrt: Sequence[str] | None = None) -> TapeListing:
    """Evaluate `expr` at a single point under a tape and take df/d(wrt) with
    every adjoint kept. All variables are watched so that every op on them
    shows in the forward pass; only nodes that depend on `wrt` get adjoints."""
    wrt = tuple(expr.variables if wrt is None else wrt)
    check_wrt(wrt, expr.variables)
    for name in expr.variables:
        if name not in point:
            raise DataError(f"variable {name!r} has no value")
    env = {name: constant(float(point[name])) for name in expr.variables}
    sent: dict[int, list] = {}  # output id -> what its VJPs sent to each input

    def on_vjp(record, i, term):
        row = sent.setdefault(record.output._id, [None] * len(record.inputs))
        row[i] = term

    with np.errstate(all="ignore"):
        with GradientTape() as tape:
            tape.watch(list(env.values()))
            f = expr(env)
        sources = [env[name] for name in wrt]
        adjoints = tape.backward([f], [constant(np.ones_like(f.numpy()))], sources,
                                 keep_all=True, on_vjp=on_vjp)

    ids: dict[int, str] = {}
    nodes = []
    for name, tensor in env.items():
        ids[tensor._id] = f"%{len(ids) + 1}"
        nodes.append(ListedNode(ids[tensor._id], "variable", name, (), float(tensor.numpy()),
                                _float(adjoints.get(tensor._id)), ()))
    for primitive, inputs, _params, output in tape.records:
        ids[output._id] = f"%{len(ids) + 1}"
        inputs_shown = tuple(ids.get(x._id, float(x.numpy())) for x in inputs)
        nodes.append(ListedNode(ids[output._id], primitive.name, None, inputs_shown,
                                float(output.numpy()), _float(adjoints.get(output._id)),
                                tuple(_float(v) for v in sent.get(output._id, ()))))
    return TapeListing(expr.text, {name: float(point[name]) for name in expr.variables}, wrt,
                       tuple(nodes), ids.get(f._id), float(f.numpy()))


def _float(tensor) -> float | None:
    return None if tensor is None else float(np.asarray(tensor))


# -- presentation ---------------------------------------------------------------

def listing_text(listing: TapeListing) -> str:
    """The listing as lines a reader can follow, one op per line (like a jaxpr)."""
    from .output import number

    at = ", ".join(f"{name} = {number(v)}" for name, v in listing.point.items())
    lines = [f"trace of {listing.expression}" + (f" at {at}" if at else "")]
    if not listing.nodes:
        lines.append(f"no variables, nothing recorded: f = {number(listing.value)}")
        return "\n".join(lines) + "\n"

    lines.append("forward: each recorded op in order -> its value")
    width = max(len(_equation(n)) for n in listing.nodes) + 2
    for node in listing.nodes:
        mark = "    (f)" if node.id == listing.output else ""
        lines.append(f"  {_equation(node):<{width}}-> {number(node.value)}{mark}")

    wrt = ", ".join(listing.wrt) if listing.wrt else "nothing"
    lines.append(f"backward (with respect to {wrt}): each node's adjoint df/d%i, last first "
                 "-> what it sends to the op's inputs")
    on_path = [n for n in reversed(listing.nodes) if n.adjoint is not None]
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


def _equation(node: ListedNode) -> str:
    from .output import number

    if node.op == "variable":
        return f"{node.id} = {node.name}"
    args = " ".join(x if isinstance(x, str) else number(x) for x in node.inputs)
    return f"{node.id} = {node.op} {args}"


def listing_json(listing: TapeListing) -> str:
    """The listing as a JSON list of nodes (non-finite numbers as null)."""
    def num(x):
        return x if x is not None and np.isfinite(x) else None

    nodes = []
    for node in listing.nodes:
        obj = {"id": node.id, "op": node.op}
        if node.name is not None:
            obj["name"] = node.name
        obj["inputs"] = [x if isinstance(x, str) else num(x) for x in node.inputs]
        obj["value"] = num(node.value)
        obj["adjoint"] = num(node.adjoint)
        if node.op != "variable":
            obj["vjp"] = [num(v) for v in node.vjp] if node.adjoint is not None else None
        if node.id == listing.output:
            obj["output"] = True
        nodes.append(obj)
    return json.dumps(nodes, allow_nan=False) + "\n"


def trace(request, expressions) -> None:
    """`tapecli trace` (the row's body): the tape of one point as a listing, table
    or JSON, on stdout or --output. `request` is the tapecli.run.Request,
    `expressions` its one EXPR, parsed."""
    import sys

    from .derivatives import point_for
    from .output import stdin_is_piped, write_to

    expr = expressions[0]
    try:
        at = point_for(expr.variables, request.point or {})
    except DataError as e:
        if request.point is None and stdin_is_piped():
            raise DataError(f"{e} (trace shows the tape of one point; it does not read "
                            "a batch from stdin)") from None
        raise
    listing = list_tape(expr, at, request.wrt)
    text = listing_json(listing) if request.fmt == "json" else listing_text(listing)
    write_to(request.output_path, lambda stream: stream.write(text), sys.stdout)
