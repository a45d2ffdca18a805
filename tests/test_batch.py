"""Batch mode: CSV and Parquet in, csv/jsonl/Parquet out, block by block.

Numbers are checked against calculus done by hand (numpy evaluating the
hand-derived formulas) and against the single-point path; every kind of bad
input against its message, its line number, its exit status and the rows
written before it. Most tests call run_batch in-process on small inputs; a few
run the `tapecli` console script on pipes.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapecli import batch_input
from tapecli.batch import run_batch
from tapecli.batch_output import float_text
from tapecli.errors import DataError, UsageError
from tapecli.jobs import Job
from tapecli.parser import parse

TAPECLI = str(Path(sys.executable).parent / "tapecli")


def make_job(command: str, *expressions: str, wrt=None, order=None) -> Job:
    return Job.create(command, [parse(e) for e in expressions], wrt, order)


def batch(tmp_path, command, expressions, data: bytes, *, out="out.csv", fmt=None,
          keep_input=False, strict=False, wrt=None, source="in.csv"):
    """Run a batch on `data` from a file; return the output file's bytes."""
    src = tmp_path / source
    if isinstance(data, bytes):
        src.write_bytes(data)
    job = make_job(command, *([expressions] if isinstance(expressions, str) else expressions),
                   wrt=wrt)
    run_batch(job, str(src), output=str(tmp_path / out), fmt=fmt, keep_input=keep_input,
              strict=strict)
    return (tmp_path / out).read_bytes()


def batch_error(tmp_path, command, expressions, data: bytes, **kw):
    """Run a batch that must fail: (the error, the rows written before it)."""
    with pytest.raises((DataError, UsageError)) as info:
        batch(tmp_path, command, expressions, data, **kw)
    out = tmp_path / kw.get("out", "out.csv")
    return info.value, (out.read_bytes() if out.exists() else b"")


def table(text: bytes) -> tuple[list[str], list[list[float]]]:
    rows = list(csv.reader(io.StringIO(text.decode())))
    return rows[0], [[float(v) for v in row] for row in rows[1:]]


def cli(*args: str, stdin: bytes | None = None, timeout: float = 60):
    return subprocess.run([TAPECLI, *args], input=stdin, capture_output=True, timeout=timeout,
                          check=False)


# -- results against calculus ----------------------------------------------------

def test_grad_columns_and_values_by_hand(tmp_path):
    data = b"x,y,z\n1,2,0\n3,4,1\n-2.5,0.5,3.25\n"
    header, rows = table(batch(tmp_path, "grad", "x*y + sin(z)", data))
    assert header == ["f", "df/dx", "df/dy", "df/dz"]
    for (x, y, z), (f, dx, dy, dz) in zip([(1, 2, 0), (3, 4, 1), (-2.5, 0.5, 3.25)], rows):
        assert f == pytest.approx(x * y + math.sin(z), rel=1e-15)
        assert (dx, dy) == (y, x)  # exact: no rounding in these
        assert dz == pytest.approx(math.cos(z), rel=1e-15)


def test_hessian_full_matrix_row_by_row(tmp_path):
    # f = x**2*y + y**3: grad (2xy, x**2 + 3y**2), hessian [[2y, 2x], [2x, 6y]]
    header, rows = table(batch(tmp_path, "hessian", "x**2*y + y**3", b"x,y\n1,2\n-3,0.5\n"))
    assert header == ["f", "df/dx", "df/dy", "d2f/dxdx", "d2f/dxdy", "d2f/dydx", "d2f/dydy"]
    for (x, y), row in zip([(1, 2), (-3, 0.5)], rows):
        assert row == [x**2 * y + y**3, 2 * x * y, x**2 + 3 * y**2, 2 * y, 2 * x, 2 * x, 6 * y]


def test_diff_and_jacobian_columns(tmp_path):
    header, rows = table(batch(tmp_path, "diff", "x**3*y**2", b"x,y\n2,3\n", wrt=["x", "x", "y"]))
    assert header == ["f", "d3f/dxdxdy"] and rows == [[72.0, 6 * 2 * 2 * 3]]  # 6x*2y
    header, rows = table(batch(tmp_path, "jacobian", ["x*y", "x + 2*y"], b"y,x\n3,2\n"))
    assert header == ["f1", "f2", "df1/dx", "df1/dy", "df2/dx", "df2/dy"]
    assert rows == [[6.0, 8.0, 3.0, 2.0, 1.0, 2.0]]


def test_eval_of_a_constant_gives_one_row_per_input_row(tmp_path):
    assert batch(tmp_path, "eval", "2**10", b"a\n1\n2\n\n3\n") == b"f\n1024.0\n1024.0\n1024.0\n"


def test_extra_columns_are_ignored_and_column_order_is_free(tmp_path):
    data = b"id,y,note,x\n7,2,hello,3\n"
    assert batch(tmp_path, "grad", "x*y", data) == b"f,df/dx,df/dy\n6.0,2.0,3.0\n"


def test_batch_agrees_with_the_single_point_path_row_by_row(tmp_path):
    expr = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"
    rng = np.random.default_rng(7)
    points = rng.standard_normal((6, 3)) * [1, 2, 5]
    data = "x,y,z\n" + "".join(",".join(repr(float(v)) for v in p) + "\n" for p in points)
    _, rows = table(batch(tmp_path, "hessian", expr, data.encode()))
    job = make_job("hessian", expr)
    for point, row in zip(points, rows):
        single = job.compute(dict(zip("xyz", map(float, point))))
        assert row == [float(c) for c in job.columns(single)]  # bit for bit


def test_one_evaluation_per_block_never_per_row(tmp_path, monkeypatch):
    calls = []
    compute = Job.compute
    monkeypatch.setattr(Job, "compute", lambda self, point: calls.append(
        np.shape(next(iter(point.values())))) or compute(self, point))
    data = b"x\n" + b"".join(b"%d\n" % i for i in range(1000))
    _, rows = table(batch(tmp_path, "grad", "x**2", data))
    assert calls == [(1000,)]
    assert rows == [[i * i, 2 * i] for i in range(1000)]


# -- numbers in and out ------------------------------------------------------------

finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite_or_not, min_size=1, max_size=30))
def test_every_float_round_trips_exactly(tmp_path_factory, values):
    tmp_path = tmp_path_factory.mktemp("rt")
    data = "x\n" + "".join(repr(v) + "\n" for v in values)
    out = batch(tmp_path, "eval", "x", data.encode(), keep_input=False)
    texts = out.decode().splitlines()[1:]
    for v, text in zip(values, texts, strict=True):
        back = float(text)
        assert back == v or (math.isnan(v) and math.isnan(back))
        assert math.copysign(1, back) == math.copysign(1, v) or math.isnan(v)
        # always written as a float: a point or an exponent, or nan/inf
        assert "." in text or "e" in text or text in ("nan", "inf", "-inf")


def test_float_text_spellings():
    values = np.array([3.0, -0.0, 0.1, 1e20, 2.5e-320, 9999999999.0, 1e10, np.nan, -np.nan,
                       np.inf, -np.inf])
    assert float_text(values).to_pylist() == [
        "3.0", "-0.0", "0.1", "1e+20", "2.5e-320", "9999999999.0", "1e+10",
        "nan", "nan", "inf", "-inf"]
    assert float_text(values, json_null=True).to_pylist()[-4:] == ["null"] * 4


@pytest.mark.parametrize("data", [
    b"x,y\r\n1,2\r\n3,4\r\n",                  # CRLF
    b"\xef\xbb\xbfx,y\n1,2\n3,4\n",            # UTF-8 BOM
    b"x,y\n\n1,2\n\n\n3,4\n\n",                # blank lines
    b"\n\nx,y\n1,2\n3,4\n",                    # blank lines before the header
    b'"x","y"\n"1","2"\n3,"4"\n',              # quoted names and numbers
    b"x,y\n1,2\n3,4",                          # no final newline
    b" x , y \n 1 , 2\n3,4\n",                 # spaces around fields
    b"x,y\r\n\r\n1,2\r\n3,4",                  # all of it
])
def test_tolerated_csv_dialects(tmp_path, data):
    assert batch(tmp_path, "eval", "x*y", data) == b"f\n2.0\n12.0\n"


def test_number_spellings_accepted(tmp_path):
    data = b"x\n1e3\n-2.5E-1\n.5\n+7\ninf\n-inf\nnan\n"
    text = batch(tmp_path, "eval", "x", data).decode().split()
    assert text == ["f", "1000.0", "-0.25", "0.5", "7.0", "inf", "-inf", "nan"]


# -- output formats ------------------------------------------------------------------

def test_jsonl_rows_are_the_json_object_of_each_row(tmp_path):
    job = make_job("hessian", "x**2*y + exp(y)")
    points = [(1.0, 2.0), (-0.5, 0.25), (3.0, -1.0)]
    data = "x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in points)
    out = batch(tmp_path, "hessian", "x**2*y + exp(y)", data.encode(), out="o.jsonl")
    lines = out.decode().splitlines()
    assert len(lines) == len(points)
    for (x, y), line in zip(points, lines):
        point = {"x": x, "y": y}
        expected = job.json_object(job.compute(point), point, with_expression=False)
        row = json.loads(line)
        assert list(row) == list(expected) == ["variables", "point", "value", "gradient",
                                               "hessian"]
        assert row == expected
        # f = x**2*y + exp(y): by hand
        assert row["value"] == pytest.approx(x**2 * y + math.exp(y), rel=1e-15)
        assert row["gradient"][0] == 2 * x * y
        assert row["gradient"][1] == pytest.approx(x**2 + math.exp(y), rel=1e-15)
        (hxx, hxy), (hyx, hyy) = row["hessian"]
        assert (hxx, hxy, hyx) == (2 * y, 2 * x, 2 * x)
        assert hyy == pytest.approx(math.exp(y), rel=1e-15)


def test_jsonl_diff_has_wrt_and_non_finite_numbers_are_null(tmp_path):
    out = batch(tmp_path, "diff", "log(x)*y", b"x,y\n1,2\n-1,3\n0,1\n", fmt="jsonl",
                wrt=["y"], out="o.txt")
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert rows[0] == {"variables": ["y"], "point": {"x": 1.0, "y": 2.0}, "wrt": ["y"],
                       "value": 0.0, "derivative": 0.0}
    assert rows[1]["value"] is None and rows[1]["derivative"] is None  # log(-1) = nan
    assert rows[2]["value"] is None and rows[2]["derivative"] is None  # log(0) = -inf
    assert all(isinstance(r["point"]["x"], float) for r in rows)  # 1.0, not 1


def test_jsonl_jacobian(tmp_path):
    out = batch(tmp_path, "jacobian", ["x*y", "x - y"], b"x,y\n2,5\n", out="o.jsonl")
    assert json.loads(out) == {"variables": ["x", "y"], "point": {"x": 2.0, "y": 5.0},
                               "value": [10.0, -3.0], "jacobian": [[5.0, 2.0], [1.0, -1.0]]}


def test_keep_input_echoes_csv_lines_exactly(tmp_path):
    data = b'id,x,note\r\n007,1.50,"a, b"\r\n\r\nz,-2e0,"say ""hi"""\r\n'
    out = batch(tmp_path, "eval", "x*2", data, keep_input=True)
    assert out == (b'id,x,note,f\n007,1.50,"a, b",3.0\n'
                   b'z,-2e0,"say ""hi""",-4.0\n')


def test_keep_input_jsonl_puts_the_input_columns_first(tmp_path):
    data = 'id,x\n007,1.5\n"q""uote\\",2\nnaïve,3\n'.encode()
    out = batch(tmp_path, "grad", "x**2", data, keep_input=True, out="o.jsonl")
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert rows[0] == {"input": {"id": "007", "x": 1.5}, "variables": ["x"],
                       "point": {"x": 1.5}, "value": 2.25, "gradient": [3.0]}
    assert [r["input"]["id"] for r in rows] == ["007", 'q"uote\\', "naïve"]


def test_parquet_in_and_out(tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"label": ["a", "b", "c"], "x": [1, 2, 3],
                             "y": pa.array([0.5, -1.0, 2.0], pa.float32())}), source)
    batch(tmp_path, "grad", "x*y", None, source="in.parquet", out="out.parquet",
          keep_input=True)
    result = pq.read_table(tmp_path / "out.parquet")
    assert result.column_names == ["label", "x", "y", "f", "df/dx", "df/dy"]
    assert result.schema.field("x").type == pa.int64()  # echoed with its own type
    assert result.column("label").to_pylist() == ["a", "b", "c"]
    assert result.column("f").to_pylist() == [0.5, -2.0, 6.0]
    assert result.column("df/dx").to_pylist() == [0.5, -1.0, 2.0]
    assert result.column("df/dy").to_pylist() == [1.0, 2.0, 3.0]


def test_parquet_is_read_and_written_in_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_input, "MAX_BLOCK_ROWS", 100)
    x = np.linspace(-3, 3, 1000)
    pq.write_table(pa.table({"x": x}), tmp_path / "in.parquet", row_group_size=250)
    batch(tmp_path, "grad", "x**3", None, source="in.parquet", out="out.parquet")
    out = pq.ParquetFile(tmp_path / "out.parquet")
    assert out.metadata.num_row_groups == 10
    result = out.read()
    np.testing.assert_array_equal(result.column("f").to_numpy(), x**3)
    np.testing.assert_array_equal(result.column("df/dx").to_numpy(), 3 * x**2)


def test_parquet_to_csv_and_csv_to_parquet(tmp_path):
    pq.write_table(pa.table({"x": [1.0, 2.0], "n": [5, 6]}), tmp_path / "in.parquet")
    out = batch(tmp_path, "eval", "x/4", None, source="in.parquet", keep_input=True)
    assert out == b"x,n,f\n1.0,5,0.25\n2.0,6,0.5\n"
    batch(tmp_path, "eval", "x/4", b"n,x\n007,1\n", out="out.parquet", keep_input=True)
    result = pq.read_table(tmp_path / "out.parquet")
    assert result.to_pylist() == [{"n": "007", "x": 1.0, "f": 0.25}]


# -- bad input -------------------------------------------------------------------------

def test_missing_variable_column_names_it_and_the_header(tmp_path):
    error, out = batch_error(tmp_path, "eval", "x + y*z", b"x,Y,note\n1,2,3\n")
    assert isinstance(error, DataError) and error.exit_code == 1
    assert str(error) == "no columns named y, z in the input (its header has: x, Y, note)"
    assert out == b""  # found before anything is written


@pytest.mark.parametrize("source", ["in.csv", "in.parquet"])
def test_a_header_without_the_variables_leaves_no_file_open(tmp_path, source):
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "in.parquet")
    data = b"x\n1\n" if source.endswith(".csv") else None  # None: the Parquet file as written
    error, _ = batch_error(tmp_path, "eval", "y", data, source=source)
    assert str(error) == "no column named y in the input (its header has: x)"
    gc.collect()  # nothing but the reader held the file
    assert str(tmp_path / source) not in _open_files()


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to list open files")
    names = set()
    for fd in fds.iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:  # the fd of the listing itself, gone by now
            pass
    return names


def test_non_numeric_field_names_line_and_column_after_earlier_rows(tmp_path, monkeypatch):
    # Small blocks, so that earlier blocks and earlier rows of the same block both exist.
    monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", 40)
    lines = [b"x,y"] + [b"%d,%d" % (i, i + 1) for i in range(20)]
    lines.insert(5, b"")  # a blank line still counts as a line
    lines[17] = b"15,seventeen"  # line 18: the row of i = 15
    error, out = batch_error(tmp_path, "eval", "x+y", b"\n".join(lines) + b"\n")
    assert str(error) == "line 18, column 2 (y): 'seventeen' is not a number"
    _, rows = table(out)
    assert rows == [[2 * i + 1] for i in range(15)]  # every row before line 18


@pytest.mark.parametrize("line, message", [
    (b"3", "line 3, column 2 (y): missing field (the row has 1 field, the header 2)"),
    (b"3,4,5", "line 3, column 3: extra field '5' (the row has 3 fields, the header 2)"),
    (b"3,", "line 3, column 2 (y): empty field, expected a number"),
    (b"3,0x10", "line 3, column 2 (y): '0x10' is not a number"),
    (b"3,1e", "line 3, column 2 (y): '1e' is not a number"),
])
def test_malformed_rows(tmp_path, line, message):
    error, out = batch_error(tmp_path, "eval", "x+y", b"x,y\n1,2\n" + line + b"\n4,5\n")
    assert (str(error), error.exit_code) == (message, 1)
    assert out == b"f\n3.0\n"


def test_header_only_gives_header_only_output(tmp_path):
    assert batch(tmp_path, "grad", "x*y", b"x,y\n") == b"f,df/dx,df/dy\n"
    assert batch(tmp_path, "grad", "x*y", b"x,y\n\n\n", out="o.jsonl") == b""
    batch(tmp_path, "grad", "x*y", b"x,y", out="o.parquet")
    assert pq.read_table(tmp_path / "o.parquet").column_names == ["f", "df/dx", "df/dy"]


def test_empty_input_has_no_header(tmp_path):
    error, _ = batch_error(tmp_path, "eval", "x", b"\n\n")
    assert "empty" in str(error) and "header" in str(error) and error.exit_code == 1


def test_domain_problems_give_nan_and_one_warning(tmp_path, capsys):
    data = b"x\n" + b"\n".join(b"%d" % v for v in (1, -1, 2, -3, 0, 4)) + b"\n"
    _, rows = table(batch(tmp_path, "grad", "log(x)", data))
    f = [r[0] for r in rows]
    assert f[0] == 0.0 and f[2] == math.log(2) and f[5] == math.log(4)
    assert math.isnan(f[1]) and math.isnan(f[3]) and f[4] == -math.inf
    assert rows[4][1] == math.inf  # d/dx log(x) = 1/x at 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "tapecli: warning: non-finite results (nan or inf) from log on 3 of 6 rows, log' on 1")
    batch(tmp_path, "eval", "log(x)", data)
    assert capsys.readouterr().err == (
        "tapecli: warning: non-finite results (nan or inf) from log on 3 of 6 rows\n")


def test_strict_stops_at_the_first_domain_problem(tmp_path, capsys):
    error, out = batch_error(tmp_path, "eval", "sqrt(x)", b"x\n4\n9\n\n-1\n16\n", strict=True)
    assert error.exit_code == 1
    assert str(error) == "line 5: non-finite results (nan or inf) from sqrt on 1 row (--strict)"
    assert out == b"f\n2.0\n3.0\n"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kw, message", [
    ({"fmt": "json"}, "--format json is for a single point"),
    ({"fmt": "table"}, "--format table is for a single point"),
    ({"out": "o.json"}, "a batch is written as .csv, .jsonl or .parquet"),
    ({"out": "o.parquet", "fmt": "csv"}, "--format csv does not match --output"),
])
def test_bad_options_are_usage_errors(tmp_path, kw, message):
    error, _ = batch_error(tmp_path, "eval", "x", b"x\n1\n", **kw)
    assert isinstance(error, UsageError) and error.exit_code == 2
    assert message in str(error)


def test_missing_input_file_and_output_over_input(tmp_path):
    with pytest.raises(UsageError, match="no-such.csv"):
        run_batch(make_job("eval", "x"), str(tmp_path / "no-such.csv"), output=None,
                  fmt=None, keep_input=False, strict=False)
    (tmp_path / "in.csv").write_bytes(b"x\n1\n")
    with pytest.raises(UsageError, match="is the input file"):
        run_batch(make_job("eval", "x"), str(tmp_path / "in.csv"),
                  output=str(tmp_path / "in.csv"), fmt=None, keep_input=False, strict=False)
    assert (tmp_path / "in.csv").read_bytes() == b"x\n1\n"


def test_parquet_nulls_and_text_columns(tmp_path):
    pq.write_table(pa.table({"x": [1.0, None], "s": ["a", "b"]}), tmp_path / "in.parquet")
    error, out = batch_error(tmp_path, "eval", "x", None, source="in.parquet")
    assert str(error) == "row 2, column 1 (x): missing value (null), expected a number"
    assert out == b"f\n1.0\n"
    error, _ = batch_error(tmp_path, "eval", "s", None, source="in.parquet")
    assert str(error) == "column 's' holds string values, not numbers"


# -- blocks, order and stdin ---------------------------------------------------------------

def test_many_small_blocks_keep_input_order(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", 64)
    x = np.arange(3000) * 0.25
    data = "x\n" + "".join(f"{float(v)!r}\n" for v in x)
    _, rows = table(batch(tmp_path, "grad", "x**2", data.encode()))
    assert np.array_equal(np.array(rows), np.stack([x**2, 2 * x], axis=1))


def test_large_input_in_several_blocks(tmp_path):
    # ~200k rows: several blocks of the default size, results against numpy.
    rng = np.random.default_rng(3)
    points = pa.table({"x": rng.standard_normal(200_000), "y": rng.uniform(0.5, 2, 200_000)})
    pa_csv.write_csv(points, tmp_path / "in.csv")
    assert (tmp_path / "in.csv").stat().st_size > batch_input.CSV_BLOCK_BYTES
    batch(tmp_path, "grad", "x*log(y)", None)
    result = pa_csv.read_csv(tmp_path / "out.csv").to_pydict()
    x, y = points.column("x").to_numpy(), points.column("y").to_numpy()
    np.testing.assert_array_equal(result["df/dx"], np.log(y))
    np.testing.assert_array_equal(result["f"], x * np.log(y))
    np.testing.assert_allclose(result["df/dy"], x / y, rtol=1e-15)


def test_stdin_source(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x\n2\n3\n")))
    run_batch(make_job("grad", "x**3"), "-", output=str(tmp_path / "o.csv"), fmt=None,
              keep_input=False, strict=False)
    assert (tmp_path / "o.csv").read_bytes() == b"f,df/dx\n8.0,12.0\n27.0,27.0\n"


# -- the console script ---------------------------------------------------------------------

def test_cli_reads_a_pipe_when_no_point_is_given():
    done = cli("grad", "x*y + sin(z)", stdin=b"x,y,z\n1,2,0\n3,4,0\n")
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == b"f,df/dx,df/dy,df/dz\n2.0,2.0,1.0,1.0\n12.0,4.0,3.0,1.0\n"


def test_cli_error_statuses_and_messages():
    done = cli("eval", "x+y", "--input", "-", stdin=b"x,y\n1,2\n3,oops\n")
    assert done.returncode == 1 and done.stdout == b"f\n3.0\n"
    assert done.stderr == b"tapecli: error: line 3, column 2 (y): 'oops' is not a number\n"
    done = cli("eval", "x", "--format", "json", stdin=b"x\n1\n")
    assert done.returncode == 2 and b"single point" in done.stderr
    done = cli("eval", "log(x)", "--strict", stdin=b"x\n1\n-1\n")
    assert done.returncode == 1 and done.stdout == b"f\n0.0\n"
    assert b"Traceback" not in done.stderr


def test_cli_closed_pipe_ends_quietly_and_fast(tmp_path):
    rng = np.random.default_rng(5)
    pa_csv.write_csv(pa.table({c: rng.standard_normal(200_000) for c in "xyz"}),
                     tmp_path / "big.csv")
    start = time.monotonic()
    with open(tmp_path / "big.csv", "rb") as big:
        cat = subprocess.Popen(["cat"], stdin=big, stdout=subprocess.PIPE)
        tapecli = subprocess.Popen([TAPECLI, "grad", "x*y + sin(z)"], stdin=cat.stdout,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cat.stdout.close()
        head = subprocess.run(["head", "-5"], stdin=tapecli.stdout, capture_output=True,
                              timeout=30, check=True)
        tapecli.stdout.close()
        assert tapecli.wait(timeout=30) == -signal.SIGPIPE
        cat.wait(timeout=30)
    assert time.monotonic() - start < 20
    assert head.stdout.decode().splitlines()[0] == "f,df/dx,df/dy,df/dz"
    assert len(head.stdout.splitlines()) == 5
    with tapecli.stderr:
        assert tapecli.stderr.read() == b""


def test_cli_output_flows_while_the_pipe_is_still_open():
    # A slow producer: the first rows must come out before the input ends.
    with subprocess.Popen([TAPECLI, "eval", "x*2"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            process.stdin.write(b"x\n1\n2\n")
            process.stdin.flush()
            seen = b""
            deadline = time.monotonic() + 20
            while seen.count(b"\n") < 3 and time.monotonic() < deadline:
                if select.select([process.stdout], [], [], 0.5)[0]:
                    seen += os.read(process.stdout.fileno(), 1000)
            assert seen == b"f\n2.0\n4.0\n"
            process.stdin.write(b"3\n")
            process.stdin.close()
            assert process.stdout.read() == b"6.0\n"
        finally:
            process.kill()


def test_progress_bar_only_on_a_terminal(tmp_path):
    x = np.arange(50_000, dtype=float)
    pa_csv.write_csv(pa.table({"x": x}), tmp_path / "in.csv")
    args = [TAPECLI, "eval", "x", "--input", str(tmp_path / "in.csv"), "--output",
            str(tmp_path / "o.csv")]
    piped = subprocess.run(args, capture_output=True, timeout=60, check=False)
    assert (piped.returncode, piped.stderr) == (0, b"")
    controller, terminal = pty.openpty()
    try:
        shown = subprocess.run(args, stderr=terminal, stdout=subprocess.DEVNULL, timeout=60,
                               env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
                               check=False)
        os.close(terminal)
        text = b""
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
    finally:
        os.close(controller)
    assert shown.returncode == 0
    assert b"in.csv" in text  # the bar's description: the input file


# -- more input and output corners ------------------------------------------------------------

def test_duplicate_variable_column_is_ambiguous(tmp_path):
    error, _ = batch_error(tmp_path, "eval", "x", b"x,y,x\n1,2,3\n")
    assert str(error) == "column 'x' appears 2 times in the header (columns 1 and 3)"


def test_carriage_return_inside_the_header(tmp_path):
    error, _ = batch_error(tmp_path, "eval", "x", b"x,y\r1,2\r3,4\r")
    assert "carriage return" in str(error) and error.exit_code == 1


def test_invalid_utf8_in_an_echoed_text_column(tmp_path):
    error, out = batch_error(tmp_path, "eval", "x", b"s,x\nok,1\n\xff\xfe,2\n", keep_input=True,
                             out="o.jsonl")
    assert str(error) == "line 3, column 1 (s): not valid UTF-8"
    assert json.loads(out) == {"input": {"s": "ok", "x": 1.0}, "variables": ["x"],
                               "point": {"x": 1.0}, "value": 1.0}


def test_parquet_echo_of_nulls_bools_and_text_with_commas(tmp_path):
    pq.write_table(pa.table({"x": [1.0, 2.0], "ok": [True, None], "s": ['a,"b"', None]}),
                   tmp_path / "in.parquet")
    out = batch(tmp_path, "eval", "-x", None, source="in.parquet", keep_input=True)
    assert out == b'x,ok,s,f\n1.0,true,"a,""b""",-1.0\n2.0,,,-2.0\n'
    out = batch(tmp_path, "eval", "-x", None, source="in.parquet", keep_input=True,
                out="o.jsonl")
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["input"] for r in rows] == [{"x": 1.0, "ok": True, "s": 'a,"b"'},
                                         {"x": 2.0, "ok": None, "s": None}]


def test_parquet_output_needs_distinct_names(tmp_path):
    error, _ = batch_error(tmp_path, "eval", "x", b"x,f\n1,2\n", keep_input=True,
                           out="o.parquet")
    assert "'f'" in str(error) and "distinct" in str(error) and error.exit_code == 1


def test_parquet_float32_is_echoed_as_float32_and_computed_exactly(tmp_path):
    pq.write_table(pa.table({"y": pa.array([0.1], pa.float32())}), tmp_path / "in.parquet")
    out = batch(tmp_path, "eval", "y", None, source="in.parquet", keep_input=True)
    assert out == b"y,f\n0.1,%s\n" % repr(float(np.float32(0.1))).encode()


def test_reading_runs_only_a_few_blocks_ahead_of_writing(tmp_path, monkeypatch):
    # Memory stays flat: with a slow writer, the reader must wait rather than
    # pile up blocks.
    from tapecli import batch as batch_module
    from tapecli import batch_output

    monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", 64)
    read, ahead = [0], []
    blocks = batch_input.CsvReader.blocks

    def counted_blocks(self):
        for block in blocks(self):
            read[0] += 1
            yield block

    write = batch_output.CsvOutput.write

    def slow_write(self, payload):
        ahead.append(read[0] - len(ahead))
        time.sleep(0.002)
        write(self, payload)

    monkeypatch.setattr(batch_input.CsvReader, "blocks", counted_blocks)
    monkeypatch.setattr(batch_output.CsvOutput, "write", slow_write)
    data = b"x\n" + b"".join(b"%d\n" % i for i in range(2000))
    _, rows = table(batch(tmp_path, "eval", "x", data))
    assert [r[0] for r in rows] == list(range(2000))
    assert len(ahead) > 100
    assert max(ahead) <= batch_module.IN_FLIGHT + batch_module.WORKERS + 2


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.text("0123456789,.", max_size=30), max_size=40),
       block=st.integers(1, 50), max_rows=st.integers(1, 5), final_newline=st.booleans())
def test_blocks_are_whole_lines_in_order(lines, block, max_rows, final_newline):
    body = "\n".join(lines) + ("\n" if final_newline and lines else "")
    data = ("\ufeffa,b\r\n" + body).encode()
    original = batch_input.CSV_BLOCK_BYTES
    batch_input.CSV_BLOCK_BYTES = block
    try:
        reader = batch_input.CsvReader(io.BytesIO(data), "test", (), None, max_rows,
                                       owned=False)
        blocks = list(reader.blocks())
    finally:
        batch_input.CSV_BLOCK_BYTES = original
    assert reader.header == ["a", "b"]
    assert b"".join(bytes(b.data) for b in blocks) == body.encode()
    line = 2
    for b in blocks:
        raw = bytes(b.data)
        assert b.first == line and b.size == len(raw) > 0
        assert raw.endswith(b"\n") or b is blocks[-1]
        assert len(raw) <= block or raw.count(b"\n") <= 1  # only a long line overflows
        assert raw.count(b"\n") <= max_rows
        line += raw.count(b"\n")


# -- malformed input loses nothing, and is named by its line (#17) ------------------------------

def _numbered(n: int, bad_line: int, bad: bytes) -> bytes:
    """A header x,s and rows i,row<i> (line i + 2), with line `bad_line` replaced by `bad`."""
    lines = [b"x,s"] + [b"%d,row%d" % (i, i) for i in range(n)]
    lines[bad_line - 1] = bad
    return b"\n".join(lines) + b"\n"


# Every way of writing the output, so that the rule of a line is seen to be one rule.
OUTPUT_MODES = {
    "csv": {},
    "csv, --keep-input": {"keep_input": True},
    "jsonl, --keep-input": {"out": "o.jsonl", "keep_input": True},
    "parquet, --keep-input": {"out": "o.parquet", "keep_input": True},
    "--strict": {"strict": True},
}


def _rows_written(tmp_path, kw) -> list[float]:
    """The f column of the output, whatever its format."""
    out = tmp_path / kw.get("out", "out.csv")
    if not out.exists():
        return []
    if out.suffix == ".parquet":
        return pq.read_table(out).column("f").to_pylist()
    if out.suffix == ".jsonl":
        return [json.loads(line)["value"] for line in out.read_text().splitlines()]
    return [float(row[-1]) for row in list(csv.reader(io.StringIO(out.read_text())))[1:]]


# The bad line, and the message it gives (its line number is 6: rows 0-3 come before it).
BROKEN_LINES = {
    "an opening quote that never closes": (
        b'4,"row4', "line 6, column 2 (s): a quoted field that does not end on its line "
                    "(a field cannot span lines)"),
    "a quoted field that closes on a later line": (
        b'4,"row4\n5,row5"', "line 6, column 2 (s): a quoted field that does not end on its "
                             "line (a field cannot span lines)"),
    "a quote in the first column": (
        b'"4,row4', "line 6, column 1 (x): a quoted field that does not end on its line "
                    "(a field cannot span lines)"),
    "an escaped quote and no closing one": (
        b'4,"row""4', "line 6, column 2 (s): a quoted field that does not end on its line "
                      "(a field cannot span lines)"),
    "a lone carriage return inside a line": (
        b"4,row4\r5,row5", "line 6: a carriage return inside the line "
                           "(tapecli reads lines that end in \\n or \\r\\n)"),
    "a carriage return inside a quoted field": (
        b'4,"row\r4"', "line 6: a carriage return inside the line "
                       "(tapecli reads lines that end in \\n or \\r\\n)"),
}


@pytest.mark.parametrize("mode", OUTPUT_MODES)
@pytest.mark.parametrize("case", BROKEN_LINES)
def test_a_broken_line_is_the_same_error_in_every_mode_after_every_row_before_it(
        tmp_path, case, mode):
    bad, message = BROKEN_LINES[case]
    kw = OUTPUT_MODES[mode]
    error, _ = batch_error(tmp_path, "eval", "x", _numbered(20, 6, bad), **kw)
    assert (str(error), error.exit_code) == (message, 1)
    assert _rows_written(tmp_path, kw) == [0.0, 1.0, 2.0, 3.0]


def test_an_unclosed_quote_in_an_unread_column_no_longer_makes_rows_vanish(tmp_path):
    # 200,000 rows in, a quote opened at row 65,526 in a column tapecli does not
    # read: pyarrow alone took the rest of the block as one field (134,474 rows out).
    n, bad_line = 200_000, 65_527
    data = _numbered(n, bad_line, b'%d,"row' % (bad_line - 2))
    error, out = batch_error(tmp_path, "eval", "x", data)
    assert str(error) == (f"line {bad_line}, column 2 (s): a quoted field that does not end "
                          "on its line (a field cannot span lines)")
    _, rows = table(out)
    assert [r[0] for r in rows] == list(map(float, range(bad_line - 2)))


def test_the_same_broken_line_is_found_whatever_the_block_size(tmp_path, monkeypatch):
    for block in (16, 64, 100, 1 << 20):
        monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", block)
        error, out = batch_error(tmp_path, "eval", "x", _numbered(40, 31, b'29,"x\ny"'))
        assert str(error).startswith("line 31, column 2 (s): a quoted field"), block
        assert [r[0] for r in table(out)[1]] == list(map(float, range(29)))


@pytest.mark.parametrize("field, value", [
    (b'"a""b"', 'a"b'),           # a doubled quote is a quote
    (b'"a,b"', "a,b"),            # a comma inside quotes
    (b'""', ""),
    (b'"ab"c', "abc"),            # text after the closing quote joins the field (pyarrow)
    (b'ab"c', 'ab"c'),            # a quote inside an unquoted field is a character
    (b'ab"', 'ab"'),
    (b'"a"""', 'a"'),
    (b' "a"', ' "a"'),            # a space first: not a quoted field
])
def test_quoted_fields_that_end_on_their_line_are_read_as_pyarrow_reads_them(
        tmp_path, field, value):
    for end in (b"\n", b"\r\n"):
        data = b"s,x" + end + field + b",1" + end + b"t,2" + end
        out = batch(tmp_path, "eval", "x", data, out="o.jsonl", keep_input=True)
        rows = [json.loads(line) for line in out.decode().splitlines()]
        assert [r["input"] for r in rows] == [{"s": value, "x": 1.0}, {"s": "t", "x": 2.0}]


@pytest.mark.parametrize("header, message", [
    (b'x,"s', "line 1, column 2: a quoted field that does not end on its line"),
    (b'"x\ns"', "line 1, column 1: a quoted field that does not end on its line"),
])
def test_a_broken_header_line_is_named(tmp_path, header, message):
    error, _ = batch_error(tmp_path, "eval", "x", header + b"\n1,2\n")
    assert str(error).startswith(message) and error.exit_code == 1


def test_strict_names_the_right_line_after_quoted_fields(tmp_path):
    data = b'x,s\n1,"a,b"\n2,"c ""d"""\n\n-1,"e"\n3,f\n'
    error, out = batch_error(tmp_path, "eval", "log(x)", data, strict=True)
    assert str(error).startswith("line 5: ") and error.exit_code == 1
    assert table(out)[1] == [[0.0], [math.log(2)]]


TEN_MB = 10 << 20


def test_a_10_mb_field_in_an_unread_column_is_just_a_long_line(tmp_path):
    data = b"x,s\n1,a\n2," + b"b" * TEN_MB + b"\n3,c\n"
    assert batch(tmp_path, "eval", "x", data) == b"f\n1.0\n2.0\n3.0\n"
    out = batch(tmp_path, "eval", "x", data, out="o.jsonl", keep_input=True)
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert [len(r["input"]["s"]) for r in rows] == [1, TEN_MB, 1]
    assert batch(tmp_path, "eval", "x", data, keep_input=True) == \
        b"x,s,f\n1,a,1.0\n2," + b"b" * TEN_MB + b",2.0\n3,c,3.0\n"


@pytest.mark.parametrize("line, start", [
    (b"b" * TEN_MB + b",2", "line 3, column 1 (x): 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'... "
                            "(10,485,760 characters) is not a number"),
    (b"2,s," + b"c" * TEN_MB, "line 3, column 3: extra field 'cccccccccccccccccccccccccccccc'"
                              "... (10,485,760 characters)"),
    (b'"' + b"d" * TEN_MB + b'",2', "line 3, column 1 (x): 'dddddddddddddddddddddddddddddd'"),
])
def test_a_bad_10_mb_field_is_a_short_message_after_the_rows_before_it(tmp_path, line, start):
    error, out = batch_error(tmp_path, "eval", "x", b"x,s\n1,a\n" + line + b"\n3,c\n")
    assert str(error).startswith(start) and len(str(error)) < 200
    assert out == b"f\n1.0\n"


@pytest.mark.parametrize("where", ["a middle line", "the last line, without its end",
                                   "the header"])
def test_a_line_over_the_limit_is_an_error_naming_it_after_the_rows_before_it(
        tmp_path, monkeypatch, where):
    monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", 64)
    monkeypatch.setattr(batch_input, "MAX_LINE_BYTES", 1000)
    longest = b"7," + b"9" * 998  # exactly the limit: still a line
    assert batch(tmp_path, "eval", "x", b"x,s\n" + longest + b"\n") == b"f\n7.0\n"
    too_long = longest + b"9"
    data = {"a middle line": b"x,s\n1,a\n2,b\n" + too_long + b"\n3,c\n",
            "the last line, without its end": b"x,s\n1,a\n2,b\n" + too_long,
            "the header": b"x," + b"s" * 1000 + b"\n1,a\n"}[where]
    (tmp_path / "out.csv").unlink()
    error, out = batch_error(tmp_path, "eval", "x", data)
    line = 1 if where == "the header" else 4
    assert str(error) == (f"line {line}: longer than 1,000 bytes without a line end "
                          "(tapecli's limit for one line)")
    assert out == (b"" if where == "the header" else b"f\n1.0\n2.0\n")


def test_the_line_limit_is_documented_in_the_batch_page():
    page = (Path(__file__).parent.parent / "docs" / "batches.md").read_text()
    assert f"{batch_input.MAX_LINE_BYTES >> 20} MiB ({batch_input.MAX_LINE_BYTES:,} bytes)" \
        in page


def _cpu_seconds(function, *args, repeat: int = 3) -> float:
    """The fastest of a few runs in CPU time, which a busy machine disturbs far
    less than the wall clock."""
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        function(*args)
        best = min(best, time.process_time() - start)
    return max(best, 1e-4)


def _buffer_bytes_to_read_an_unended_line(monkeypatch, n: int) -> int:
    """How many bytes of block buffers reading a line of `n` bytes without an end allocates."""
    allocated = [0]

    def counting_bytearray(*args):
        if args and isinstance(args[0], int):
            allocated[0] += args[0]
        return bytearray(*args)

    monkeypatch.setattr(batch_input, "bytearray", counting_bytearray, raising=False)
    reader = batch_input.CsvReader(io.BytesIO(b"x\n" + b"0" * n), "test", ("x",), None,
                                   owned=False)
    assert sum(b.size for b in reader.blocks()) == n
    return allocated[0]


def test_reading_a_line_that_never_ends_is_linear_up_to_the_limit(monkeypatch):
    # Before, every block's worth more of a long line reallocated and copied
    # all of it again: 256 times 8 MB for a 16 MB line in blocks of 64 kB. Bytes
    # allocated, not seconds: a count is the same on a busy machine.
    monkeypatch.setattr(batch_input, "CSV_BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(batch_input, "MAX_LINE_BYTES", 64 << 20)
    small = _buffer_bytes_to_read_an_unended_line(monkeypatch, 4 << 20)
    large = _buffer_bytes_to_read_an_unended_line(monkeypatch, 16 << 20)
    assert large / small < 5 and large < 4 * (16 << 20)


def _wide_batch(tmp_path, columns: int, out: str) -> None:
    header = ",".join(["x"] + [f"c{i}" for i in range(columns)])
    rows = "".join(",".join([str(r)] + ["1"] * columns) + "\n" for r in range(5))
    (tmp_path / f"wide{columns}.csv").write_text(header + "\n" + rows)
    run_batch(make_job("eval", "x"), str(tmp_path / f"wide{columns}.csv"),
              output=str(tmp_path / out), fmt=None, keep_input=True, strict=False)


@pytest.mark.parametrize("out", ["o.csv", "o.jsonl", "o.parquet"])
def test_keep_input_is_linear_in_the_number_of_columns(tmp_path, out):
    ratio = (_cpu_seconds(_wide_batch, tmp_path, 8_000, out, repeat=2)
             / _cpu_seconds(_wide_batch, tmp_path, 2_000, out, repeat=2))
    assert ratio < 8, f"4 times the columns took {ratio:.1f} times as long"
    if out == "o.parquet":
        result = pq.read_table(tmp_path / out)
        assert result.num_columns == 2_002 and result.column("f").to_pylist() == [0, 1, 2, 3, 4]


def test_a_bad_field_among_many_columns_is_found_in_a_few_parses(tmp_path, monkeypatch):
    columns = 5000
    header = ",".join(["x"] + [f"c{i}" for i in range(columns)]).encode()
    good = b",".join([b"1"] + [b"a"] * columns)
    bad = b",".join([b"2"] + [b"a"] * 3000 + [b"\xff"] + [b"a"] * (columns - 3001))
    parses = []
    read_csv = pa_csv.read_csv
    monkeypatch.setattr(pa_csv, "read_csv", lambda *a, **k: parses.append(1) or read_csv(*a, **k))
    error, out = batch_error(tmp_path, "eval", "x", header + b"\n" + good + b"\n" + bad + b"\n",
                             keep_input=True, out="o.jsonl")
    assert str(error) == "line 3, column 3002 (c3000): not valid UTF-8"
    assert len(parses) < 40  # bisection, not one parse per column
    assert [json.loads(line)["value"] for line in out.decode().splitlines()] == [1.0]


# -- a corrupt Parquet file ------------------------------------------------------------------------

def _three_row_groups(path: Path, compression: str = "snappy") -> np.ndarray:
    x = np.random.default_rng(11).standard_normal(3000)
    pq.write_table(pa.table({"x": x, "s": [f"r{i}" for i in range(3000)]}), path,
                   row_group_size=1000, compression=compression)
    return x


def _corrupt(path: Path, group: int, at: int, width: int = 1) -> None:
    """Flip `width` bytes at offset `at` of row group `group`'s first column chunk."""
    chunk = pq.ParquetFile(path).metadata.row_group(group).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    for i in range(width):
        data[start + at + i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("compression", ["snappy", "zstd", "none"])
@pytest.mark.parametrize("at", [0, 2, 6, 8, 20, 40, 67, 75])
def test_a_corrupt_row_group_names_file_and_group_after_the_rows_before_it(
        tmp_path, monkeypatch, compression, at):
    # Blocks of 700 rows: the second block starts in row group 1 and ends in group 2.
    monkeypatch.setattr(batch_input, "MAX_BLOCK_ROWS", 700)
    path = tmp_path / "in.parquet"
    x = _three_row_groups(path, compression)
    _corrupt(path, 1, at, width=4)
    try:
        out = batch(tmp_path, "eval", "x", None, source="in.parquet")
    except DataError as error:
        assert str(error).startswith(f"{path}: row group 2 of 3 (rows 1,001 to 2,000) "
                                     "cannot be read: ")
        assert "\n" not in str(error) and error.exit_code == 1
        out = (tmp_path / "out.csv").read_bytes()
        assert [r[0] for r in table(out)[1]] == x[:1000].tolist()  # all of row group 1
    else:  # the flipped bytes were only numbers: every row, the others exact
        rows = [r[0] for r in table(out)[1]]
        assert len(rows) == 3000 and rows[:1000] == x[:1000].tolist()


def test_a_corrupt_parquet_footer_is_a_data_error(tmp_path):
    path = tmp_path / "in.parquet"
    _three_row_groups(path)
    data = bytearray(path.read_bytes())
    data[-12:-8] = b"\xff\xff\xff\x7f"  # the footer's length
    path.write_bytes(bytes(data))
    error, _ = batch_error(tmp_path, "eval", "x", None, source="in.parquet")
    assert str(error).startswith(f"{path} is not a readable Parquet file: ")
    assert error.exit_code == 1 and "\n" not in str(error)
