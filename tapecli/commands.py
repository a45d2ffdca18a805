"""The computing commands as one table: what each computes and what its results are called.

A row (`Command`) holds everything about one command: the drivers it calls, its
result keys in output order, its help text and example, which shared options it
takes and what `--order` means for it, and whether it takes one EXPR or many.
Nothing else in tapecli switches on a command's name: the CLI builds one click
command per row (tapecli.cli), a Job carries its row (tapecli.jobs), and every
output format names and lays out the results from the keys alone.

Result keys name themselves (`result_names`): a key whose entries are
derivatives of order k, over the job's variables on each of k axes, gives the
CSV columns `d{k}f/d{a}d{b}...` row-major (`f` for the value, `df/dx` for order
one), once per expression (`f1`, `df1/dx`, ...) for a command that takes many.
So a new tensor key such as `d3f` (`hessian --order K`) or plot samples need no
naming code. This module imports no click: a batch worker that unpickles a Job
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

# Options of tapecli.cli's shared table that the point-or-batch commands take.
POINT_OR_BATCH = ("--at", "--wrt", "--format", "--input", "--keep-input", "--output", "--strict",
                  "--digits",
                  "--formula", "--scheduler")


class Order(NamedTuple):
    """What `--order` means for a command that takes it.

    `bind(wrt, order)` checks the order against the --wrt names and gives the
    job's wrt and the order it keeps (None when the order is folded into wrt);
    `keys(order)` are the result keys it adds after the row's own."""

    metavar: str
    help: str
    bind: Callable[[tuple[str, ...], int], tuple[tuple[str, ...], int | None]]
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
    `run`: the command's own body (see the field).
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
    # A command with a body of its own (plot: a grid, then a drawing), called as
    # run(row, expressions, **options) instead of computing a point or a batch.
    run: Callable[..., None] | None = None

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


# -- naming results ---------------------------------------------------------------

# The derivative order of a key's entries: an entry of order k is indexed by k
# variables. `dKf` is order K (d3f, d4f, ...); "derivative" is one entry, the
# derivative along the whole --wrt sequence.
KEY_ORDERS = {"value": 0, "gradient": 1, "hessian": 2, "jacobian": 1}
_TENSOR_KEY = re.compile(r"d([0-9]+)f")


def key_order(key: str) -> int:
    """How many variable axes each entry of result `key` has."""
    if key in KEY_ORDERS:
        return KEY_ORDERS[key]
    found = _TENSOR_KEY.fullmatch(key)
    if found is None:
        raise KeyError(f"result key {key!r} has no derivative order "
                       "(known: value, gradient, hessian, jacobian, derivative, dKf)")
    return int(found[1])


def derivative_name(order: int, f: str, wrt: Sequence[str]) -> str:
    """`f`, `df/dx`, `d2f/dxdy`, `d3f1/dxdxdy`: f differentiated along `wrt`."""
    if order == 0:
        return f
    return ("d" if order == 1 else f"d{order}") + f + "/" + "".join(f"d{x}" for x in wrt)


def entry_shape(key: str, variables: Sequence[str], expressions: int | None) -> tuple:
    """The shape of result `key` at one point: an axis of `expressions` entries
    (None: one expression, no axis), then one axis of variables per order."""
    if key == "derivative":
        return ()
    head = () if expressions is None else (expressions,)
    return head + (len(variables),) * key_order(key)


def result_names(key: str, variables: Sequence[str], wrt: Sequence[str],
                 expressions: int | None) -> list[str]:
    """The CSV column names of result `key`, row-major over its entry shape."""
    if key == "derivative":  # named by its sequence, order written out: d1f/dx
        return [f"d{len(wrt)}f/" + "".join(f"d{x}" for x in wrt) if wrt else "f"]
    order = key_order(key)
    fs = ["f"] if expressions is None else [f"f{i + 1}" for i in range(expressions)]
    return [derivative_name(order, f, index)
            for f in fs for index in product(variables, repeat=order)]


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
    value, deriv = derivatives.derivative(job.expressions[0], point, job.wrt)
    return {"value": value, "derivative": deriv}


def _jacobian(job, point: Mapping) -> dict[str, np.ndarray]:
    values, jac = derivatives.jacobian(job.expressions, point, job.wrt)
    return {"value": values, "jacobian": jac}


def _plot(job, point: Mapping) -> dict[str, np.ndarray]:
    from .plot import curves  # the plot's sampling; its drawing needs the extra

    return curves(job.expressions[0], job.wrt[0], point, job.order or 0)


def _run_plot(row, expressions, **options) -> None:
    from .plot_draw import run_plot

    run_plot(expressions[0], **options)


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


def _repeat_wrt(wrt: tuple[str, ...], order: int) -> tuple[tuple[str, ...], None]:
    """diff --wrt x --order N: differentiate N times by x."""
    if len(wrt) != 1:
        raise UsageError("--order repeats a single variable: give one --wrt name")
    if order < 1:
        raise UsageError("--order must be 1 or more (order 0 is the value: use eval)")
    return wrt * order, None


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
                 "--wrt x --order 3 is d3f/dx3. With one variable, --wrt may be left out.",
            example=('tapecli diff "x**3" --wrt x --order 2 --at x=3     d2f/dxdx = 18.0',
                     'tapecli diff "x**2*y" --wrt x,x,y --at x=1,y=2     d3f/dxdxdy = 2.0'),
            order=Order("N", "Differentiate N times with respect to the one --wrt variable.",
                        _repeat_wrt),
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

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}


def command(name: str | Command) -> Command:
    """The row of a command, by name (or the row itself)."""
    if isinstance(name, Command):
        return name
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown command {name!r}") from None
