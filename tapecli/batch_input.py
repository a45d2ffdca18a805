"""Batch input: CSV or Parquet rows in blocks, parsed in C by pyarrow.

A reader hands out raw blocks in input order (`blocks`, cheap, run by one
thread) and turns each block into `Rows` (`parse`, the expensive part, run by
worker threads in parallel). CSV blocks are whole lines cut from the byte
stream by us rather than by pyarrow's streaming reader, so that every block
knows the line number it starts at: a malformed row is then reported by its
line, and the good rows before it in the same block still get written.

What a line is, is decided here, once, for every mode: a line ends at \n (a
\r before it is dropped), a carriage return anywhere else is an error, and a
quoted field ends on the line it starts (`_LINE`). pyarrow left alone would let
a quote run on over any number of lines, or end a line at a lone \r, and so
merge or split rows silently; each block is checked against the rule before
pyarrow sees it, so that rows and lines correspond one to one.
"""

from __future__ import annotations

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
from .errors import DataError, UsageError, listing

CSV_BLOCK_BYTES = 1 << 20
# Rows per block: evaluation and output take memory in proportion to rows times
# result columns, so wide results (a Hessian) get fewer rows per block.
BLOCK_CELLS = 1 << 17
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 1024, 1 << 16
# A pipe that goes quiet this long has its complete lines processed at once,
# so that a slow producer's rows flow through instead of waiting for a block.
PIPE_PATIENCE_SECONDS = 0.2

# The longest line accepted (bytes, before its end). A stream that never ends
# a line (`cat /dev/zero`) is refused at this length, after linear work.
MAX_LINE_BYTES = 32 << 20

_BOM = b"\xef\xbb\xbf"

# One CSV field as pyarrow reads it (quote '"', doubled inside a quoted field):
# quoted, where `""` is a quote and text after the closing quote joins the
# field; or unquoted, where a quote is an ordinary character. Neither holds a
# \r or a \n. The pattern has exactly one way to match any text, so RE2
# (pyarrow's regex engine, on whole blocks) and Python's re with possessive
# quantifiers (single lines, for messages) accept the same lines, in linear time.
def _field_pattern(many: str, maybe: str) -> str:
    return (rf'(?:"(?:[^"\r\n]|""){many}"(?:[^",\r\n][^,\r\n]{many}){maybe}'
            rf'|[^",\r\n][^,\r\n]{many}){maybe}')


def _line_pattern(many: str, maybe: str) -> str:
    field = _field_pattern(many, maybe)
    return rf"{field}(?:,{field}){many}\r?"


_LINE_RE2 = "^" + _line_pattern("*", "?") + "$"
_LINE_RE = re.compile(_line_pattern("*+", "?+").encode())
_FIELD_RE = re.compile(_field_pattern("*+", "?+").encode() + rb"(?=,|\r?\Z)")
_UNQUOTE_RE = re.compile(rb'"((?:[^"]|"")*+)"(.*)', re.S)


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
    return DataError(f"no {noun} named {listing(missing)} in the input "
                     f"(its header has: {listing(header)})")


def _check_unique(names: Sequence[str], wanted: Sequence[str], why: str) -> None:
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):  # one pass: 20,000 columns are no slower than 20
        positions.setdefault(name, []).append(i + 1)
    for name in dict.fromkeys(wanted):
        where = positions.get(name, [])
        if len(where) > 1:
            columns = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            raise DataError(f"column {name!r} appears {len(where)} times in the header "
                            f"(columns {columns}){why}")


def _too_long(line: int) -> DataError:
    return DataError(f"line {line}: longer than {MAX_LINE_BYTES:,} bytes without a line end "
                     "(tapecli's limit for one line)")


def _shown(text: str, width: int = 60) -> str:
    """`text` quoted for a message, cut in the middle when long: a 10 MB field
    must not become a 10 MB error line."""
    if len(text) <= width:
        return repr(text)
    return f"{text[:width // 2]!r}... ({len(text):,} characters)"


# -- one line's fields (headers and messages; blocks are read by pyarrow) ----------------

def _split_fields(line: bytes) -> tuple[list[bytes], int | None]:
    """The raw fields of `line` (without its \\n) and the index of a field whose
    quote does not close on the line (None if every field is whole)."""
    fields, pos = [], 0
    while True:
        m = _FIELD_RE.match(line, pos)
        if m is None:
            return fields, len(fields)
        fields.append(m.group())
        pos = m.end() + 1  # past the comma
        if pos > len(line) or line[m.end():] in (b"", b"\r"):
            return fields, None


def _unquote(field: bytes) -> bytes:
    m = _UNQUOTE_RE.fullmatch(field)
    return m.group(1).replace(b'""', b'"') + m.group(2) if m else field


def _line_problem(line: bytes, number: int, header: Sequence[str]) -> str | None:
    """What breaks the rule of a line in `line` (without its \\n), or None."""
    if b"\r" in (line[:-1] if line.endswith(b"\r") else line):
        return (f"line {number}: a carriage return inside the line "
                "(tapecli reads lines that end in \\n or \\r\\n)")
    if _LINE_RE.fullmatch(line):
        return None
    _, j = _split_fields(line)
    name = f" ({header[j]})" if j is not None and j < len(header) else ""
    return (f"line {number}, column {(j or 0) + 1}{name}: a quoted field that does not end "
            "on its line (a field cannot span lines)")


def _first_broken_line(data: bytes) -> tuple[int, int] | None:
    """(offset, index) of the first line of `data` that breaks the rule of a line."""
    if b'"' not in data and data.count(b"\r") == data.count(b"\r\n"):
        return None  # no quote, no lone \r: every line keeps the rule (the usual case)
    lines = ak.flatten(ak.split(pa.array([data], pa.binary()), b"\n"))
    broken = np.flatnonzero(~ak.matches(lines, _LINE_RE2).to_numpy(zero_copy_only=False))
    if not broken.size:
        return None
    index = int(broken[0])
    return int(ak.lengths(lines)[:index].sum()) + index, index


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
    missing final newline are accepted; a field cannot span lines, a carriage
    return only ends one, and a line holds at most MAX_LINE_BYTES."""

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
        position = {name: i for i, name in reversed(list(enumerate(header)))}
        self._var_ids = {v: self._ids[position[v]] for v in self.variables}
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
        self._include, self._types = include, types
        # Where each variable's column sits in the tables pyarrow returns (by
        # position: a lookup by name is a scan of the schema, per column).
        self._var_at = {v: include.index(i) for v, i in self._var_ids.items()}
        self._read_options = pa_csv.ReadOptions(column_names=self._ids, use_threads=False)
        self._convert_options = pa_csv.ConvertOptions(
            include_columns=include, column_types=types, null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False)

    def echo_schema(self) -> pa.Schema:
        """Schema of the echoed table (--keep-input to JSON lines or Parquet)."""
        variables = set(self.variables)
        return pa.schema([(n, pa.float64() if n in variables else pa.string())
                          for n in self.header])

    # -- raw blocks --------------------------------------------------------
    def _next_line(self) -> bytes | None:
        """The next line (without its end) from the start of the stream; None at its end."""
        searched = 0  # the buffer's first bytes hold no line end: never search them again
        while (end := self._buffer.find(b"\n", searched)) < 0 and not self._eof:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise _too_long(self._line)
            searched = len(self._buffer)
            data = self._source.read(65536)
            self._eof = not data
            self._buffer += data
        if end < 0:
            if not self._buffer:
                return None
            end = len(self._buffer)
        if end > MAX_LINE_BYTES:
            raise _too_long(self._line)
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
        problem = _line_problem(line, self._line, ())
        if problem:
            raise DataError(problem.replace("inside the line", "inside the header line"))
        line = line.rstrip(b"\r")
        try:
            self.header = [_unquote(field).decode("utf-8").strip()
                           for field in _split_fields(line)[0]]
        except UnicodeDecodeError:
            raise DataError(f"line {self._line}: the header is not valid UTF-8") from None
        self.header_line = line
        self._line += 1

    def blocks(self) -> Iterator[Block]:
        """Successive blocks of whole lines, at most CSV_BLOCK_BYTES each unless a
        single line is longer; DataError for a line longer than MAX_LINE_BYTES."""
        source = self._source
        pending = bytes(self._buffer)  # what the header's read brought beyond it
        self._buffer.clear()
        target = CSV_BLOCK_BYTES
        searched = 0  # bytes at the start of `pending` known to hold no line end
        while pending or not self._eof:
            if len(pending) < target and not self._eof:
                # A fresh buffer per block, read into in place: blocks in flight keep theirs.
                buffer = bytearray(target)
                view = memoryview(buffer)
                size = len(pending)
                view[:size] = pending
                has_line = pending.find(b"\n", searched) >= 0
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
                cut = buffer.rfind(b"\n", 0, min(size, limit)) + 1 if searched < limit else 0
                if not cut:  # the first line is longer than a block
                    end = buffer.find(b"\n", max(limit, searched), size)
                    if (end if end >= 0 else size) > MAX_LINE_BYTES:
                        raise _too_long(self._line)
                    cut = end + 1 if end >= 0 else (size if self._eof else 0)
            lines = buffer.count(b"\n", 0, cut)
            if lines > self.max_rows:  # short lines: cut after max_rows of them
                ends = np.flatnonzero(np.frombuffer(view[:cut], np.uint8) == ord("\n"))
                cut, lines = int(ends[self.max_rows - 1]) + 1, self.max_rows
            pending = bytes(view[cut:size])
            if cut == 0:  # a line longer than a block, still without its end: read on.
                # Twice the size each time, and only the new bytes searched:
                # linear work however long the line.
                searched = size
                target = min(2 * size + CSV_BLOCK_BYTES, MAX_LINE_BYTES + 2)
                continue
            target, searched = CSV_BLOCK_BYTES, 0
            first = self._line
            self._line += lines
            yield Block(view[:cut], first, cut)

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    # -- parsing (worker threads) ------------------------------------------
    def _table(self, data) -> pa.Table:
        if not len(data):  # pyarrow refuses an empty file; it is zero rows here
            return pa.table({i: pa.array([], self._types[i]) for i in self._include})
        options = self._read_options
        if len(data) >= options.block_size:  # pyarrow needs a row within one of its blocks
            options = pa_csv.ReadOptions(column_names=self._ids, use_threads=False,
                                         block_size=len(data) + 1)
        return pa_csv.read_csv(pa.BufferReader(pa.py_buffer(data)), read_options=options,
                               convert_options=self._convert_options)

    def parse(self, block: Block) -> Rows:
        """The block's rows; RowsError for a malformed row, with the rows before it."""
        data = block.data
        broken = _first_broken_line(bytes(data))
        good = data if broken is None else data[:broken[0]]
        try:
            table = self._table(good)
        except pa.ArrowInvalid:
            raise self._diagnose(good, block.first) from None
        rows = self._rows(table, good)
        if broken is not None:
            offset, index = broken
            line = bytes(data[offset:]).split(b"\n", 1)[0]
            raise RowsError(rows, DataError(_line_problem(line, block.first + index, self.header)
                                            or f"line {block.first + index}: cannot read it"))
        return rows

    def _rows(self, table: pa.Table, data) -> Rows:
        columns = table.columns
        point = {v: columns[i].to_numpy() for v, i in self._var_at.items()}
        echo = None
        if self.echo == "table":
            echo = pa.table(columns, names=self.header)
        elif self.echo == "lines":
            echo = _text_lines(data)
        return Rows(table.num_rows, point, echo)

    def _diagnose(self, data, first: int) -> RowsError:
        """Find the first line pyarrow rejects in `data` (lines that keep the rule
        of a line) by bisection, so that pyarrow itself decides, and say what is
        wrong with it."""
        data = memoryview(data)
        ends = [0]
        for line in bytes(data).split(b"\n"):
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
        rows = self._rows(self._table(data[:ends[good]]), data[:ends[good]])
        line = bytes(data[ends[good]:ends[bad]]).rstrip(b"\n").rstrip(b"\r")
        return RowsError(rows, DataError(self._what_is_wrong(line, first + good)))

    def _what_is_wrong(self, line: bytes, number: int) -> str:
        fields = [_unquote(f).decode("utf-8", "replace") for f in _split_fields(line)[0]]
        width = len(self.header)
        if len(fields) < width:
            j = len(fields)
            return (f"line {number}, column {j + 1} ({self.header[j]}): missing field "
                    f"(the row has {len(fields)} field{'s' * (len(fields) != 1)}, "
                    f"the header {width})")
        if len(fields) > width:
            return (f"line {number}, column {width + 1}: extra field {_shown(fields[width])} "
                    f"(the row has {len(fields)} fields, the header {width})")
        j = self._first_bad_column(line)
        if j is not None:
            name = self.header[j]
            where = f"line {number}, column {j + 1} ({name})"
            field = fields[j]
            if name not in self.variables:
                return f"{where}: not valid UTF-8"
            if not field.strip():
                return f"{where}: empty field, expected a number"
            return f"{where}: {_shown(field)} is not a number"
        return f"line {number}: cannot read this row: {_shown(line.decode('utf-8', 'replace'))}"

    def _first_bad_column(self, line: bytes) -> int | None:
        """The header index of the first column of `line` that pyarrow cannot
        convert, by bisection over the columns read: a few parses of the line,
        not one per column."""
        def converts(k: int) -> bool:
            options = pa_csv.ConvertOptions(
                include_columns=self._include[:k],
                column_types={i: self._types[i] for i in self._include[:k]},
                null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False)
            try:
                pa_csv.read_csv(pa.BufferReader(line + b"\n"), read_options=self._read_options,
                                convert_options=options)
                return True
            except pa.ArrowInvalid:
                return False

        good, bad = 0, len(self._include)
        if converts(bad):
            return None
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if converts(mid) else (good, mid)
        return self._ids.index(self._include[bad - 1])

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


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _first_line(error: BaseException) -> str:
    """pyarrow's messages run over several lines; the first says what happened."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -- Parquet --------------------------------------------------------------------

class ParquetReader:
    """A Parquet file, read in record batches (row group by row group)."""

    kind = "parquet"

    def __init__(self, path: str, variables: Sequence[str], echo: str | None,
                 max_rows: int = MAX_BLOCK_ROWS):
        import pyarrow.parquet as pq

        self.name, self.variables, self.echo = path, tuple(variables), echo
        self.max_rows = max_rows
        self._handle = None
        try:
            if isinstance(path, str):
                # Opened by Python, not by pyarrow: any name the OS takes (pyarrow
                # cannot encode a name that is not valid UTF-8).
                self._handle = path = open(path, "rb")
            # pre_buffer reads ahead without bound (the whole file, by pyarrow 26):
            # row group by row group keeps memory flat and is no slower.
            self._file = pq.ParquetFile(path, pre_buffer=False)
        except FileNotFoundError:
            raise UsageError(f"--input {self.name}: no such file") from None
        except OSError as e:
            self._close_handle()
            if e.errno is not None:  # the system's refusal: a permission, a directory
                raise UsageError(f"--input {self.name}: {e.strerror or e}") from None
            raise DataError(f"{self.name} is not a readable Parquet file: "
                            f"{_first_line(e)}") from None
        except pa.ArrowException as e:
            self._close_handle()
            raise DataError(f"{self.name} is not a readable Parquet file: "
                            f"{_first_line(e)}") from None
        try:
            self._read_schema(echo)
        except BaseException:
            self.close()
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
        """Blocks of max_rows rows (the last one fewer), read row group by row
        group: a row group that cannot be read (a corrupt page, a failed
        decompression) is a DataError naming it, after every row before it."""
        first, held, count = 1, [], 0  # held: slices of batches, count rows in all
        try:
            for batch in self._row_group_batches():
                while batch.num_rows:  # a block may take rows from two row groups
                    k = min(self.max_rows - count, batch.num_rows)
                    held.append(batch.slice(0, k))
                    count += k
                    batch = batch.slice(k)
                    if count == self.max_rows:
                        yield Block(_joined(held), first, count)
                        first, held, count = first + count, [], 0
        except DataError:
            if held:
                yield Block(_joined(held), first, count)
            raise
        if held:
            yield Block(_joined(held), first, count)

    def _row_group_batches(self) -> Iterator[pa.RecordBatch]:
        metadata = self._file.metadata
        start = 1
        for group in range(metadata.num_row_groups):
            size = metadata.row_group(group).num_rows
            batches = self._file.iter_batches(batch_size=self.max_rows, row_groups=[group],
                                              columns=self._columns, use_threads=False)
            while True:
                try:
                    batch = next(batches, None)
                except (OSError, pa.ArrowException, MemoryError) as e:
                    # MemoryError too: a corrupt size can ask for terabytes.
                    raise DataError(
                        f"{self.name}: row group {group + 1} of {metadata.num_row_groups} "
                        f"(rows {start:,} to {start + size - 1:,}) cannot be read: "
                        f"{_first_line(e)}") from None
                if batch is None:
                    break
                yield batch
            start += size

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._close_handle()

    def _close_handle(self) -> None:
        if self._handle is not None:
            self._handle.close()

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
