"""How a single point's results look: a table (rich on a terminal, aligned
plain text otherwise), JSON, CSV or JSON lines.

Every format is built from the Job's own flattening (`columns`,
`json_object`), so the single point and the batch paths agree. Numbers are
written in shortest round-trip form (Python's float repr: `19.0`, `0.1`,
`1e-300`), non-finite ones as `nan`, `inf`, `-inf` (JSON: `null`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple, TextIO

FORMATS = ("table", "csv", "json", "jsonl")


def format_of_path(path: str | None) -> str | None:
    """The format an output file's extension names (csv, jsonl, json, parquet), if any."""
    if path in (None, "-"):
        return None
    lower = path.lower()
    return next((e for e in ("csv", "jsonl", "json", "parquet") if lower.endswith("." + e)),
                None)


def number(x) -> str:
    """Shortest text that reads back as the same float64: `19.0`, `inf`, `nan`."""
    return repr(float(x))


# -- the table: blocks of labelled rows ------------------------------------------

class Block(NamedTuple):  # a NamedTuple, not a dataclass: cheaper at start-up
    """One small table: an optional title, column headers (first one for the
    label column) and rows whose first cell is a label. Columns from
    `numbers_from` on hold numbers and are right-aligned."""

    title: str | None
    headers: tuple[str, ...] | None
    rows: tuple[tuple[str, ...], ...]
    numbers_from: int = 1


def result_blocks(job, result: Mapping, point: Mapping[str, float]) -> list[Block]:
    """The table of one point: expression and value; the point and the gradient
    by variable; the Hessian (or Jacobian) with variable names on both axes."""
    values = result["value"]
    if job.command == "jacobian":
        return _jacobian_blocks(job, result, point)
    summary = [("expression", job.expressions[0].text), ("value", number(values))]
    if job.command == "diff":
        summary.append((job.column_names()[-1], number(result["derivative"])))
    blocks = [Block(None, None, tuple(summary), numbers_from=2)]
    names = list(dict.fromkeys([*point, *job.variables]))
    if names:
        rows = [("point", *(number(point[n]) if n in point else "" for n in names))]
        if "gradient" in result:
            gradient = dict(zip(job.variables, result["gradient"]))
            rows.append(("gradient", *(number(gradient[n]) if n in gradient else ""
                                       for n in names)))
        blocks.append(Block(None, ("", *names), tuple(rows)))
    if "hessian" in result and job.variables:
        rows = tuple((a, *(number(h) for h in row))
                     for a, row in zip(job.variables, result["hessian"]))
        blocks.append(Block("hessian", ("", *job.variables), rows))
    return blocks


def _jacobian_blocks(job, result: Mapping, point: Mapping[str, float]) -> list[Block]:
    blocks = []
    if point:
        blocks.append(Block(None, ("", *point), (("point", *map(number, point.values())),)))
    rows = tuple((f"f{i + 1}", e.text, number(v), *(number(d) for d in row))
                 for i, (e, v, row) in enumerate(zip(job.expressions, result["value"],
                                                     result["jacobian"])))
    headers = ("", "expression", "value", *(f"d/d{x}" for x in job.variables))
    blocks.append(Block("jacobian", headers, rows, numbers_from=2))
    return blocks


def render_plain(blocks: list[Block]) -> str:
    """Blocks as aligned plain text, separated by blank lines."""
    parts = []
    for block in blocks:
        table = [block.headers, *block.rows] if block.headers else list(block.rows)
        if block.title and block.headers:
            table[0] = (block.title, *block.headers[1:])
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = []
        for row in table:
            cells = [cell.rjust(w) if i >= block.numbers_from else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(row, widths))]
            lines.append("  ".join(cells).rstrip())
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_rich(blocks: list[Block], file: TextIO) -> None:
    """Blocks as rich tables (imported only here: a terminal is waiting)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, highlight=False)
    for block in blocks:
        if block.headers is None:  # the summary: label and value, no frame
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            for row in block.rows:
                grid.add_row(*row)
            console.print(grid)
            continue
        table = Table(title=block.title, box=box.SIMPLE_HEAD, title_justify="left",
                      title_style="bold")
        for i, header in enumerate(block.headers):
            table.add_column(header, justify="right" if i >= block.numbers_from else "left",
                             style="bold" if i == 0 else None)
        for row in block.rows:
            table.add_row(*row)
        console.print(table)


def use_rich(stream: TextIO) -> bool:
    """Rich tables only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- machine-readable formats -------------------------------------------------

def json_text(job, result: Mapping, point: Mapping[str, float]) -> str:
    """The JSON object of CLI.md on one line (strict JSON: non-finite as null)."""
    import json

    return json.dumps(job.json_object(result, point), allow_nan=False) + "\n"


def jsonl_text(job, result: Mapping, point: Mapping[str, float],
               echo: Mapping[str, float] | None = None) -> str:
    """One JSON line, as a batch of one row writes it: no `expression`; with
    `echo` (--keep-input) the input values first, under `input`."""
    import json

    from .jobs import json_number

    obj = job.json_object(result, point, with_expression=False)
    if echo is not None:
        obj = {"input": {name: json_number(v) for name, v in echo.items()}, **obj}
    return json.dumps(obj, allow_nan=False) + "\n"


def csv_text(job, result: Mapping, point: Mapping[str, float],
             echo: Mapping[str, float] | None = None) -> str:
    """Header and one row, as a batch of one row writes it (with `echo`,
    --keep-input, the input values first)."""
    header = job.column_names()
    row = [number(c) for c in job.columns(result)]
    if echo is not None:
        header = [*echo, *header]
        row = [*map(number, echo.values()), *row]
    return ",".join(header) + "\n" + ",".join(row) + "\n"


def write_result(job, result: Mapping, point: Mapping[str, float], fmt: str,
                 stream: TextIO, echo: Mapping[str, float] | None = None) -> None:
    """Write one point's result to `stream` in `fmt` (one of FORMATS); `echo`
    (the --at values, with --keep-input) goes before the results in csv and jsonl."""
    if fmt == "table":
        blocks = result_blocks(job, result, point)
        if use_rich(stream):
            render_rich(blocks, stream)
        else:
            stream.write(render_plain(blocks))
    elif fmt == "json":
        stream.write(json_text(job, result, point))
    elif fmt == "jsonl":
        stream.write(jsonl_text(job, result, point, echo))
    elif fmt == "csv":
        stream.write(csv_text(job, result, point, echo))
    else:
        raise ValueError(f"unknown format {fmt!r}")
