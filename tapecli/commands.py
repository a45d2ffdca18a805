"""The computing commands as one table: what each computes and what its results are called.

A row (`Command`) holds everything about one command: the drivers it calls, its
result keys in output order, its help text and example, which shared options it
takes and what `--order` means for it, and whether it takes one EXPR or many.
Nothing else in tapecli switches on a command's name: the CLI builds one click
command per row (tapecli.cli), a Job carries its row (tapecli.jobs), and every
output format names and lays out the results from the keys alone.

A result key is a row too (RESULTS, or the tensor family `dKf`): the order of
its entries and its formula counterpart for --formula; a key that is neither is
an error. Keys name themselves (`result_names`): a key whose entries are
derivatives of order k, over the job's variables on each of k axes, gives the
CSV columns row-major, each named by tapecli.names (`f` for the value, `df/dx`,
`d2f/dxdy`, `d3f/dx^3`), once per expression (`f1`, `df1/dx`, ...) for a
command that takes many. So a new tensor key such as `d3f` (`hessian --order
K`) or plot samples need no naming code. This module imports no click: a batch worker that unpickles a Job
needs the table, not the command line.
"""

# No `from __future__ import annotations` here: NamedTuple would compile every
# field's annotation string at import, which start-up pays for.
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from typing import NamedTuple

import numpy as np

from . import derivatives
from .errors import UsageError
from .names import derivative_name

# Options of tapecli.cli's shared table that the point-or-batch commands take.
POINT_OR_BATCH = ("--at", "--wrt", "--format", "--input", "--keep-input", "--output", "--strict",
                  "--digits",
                  "--formula", "--scheduler")


class Order(NamedTuple):
    """What `--order` means for a command that takes it.

    `bind(wrt, order)` checks the order against the --wrt names and gives the
    job's wrt and the order it keeps;
    `keys(order)` are the result keys it adds after the row's own."""

    metavar: str
    help: str
    bind: Callable[[tuple[str, ...], int], tuple[tuple[str, ...], int]]
    keys: Callable[[int], tuple[str, ...]] = lambda order: ()


class Command(NamedTuple):  # a NamedTuple, not a dataclass: cheaper at start-up
    """One computing command: a row of COMMANDS.

    `compute(job, point)` calls the drivers of tapecli.derivatives and returns
    the arrays named by `keys`, in that order. `help` is the first paragraph(s)
    of `tapecli NAME --help` and `example` its example lines. `options` name
    shared options of tapecli.cli; `order` says what --order means (None: the
    command takes none). `many`: EXPR [EXPR ...] rather than one EXPR.
    `wrt_sequence`: --wrt is the sequence of differentiations of one
    derivative (written as "wrt" in JSON), not the variables of the results.
    `run`: the command's own body, `formats` its own --format choices (see the
    fields).
    """

    name: str
    compute: Callable[..., dict[str, np.ndarray]]
    keys: tuple[str, ...]
    help: str
    example: tuple[str, ...]
    options: tuple[str, ...] = POINT_OR_BATCH
    order: Order | None = None
    many: bool = False
    wrt_sequence: bool = False
    # A command with a body of its own (plot: a grid, then a drawing; trace: a
    # listing), called as run(request, expressions) with the tapecli.run.Request
    # and its parsed EXPRs, instead of computing a point or a batch.
    run: Callable[..., None] | None = None
    # The choices of its --format when they are not the format table's (trace
    # lists the tape: table or json).
    formats: tuple[str, ...] | None = None

    def __eq__(self, other) -> bool:
        # A command is known by its name (an unpickled row equals the row), and it
        # equals its name too, as when commands were strings (`job.command ==
        # "grad"` in scripts and tests); code asks the row's fields instead.
        if isinstance(other, Command):
            return self.name == other.name
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Command({self.name!r})"

    def result_keys(self, order: int | None) -> tuple[str, ...]:
        """The row's keys, then those that `--order order` adds."""
        if order is None or self.order is None:
            return self.keys
        return self.keys + self.order.keys(order)


# -- the result keys -------------------------------------------------------------------

class Result(NamedTuple):
    """What a result key means, wherever it is read: `order`, how many variable
    axes each entry has (None: one number, the derivative along the job's whole
    sequence), and `formulas(job)`, the key's results as (nested lists of)
    Expressions for --formula."""

    order: int | None
    formulas: Callable


def _value_formulas(job):
    values = [e.simplify() for e in job.expressions]
    return values if job.command.many else values[0]


def _tensor_formulas(job, order: int):
    from .formula import derivative_tensor_formulas

    return derivative_tensor_formulas(job.expressions[0], order, list(job.variables))


def _jacobian_formulas(job):
    from .formula import jacobian_formulas

    return jacobian_formulas(job.expressions, list(job.variables))


RESULTS: dict[str, Result] = {
    "value": Result(0, _value_formulas),
    "gradient": Result(1, lambda job: job.expressions[0].gradient_formulas(list(job.variables))),
    "hessian": Result(2, lambda job: job.expressions[0].hessian_formulas(list(job.variables))),
    "jacobian": Result(1, _jacobian_formulas),
    "derivative": Result(None, lambda job: job.expressions[0].differentiate(list(job.sequence))),
}
# The family of tensor keys: `dKf` is the derivative tensor of order K (d3f, d4f, ...).
_TENSOR_KEY = re.compile(r"d([1-9][0-9]*)f")


def result(key: str) -> Result:
    """The meaning of result `key` (a key of RESULTS, or a tensor `dKf`); any other
    key is an error, never taken for a tensor."""
    found = RESULTS.get(key)
    if found is not None:
        return found
    tensor = _TENSOR_KEY.fullmatch(key)
    if tensor is None:
        raise KeyError(f"unknown result key {key!r} (known: {', '.join(RESULTS)}, dKf)")
    order = int(tensor[1])
    return Result(order, lambda job: _tensor_formulas(job, order))


def entry_shape(key: str, variables: Sequence[str], expressions: int | None) -> tuple:
    """The shape of result `key` at one point: an axis of `expressions` entries
    (None: one expression, no axis), then one axis of variables per order."""
    order = result(key).order
    if order is None:  # one number: the derivative along the whole sequence
        return ()
    head = () if expressions is None else (expressions,)
    return head + (len(variables),) * order


def result_names(key: str, variables: Sequence[str], wrt: Sequence[str],
                 expressions: int | None) -> list[str]:
    """The CSV column names of result `key`, row-major over its entry shape."""
    order = result(key).order
    if order is None:  # named by its whole sequence
        return [derivative_name(wrt)]
    fs = ["f"] if expressions is None else [f"f{i + 1}" for i in range(expressions)]
    return [derivative_name(index, f) for f in fs for index in product(variables, repeat=order)]


# -- what each command computes --------------------------------------------------------

def _eval(job, point: Mapping) -> dict[str, np.ndarray]:
    return {"value": derivatives.value(job.expressions[0], point)}


def _grad(job, point: Mapping) -> dict[str, np.ndarray]:
    value, grad = derivatives.gradient(job.expressions[0], point, job.wrt)
    return {"value": value, "gradient": grad}


def _hessian(job, point: Mapping) -> dict[str, np.ndarray]:
    if job.order is None or job.order == 2:
        value, grad, hess = derivatives.hessian(job.expressions[0], point, job.wrt)
        return {"value": value, "gradient": grad, "hessian": hess}
    # --order K: the Hessian from reverse mode, tensors 3..K from Taylor mode
    tensors = derivatives.derivative_tensors(job.expressions[0], point, job.order, job.wrt)
    return dict(zip(job.keys, tensors))


def _diff(job, point: Mapping) -> dict[str, np.ndarray]:
    value, deriv = derivatives.derivative(job.expressions[0], point, job.wrt, job.order)
    return {"value": value, "derivative": deriv}


def _jacobian(job, point: Mapping) -> dict[str, np.ndarray]:
    values, jac = derivatives.jacobian(job.expressions, point, job.wrt)
    return {"value": values, "jacobian": jac}


def _plot(job, point: Mapping) -> dict[str, np.ndarray]:
    from .plot import curves  # the plot's sampling; its drawing needs the extra

    return curves(job.expressions[0], job.wrt[0], point, job.order or 0)


def _run_plot(request, expressions) -> None:
    from .plot_draw import plot  # the drawing libraries load only now

    plot(request, expressions)


def _run_trace(request, expressions) -> None:
    from .tape_listing import trace

    trace(request, expressions)


def _plot_order(wrt: tuple[str, ...], order: int) -> tuple[tuple[str, ...], int]:
    """plot --order K: f and its derivatives by the one variable up to order K."""
    if len(wrt) != 1:
        raise UsageError("plot differentiates by one variable, the one of --over")
    if order < 0:
        raise UsageError(f"--order {order}: the order is 0 (f alone) or more")
    return wrt, order


def _tensor_order(wrt: tuple[str, ...], order: int) -> tuple[tuple[str, ...], int]:
    """hessian --order K: keep K (2 is the plain Hessian)."""
    if order < 2:
        raise UsageError("--order for hessian must be 2 or more (the Hessian is order 2; "
                         "for the gradient use grad)")
    return wrt, order


def _repeat_order(wrt: tuple[str, ...], order: int) -> tuple[tuple[str, ...], int]:
    """diff --wrt x --order N: differentiate N times by x (the job keeps N)."""
    if len(wrt) != 1:
        raise UsageError("--order repeats a single variable: give one --wrt name")
    if order < 1:
        raise UsageError("--order must be 1 or more (order 0 is the value: use eval)")
    return wrt, order


COMMANDS: tuple[Command, ...] = (
    Command("eval", _eval, ("value",),
            help="Print the value of EXPR at a point.",
            example=('tapecli eval "sin(x)**2 + cos(x)**2" --at x=0.3',)),
    Command("grad", _grad, ("value", "gradient"),
            help="Print the value and the gradient of EXPR.",
            example=('tapecli grad "x**2+3*x+1" --at x=3        value 19.0, df/dx 9.0',
                     'tapecli grad "x*y" --at x=2,y=5 --format json')),
    Command("hessian", _hessian, ("value", "gradient", "hessian"),
            help="Print the value, the gradient and the Hessian of EXPR.",
            example=('tapecli hessian "x**2*y + y**3" --at x=1,y=2   Hessian [[4, 2], [2, 12]]',
                     'tapecli hessian "x**2*y*z" --order 3 --at x=1,y=2,z=3   and d3f'),
            order=Order("K", "Also print the derivative tensors of orders 3 to K "
                             "(d3f ... dKf; default 2: the Hessian alone).",
                        _tensor_order,
                        lambda order: tuple(f"d{k}f" for k in range(3, order + 1)))),
    Command("diff", _diff, ("value", "derivative"),
            help="Print the value and one higher-order partial derivative of EXPR.\n\n"
                 "--wrt is the sequence of differentiations: --wrt x,x,y is d3f/dxdxdy;\n"
                 "--wrt x --order 3 is d3f/dx^3. With one variable, --wrt may be left out.",
            example=('tapecli diff "x**3" --wrt x --order 2 --at x=3     d2f/dxdx = 18.0',
                     'tapecli diff "x**2*y" --wrt x,x,y --at x=1,y=2     d3f/dxdxdy = 2.0'),
            order=Order("N", "Differentiate N times with respect to the one --wrt variable.",
                        _repeat_order),
            wrt_sequence=True),
    Command("jacobian", _jacobian, ("value", "jacobian"),
            help="Print the values and the Jacobian of a vector of expressions.\n\n"
                 "Row i of the Jacobian is the gradient of the i-th EXPR.",
            example=('tapecli jacobian "x*y" "x+y" --at x=2,y=3      [[3, 2], [1, 1]]',),
            many=True),
    Command("plot", _plot, ("value",),
            help="Draw EXPR and its derivatives by one variable over a range: in the\n"
                 "terminal, or as a PNG, SVG or PDF file (--output); --format csv gives\n"
                 "the samples. Drawing needs the extra: pip install \"tapecli[plot]\".",
            example=('tapecli plot "sin(x)*exp(-x/4)" --over x=-6:6 --order 2',
                     'tapecli plot "x**2*y" --over x=-1:1 --at y=2 --output plot.png'),
            options=("--over", "--points", "--at", "--format", "--output"),
            order=Order("K", "Draw the derivatives of orders 1 to K too (default 1; 0: f alone).",
                        _plot_order, lambda order: tuple(f"d{k}f" for k in range(1, order + 1))),
            run=_run_plot),
)

# Commands that print no results of a Job: the tape of one point, listed.
LISTINGS: tuple[Command, ...] = (
    Command("trace", None, (),
            help="Show the tape of EXPR at one point: every forward op, then the backward "
                 "pass.\n\n"
                 "Each forward line is one recorded op, its inputs (node ids such as %1, or\n"
                 "constants) and its value; each backward line is a node's adjoint df/d%i and\n"
                 "what its op sends to its inputs, so the chain rule can be read off.",
            example=('tapecli trace "x**2+3*x+1" --at x=3',
                     "tapecli trace \"x*y + sin(x)\" --at x=1,y=2 --format json "
                     "| jq '.[] | {id, op, adjoint}'"),
            options=("--at", "--wrt", "--format", "--output"), run=_run_trace,
            formats=("table", "json")),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS + LISTINGS}


def command(name: str | Command) -> Command:
    """The row of a command, by name (or the row itself)."""
    if isinstance(name, Command):
        return name
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown command {name!r}") from None
