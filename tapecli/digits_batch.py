"""`--digits N` on a batch: every row certified in ball arithmetic, in worker processes.

python-flint's precision is global to a process (`flint.ctx.prec`), so threads at
different precisions would race: rows go to a pool of processes instead, in chunks,
and come back as text in input order. The output is CSV or JSON lines, each number
with its N certified digits (the float64 writers of tapecli.batch_output print
doubles). Much slower than the float64 batch: it is for the rows that need it.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor

from .errors import DataError, UsageError

WORKERS = 2
CHUNK_ROWS = 16


def run_digits_batch(job, source: str, *, output: str | None, fmt: str | None,
                     keep_input: bool, digits: int) -> None:
    """Certify every row of `source` to `digits` digits and write CSV or JSON lines."""
    from . import batch_input
    from .output import format_of_path

    fmt = fmt or format_of_path(output) or "csv"
    if fmt not in ("csv", "jsonl"):
        raise UsageError(f"--digits on a batch writes csv or jsonl, not {fmt}")
    reader = batch_input.open_reader(source, job.inputs, None,
                                     batch_input.rows_per_block(len(job.column_names())))
    stream = open(output, "w", encoding="utf-8") if output not in (None, "-") else sys.stdout
    try:
        if fmt == "csv":
            stream.write(",".join([*(job.inputs if keep_input else ()),
                                   *job.column_names()]) + "\n")
        with ProcessPoolExecutor(WORKERS) as pool:
            for block in reader.blocks():
                rows = reader.parse(block)
                points = [{n: float(a[i]) for n, a in rows.point.items()}
                          for i in range(rows.count)]
                chunks = [points[i:i + CHUNK_ROWS] for i in range(0, len(points), CHUNK_ROWS)]
                for lines in pool.map(_certify_rows, [job] * len(chunks), chunks,
                                      [digits] * len(chunks), [fmt] * len(chunks),
                                      [keep_input] * len(chunks)):
                    stream.writelines(lines)
    finally:
        reader.close()
        if stream is not sys.stdout:
            stream.close()


def _certify_rows(job, points, digits: int, fmt: str, keep_input: bool) -> list[str]:
    """In a worker process: each point's results, certified, as output lines."""
    from . import accuracy
    from .output import json_dumps, json_number, number

    lines = []
    for point in points:
        try:
            result, uncertain = accuracy.certify(job, point, job.compute(point), digits)
        except DataError:
            raise
        if fmt == "csv":
            echo = [number(point[n]) for n in job.inputs] if keep_input else []
            lines.append(",".join(echo + [number(c) for c in job.columns(result)]) + "\n")
        else:
            obj = job.json_object(result, point, with_expression=False)
            if keep_input:
                obj = {"input": {n: json_number(v) for n, v in point.items()}, **obj}
            lines.append(json_dumps(obj) + "\n")
    return lines
