"""Hard to break (#17): the command line under adversarial use.

Each case runs the installed `tapecli` script in a subprocess, as a user would,
and checks the message, the exit status and that no traceback escaped: `--`
ending the options, ASCII numbers, option values out of range, outputs that
fail (a full disk, a closed stdout, a file-size limit, an unwritable file), a
stdout that cannot encode a character, and running out of memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TAPECLI = str(Path(sys.executable).parent / "tapecli")


def run(*args: str, stdin: bytes | None = None, env: dict | None = None, timeout: float = 60):
    done = subprocess.run([TAPECLI, *args], input=stdin, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done


def shell(command: str, timeout: float = 60):
    """Run a shell line (redirections, ulimit) with the venv's tapecli first on PATH."""
    env = {**os.environ, "PATH": f"{Path(TAPECLI).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout,
                          env=env, check=False)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done


def one_error_line(done, status: int) -> str:
    lines = done.stderr.decode().splitlines()
    assert done.returncode == status, done.stderr
    assert len(lines) == 1 and lines[0].startswith("tapecli: error: "), lines
    return lines[0]


# ---- `--` ends the options ---------------------------------------------------------------------
@pytest.mark.parametrize("args, value, gradient", [
    (["grad", "--at", "x=3", "--", "--x"], 3.0, [1.0]),            # --x is -(-x)
    (["grad", "--at", "x=3", "--", "-x**2"], -9.0, [-6.0]),
    (["grad", "--at", "x=3", "--", "---x"], -3.0, [-1.0]),
])
def test_double_dash_ends_the_options_and_what_follows_is_the_expression(args, value, gradient):
    done = run(*args[:1], "--format", "json", *args[1:])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["value"], result["gradient"]) == (value, gradient)


def test_double_dash_before_the_expression_of_a_batch():
    done = run("grad", "--", "--x", stdin=b"x\n2\n")
    assert (done.returncode, done.stdout) == (0, b"f,df/dx\n2.0,1.0\n")


def test_options_after_double_dash_are_expression_text_with_a_caret_error():
    done = run("grad", "--", "--at", "x=1")
    assert done.returncode == 2
    assert b"No such option" not in done.stderr
    assert b"unexpected character '='" in done.stderr and b"   ^" in done.stderr


def test_double_dash_works_for_several_expressions_and_for_trace():
    done = run("jacobian", "--at", "x=2", "--format", "json", "--", "--x", "-x*x")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jacobian"] == [[1.0], [-4.0]]
    done = run("trace", "--at", "x=2", "--", "--x")
    assert done.returncode == 0 and b"neg" in done.stdout


def test_an_unknown_option_before_double_dash_is_still_refused():
    done = run("grad", "--x", "--at", "x=1")
    assert done.returncode == 2 and b"No such option '--x'" in done.stderr
    done = run("grad", "--at", "x=1", "--", "x", "--format", "json")  # after --: text
    assert done.returncode == 2 and b"takes one EXPR" in done.stderr


def test_a_missing_expression_is_a_usage_error():
    for args in (["grad"], ["grad", "--"], ["grad", "--at", "x=1", "--"]):
        done = run(*args)
        assert done.returncode == 2 and b"Missing argument 'EXPR'" in done.stderr


# ---- numbers are ASCII ------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["１２", "٣", "1e５", "۱.5", "-１"])
def test_a_point_with_a_digit_other_than_0_to_9_is_a_usage_error(value):
    done = run("eval", "x", "--at", f"x={value}")
    assert done.returncode == 2
    assert f"'{value}' is not a number".encode() in done.stderr


@pytest.mark.parametrize("text, column", [("１２", 1), ("٣", 1), ("1e５", 3)])
def test_an_expression_with_such_a_digit_is_a_parse_error_with_a_caret(text, column):
    done = run("eval", text)
    assert done.returncode == 2
    assert f"is not an ASCII digit (column {column})".encode() in done.stderr


def test_a_stdout_that_cannot_encode_a_character_never_tracebacks():
    # A no-break space is whitespace to the grammar, and the table echoes the expression.
    done = run("eval", "1\u00a0+ 1", env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0 and b"2.0" in done.stdout
    assert b"\\xa0" in done.stdout  # escaped, not lost
    done = run("eval", "１２", env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 2 and b"not an ASCII digit" in done.stderr


# ---- every option value is an answer or a usage error -----------------------------------------
@pytest.mark.parametrize("order", ["99999999999999999999", "1000000000", "1000001",
                                   "-99999999999999999999"])
def test_an_order_out_of_range_is_a_usage_error(order):
    done = run("diff", "x**2", "--wrt", "x", "--order", order, "--at", "x=1")
    assert done.returncode == 2
    assert b"Invalid value for '--order'" in done.stderr or b"--order must be" in done.stderr


def test_running_out_of_memory_is_one_line_with_status_1(monkeypatch, capsys):
    from tapecli import cli

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cli, "_run", exhausted)
    with pytest.raises(SystemExit) as status:
        cli.main(["eval", "x", "--at", "x=1"])
    assert status.value.code == 1
    assert capsys.readouterr().err == "tapecli: error: out of memory\n"


# ---- outputs that fail --------------------------------------------------------------------------
FULL = "No space left on device"


@pytest.mark.parametrize("command", [
    "tapecli eval 1 > /dev/full",
    "tapecli grad 'x*y' --at x=1,y=2 --format json > /dev/full",
    "printf 'x\\n1\\n2\\n' | tapecli grad 'x**2' > /dev/full",
    "printf 'x\\n1\\n2\\n' | tapecli grad 'x**2' --format jsonl > /dev/full",
    "tapecli --help > /dev/full",
    "tapecli grad --help > /dev/full",
    "tapecli --version > /dev/full",
    "tapecli trace 'x**2' --at x=1 > /dev/full",
])
def test_a_full_disk_is_one_error_line_and_status_1(command):
    assert one_error_line(shell(command), 1) == f"tapecli: error: cannot write the output: {FULL}"


@pytest.mark.parametrize("command", [
    "tapecli eval 1 >&-",
    "printf 'x\\n1\\n' | tapecli eval x >&-",
    "tapecli --version >&-",
])
def test_a_closed_stdout_is_one_error_line_and_status_1(command):
    assert "stdout is closed" in one_error_line(shell(command), 1)


def test_a_closed_stdout_does_not_matter_when_the_output_goes_to_a_file(tmp_path):
    done = shell(f"tapecli eval 'x+1' --at x=1 --output {tmp_path}/o.json >&-")
    assert done.returncode == 0 and json.loads((tmp_path / "o.json").read_text())["value"] == 2


@pytest.mark.parametrize("target", ["> {out}", "--output {out}"])
def test_a_file_size_limit_reached_mid_batch_is_one_error_line_and_status_1(tmp_path, target):
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n" + "".join(f"{i}\n" for i in range(200_000)))
    out = tmp_path / "out.csv"
    done = shell(f"ulimit -f 100; tapecli grad 'x**2' --input {rows} " + target.format(out=out))
    assert "File too large" in one_error_line(done, 1)
    assert out.stat().st_size == 100 * 1024  # written up to the limit


@pytest.mark.parametrize("args", [
    ["eval", "x", "--at", "x=1"],
    ["eval", "x", "--input", "-"],
    ["eval", "x", "--input", "-", "--format", "jsonl"],
])
@pytest.mark.parametrize("name", ["o.csv", "o.jsonl", "o.parquet"])
def test_an_unwritable_output_is_status_1_for_a_point_and_a_batch(tmp_path, args, name):
    if "--at" in args and name == "o.parquet" or "jsonl" in args and name != "o.jsonl":
        return  # a usage error of its own: Parquet is for batches, formats must agree
    done = run(*args, "--output", str(tmp_path / "no-such-dir" / name), stdin=b"x\n1\n")
    assert "no-such-dir" in one_error_line(done, 1)


def test_a_repeated_wrt_into_parquet_names_wrt_not_keep_input(tmp_path):
    done = run("grad", "x*y", "--wrt", "x,x", "--input", "-", "--output",
               str(tmp_path / "o.parquet"), stdin=b"x,y\n1,2\n")
    message = one_error_line(done, 1)
    assert "--wrt" in message and "--keep-input" not in message and "'df/dx'" in message
    done = run("eval", "x", "--keep-input", "--input", "-", "--output",
               str(tmp_path / "o.parquet"), stdin=b"x,f\n1,2\n")
    assert "--keep-input" in one_error_line(done, 1)


# ---- malformed batch input through the console script -----------------------------------------
def test_an_unclosed_quote_in_200000_rows_names_its_line_after_every_row_before_it():
    lines = [b"x,note"] + [b"%d,n%d" % (i, i) for i in range(200_000)]
    lines[65_527 - 1] = b'65525,"never closed'
    done = run("eval", "x", stdin=b"\n".join(lines) + b"\n")
    assert one_error_line(done, 1) == ("tapecli: error: line 65527, column 2 (note): a quoted "
                                       "field that does not end on its line (a field cannot "
                                       "span lines)")
    assert done.stdout.count(b"\n") == 1 + 65_525


def test_a_line_that_never_ends_is_refused_at_the_limit_quickly():
    done = shell("(echo x; cat /dev/zero) | tapecli grad x", timeout=60)
    assert one_error_line(done, 1) == ("tapecli: error: line 2: longer than 33,554,432 bytes "
                                       "without a line end (tapecli's limit for one line)")


def test_a_corrupt_parquet_row_group_through_the_console_script(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": np.arange(3000.0)}), path, row_group_size=1000)
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    done = run("eval", "x", "--input", str(path))
    assert one_error_line(done, 1).startswith(f"tapecli: error: {path}: row group 2 of 3 "
                                              "(rows 1,001 to 2,000) cannot be read: ")
    assert done.stdout.split() == [b"f"] + [b"%d.0" % i for i in range(1000)]


# ---- terminal tables never hide a number ------------------------------------------------------
TABLE_CASES = [
    ("hessian", ["sin(x)*exp(y)*sqrt(z) + x*y*z*w + w**3/7"],
     {"x": 0.3, "y": 1.7, "z": 2.1, "w": -0.45}),
    ("grad", ["x/3 + y/7 + z/11"], {"x": 0.1, "y": 0.2, "z": 0.3}),
    ("jacobian", ["x/3 + y/7", "x*y/9", "log(x)/y"], {"x": 0.7, "y": 1.3}),
    ("diff", ["exp(x)/3"], {"x": 0.1}),
]


@pytest.mark.parametrize("width", [80, 40, 12])
@pytest.mark.parametrize("command, texts, point", TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
def test_a_terminal_table_shows_every_number_in_full_at_any_width(command, texts, point, width):
    import io

    import numpy as np

    from tapecli import output
    from tapecli.jobs import Job
    from tapecli.parser import parse

    wrt = ["x"] if command == "diff" else None
    job = Job.create(command, [parse(t) for t in texts], wrt, None)
    result = job.compute(point)
    shown = io.StringIO()
    output.render_rich(output.result_sections(job, result, point), shown, width=width)
    text = shown.getvalue()
    numbers = [output.number(v) for v in point.values()]
    for key in job.keys:
        numbers += [output.number(v) for v in np.ravel(result[key])]
    assert len(numbers) > len(point)
    for n in numbers:
        assert n in text, (n, text)  # whole: neither cut to 1.58114…, nor folded, nor dropped
    assert "…" not in text


def test_a_result_too_large_to_hold_is_a_usage_error_before_any_work():
    done = run("hessian", "x*y", "--order", "40", "--at", "x=1,y=2", timeout=20)
    assert one_error_line(done, 2) == ("tapecli: error: hessian --order 40: 2,199,023,255,551 "
                                       "numbers per point (2 variables); the limit is 1,000,000")


def test_running_out_of_memory_under_a_memory_limit_is_one_line_with_status_1():
    # 3 variables up to order 12: 800,000 numbers, more than 220 MB of address space
    # allows (a single point needs less than 150 MB).
    done = shell("ulimit -v 220000; tapecli hessian 'x*y*z' --order 12 --at x=1,y=2,z=3",
                 timeout=120)
    assert one_error_line(done, 1) == "tapecli: error: out of memory"
