"""Fuzz the Parquet batch reader: a valid file with bytes flipped, cut or
inserted gives rows and then at most one DataError (a file that cannot be read,
or a row group named with its rows), never another exception."""

import io
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from tapecli.batch_input import ParquetReader, RowsError  # noqa: E402
from tapecli.errors import TapecliError  # noqa: E402

warnings.simplefilter("ignore", RuntimeWarning)
_PATH = os.path.join(tempfile.mkdtemp(), "fuzz.parquet")


def _valid_file() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": np.linspace(0, 1, 300), "s": [f"r{i}" for i in range(300)],
                             "n": pa.array(range(300), pa.int32())}), sink, row_group_size=100,
                   compression="snappy")
    return sink.getvalue()


VALID = _valid_file()


def one_input(data: bytes) -> None:
    # The first bytes choose where the rest overwrites the valid file.
    if len(data) < 2:
        return
    at = int.from_bytes(data[:2], "little") % len(VALID)
    with open(_PATH, "wb") as f:
        f.write(VALID[:at] + data[2:] + VALID[at + len(data) - 2:])
    try:
        reader = ParquetReader(_PATH, ("x",), "table", 64)
    except TapecliError:
        return
    try:
        for block in reader.blocks():
            try:
                reader.parse(block)
            except RowsError:
                return
    except TapecliError as e:
        assert "\n" not in str(e)
    finally:
        reader.close()


if __name__ == "__main__":
    from _driver import run

    run(one_input, [b"\x00\x10\xff\xff", b"\x80\x00" + b"\x00" * 8, b"\x00\x20garbage"])
