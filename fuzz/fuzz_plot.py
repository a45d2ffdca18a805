"""Fuzz a plot's range and width: any two float64 ends, any number of points and
any terminal width give samples and a picture, or one TapecliError (a usage
error for an empty or too narrow range, a DataError naming uniplot), never
numpy's warnings or another exception (#22: uniplot at COLUMNS 1 to 4, ranges
0:5e-324 and -1e308:1e308, linspace's overflow at -1.7e308:1.7e308)."""

import os
import struct
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tapecli import parse  # noqa: E402
from tapecli.errors import TapecliError  # noqa: E402
from tapecli.plot import sample  # noqa: E402
from tapecli.plot_draw import terminal_text  # noqa: E402

warnings.simplefilter("error", RuntimeWarning)  # a numpy warning is a finding
EXPRESSIONS = [parse(t) for t in ("x", "x**2", "sin(x)", "1/x", "exp(x)", "log(x)")]


def one_input(data: bytes) -> None:
    if len(data) < 19:
        return
    start, stop = struct.unpack("<2d", data[:16])
    points = 2 + data[16] % 64
    columns = 1 + data[17] % 100
    expr = EXPRESSIONS[data[18] % len(EXPRESSIONS)]
    if not (np.isfinite(start) and np.isfinite(stop)) or start >= stop:
        return  # parse_over refuses these before sampling
    try:
        with np.errstate(all="ignore"):  # IEEE results in the samples, as plot gives them
            samples = sample(expr, "x", start, stop, points, 1)
        assert np.all(np.diff(samples.x) > 0), (start, stop, points)
        assert samples.x[0] == start and samples.x[-1] == stop
        terminal_text(samples, columns=columns, lines=24)
    except TapecliError:
        pass


SEEDS = [struct.pack("<2d", a, b) + bytes([30, 40, i])
         for i, (a, b) in enumerate([(0, 5e-324), (-1e308, 1e308), (-1.7e308, 1.7e308),
                                     (-6, 6), (1e-300, 2e-300), (0, 1)])]

if __name__ == "__main__":
    from _driver import run

    run(one_input, SEEDS)
