"""A command bound to its expressions and variables: what one CLI call computes,
independent of how points come in and results go out.

A Job holds its row of tapecli.commands. `compute` takes a point (names to
floats or arrays; a batch is one call) and returns named arrays; `columns`
flattens them into the CSV columns of CLI.md and `json_fields` is the layout of
its JSON object, both derived from the result keys alone. The single point and
the batch paths of the CLI share all of this. A Job pickles as its texts, wrt
and order, and unpickles through the parser's cache, so a worker process that
receives the same job many times compiles its plan once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .commands import BY_NAME, Command, entry_shape, result_names
from .commands import command as command_row
from .errors import UsageError
from .language import check_wrt
from .output import json_number

if TYPE_CHECKING:  # annotations only: expression imports the drivers, not the reverse
    from .expression import Expression

# How a field of the JSON object gets its value (see Job.json_fields).
CONSTANT, POINT, RESULT = "constant", "point", "result"


@dataclass(frozen=True)
class Job:
    """A command bound to its expressions.

    `variables` are the names whose derivatives are reported (gradient order,
    Hessian axes, Jacobian columns); for `diff`, `wrt` is the sequence of
    differentiations. `inputs` are the names a point must give values for.
    `order` is the --order the job keeps (None: none): for `diff`, how many
    times to differentiate by its one `wrt` name (see `sequence`).
    """

    command: Command
    expressions: tuple[Expression, ...]
    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    inputs: tuple[str, ...]
    order: int | None = None

    @classmethod
    def create(cls, command: str | Command, expressions: Sequence[Expression],
               wrt: Sequence[str] | None = None, order: int | None = None) -> Job:
        """Check the command's rules for its expressions, --wrt and --order and bind them."""
        row = command_row(command)
        if not row.many and len(expressions) != 1:
            raise UsageError(f"{row.name} takes one expression, got {len(expressions)}")
        inputs = tuple(dict.fromkeys(v for e in expressions for v in e.variables))
        wrt = tuple(wrt) if wrt else None
        check_wrt(wrt or (), inputs)
        if row.wrt_sequence:
            if wrt is None:
                if len(inputs) != 1:
                    raise UsageError(f"{row.name} needs --wrt when the expression has "
                                     f"{len(inputs)} variables")
                wrt = inputs
        else:
            wrt = wrt or inputs
        if order is not None:
            if row.order is None:
                takers = " and ".join(c.name for c in BY_NAME.values() if c.order)
                raise UsageError(f"--order is for {takers} only")
            wrt, order = row.order.bind(wrt, order)
        # diff's variables are the distinct names of its sequence; other commands
        # report by every --wrt name, in order, as given.
        variables = tuple(dict.fromkeys(wrt)) if row.wrt_sequence else wrt
        return cls(row, tuple(expressions), variables, wrt, inputs, order)

    def __reduce__(self):
        # The texts, not the Expressions: parse() hands back its cached object, and
        # the drivers' plans are cached against that object, so a worker that
        # unpickles the same job again and again compiles once.
        # A row of COMMANDS travels by name; a row made elsewhere, as itself.
        row = self.command.name if BY_NAME.get(self.command.name) is self.command \
            else self.command
        return (_rebuild, (row, tuple(e.text for e in self.expressions), self.wrt, self.order))

    @property
    def sequence(self) -> tuple[str, ...]:
        """The whole sequence of differentiations of `diff` (its JSON "wrt" and
        its result's name): `wrt`, or its one name `order` times."""
        if self.command.wrt_sequence and self.order is not None:
            return self.wrt * self.order
        return self.wrt

    # -- computing ------------------------------------------------------------
    @property
    def keys(self) -> tuple[str, ...]:
        """The result keys, in output order."""
        return self.command.result_keys(self.order)

    def compute(self, point: Mapping) -> dict[str, np.ndarray]:
        """Named results (see `keys`): value and, by command, gradient, hessian, ..."""
        return self.command.compute(self, point)

    # -- flattening for output -------------------------------------------------
    def _expression_axis(self) -> int | None:
        return len(self.expressions) if self.command.many else None

    def key_names(self, key: str) -> list[str]:
        """The CSV columns of one result key: `df/dx`, `d2f/dxdy`, `df1/dx`, ..."""
        return result_names(key, self.variables, self.sequence, self._expression_axis())

    def column_names(self) -> list[str]:
        """CSV result columns of CLI.md, after any echoed input columns."""
        return [name for key in self.keys for name in self.key_names(key)]

    def columns(self, result: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The result as one array per CSV column (each of the batch's shape)."""
        cols = []
        for key in self.keys:
            array = result[key]
            entries = len(entry_shape(key, self.variables, self._expression_axis()))
            if not entries:
                cols.append(array)
                continue
            cols += [array[(..., *index)] for index in np.ndindex(array.shape[-entries:])]
        return cols

    def json_fields(self, with_expression: bool = True) -> list[tuple[str, str, object]]:
        """The JSON object of CLI.md as `(field, kind, constant)` in order: a CONSTANT
        field is written as given, POINT is the point's values by name, RESULT the
        result of that key. jsonl rows leave out the expression."""
        fields = [(k, CONSTANT, v) for k, v in self.describe().items()] if with_expression \
            else []
        fields += [("variables", CONSTANT, list(self.variables)), ("point", POINT, None)]
        if self.command.wrt_sequence:
            fields.append(("wrt", CONSTANT, list(self.sequence)))
        fields += [(key, RESULT, None) for key in self.keys]
        return fields

    def json_object(self, result: Mapping[str, np.ndarray], point: Mapping[str, float] | None,
                    with_expression: bool = True) -> dict:
        """The JSON object of CLI.md for one point: plain lists of floats, non-finite
        numbers as None (JSON null). jsonl rows leave out the expression."""
        obj: dict = {}
        for name, kind, constant in self.json_fields(with_expression):
            if kind == CONSTANT:
                obj[name] = constant
            elif kind == POINT:
                if point is not None:
                    obj[name] = {n: json_number(v) for n, v in point.items()}
            elif name in result:
                obj[name] = _json_numbers(np.asarray(result[name]).tolist())
        return obj

    def describe(self) -> dict:
        """`expression` (or `expressions`, for a command of many) as in the JSON object."""
        if self.command.many:
            return {"expressions": [e.text for e in self.expressions]}
        return {"expression": self.expressions[0].text}


def _rebuild(command: str | Command, texts: tuple[str, ...], wrt: tuple[str, ...], order: int | None) -> Job:
    from .parser import parse

    return Job.create(command, [parse(text) for text in texts], wrt, order)


def _json_numbers(value):
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return json_number(value)
