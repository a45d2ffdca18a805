"""Batch mode: every row of a CSV or Parquet input through one job, block by block.

The input is cut into blocks of rows. Each block is parsed, evaluated in one
vectorized pass over the tape and encoded as output on a worker thread, while
a feeder thread reads the next blocks and the calling thread writes finished
blocks in input order. A bounded number of blocks is in flight, so memory stays
flat however long the input, and output starts with the first block.

pyarrow (batch_input, batch_output) is imported here only when a batch runs, so
that single-point start-up does not pay for it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import domain
from .errors import DataError, UsageError
from .output import is_terminal

WORKERS = 2  # pyarrow's parsing and formatting and numpy's ufuncs release the GIL
IN_FLIGHT = 3  # blocks queued for writing, beyond the ones being read and written


@dataclass
class _Done:
    """A block, evaluated and encoded, waiting for its turn to be written."""

    payload: object
    rows: int
    size: int
    problems: dict[str, int] = field(default_factory=dict)
    error: DataError | None = None
    low_digits: dict[str, int] = field(default_factory=dict)  # tapecli.accuracy's estimate


def run_batch(job, source: str, *, output: str | None, fmt: str | None,
              keep_input: bool, strict: bool) -> None:
    """Run `job` on every row of `source` (a CSV or Parquet path, or "-" for a CSV
    on stdin) and write the results to `output` (None or "-": stdout) as csv,
    jsonl or Parquet. Raises DataError for bad data, after every earlier row's
    results have been written, and UsageError for bad options."""
    import pyarrow as pa

    from . import batch_input, batch_output

    # pyarrow's default allocator (mimalloc) keeps the memory of blocks freed on
    # other threads: the system allocator hands it back, and peak memory drops
    # by a third at no cost in speed.
    pa.set_memory_pool(pa.system_memory_pool())
    fmt = batch_output.output_format(output, fmt)
    _refuse_same_file(source, output)
    parquet_in = source != "-" and source.lower().endswith(".parquet")
    echo = None
    if keep_input:
        echo = "lines" if fmt == "csv" and not parquet_in else "table"
    max_rows = batch_input.rows_per_block(len(job.column_names()))
    reader = batch_input.open_reader(source, job.inputs, echo, max_rows)
    totals: Counter = Counter()
    low_digits: Counter = Counter()
    rows = 0
    try:
        writer = batch_output.open_output(output, fmt, job, echo, reader, _stdout())
        try:
            writer.start()
            with _Progress(reader) as progress, \
                    contextlib.closing(_pipeline(reader, writer, job, strict)) as blocks:
                for done in blocks:
                    if done.payload is not None:
                        writer.write(done.payload)
                    totals.update(done.problems)
                    low_digits.update(done.low_digits)
                    rows += done.rows
                    progress.advance(done.size)
                    if done.error is not None:
                        raise done.error
        finally:
            writer.close()
            if totals:
                print(f"tapecli: warning: {domain.describe(totals, rows)}", file=sys.stderr)
            if low_digits:
                from .accuracy import describe_low_digits

                print(f"tapecli: warning: {describe_low_digits(low_digits, rows)}",
                      file=sys.stderr)
    finally:
        reader.close()


def _stdout():
    sys.stdout.flush()
    return sys.stdout.buffer


def _refuse_same_file(source: str, output: str | None) -> None:
    if source == "-" or output in (None, "-"):
        return
    try:
        same = os.path.samefile(source, output)
    except OSError:
        return
    if same:
        raise UsageError(f"--output {output} is the input file; "
                         "writing it would destroy the input")


# -- the pipeline -------------------------------------------------------------------

def _pipeline(reader, writer, job, strict: bool):
    """Yield each block, evaluated and encoded, in input order."""
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="tapecli-batch")
    pending: queue.Queue = queue.Queue(maxsize=IN_FLIGHT)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def feed() -> None:
        # Reading is done by a thread of its own so that a block is written as
        # soon as it is ready, even while the reader waits on a slow pipe.
        try:
            for block in reader.blocks():
                future = pool.submit(_process, block, reader, writer, job, strict)
                if not hand_over(future):
                    future.cancel()
                    return
            hand_over(None)
        except BaseException as e:  # noqa: BLE001 - passed on; the main thread raises it
            hand_over(e)

    # A daemon, so that a read blocked on stdin never holds up the exit.
    feeder = threading.Thread(target=feed, name="tapecli-batch-reader", daemon=True)
    feeder.start()
    try:
        while (item := pending.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item.result()
    finally:
        stop.set()
        while True:
            try:
                item = pending.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Future):
                item.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _process(block, reader, writer, job, strict: bool) -> _Done:
    """Parse, evaluate and encode one block (on a worker thread)."""
    from .batch_input import RowsError

    error = None
    try:
        rows = reader.parse(block)
    except RowsError as e:  # the rows before the bad one still count
        rows, error = e.rows, e.error
    if rows.count == 0:
        return _Done(None, 0, block.size, {}, error)
    result, problems = _evaluate(job, rows)
    low_digits = _low_digits(job, rows, result)
    if problems and strict:
        mask = domain.problem_rows(rows.point, result, (rows.count,))
        first = int(np.argmax(mask)) if mask.any() else 0
        one = _problems(job, {n: a[first:first + 1] for n, a in rows.point.items()},
                        {k: v[first:first + 1] for k, v in result.items()}, 1) or problems
        rows, result = rows.head(first), {k: v[:first] for k, v in result.items()}
        error = DataError(f"{reader.where(block, first)}: {domain.strict_error(one)}")
        problems = {}
    return _Done(writer.encode(rows, result), rows.count, block.size, problems, error,
                 low_digits)


def _low_digits(job, rows, result) -> dict[str, int]:
    """Rows of Taylor-mode columns estimated to fewer than 10 digits (tapecli.accuracy)."""
    if not job.inputs:
        return {}
    from .accuracy import low_digit_rows, taylor_keys

    if not taylor_keys(job):
        return {}
    return low_digit_rows(job, rows.point, result)


def _evaluate(job, rows):
    # Tapes, op observers and tape_only() are per thread and compiling a plan
    # takes a lock, so blocks evaluate side by side like they parse and encode.
    result = job.compute(rows.point)
    if not job.inputs:  # a constant expression: one copy of its value per row
        result = {k: np.broadcast_to(v, (rows.count, *np.shape(v))) for k, v in result.items()}
    return result, _problems(job, rows.point, result, rows.count)


def _problems(job, point, result, count: int) -> dict[str, int]:
    if not job.inputs:
        found = domain.find_problems(job, {}, {k: v[0] for k, v in result.items()})
        return {op: count for op in found}
    if all(np.isfinite(v).all() for v in result.values()):
        return {}
    return domain.find_problems(job, point, result)


class _Progress:
    """A rich progress bar on stderr, only when stderr is a terminal and the
    input's size is known (a file, not a pipe)."""

    def __init__(self, reader):
        self._bar = None
        total = reader.total_size
        if total is None or not is_terminal(sys.stderr):
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        unit = "rows" if reader.kind == "parquet" else "bytes"
        self._bar = Progress(TextColumn("[progress.description]{task.description}"),
                             BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                             TimeRemainingColumn(), console=Console(file=sys.stderr),
                             transient=True)
        self._task = self._bar.add_task(f"{reader.name} ({unit})", total=max(total, 1))

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()
