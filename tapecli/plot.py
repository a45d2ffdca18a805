"""What `tapecli plot` shows: f and its derivatives by one variable, sampled on a grid.

`sample` evaluates f and d^k f/dx^k (k = 1..K) at `points` evenly spaced values
of x (np.linspace), every other variable fixed, through the derivative drivers:
one vectorized batch per order, so the plot costs what a CSV batch of that many
rows costs. `view_range` picks the y range a reader wants: the bulk of the
finite values, so that a pole (tan(x) near pi/2, 1/x at 0) does not flatten
every other curve. Drawing the samples is tapecli.plot_draw's job; this module
needs numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from . import derivatives
from .errors import TapecliError, UsageError
from .expression import Expression, check_variable_name
from .names import derivative_name
from .output import number

# Points when --points is not given: a file gets a smooth curve; the terminal
# about two per column (uniplot draws at sub-character resolution).
FILE_POINTS = 1000
POINTS_PER_COLUMN = 2

_OVER = re.compile(r"\s*([^=\s]+)\s*=([^:]*):(.*)")
# Numbers as --at spells them (inf and nan too, so that they are refused by name).
_NUMBER = re.compile(r"\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)\s*",
                     re.IGNORECASE)


def parse_over(text: str | None) -> tuple[str, float, float]:
    """`x=A:B` -> ("x", A, B), with A < B; anything else is a usage error."""
    if text is None:
        raise UsageError("plot needs a range: give --over NAME=A:B (for example --over x=-6:6)")
    match = _OVER.fullmatch(text)
    if not match:
        raise UsageError(f"--over {text}: write NAME=A:B (for example --over x=-6:6)")
    name, start, stop = match.groups()
    check_variable_name(name)
    a, b = (_range_end(text, end) for end in (start, stop))
    if a >= b:
        raise UsageError(f"--over {text}: the range is empty (A must be less than B)")
    return name, a, b


def _range_end(text: str, end: str) -> float:
    """A finite number, or a constant expression of the language (`pi/2`, `-2*pi`)."""
    if _NUMBER.fullmatch(end):
        value = float(end)
    else:
        from .parser import parse

        try:
            expr = parse(end)
        except TapecliError:
            expr = None
        if expr is None or expr.variables:
            raise UsageError(f"--over {text}: {end.strip()!r} is not a number "
                             "or a constant such as pi/2") from None
        value = float(derivatives.value(expr, {}))
    if not np.isfinite(value):
        raise UsageError(f"--over {text}: {end.strip()!r} is not finite")
    return value


@dataclass(frozen=True)
class Samples:
    """f and its first `order` derivatives by `variable` on the grid `x`.

    `curves[k]` is d^k f / d variable^k at every grid point; `fixed` holds the
    other variables' values, in the expression's order."""

    expression: str
    variable: str
    fixed: dict[str, float]
    x: np.ndarray
    curves: tuple[np.ndarray, ...]

    @property
    def order(self) -> int:
        return len(self.curves) - 1

    def labels(self) -> list[str]:
        """The curves' names (legend and CSV columns): `f`, `df/dx`, `d2f/dxdx`, `d3f/dx^3`."""
        return [derivative_name([self.variable] * k) for k in range(len(self.curves))]

    def column_names(self) -> list[str]:
        return [self.variable, *self.labels()]

    def subtitle(self) -> str:
        """The other variables' values, `y = 2.0, z = -1.0` (empty if there are none)."""
        return ", ".join(f"{name} = {number(v)}" for name, v in self.fixed.items())

    def gaps(self) -> dict[str, int]:
        """`{label: points}` for every curve that is not finite somewhere."""
        counts = {label: int(np.count_nonzero(~np.isfinite(c)))
                  for label, c in zip(self.labels(), self.curves)}
        return {label: n for label, n in counts.items() if n}

    def gap_warning(self) -> str | None:
        """The one warning line for the non-finite points, or None if there are none."""
        gaps = self.gaps()
        if not gaps:
            return None
        total = len(self.x)
        where = ", ".join(f"{label} at {n} of {total} points" for label, n in gaps.items())
        return f"not finite (nan or inf), left as gaps: {where}"


def sample(expr: Expression, variable: str, start: float, stop: float, points: int,
           order: int = 1, at: Mapping[str, float] | None = None) -> Samples:
    """f and d^k f/d variable^k, k = 1..order, at `points` values from start to stop.

    Every variable of `expr` but `variable` needs a value in `at`: a missing
    one is a usage error that names it. Each order is one batch evaluation."""
    at = dict(at or {})
    if points < 2:
        raise UsageError(f"--points {points}: a plot needs at least 2 points")
    if order < 0:
        raise UsageError(f"--order {order}: the order is 0 (f alone) or more")
    if variable in at:
        raise UsageError(f"{variable} is given by both --over and --at: give it once")
    missing = [name for name in expr.variables if name != variable and name not in at]
    if missing:
        names = ", ".join(missing)
        example = " ".join(f"--at {n}=VALUE" for n in missing)
        raise UsageError(f"{names} {'has' if len(missing) == 1 else 'have'} no value: "
                         f"plot varies {variable} only; fix the others with {example}")
    fixed = {name: float(at[name]) for name in expr.variables if name != variable}
    x = grid(start, stop, points)
    found = curves(expr, variable, {**fixed, variable: x}, order)
    # Curve k drops its k axes of one variable; one that does not depend on x
    # (a constant, or a derivative that vanishes) gets the grid's shape.
    return Samples(expr.text, variable, fixed, x,
                   tuple(np.array(np.broadcast_to(c.reshape(c.shape[:c.ndim - k]), x.shape),
                                  dtype=np.float64) for k, c in enumerate(found.values())))


def grid(start: float, stop: float, points: int) -> np.ndarray:
    """`points` evenly spaced values from start to stop, both included: numpy's
    linspace, or where stop - start overflows (-1.7e308:1.7e308) start*(1 - t) +
    stop*t, which cannot. A range too narrow for that many distinct numbers
    (0:5e-324) is a usage error."""
    if np.isfinite(stop - start):
        x = np.linspace(start, stop, points)
    else:
        t = np.linspace(0.0, 1.0, points)
        x = start * (1.0 - t) + stop * t
        x[0], x[-1] = start, stop
    if not (np.all(np.isfinite(x)) and np.all(np.diff(x) > 0)):
        raise UsageError(f"--over {number(start)}:{number(stop)}: too narrow for {points:,} "
                         "distinct float64 points; give a wider range or fewer --points")
    return x


def curves(expr: Expression, variable: str, point: Mapping, order: int
           ) -> dict[str, np.ndarray]:
    """`{"value": f, "d1f": df/dx, ..., "dKf"}` at `point` (x an array): the plot
    row's results, each order one batch evaluation through the drivers. As every
    result key of tapecli.commands, `dkf` has k axes of the variables (here one
    variable: k axes of length 1), so CSV columns and JSON name themselves."""
    found = {"value": np.asarray(derivatives.value(expr, point))}
    for k in range(1, order + 1):
        d = np.asarray(derivatives.derivative(expr, point, [variable] * k)[1])
        found[f"d{k}f"] = d.reshape(d.shape + (1,) * k)
    return found


def view_range(curves: tuple[np.ndarray, ...] | list[np.ndarray]) -> tuple[float, float]:
    """The y range to draw: every finite value, unless a few of them explode.

    Quartiles of all finite values, pooled over the curves, with fences three
    interquartile ranges out (Tukey's far-out fences); the fences replace the
    full range only when the full range is more than four times wider, so a
    curve that merely grows fast (exp over 0:10) is drawn whole, while a pole
    (tan near pi/2, 1/x at 0) is cut off at the bulk. A 5% margin follows."""
    values = np.concatenate([np.ravel(c) for c in curves]) if len(curves) else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -1.0, 1.0
    low, high = float(values.min()), float(values.max())
    q1, q3 = (float(q) for q in np.quantile(values, [0.25, 0.75]))
    fence_low, fence_high = max(low, q1 - 3 * (q3 - q1)), min(high, q3 + 3 * (q3 - q1))
    if (high - low) > 4 * (fence_high - fence_low):
        low, high = fence_low, fence_high
    span = high - low
    if not np.isfinite(span):  # values near ±1.8e308: a span would overflow
        return low, high
    if span == 0:  # flat: give it room to be seen
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low - 0.05 * span, high + 0.05 * span


def drawable(x: np.ndarray, y: np.ndarray, low: float, high: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """x and y for drawing: nan where y is not finite (a gap), and a gap inserted
    between neighbours on opposite sides beyond the view (tan(x) across its pole
    would otherwise be joined by a vertical line through the whole picture)."""
    y = np.where(np.isfinite(y), y, np.nan)
    above, below = y > high, y < low
    cross = np.flatnonzero((above[:-1] & below[1:]) | (below[:-1] & above[1:])) + 1
    if cross.size:
        x = np.insert(x, cross, np.nan)
        y = np.insert(y, cross, np.nan)
    return x, y


def write_csv(samples: Samples, stream: TextIO) -> None:
    """The samples as CSV: a header `x,f,df/dx,...`, one line per grid point, numbers
    in shortest round-trip form (`nan`, `inf`, `-inf` where not finite)."""
    stream.write(",".join(samples.column_names()) + "\n")
    columns = [samples.x, *samples.curves]
    for row in zip(*(c.tolist() for c in columns)):
        stream.write(",".join(map(repr, row)) + "\n")
