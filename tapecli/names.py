"""The one rule that names a derivative, everywhere it is named.

CSV columns, table labels, the JSON keys and lines of formulas, plot legends
and warnings all name a derivative with `derivative_name`: `d` + order + `f/`,
then each variable of the differentiation sequence as `dNAME` in the order
given, a run of three or more of one variable written once with its count
(`df/dx`, `d2f/dxdy`, `d2f/dxdx`, `d3f/dx^3`, `d5f/dzdy^3dx`). This module
imports nothing: every layer may name a derivative.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

# A run of this many differentiations by one variable is written once, with its count.
RUN_WRITTEN_AS_POWER = 3


def runs(wrt: Sequence[str]) -> list[tuple[str, int]]:
    """The sequence as (variable, count) runs: x, x, y -> [(x, 2), (y, 1)]."""
    return [(name, len(list(group))) for name, group in groupby(wrt)]


def derivative_name(wrt: Sequence[str], f: str = "f") -> str:
    """`f` differentiated along `wrt`: `f`, `df/dx`, `d3f/dx^3`, `d2f1/dxdy`."""
    order = len(wrt)
    if order == 0:
        return f
    parts = "".join(f"d{name}^{count}" if count >= RUN_WRITTEN_AS_POWER
                    else f"d{name}" * count for name, count in runs(wrt))
    return ("d" if order == 1 else f"d{order}") + f + "/" + parts
