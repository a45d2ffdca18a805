"""How results look: numbers, the output formats, and a single point's table,
JSON, CSV or JSON lines.

This module is the one home of number formatting (`number`: shortest
round-trip, Python's float repr: `19.0`, `0.1`, `1e-300`, non-finite ones as
`nan`, `inf`, `-inf`; `json_number`: non-finite as JSON null) and of the
terminal check, and it holds the one-point writers that the format table
(tapecli.formats) names. Every format of one point is built from the Job's own
flattening (`columns`, `json_object`), which batch output shares, so the single
point and the batch paths agree.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
from collections.abc import Mapping
from typing import NamedTuple, TextIO

import numpy as np

from . import formats
from .errors import DataError

FORMATS = formats.CHOICES  # --format of the computing commands


def format_of_path(path: str | None) -> str | None:
    """The results' format that an output file's extension names (.csv, .json,
    .jsonl, .parquet: the formats with a point or batch writer), if any."""
    found = formats.of_path(path, formats.having("point") + formats.having("batch"))
    return found.name if found else None


def number(x) -> str:
    """Shortest text that reads back as the same float64: `19.0`, `inf`, `nan`; a
    Decimal (--digits) with exactly its digits: `3.1415926535897932385`, `-2.58e+15`."""
    if _is_decimal(x):
        x = x.item() if type(x) is np.ndarray else x
        return str(x).replace("E", "e") if x.is_finite() else repr(float(x))
    return repr(float(x))


def json_number(x):
    """A float for JSON, or None (null) where JSON has no number: nan and ±inf; a
    Decimal stays one (json_dumps writes its digits as a JSON number)."""
    if _is_decimal(x):
        x = x.item() if type(x) is np.ndarray else x
        return x if x.is_finite() else None
    x = float(x)
    return x if math.isfinite(x) else None


def _is_decimal(x) -> bool:
    # By name: a plain float output never imports decimal. A Decimal may come
    # wrapped in a 0-d object array (a result's entry).
    if type(x) is np.ndarray and x.dtype == object:
        x = x.item()
    return type(x).__name__ == "Decimal" and type(x).__module__ == "decimal"


def json_dumps(obj) -> str:
    """Strict JSON of `obj`; Decimals (--digits) written as numbers with their digits."""
    import json

    texts: list[str] = []

    def as_text(o):
        if _is_decimal(o):
            texts.append(number(o))
            return f"\x00{len(texts) - 1}\x00"
        raise TypeError(f"{type(o).__name__} is not JSON")

    text = json.dumps(obj, allow_nan=False, default=as_text)
    if texts:
        import re

        text = re.sub(r'"\\u0000([0-9]+)\\u0000"', lambda m: texts[int(m[1])], text)
    return text


def is_terminal(stream) -> bool:
    """Whether `stream` is a terminal (False for a closed or fake stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdin_is_piped() -> bool:
    """Whether stdin is not a terminal, so that a batch may come on it (None:
    stdin closed, `<&-`)."""
    import sys

    return sys.stdin is not None and not sys.stdin.isatty()


def use_rich(stream: TextIO) -> bool:
    """Rich tables only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and is_terminal(stream)


# -- the table: sections of labelled rows ------------------------------------------

class Section(NamedTuple):  # a NamedTuple, not a dataclass: cheaper at start-up
    """One small table: an optional title, column headers (first one for the
    label column) and rows whose first cell is a label. Columns from
    `numbers_from` on hold numbers and are right-aligned."""

    title: str | None
    headers: tuple[str, ...] | None
    rows: tuple[tuple[str, ...], ...]
    numbers_from: int = 1


def result_sections(job, result: Mapping, point: Mapping[str, float]) -> list[Section]:
    """The table of one point, laid out by each result's shape: the expression
    and the scalar results (the value, a derivative); the point, with a row per
    vector by variable (the gradient); a section per tensor (the Hessian) with
    variable names on its axes. A command of many expressions has one row per
    expression instead (see _per_expression_sections)."""
    if job.command.many:
        return _per_expression_sections(job, result, point)
    summary = [("expression", job.expressions[0].text)]
    vectors, tensors = [], []
    for key in job.keys:
        if key not in result:
            continue
        array = np.asarray(result[key])
        if array.ndim == 0:  # the value, or diff's one derivative, named by its column
            summary.append(("value" if key == "value" else job.key_names(key)[0],
                            number(array)))
        elif array.ndim == 1:
            vectors.append((key, array))
        else:
            tensors.append((key, array))
    sections = [Section(None, None, tuple(summary), numbers_from=2)]
    names = list(dict.fromkeys([*point, *job.variables]))
    if names:
        rows = [("point", *(number(point[n]) if n in point else "" for n in names))]
        for key, vector in vectors:
            by_name = dict(zip(job.variables, vector))
            rows.append((key, *(number(by_name[n]) if n in by_name else "" for n in names)))
        sections.append(Section(None, ("", *names), tuple(rows)))
    if job.variables:
        for key, tensor in tensors:
            # Rows by the leading axes' variables (`x`, or `x y` for order 3), columns
            # by the last axis.
            rows = tuple((" ".join(job.variables[i] for i in index),
                          *(number(h) for h in tensor[index]))
                         for index in np.ndindex(tensor.shape[:-1]))
            sections.append(Section(key, ("", *job.variables), rows))
    return sections


def _per_expression_sections(job, result: Mapping, point: Mapping[str, float]
                             ) -> list[Section]:
    """The point, then a row per expression: its text, its scalar results (the
    value) and its derivatives by variable (its Jacobian row)."""
    sections = []
    if point:
        sections.append(Section(None, ("", *point), (("point", *map(number, point.values())),)))
    keys = [key for key in job.keys if key in result]
    headers = ["", "expression"]
    for key in keys:
        headers += [key] if np.ndim(result[key]) == 1 else [f"d/d{x}" for x in job.variables]
    rows = []
    for i, expr in enumerate(job.expressions):
        row = [f"f{i + 1}", expr.text]
        for key in keys:
            entry = np.asarray(result[key])[i]
            row += [number(entry)] if entry.ndim == 0 else [number(d) for d in entry]
        rows.append(tuple(row))
    sections.append(Section(job.command.name, tuple(headers), tuple(rows), numbers_from=2))
    return sections


def render_plain(sections: list[Section]) -> str:
    """Sections as aligned plain text, separated by blank lines."""
    parts = []
    for section in sections:
        table = [section.headers, *section.rows] if section.headers else list(section.rows)
        if section.title and section.headers:
            table[0] = (section.title, *section.headers[1:])
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = []
        for row in table:
            cells = [cell.rjust(w) if i >= section.numbers_from else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(row, widths))]
            lines.append("  ".join(cells).rstrip())
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_rich(sections: list[Section], file: TextIO, width: int | None = None) -> None:
    """Sections as rich tables (imported only here: a terminal is waiting).

    A table wider than the terminal would have rich cut its numbers
    (`1.581149925…`) or drop them: such a section is stacked instead, one
    entry per line (`hessian x y  1.5811499254243967`), never wrapped or cut,
    so the full shortest round-trip number is always there to read and copy."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    console = Console(file=file, highlight=False, width=width)
    for section in sections:
        if section.headers is None:  # the summary: label and value, no frame
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold")
            table.add_column()
        else:
            table = Table(title=section.title, box=box.SIMPLE_HEAD, title_justify="left",
                          title_style="bold")
            for i, header in enumerate(section.headers):
                table.add_column(header, justify="right" if i >= section.numbers_from
                                 else "left", style="bold" if i == 0 else None)
        for row in section.rows:
            table.add_row(*row)
        # The width the table wants unwrapped (measured as if the terminal were endless).
        wanted = Measurement.get(console, console.options.update(width=1 << 20), table).maximum
        if wanted <= console.width:
            console.print(table)
            continue
        for line in _stacked(section):
            console.print(line, no_wrap=True, crop=False, overflow="ignore", markup=False)


def _stacked(section: Section) -> list[str]:
    """One line per cell: its row's label, its column's header, then the cell."""
    lines = [section.title] if section.title else []
    for row in section.rows:
        if section.headers is None:
            lines.append("  ".join(row))
            continue
        for header, cell in zip(section.headers[1:], row[1:]):
            if cell:
                lines.append(f"{row[0]} {header}  {cell}")
    return lines + [""]


# -- machine-readable formats -------------------------------------------------

def json_text(job, result: Mapping, point: Mapping[str, float]) -> str:
    """The JSON object of CLI.md on one line (strict JSON: non-finite as null)."""
    return json_dumps(job.json_object(result, point)) + "\n"


def jsonl_text(job, result: Mapping, point: Mapping[str, float],
               echo: Mapping[str, float] | None = None) -> str:
    """One JSON line, as a batch of one row writes it: no `expression`; with
    `echo` (--keep-input) the input values first, under `input`."""
    import json

    obj = job.json_object(result, point, with_expression=False)
    if echo is not None:
        obj = {"input": {name: json_number(v) for name, v in echo.items()}, **obj}
    return json_dumps(obj) + "\n"


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


def write_table(job, result: Mapping, point: Mapping[str, float], stream: TextIO,
                echo: Mapping[str, float] | None = None) -> None:
    """The table: rich on a terminal, aligned plain text otherwise."""
    sections = result_sections(job, result, point)
    if use_rich(stream):
        render_rich(sections, stream)
    else:
        stream.write(render_plain(sections))


def write_json(job, result: Mapping, point: Mapping[str, float], stream: TextIO,
               echo: Mapping[str, float] | None = None) -> None:
    stream.write(json_text(job, result, point))


def write_jsonl(job, result: Mapping, point: Mapping[str, float], stream: TextIO,
                echo: Mapping[str, float] | None = None) -> None:
    stream.write(jsonl_text(job, result, point, echo))


def write_csv(job, result: Mapping, point: Mapping[str, float], stream: TextIO,
              echo: Mapping[str, float] | None = None) -> None:
    stream.write(csv_text(job, result, point, echo))


def write_result(job, result: Mapping, point: Mapping[str, float], fmt: str,
                 stream: TextIO, echo: Mapping[str, float] | None = None) -> None:
    """Write one point's result to `stream` in `fmt` (a format with a point
    writer); `echo` (the --at values, with --keep-input) goes before the results
    in csv and jsonl."""
    row = formats.BY_NAME.get(fmt)
    if row is None or row.point is None:
        raise ValueError(f"unknown format {fmt!r}")
    row.writer("point")(job, result, point, stream, echo)


def write_to(path: str | None, write, stdout: TextIO | None, binary: bool = False) -> None:
    """Call `write(stream)` on the file `path` (None or "-": `stdout`), a text
    stream (bytes with `binary`); a file that cannot be written is a DataError
    naming it. The file is replaced whole (see NewFile)."""
    if path in (None, "-"):
        write(stdout)
        return
    try:
        raw = NewFile(path)
        try:
            stream = io.BufferedWriter(raw)
            if not binary:
                stream = io.TextIOWrapper(stream, encoding="utf-8", newline="")
            write(stream)
            stream.flush()
        except BaseException:
            raw.discard()  # what is there stays, rather than half of what was to come
            raise
        stream.close()
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror or e}") from None


class NewFile(io.RawIOBase):
    """A binary file written under a temporary name beside `path` and renamed to
    `path` when closed, as the Dask parts are: a reader never finds it half
    written, and two processes writing the same --output leave one whole file
    (the last one's), not a torn mix. The rename happens also after an error
    (a batch's rows before a bad row are kept, as CLI.md says). Where there is
    nothing to rename (a FIFO, /dev/null, /dev/stdout) or no temporary file can
    be made beside it, `path` itself is written."""

    def __init__(self, path: str):
        super().__init__()
        self.path = os.path.realpath(path) if os.path.islink(path) else path
        self._temporary = None
        fd = None
        if _replaceable(self.path):
            directory, name = os.path.split(self.path)
            import tempfile

            try:
                fd, self._temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp",
                                                       dir=directory or ".")
                os.fchmod(fd, _mode_for(self.path))
            except OSError:
                if fd is not None:
                    os.close(fd)
                    os.remove(self._temporary)
                fd, self._temporary = None, None
        if fd is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):  # os.write may write less than it was given
            done += os.write(self._fd, view[done:])
        return done

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def fileno(self) -> int:
        return self._fd

    def discard(self) -> None:
        """Close without the rename: the temporary file is removed."""
        if self._temporary is not None:
            with contextlib.suppress(OSError):
                os.remove(self._temporary)
            self._temporary = None
        with contextlib.suppress(OSError):
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            os.close(self._fd)
            if self._temporary is not None:
                os.replace(self._temporary, self.path)
                self._temporary = None
        finally:
            if self._temporary is not None:  # the close or the rename failed
                with contextlib.suppress(OSError):
                    os.remove(self._temporary)
            super().close()


def _replaceable(path: str) -> bool:
    """A regular file, or nothing yet: what a rename may put in place."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _mode_for(path: str) -> int:
    """The permissions the file would get if opened in place: its own if it
    exists, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
