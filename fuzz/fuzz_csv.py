"""Fuzz the CSV batch reader: any bytes after a header give rows and then at
most one DataError naming a line; the rows written are those of the lines
before it, each once, in order (checked by line count against a second run
with the whole input in one block)."""

import io
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tapecli import batch_input  # noqa: E402
from tapecli.batch_input import CsvReader, RowsError  # noqa: E402
from tapecli.errors import DataError  # noqa: E402

warnings.simplefilter("ignore", RuntimeWarning)


def _read(data: bytes, block: int, echo):
    """(values of x, the error's message or None) reading `data` in blocks of `block` bytes."""
    batch_input.CSV_BLOCK_BYTES = block
    values = []
    try:
        reader = CsvReader(io.BytesIO(data), "fuzz", ("x",), echo, owned=False)
        for raw in reader.blocks():
            try:
                rows = reader.parse(raw)
            except RowsError as e:
                values += e.rows.point["x"].tolist()
                return values, str(e.error)
            values += rows.point["x"].tolist()
    except DataError as e:
        return values, str(e)
    return values, None


def one_input(data: bytes) -> None:
    data = b"x,s\n" + data
    for echo in (None, "lines", "table"):
        small = _read(data, 7, echo)
        whole = _read(data, 1 << 20, echo)
        assert repr(small) == repr(whole), (data, echo, small, whole)
        if small[1] is not None:
            assert small[1].startswith("line "), small[1]


if __name__ == "__main__":
    from _driver import run

    run(one_input, [b"1,a\n2,b\n", b'1,"a,b"\r\n2,"c""d"\n', b"1,a\n\n3,\n", b'1,"a\n2,b\n',
                    b"nan,inf\n-1e3, x \n"])
