"""Batch output: result rows as CSV, JSON lines or Parquet, numbers formatted in C by pyarrow.

A writer's work is split in two: `encode` turns one block's rows and results
into bytes (or a table) and runs on worker threads, several blocks at once;
`write` puts them out in input order on the calling thread. Text is built
column-wise with pyarrow kernels (a float-to-text cast per column, then
pyarrow's CSV writer or an element-wise join of the columns), never a Python
loop over rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from . import arrow_kernels as ak
from .batch_input import Rows
from .errors import DataError, UsageError
from .jobs import CONSTANT, POINT
from .formats import BY_NAME as BY_FORMAT
from .formats import having, listing
from .output import NewFile, format_of_path

# pyarrow writes floats in positional notation, without a point when integral,
# below this magnitude; exponent notation (with an 'e') from it on.
_POSITIONAL_BELOW = 1e10
# The widest Parquet output: pyarrow's writer takes about 10 KB per column, and
# where an allocation fails (100,000 columns under a memory limit) it aborts the
# process in C++ (std::bad_alloc), which no handler can turn into a message.
MAX_PARQUET_COLUMNS = 20_000
_PLAIN_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def float_text(values: np.ndarray, *, json_null: bool = False) -> pa.Array:
    """Shortest round-trip text of each float (float64, or float32 when given):
    `3.0`, `0.1`, `1e+20`, `nan`, `inf`, `-inf` (`null` for the non-finite ones
    when `json_null`)."""
    values = np.ascontiguousarray(values)
    if values.dtype not in (np.float64, np.float32):
        values = values.astype(np.float64)
    text = ak.cast(values, pa.string())
    # pyarrow writes 3.0 as "3", which JSON readers take for an integer: add the ".0"
    # that Python's repr has.
    integral = (values == np.trunc(values)) & (np.abs(values) < _POSITIONAL_BELOW)
    if integral.any():
        text = ak.if_else(integral, ak.join_each([text, ".0"], ""), text)
    if json_null:
        finite = np.isfinite(values)
        if not finite.all():
            text = ak.if_else(finite, text, "null")
    return text


def _lines(pieces: list, count: int, separator: str = "") -> list:
    """The rows' text, each row its pieces (text arrays or literal strings) joined
    by `separator`, as buffers to write one after the other: every row ends in a
    newline."""
    if count == 0:
        return []
    merged: list = []
    for piece in pieces:  # adjacent literals become one scalar
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += separator + piece
        else:
            merged.append(piece)
    arrays = [p.encode() if isinstance(p, str) else ak.cast(p, pa.binary()) for p in merged]
    rows = ak.join_each(arrays, separator.encode())
    # All rows as one value, newline-separated: a single copy, no per-row work.
    one = ak.join_lists(pa.ListArray.from_arrays(pa.array([0, count], pa.int32()), rows), b"\n")
    offsets = np.frombuffer(one.buffers()[1], dtype=np.int32, count=2, offset=4 * one.offset)
    return [one.buffers()[2].slice(int(offsets[0]), int(offsets[1] - offsets[0])), b"\n"]


def _csv_name(name: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([name])
    return out.getvalue()


def _with_nulls(column, text: pa.Array, null_text: str) -> pa.Array:
    if column.null_count:
        text = ak.if_else(ak.is_valid(column), text, null_text)
    return text


def _as_text(column, name: str) -> pa.Array:
    try:
        return ak.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as e:
        raise DataError(f"--keep-input: cannot write column {name!r} "
                        f"({column.type}) as text: {e}") from None


def _csv_quoted(text: pa.Array) -> pa.Array:
    needs = ak.matches(text, '[,"\r\n]')
    if not ak.any_true(needs):
        return text
    quoted = ak.join_each(['"', ak.replace(text, '"', '""'), '"'], "")
    return ak.if_else(needs, quoted, text)


def _json_quoted(text: pa.Array) -> pa.Array:
    if ak.any_true(ak.matches(text, r'[\x00-\x1f"\\]')):
        return pa.array([None if s is None else json.dumps(s, ensure_ascii=False)
                         for s in text.to_pylist()], pa.string())
    return ak.join_each(['"', text, '"'], "")


def _echo_csv(column, name: str) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    t = column.type
    if pa.types.is_floating(t):
        text = float_text(column.to_numpy(zero_copy_only=False))
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = _csv_quoted(ak.cast(column, pa.string()))
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        text = _as_text(column, name)
    else:
        text = _csv_quoted(_as_text(column, name))
    return _with_nulls(column, text, "")


def _echo_json(column, name: str) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    t = column.type
    if pa.types.is_floating(t):
        text = float_text(column.to_numpy(zero_copy_only=False), json_null=True)
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        text = _as_text(column, name)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = _json_quoted(ak.cast(column, pa.string()))
    else:
        text = _json_quoted(_as_text(column, name))
    return _with_nulls(column, text, "null")


class _TextOutput:
    """Bytes to a stream, flushed block by block so that output flows at once."""

    def __init__(self, stream, owned: bool):
        self.stream, self._owned = stream, owned

    def start(self) -> None:
        pass

    def write(self, payload: list) -> None:
        for buffer in payload:
            self.stream.write(buffer)
        self.stream.flush()

    def close(self) -> None:
        if self._owned:
            self.stream.close()
        else:
            self.stream.flush()


class CsvOutput(_TextOutput):
    """CSV: a header line, then one line per row, echoed input first."""

    def __init__(self, stream, job, echo: str | None, reader, owned: bool = False):
        super().__init__(stream, owned)
        self.job, self.echo = job, echo
        names = ",".join(_csv_name(n) for n in job.column_names())
        if echo == "lines":
            self._header = reader.header_line + b"," + names.encode()
        elif echo == "table":
            self._header = ",".join([*map(_csv_name, reader.header), names]).encode()
        else:
            self._header = names.encode()

    def start(self) -> None:
        self.stream.write(self._header + b"\n")
        self.stream.flush()

    def encode(self, rows: Rows, result: Mapping[str, np.ndarray]) -> list:
        texts: list = []
        if self.echo == "lines":
            texts.append(rows.echo)
        elif self.echo == "table":
            texts += [_echo_csv(c, n) for c, n in zip(rows.echo.columns, rows.echo.column_names)]
        texts += [float_text(c) for c in self.job.columns(result)]
        if self.echo is not None:  # text with commas and quotes: joined row by row
            return _lines(texts, rows.count, ",")
        if rows.count == 0:
            return []
        # Numbers only: pyarrow's CSV writer joins the ready-made text fastest.
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(pa.table(texts, names=[f"c{i}" for i in range(len(texts))]), sink,
                         _PLAIN_CSV)
        return [sink.getvalue()]


class JsonlOutput(_TextOutput):
    """JSON lines: per row the object of CLI.md without `expression`, with `point`;
    --keep-input puts the input columns first, as an `input` object."""

    def __init__(self, stream, job, echo: str | None, reader, owned: bool = False):
        super().__init__(stream, owned)
        self.job, self.echo = job, echo

    def encode(self, rows: Rows, result: Mapping[str, np.ndarray]) -> list:
        pieces: list = ["{"]
        if self.echo:
            fields = []
            for column, name in zip(rows.echo.columns, rows.echo.column_names):
                fields += [", " if fields else "", json.dumps(name) + ": ",
                           _echo_json(column, name)]
            pieces += ['"input": {', *fields, "}, "]
        first = True
        for name, kind, constant in self.job.json_fields(with_expression=False):
            if kind not in (CONSTANT, POINT) and name not in result:
                continue
            pieces.append(("" if first else ", ") + json.dumps(name) + ": ")
            first = False
            if kind == CONSTANT:
                pieces.append(json.dumps(constant))
            elif kind == POINT:
                pieces.append("{")
                for i, variable in enumerate(self.job.inputs):
                    pieces += [", " * (i > 0) + json.dumps(variable) + ": ",
                               float_text(rows.point[variable], json_null=True)]
                pieces.append("}")
            else:
                pieces += _nested(np.asarray(result[name]))
        pieces.append("}")
        return _lines(pieces, rows.count)


def _nested(array: np.ndarray) -> list:
    """Pieces writing each row's array[i] as a (nested) JSON list."""
    if array.ndim == 1:
        return [float_text(array, json_null=True)]
    pieces: list = ["["]
    for j in range(array.shape[1]):
        if j:
            pieces.append(", ")
        pieces += _nested(array[:, j])
    return pieces + ["]"]


class ParquetOutput:
    """Parquet: the echoed input columns with their types, then float64 results;
    one row group per block."""

    def __init__(self, path: str, job, echo: str | None, reader, replace: bool = True):
        import pyarrow.parquet as pq

        self.job, self.echo = job, echo
        fields = list(reader.echo_schema()) if echo else []
        fields += [pa.field(name, pa.float64()) for name in job.column_names()]
        names = [f.name for f in fields]
        seen: set[str] = set()  # one pass: a wide input is no slower than a narrow one
        inputs = {f.name for f in fields[:len(fields) - len(job.column_names())]}
        for name in (n for n in names if n in seen or seen.add(n)):
            if name in inputs:  # the message names the cause: --keep-input, or --wrt
                raise DataError(f"--keep-input: the input column {name!r} has the name of a "
                                "result column; Parquet needs distinct column names")
            raise DataError(f"the result column {name!r} would appear twice (--wrt names a "
                            "variable twice?); Parquet needs distinct column names")
        if len(fields) > MAX_PARQUET_COLUMNS:  # past it pyarrow's writer may abort the process
            raise DataError(f"--output {path}: {len(fields):,} columns; a Parquet output holds "
                            f"at most {MAX_PARQUET_COLUMNS:,} (its writer needs memory for "
                            "each): write CSV or JSON lines, or leave out --keep-input")
        self.schema = pa.schema(fields)
        # Opened by Python, not by pyarrow: any name the OS takes (invalid UTF-8
        # too), replaced whole when closed.
        try:
            self._file = NewFile(path) if replace else open(path, "wb")
        except OSError as e:
            raise DataError(f"--output {path}: {e.strerror or e}") from None
        try:
            self._writer = pq.ParquetWriter(self._file, self.schema)
        except BaseException:
            self._file.close()
            raise

    def start(self) -> None:
        pass

    def encode(self, rows: Rows, result: Mapping[str, np.ndarray]) -> pa.Table:
        columns = list(rows.echo.columns) if self.echo else []
        columns += [pa.array(np.ascontiguousarray(c)) for c in self.job.columns(result)]
        return pa.Table.from_arrays(columns, schema=self.schema)

    def write(self, payload: pa.Table) -> None:
        if payload.num_rows:
            self._writer.write_table(payload)

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.close()


def open_output(output: str | None, fmt: str, job, echo: str | None, reader, stdout,
                replace: bool = True):
    """The writer for `output` (None or "-": `stdout`) in format `fmt`, the batch
    writer of its row in tapecli.formats: a text writer gets a stream, Parquet's
    (which writes no text) the path. A file is replaced whole when the writer
    closes (output.NewFile), unless `replace` is False (a Dask part, which has a
    temporary name of its own)."""
    kind = BY_FORMAT[fmt].writer("batch")
    if not issubclass(kind, _TextOutput):
        return kind(output, job, echo, reader, replace)
    if output is None or output == "-":
        return kind(stdout, job, echo, reader)
    try:
        stream = NewFile(output) if replace else open(output, "wb")
    except OSError as e:
        raise DataError(f"--output {output}: {e.strerror or e}") from None
    return kind(stream, job, echo, reader, owned=True)


def output_format(output: str | None, fmt: str | None) -> str:
    """The batch's format (one with a batch writer in tapecli.formats), from
    --format and the --output extension."""
    text_formats = [f.name for f in having("batch") if f.option]  # csv, jsonl
    if fmt is not None and BY_FORMAT[fmt].batch is None:
        if BY_FORMAT[fmt].point is not None:
            raise UsageError(f"--format {fmt} is for a single point (--at); a batch is written "
                             f"as {text_formats[0]} (the default) or {listing(text_formats[1:])}")
        raise UsageError(f"--format {fmt}: a batch is written as {listing(text_formats)}")
    extension = format_of_path(output)
    if extension is not None and BY_FORMAT[extension].batch is None:
        files = listing([e for f in having("batch") for e in f.extensions])
        hint = BY_FORMAT[extension].describe
        raise UsageError(f"--output {output}: a batch is written as {files}"
                         + (f" ({hint})" if hint else ""))
    if fmt and extension and fmt != extension:
        raise UsageError(f"--format {fmt} does not match --output {output}")
    return extension or fmt or text_formats[0]
