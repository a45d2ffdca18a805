"""Batch input: CSV or Parquet rows in blocks, parsed in C by pyarrow.

A reader hands out raw blocks in input order (`blocks`, cheap, run by one
thread) and turns each block into `Rows` (`parse`, the expensive part, run by
worker threads in parallel). CSV blocks are whole lines cut from the byte
stream by us rather than by pyarrow's streaming reader, so that every block
knows the line number it starts at: a malformed row is then reported by its
line, and the good rows before it in the same block still get written.
"""

from __future__ import annotations

import csv
import os
import re
import select
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from . import arrow_kernels as ak
from .errors import DataError, UsageError

CSV_BLOCK_BYTES = 1 << 20
# Rows per block: evaluation and output take memory in proportion to rows times
# result columns, so wide results (a Hessian) get fewer rows per block.
BLOCK_CELLS = 1 << 17
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 1024, 1 << 16
# A pipe that goes quiet this long has its complete lines processed at once,
# so that a slow producer's rows flow through instead of waiting for a block.
PIPE_PATIENCE_SECONDS = 0.2

_BOM = b"\xef\xbb\xbf"


@dataclass
class Block:
    """Raw rows in input order: CSV bytes of whole lines, or a Parquet record batch."""

    data: memoryview | pa.RecordBatch
    first: int  # CSV: line number of its first line; Parquet: number of its first row
    size: int  # for the progress bar: bytes (CSV) or rows (Parquet)


@dataclass
class Rows:
    """Parsed rows: one float64 array per variable, and what --keep-input echoes.

    `echo` is None, the raw text of each line (a binary array; CSV to CSV), or a
    table of the input columns."""

    count: int
    point: dict[str, np.ndarray]
    echo: pa.Array | pa.Table | None

    def head(self, k: int) -> Rows:
        echo = None if self.echo is None else self.echo.slice(0, k)
        return Rows(k, {n: a[:k] for n, a in self.point.items()}, echo)


class RowsError(Exception):
    """A block failed at some row: the rows before it, and the user's error."""

    def __init__(self, rows: Rows, error: DataError):
        super().__init__(str(error))
        self.rows, self.error = rows, error


def rows_per_block(result_columns: int) -> int:
    return min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, BLOCK_CELLS // max(result_columns, 1)))


def open_reader(source: str, variables: Sequence[str], echo: str | None, max_rows: int):
    """A reader for `source` (a path, or "-" for stdin): Parquet by the .parquet
    extension, CSV otherwise. `echo` is None, "lines" or "table"; blocks hold at
    most `max_rows` rows."""
    if source != "-" and source.lower().endswith(".parquet"):
        return ParquetReader(source, variables, echo, max_rows)
    if source == "-":
        return CsvReader(_stdin(), "stdin", variables, echo, max_rows, owned=False)
    try:
        stream = open(source, "rb", buffering=0)
    except OSError as e:
        raise UsageError(f"--input {source}: {e.strerror or e}") from None
    try:
        return CsvReader(stream, source, variables, echo, max_rows)
    except BaseException:  # a bad header: the reader never existed to close it
        stream.close()
        raise


def _stdin():
    try:
        return open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    except (AttributeError, OSError, ValueError):  # replaced by a test or an embedding host
        return sys.stdin.buffer


def _missing_columns_error(missing: list[str], header: Sequence[str]) -> DataError:
    noun = "column" if len(missing) == 1 else "columns"
    return DataError(f"no {noun} named {', '.join(missing)} in the input "
                     f"(its header has: {', '.join(header)})")


def _check_unique(names: Sequence[str], wanted: Sequence[str], why: str) -> None:
    for name in wanted:
        where = [i + 1 for i, n in enumerate(names) if n == name]
        if len(where) > 1:
            columns = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            raise DataError(f"column {name!r} appears {len(where)} times in the header "
                            f"(columns {columns}){why}")


# -- CSV ------------------------------------------------------------------------

class _ByteSource:
    """Reads a binary stream; on a pipe, also reports whether more data is coming soon."""

    def __init__(self, stream):
        self.stream = stream
        try:
            fd = stream.fileno()
            self.regular = stat.S_ISREG(os.fstat(fd).st_mode)
            self.size = os.fstat(fd).st_size if self.regular else None
        except (AttributeError, OSError, ValueError):
            fd, self.regular, self.size = None, False, None
        self.fd = None if self.regular else fd

    def read(self, n: int) -> bytes:
        return self.stream.read(n)

    def readinto(self, view: memoryview) -> int:
        return self.stream.readinto(view) or 0

    def ready_within(self, seconds: float) -> bool:
        if self.fd is None:
            return True
        try:
            readable, _, _ = select.select([self.fd], [], [], max(seconds, 0.0))
        except (OSError, ValueError):  # select cannot watch this kind of file
            self.fd = None
            return True
        return bool(readable)


class CsvReader:
    """CSV with a header line. Blank lines, CRLF, a UTF-8 BOM, quoted fields and a
    missing final newline are accepted; a field cannot span lines."""

    kind = "csv"

    def __init__(self, stream, name: str, variables: Sequence[str], echo: str | None,
                 max_rows: int = MAX_BLOCK_ROWS, owned: bool = True):
        self.name, self.variables, self.echo = name, tuple(variables), echo
        self.max_rows = max_rows
        self._source = _ByteSource(stream)
        self._stream, self._owned = stream, owned
        self.total_size = self._source.size
        self._buffer = bytearray()
        self._eof = False
        self._line = 1  # number of the line at the start of the buffer
        self._read_header()

        header = self.header
        missing = [v for v in self.variables if v not in header]
        if missing:
            raise _missing_columns_error(missing, header)
        _check_unique(header, self.variables, "")
        if echo == "table":
            _check_unique(header, header, ": --keep-input needs distinct names for this format")
        # pyarrow sees generated names, so that any header (duplicates, odd
        # characters) works; we map them back ourselves.
        self._ids = [f"c{i}" for i in range(len(header))]
        self._var_ids = {v: self._ids[header.index(v)] for v in self.variables}
        types = {self._var_ids[v]: pa.float64() for v in self.variables}
        if echo == "table":
            include = list(self._ids)
            for i in include:
                types.setdefault(i, pa.string())
        elif self.variables:
            include = list(types)
        else:  # nothing to read but the number of rows
            include = [self._ids[0]]
            types = {self._ids[0]: pa.binary()}
        self._include = include
        self._read_options = pa_csv.ReadOptions(column_names=self._ids, use_threads=False)
        self._convert_options = pa_csv.ConvertOptions(
            include_columns=include, column_types=types, null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False)

    def echo_schema(self) -> pa.Schema:
        """Schema of the echoed table (--keep-input to JSON lines or Parquet)."""
        return pa.schema([(n, pa.float64() if n in self.variables else pa.string())
                          for n in self.header])

    # -- raw blocks --------------------------------------------------------
    def _next_line(self) -> bytes | None:
        """The next line (without its end) from the start of the stream; None at its end."""
        while (end := self._buffer.find(b"\n")) < 0 and not self._eof:
            data = self._source.read(65536)
            self._eof = not data
            self._buffer += data
        if end < 0:
            if not self._buffer:
                return None
            end = len(self._buffer)
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        return line

    def _read_header(self) -> None:
        line = self._next_line()
        if line is not None and line.startswith(_BOM):
            line = line[len(_BOM):]
        while line is not None and not line.rstrip(b"\r"):
            self._line += 1  # blank lines before the header are skipped
            line = self._next_line()
        if line is None:
            raise DataError(f"{self.name} is empty: expected a header line naming the columns")
        line = line.rstrip(b"\r")
        if b"\r" in line:
            raise DataError(f"line {self._line}: a carriage return inside the header line "
                            "(tapecli reads lines that end in \\n or \\r\\n)")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"line {self._line}: the header is not valid UTF-8") from None
        self.header_line = line
        self.header = [name.strip() for name in next(csv.reader([text]))]
        self._line += 1

    def blocks(self) -> Iterator[Block]:
        """Successive blocks of whole lines, at most CSV_BLOCK_BYTES each unless a
        single line is longer."""
        source = self._source
        pending = bytes(self._buffer)  # what the header's read brought beyond it
        self._buffer.clear()
        target = CSV_BLOCK_BYTES
        while pending or not self._eof:
            if len(pending) < target and not self._eof:
                # A fresh buffer per block, read into in place: blocks in flight keep theirs.
                buffer = bytearray(target)
                view = memoryview(buffer)
                size = len(pending)
                view[:size] = pending
                has_line = b"\n" in pending
                deadline = time.monotonic() + PIPE_PATIENCE_SECONDS
                while size < target and not self._eof:
                    if (has_line and not source.regular
                            and not source.ready_within(deadline - time.monotonic())):
                        break  # the pipe went quiet: go on with the lines we have
                    got = source.readinto(view[size:])
                    self._eof = not got
                    has_line = has_line or buffer.find(b"\n", size, size + got) >= 0
                    size += got
            else:
                buffer, view, size = pending, memoryview(pending), len(pending)
            limit = CSV_BLOCK_BYTES
            if self._eof and size <= limit:
                cut = size
            else:  # whole lines up to the limit, or one line longer than it
                cut = (buffer.rfind(b"\n", 0, min(size, limit)) + 1
                       or buffer.find(b"\n", limit, size) + 1
                       or (size if self._eof else 0))
            lines = buffer.count(b"\n", 0, cut)
            if lines > self.max_rows:  # short lines: cut after max_rows of them
                ends = np.flatnonzero(np.frombuffer(view[:cut], np.uint8) == ord("\n"))
                cut, lines = int(ends[self.max_rows - 1]) + 1, self.max_rows
            pending = bytes(view[cut:size])
            if cut == 0:  # a line longer than a block, still without its end: read on
                target = size + CSV_BLOCK_BYTES
                continue
            target = CSV_BLOCK_BYTES
            first = self._line
            self._line += lines
            yield Block(view[:cut], first, cut)

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    # -- parsing (worker threads) ------------------------------------------
    def _table(self, data) -> pa.Table:
        if not len(data):  # pyarrow refuses an empty file; it is zero rows here
            types = self._convert_options.column_types
            return pa.table({i: pa.array([], types[i]) for i in self._include})
        return pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)),
                               read_options=self._read_options,
                               convert_options=self._convert_options)

    def parse(self, block: Block) -> Rows:
        """The block's rows; RowsError for a malformed row, with the rows before it."""
        try:
            table = self._table(block.data)
        except pa.ArrowInvalid:
            raise self._diagnose(block) from None
        return self._rows(table, block.data, block.first)

    def _rows(self, table: pa.Table, data, first: int) -> Rows:
        point = {v: table.column(i).to_numpy() for v, i in self._var_ids.items()}
        echo = None
        if self.echo == "table":
            echo = pa.table([table.column(i) for i in self._ids], names=self.header)
        elif self.echo == "lines":
            echo = _text_lines(data)
            if len(echo) != table.num_rows:  # pyarrow also ends a line at a lone \r
                stray = re.search(rb"\r[^\n]", bytes(data))
                number = first + bytes(data)[:stray.start()].count(b"\n") if stray else first
                raise DataError(f"line {number}: a carriage return inside the line "
                                "(tapecli reads lines that end in \\n or \\r\\n)")
        return Rows(table.num_rows, point, echo)

    def _diagnose(self, block: Block) -> RowsError:
        """Find the first line pyarrow rejects (by bisection, so pyarrow itself
        decides) and say what is wrong with it."""
        data = memoryview(block.data)
        ends = [0]
        for line in bytes(block.data).split(b"\n"):
            ends.append(ends[-1] + len(line) + 1)
        ends[-1] = len(data)

        def parses(k: int) -> bool:
            try:
                self._table(data[:ends[k]])
                return True
            except pa.ArrowInvalid:
                return False

        good, bad = 0, len(ends) - 1  # parses(good) holds, parses(bad) does not
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if parses(mid) else (good, mid)
        rows = self._rows(self._table(data[:ends[good]]), data[:ends[good]], block.first)
        line = bytes(data[ends[good]:ends[bad]]).rstrip(b"\n").rstrip(b"\r")
        return RowsError(rows, DataError(self._what_is_wrong(line, block.first + good)))

    def _what_is_wrong(self, line: bytes, number: int) -> str:
        text = line.decode("utf-8", "replace")
        fields = next(csv.reader([text]), [])
        width = len(self.header)
        if len(fields) < width:
            j = len(fields)
            return (f"line {number}, column {j + 1} ({self.header[j]}): missing field "
                    f"(the row has {len(fields)} field{'s' * (len(fields) != 1)}, "
                    f"the header {width})")
        if len(fields) > width:
            return (f"line {number}, column {width + 1}: extra field {fields[width]!r} "
                    f"(the row has {len(fields)} fields, the header {width})")
        for j, name in enumerate(self.header):
            column = self._ids[j]
            if column not in self._include:
                continue
            options = pa_csv.ConvertOptions(
                include_columns=[column], column_types=self._convert_options.column_types,
                null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False)
            try:
                pa_csv.read_csv(pa.BufferReader(line + b"\n"), read_options=self._read_options,
                                convert_options=options)
            except pa.ArrowInvalid:
                where = f"line {number}, column {j + 1} ({name})"
                field = fields[j]
                if name not in self.variables:
                    return f"{where}: not valid UTF-8"
                if not field.strip():
                    return f"{where}: empty field, expected a number"
                return f"{where}: {field!r} is not a number"
        return f"line {number}: cannot read this row: {text!r}"

    def where(self, block: Block, row: int) -> str:
        """'line N' of the block's row number `row` (0-based), blank lines skipped."""
        number = block.first
        for line in bytes(block.data).split(b"\n"):
            if line.rstrip(b"\r"):
                if row == 0:
                    return f"line {number}"
                row -= 1
            number += 1
        return f"line {number}"


def _text_lines(data) -> pa.Array:
    """The non-blank lines of `data` as binary, without their line ends (C, no Python loop)."""
    lines = ak.flatten(ak.split(pa.array([bytes(data)], pa.binary()), b"\n"))
    lines = ak.replace(lines, "\r$", "", regex=True)
    return ak.keep(lines, ak.lengths(lines) > 0)


# -- Parquet --------------------------------------------------------------------

class ParquetReader:
    """A Parquet file, read in record batches (row group by row group)."""

    kind = "parquet"

    def __init__(self, path: str, variables: Sequence[str], echo: str | None,
                 max_rows: int = MAX_BLOCK_ROWS):
        import pyarrow.parquet as pq

        self.name, self.variables, self.echo = path, tuple(variables), echo
        self.max_rows = max_rows
        try:
            # pre_buffer reads ahead without bound (the whole file, by pyarrow 26):
            # row group by row group keeps memory flat and is no slower.
            self._file = pq.ParquetFile(path, pre_buffer=False)
        except FileNotFoundError:
            raise UsageError(f"--input {path}: no such file") from None
        except OSError as e:
            raise UsageError(f"--input {path}: {e.strerror or e}") from None
        except pa.ArrowException as e:
            raise DataError(f"{path} is not a readable Parquet file: {e}") from None
        try:
            self._read_schema(echo)
        except BaseException:
            self._file.close()
            raise

    def _read_schema(self, echo: str | None) -> None:
        """The header and the columns to read, or an error for a missing or
        non-numeric variable column."""
        schema = self._file.schema_arrow
        self.header = list(schema.names)
        self.header_line = None
        self.total_size = self._file.metadata.num_rows
        missing = [v for v in self.variables if v not in self.header]
        if missing:
            raise _missing_columns_error(missing, self.header)
        _check_unique(self.header, self.variables, "")
        if echo:
            _check_unique(self.header, self.header,
                          ": --keep-input needs distinct column names")
        for v in self.variables:
            t = schema.field(v).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t)
                    or pa.types.is_decimal(t)):
                raise DataError(f"column {v!r} holds {t} values, not numbers")
        self._columns = self.header if echo else list(self.variables) or self.header[:1]

    def echo_schema(self) -> pa.Schema:
        return self._file.schema_arrow

    def blocks(self) -> Iterator[Block]:
        first = 1
        for batch in self._file.iter_batches(batch_size=self.max_rows,
                                             columns=self._columns, use_threads=False):
            yield Block(batch, first, batch.num_rows)
            first += batch.num_rows

    def close(self) -> None:
        self._file.close()

    def parse(self, block: Block) -> Rows:
        batch = block.data
        bad = None
        for v in self.variables:
            column = batch.column(v)
            if column.null_count:
                row = int(np.flatnonzero(ak.is_null(column).to_numpy(zero_copy_only=False))[0])
                if bad is None or row < bad[0]:
                    bad = (row, v)
        if bad is not None:
            row, v = bad
            good = self._rows(batch.slice(0, row))
            where = f"row {block.first + row}, column {self.header.index(v) + 1} ({v})"
            raise RowsError(good, DataError(f"{where}: missing value (null), expected a number"))
        return self._rows(batch)

    def _rows(self, batch: pa.RecordBatch) -> Rows:
        point = {v: ak.cast(batch.column(v), pa.float64(), safe=False).to_numpy(
                     zero_copy_only=False) for v in self.variables}
        echo = pa.Table.from_batches([batch]) if self.echo else None
        return Rows(batch.num_rows, point, echo)

    def where(self, block: Block, row: int) -> str:
        return f"row {block.first + row}"
