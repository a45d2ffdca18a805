"""What a CLI command computes, independent of how points come in and results go out.

A Job is one of `eval grad hessian diff jacobian` bound to its expressions and
variables. `compute` takes a point (names to floats or arrays; a batch is one
call) and returns named arrays; `columns` flattens them into the CSV columns
of CLI.md, and `json_fields` into the fields of its JSON object. The single
point and the batch paths of the CLI share all of this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import derivatives
from .errors import UsageError
from .language import check_wrt

if TYPE_CHECKING:  # annotations only: expression imports the drivers, not the reverse
    from .expression import Expression

COMMANDS = ("eval", "grad", "hessian", "diff", "jacobian")


@dataclass(frozen=True)
class Job:
    """A command bound to its expressions.

    `variables` are the names whose derivatives are reported (gradient order,
    Hessian axes, Jacobian columns); for `diff`, `wrt` is the sequence of
    differentiations. `inputs` are the names a point must give values for.
    """

    command: str
    expressions: tuple[Expression, ...]
    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    inputs: tuple[str, ...]

    @classmethod
    def create(cls, command: str, expressions: Sequence[Expression],
               wrt: Sequence[str] | None = None, order: int | None = None) -> Job:
        if command not in COMMANDS:
            raise UsageError(f"unknown command {command!r}")
        if command != "jacobian" and len(expressions) != 1:
            raise UsageError(f"{command} takes one expression, got {len(expressions)}")
        inputs = tuple(dict.fromkeys(v for e in expressions for v in e.variables))
        wrt = tuple(wrt) if wrt else None
        check_wrt(wrt or (), inputs)
        if command == "diff":
            if wrt is None:
                if len(inputs) != 1:
                    raise UsageError("diff needs --wrt when the expression has "
                                     f"{len(inputs)} variables")
                wrt = inputs
            if order is not None:
                if len(wrt) != 1:
                    raise UsageError("--order repeats a single variable: give one --wrt name")
                if order < 1:
                    raise UsageError("--order must be 1 or more (order 0 is the value: "
                                     "use eval)")
                wrt = wrt * order
            variables = tuple(dict.fromkeys(wrt))
        else:
            if order is not None:
                raise UsageError("--order is for diff only")
            variables = wrt or inputs
            wrt = variables
        return cls(command, tuple(expressions), variables, wrt, inputs)

    # -- computing ------------------------------------------------------------
    def compute(self, point: Mapping) -> dict[str, np.ndarray]:
        """Named results: value and, by command, gradient / hessian / derivative / jacobian."""
        expr = self.expressions[0]
        if self.command == "eval":
            return {"value": derivatives.value(expr, point)}
        if self.command == "grad":
            value, grad = derivatives.gradient(expr, point, self.wrt)
            return {"value": value, "gradient": grad}
        if self.command == "hessian":
            value, grad, hess = derivatives.hessian(expr, point, self.wrt)
            return {"value": value, "gradient": grad, "hessian": hess}
        if self.command == "diff":
            value, deriv = derivatives.derivative(expr, point, self.wrt)
            return {"value": value, "derivative": deriv}
        values, jac = derivatives.jacobian(self.expressions, point, self.wrt)
        return {"value": values, "jacobian": jac}

    # -- flattening for output -------------------------------------------------
    def column_names(self) -> list[str]:
        """CSV result columns of CLI.md, after any echoed input columns."""
        v = self.variables
        if self.command == "jacobian":
            m = len(self.expressions)
            return ([f"f{i + 1}" for i in range(m)] +
                    [f"df{i + 1}/d{x}" for i in range(m) for x in v])
        names = ["f"]
        if self.command in ("grad", "hessian"):
            names += [f"df/d{x}" for x in v]
        if self.command == "hessian":
            names += [f"d2f/d{a}d{b}" for a in v for b in v]
        if self.command == "diff":
            names.append(f"d{len(self.wrt)}f/" + "".join(f"d{x}" for x in self.wrt)
                         if self.wrt else "f")
        return names

    def columns(self, result: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The result as one array per CSV column (each of the batch's shape)."""
        value = result["value"]
        if self.command == "jacobian":
            jac = result["jacobian"]
            return [value[..., i] for i in range(value.shape[-1])] + \
                   [jac[..., i, j] for i in range(jac.shape[-2]) for j in range(jac.shape[-1])]
        cols = [value]
        if "gradient" in result:
            grad = result["gradient"]
            cols += [grad[..., j] for j in range(grad.shape[-1])]
        if "hessian" in result:
            hess = result["hessian"]
            cols += [hess[..., i, j] for i in range(hess.shape[-2]) for j in range(hess.shape[-1])]
        if "derivative" in result:
            cols.append(result["derivative"])
        return cols

    def json_object(self, result: Mapping[str, np.ndarray], point: Mapping[str, float] | None,
                    with_expression: bool = True) -> dict:
        """The JSON object of CLI.md for one point: plain lists of floats, non-finite
        numbers as None (JSON null). jsonl rows leave out the expression."""
        obj: dict = self.describe() if with_expression else {}
        obj["variables"] = list(self.variables)
        if point is not None:
            obj["point"] = {name: json_number(v) for name, v in point.items()}
        if self.command == "diff":
            obj["wrt"] = list(self.wrt)
        for key in ("value", "gradient", "hessian", "derivative", "jacobian"):
            if key in result:
                obj[key] = _json_numbers(np.asarray(result[key]).tolist())
        return obj

    def describe(self) -> dict:
        """`expression` (or `expressions` for jacobian) as in the JSON object."""
        if self.command == "jacobian":
            return {"expressions": [e.text for e in self.expressions]}
        return {"expression": self.expressions[0].text}


def json_number(x) -> float | None:
    """A float for JSON, or None (null) where JSON has no number: nan and ±inf."""
    x = float(x)
    return x if np.isfinite(x) else None


def _json_numbers(value):
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return json_number(value)
