"""The installed `tapecli` script, run as a user runs it: in a subprocess.

Every number is checked against calculus by hand (or numpy/math), every error
against its exit status and message, and no user mistake may print a traceback.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "tapecli"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tapecli"]


def run(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run tapecli with stdin closed to input (so it never waits for a batch)."""
    for stream, default in (("stdin", subprocess.DEVNULL), ("stdout", subprocess.PIPE),
                            ("stderr", subprocess.PIPE)):
        kwargs.setdefault(stream, default)
    result = subprocess.run([*COMMAND, *args], check=False, text=True, timeout=60,
                            env={**os.environ, **(env or {})}, **kwargs)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def ok(*args: str, **kwargs) -> str:
    result = run(*args, **kwargs)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def run_json(*args: str):
    return json.loads(ok(*args, "--format", "json"))


def table_rows(text: str) -> dict[str, list[str]]:
    """Plain table lines keyed by their first cell."""
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}


# -- one point, each command and format ------------------------------------------

def test_grad_table_is_plain_aligned_text_when_piped():
    # f = x**2 + 3x + 1 at 3: f = 19, f' = 2x + 3 = 9
    assert ok("grad", "x**2+3*x+1", "--at", "x=3") == (
        "expression  x**2+3*x+1\n"
        "value       19.0\n"
        "\n"
        "            x\n"
        "point     3.0\n"
        "gradient  9.0\n")


def test_grad_json_is_the_spec_object():
    assert run_json("grad", "x**2+3*x+1", "--at", "x=3") == {
        "expression": "x**2+3*x+1", "variables": ["x"], "point": {"x": 3.0},
        "value": 19.0, "gradient": [9.0]}


def test_hessian_table_and_json():
    # f = x²y + y³ at (1, 2): f = 10, ∇f = (2xy, x² + 3y²) = (4, 13), H = [[2y, 2x], [2x, 6y]]
    rows = table_rows(ok("hessian", "x**2*y + y**3", "--at", "x=1,y=2"))
    assert rows["value"] == ["10.0"]
    assert rows["gradient"] == ["4.0", "13.0"]
    assert rows["hessian"] == ["x", "y"]
    assert rows["x"] == ["4.0", "2.0"] and rows["y"] == ["2.0", "12.0"]
    assert run_json("hessian", "x**2*y + y**3", "--at", "x=1", "--at", "y=2") == {
        "expression": "x**2*y + y**3", "variables": ["x", "y"], "point": {"x": 1.0, "y": 2.0},
        "value": 10.0, "gradient": [4.0, 13.0], "hessian": [[4.0, 2.0], [2.0, 12.0]]}


def test_hessian_wrt_orders_rows_and_columns():
    # --wrt y,x: gradient (13, 4), H = [[6y, 2x], [2x, 2y]] = [[12, 2], [2, 4]]
    out = run_json("hessian", "x**2*y + y**3", "--at", "x=1,y=2", "--wrt", "y,x")
    assert out["variables"] == ["y", "x"]
    assert out["gradient"] == [13.0, 4.0]
    assert out["hessian"] == [[12.0, 2.0], [2.0, 4.0]]


def test_diff_order_2_prints_18():
    # d²/dx² x³ = 6x = 18 at x = 3
    rows = table_rows(ok("diff", "x**3", "--wrt", "x", "--order", "2", "--at", "x=3"))
    assert rows["d2f/dxdx"] == ["18.0"] and rows["value"] == ["27.0"]


def test_diff_order_8_of_sin_exp():
    # (e^x sin x)^(n) = 2^(n/2) e^x sin(x + nπ/4); n = 8: 16 e sin(1)
    out = run_json("diff", "sin(x)*exp(x)", "--wrt", "x", "--order", "8", "--at", "x=1")
    assert out["wrt"] == ["x"] * 8
    assert out["derivative"] == pytest.approx(16 * math.e * math.sin(1), rel=1e-12)


def test_diff_order_8_computes_within_a_second():
    import tapecli
    from tapecli.jobs import Job

    job = Job.create("diff", [tapecli.parse("sin(x)*exp(x)")], ["x"], 8)
    start = time.perf_counter()
    job.compute({"x": 1.0})
    assert time.perf_counter() - start < 1.0


def test_diff_mixed_partial_csv():
    # f = x³y²: d³f/dx dx dy = 12xy = 24 at (1, 2); f = 4
    out = ok("diff", "x**3*y**2", "--wrt", "x,x,y", "--at", "x=1,y=2", "--format", "csv")
    assert out == "f,d3f/dxdxdy\n4.0,24.0\n"


def test_jacobian_json_and_csv():
    # f1 = xy, f2 = x + y, f3 = sin x at (2, 3)
    args = ("jacobian", "x*y", "x+y", "sin(x)", "--at", "x=2,y=3")
    out = run_json(*args)
    assert out["expressions"] == ["x*y", "x+y", "sin(x)"]
    assert out["value"] == [6.0, 5.0, math.sin(2)]
    assert out["jacobian"] == [[3.0, 2.0], [1.0, 1.0], [math.cos(2), 0.0]]
    header, row = ok(*args, "--format", "csv").splitlines()
    assert header == "f1,f2,f3,df1/dx,df1/dy,df2/dx,df2/dy,df3/dx,df3/dy"
    assert [float(v) for v in row.split(",")] == [6, 5, math.sin(2), 3, 2, 1, 1, math.cos(2), 0]


def test_jacobian_table():
    rows = table_rows(ok("jacobian", "x*y", "x+y", "--at", "x=2,y=3"))
    assert rows["jacobian"] == ["expression", "value", "d/dx", "d/dy"]
    assert rows["f1"] == ["x*y", "6.0", "3.0", "2.0"]
    assert rows["f2"] == ["x+y", "5.0", "1.0", "1.0"]


def test_eval_jsonl_has_no_expression():
    out = ok("eval", "sqrt(x)", "--at", "x=2", "--format", "jsonl")
    assert out.count("\n") == 1
    assert json.loads(out) == {"variables": ["x"], "point": {"x": 2.0}, "value": math.sqrt(2)}


def test_eval_csv_keep_input_in_shortest_round_trip_form():
    out = ok("eval", "x*y", "--at", "x=0.1,y=3", "--keep-input", "--format", "csv")
    assert out == f"x,y,f\n0.1,3.0,{0.1 * 3!r}\n"  # 0.30000000000000004


def test_numbers_read_back_exactly():
    assert run_json("eval", "x", "--at", "x=1e-300")["value"] == 1e-300
    assert table_rows(ok("eval", "x/3", "--at", "x=1"))["value"] == [repr(1 / 3)]


def test_constant_expression_without_at_is_one_point_not_a_batch():
    # stdin is not a terminal here, yet nothing is read from it
    assert run_json("eval", "2*pi") == {"expression": "2*pi", "variables": [],
                                        "value": 2 * math.pi, "point": {}}


def test_expression_with_leading_minus_is_not_an_option():
    # -x**2 is -(x**2): f = -9, f' = -2x = -6 at x = 3
    assert run_json("grad", "-x**2", "--at", "x=3")["gradient"] == [-6.0]


def test_output_file(tmp_path):
    target = tmp_path / "out.json"
    assert ok("grad", "x*y", "--at", "x=2,y=5", "--format", "json", "--output", str(target)) == ""
    assert json.loads(target.read_text())["gradient"] == [5.0, 2.0]


def test_non_finite_results_warn_once_and_print_ieee_values():
    # log(0) = -inf, d/dx log x = 1/x = inf at 0
    result = run("grad", "log(x)", "--at", "x=0", "--format", "csv")
    assert result.returncode == 0
    assert result.stdout == "f,df/dx\n-inf,inf\n"
    [warning] = result.stderr.splitlines()
    assert warning.startswith("tapecli: warning: non-finite results (nan or inf) from log")
    assert warning.endswith(" on 1 row")
    assert run_json("grad", "log(x)", "--at", "x=nan") == {
        "expression": "log(x)", "variables": ["x"], "point": {"x": None},
        "value": None, "gradient": [None]}


def test_strict_makes_a_domain_problem_exit_1_before_any_output():
    result = run("eval", "log(x)", "--at", "x=-1", "--strict")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("tapecli: error: non-finite results (nan or inf) from log")
    assert result.stderr.rstrip().endswith("(--strict)")


# -- trace ---------------------------------------------------------------------------

def test_trace_table_shows_forward_ops_and_adjoints():
    lines = [line.split() for line in ok("trace", "x**2+3*x+1", "--at", "x=3").splitlines()]
    # forward: x = 3, x**2 = 9, 3*x = 9, 9 + 9 = 18, 18 + 1 = 19
    assert ["%1", "=", "x", "->", "3.0"] in lines
    assert ["%2", "=", "pow", "%1", "2.0", "->", "9.0"] in lines
    assert ["%3", "=", "multiply", "3.0", "%1", "->", "9.0"] in lines
    assert ["%5", "=", "add", "%4", "1.0", "->", "19.0", "(f)"] in lines
    # backward: d(x**2)/dx = 2x = 6 and d(3x)/dx = 3 add up to df/dx = 9
    assert ["%2", "pow", "adjoint", "1.0", "->", "%1", "+=", "6.0"] in lines
    assert ["%3", "multiply", "adjoint", "1.0", "->", "%1", "+=", "3.0"] in lines
    assert ["%1", "x", "adjoint", "9.0", "=", "df/dx"] in lines


def test_trace_json_is_a_list_of_nodes():
    nodes = json.loads(ok("trace", "x*y + sin(x)", "--at", "x=0,y=2", "--format", "json"))
    by_id = {node["id"]: node for node in nodes}
    # df/dx = y + cos x = 3, df/dy = x = 0
    assert by_id["%1"] == {"id": "%1", "op": "variable", "name": "x", "inputs": [],
                           "value": 0.0, "adjoint": 3.0}
    assert by_id["%2"]["adjoint"] == 0.0
    assert [n["op"] for n in nodes] == ["variable", "variable", "multiply", "sin", "add"]
    assert nodes[-1]["output"] is True and nodes[-1]["value"] == 0.0


# -- errors ----------------------------------------------------------------------------

def test_parse_error_exit_2_with_caret_under_the_column():
    result = run("grad", "x**+*2", "--at", "x=1")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tapecli: error: ")
    expression_line = next(line for line in lines if line.strip() == "x**+*2")
    caret_line = next(line for line in lines if line.strip() == "^")
    assert caret_line.index("^") == expression_line.index("x**+*2") + 4  # the second '*'
    assert any(line.startswith("expected") for line in lines)


@pytest.mark.parametrize("expression, words", [
    ("2x", ["2*x"]),
    ("sinn(x)", ["sinn"]),
    ("atan2(x)", ["atan2", "2"]),
])
def test_bad_expressions_exit_2(expression, words):
    result = run("eval", expression, "--at", "x=1")
    assert result.returncode == 2
    assert result.stderr.startswith("tapecli: error: ")
    assert all(word in result.stderr for word in words)


def test_variable_without_a_value_exit_1_says_how_to_give_it():
    result = run("grad", "x*y", "--at", "x=1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "tapecli: error: variable 'y' has no value: give it with --at y=VALUE\n"
    result = run("trace", "x*y")
    assert result.returncode == 1
    assert "--at x=VALUE,y=VALUE" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["grad", "x", "--at", "x=abc"], "'abc' is not a number"),
    (["grad", "x", "--at", "x=1_000"], "is not a number"),
    (["grad", "x", "--at", "x"], "is not NAME=VALUE"),
    (["grad", "x", "--at", "x=1", "--at", "x=2"], "x is given twice"),
    (["grad", "x", "--at", "sin=1"], "function"),
    (["grad", "x", "--at", "x=1", "--formt", "json"], "No such option '--formt'"),
    (["grad", "x", "--at", "x=1", "--order", "2"], "No such option '--order'"),
    (["grad", "x", "y", "--at", "x=1"], "grad takes one EXPR, got 2"),
    (["grad", "x", "--at", "x=1", "--format", "xml"], "'xml' is not one of"),
    (["grad"], "Missing argument 'EXPR'"),
    (["trace", "x", "--at", "x=1", "--format", "csv"], "'csv' is not one of"),
    (["nosuchcommand"], "No such command"),
])
def test_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr


@pytest.mark.parametrize("args, message", [
    (["grad", "x*y", "--at", "x=1,y=2", "--wrt", "z"], "--wrt z: not a variable"),
    (["diff", "x*y", "--at", "x=1,y=2"], "diff needs --wrt"),
    (["diff", "x*y", "--at", "x=1,y=2", "--wrt", "x,y", "--order", "2"], "single variable"),
])
def test_library_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("tapecli: error: ") and message in result.stderr


def test_at_and_input_together_is_a_usage_error(tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("x\n1\n")
    result = run("grad", "x", "--at", "x=1", "--input", str(points))
    assert result.returncode == 2
    assert result.stderr == ("tapecli: error: give either --at (one point) or --input "
                             "(a batch), not both\n")


def test_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -0` does
    try:
        result = run("hessian", "x**2*y + y**3", "--at", "x=1,y=2", stdout=write_end)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode in (-signal.SIGPIPE, 128 + signal.SIGPIPE)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_ends_with_status_130_and_no_traceback():
    # order 300000 of tan(x*x) (one Taylor step of a long dot product per order)
    # takes far longer than this test waits; wait until the process has spent a
    # second of CPU (well past its imports) so the interrupt hits the work
    process = subprocess.Popen([*COMMAND, "diff", "tan(x*x)", "--order", "300000",
                                "--at", "x=1"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _cpu_seconds(process.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stdout == "" and "Traceback" not in stderr


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the program itself -------------------------------------------------------------

def test_version_and_python_m():
    from tapecli import __version__

    assert ok("--version") == f"tapecli {__version__}\n"
    result = subprocess.run([sys.executable, "-m", "tapecli", "eval", "1+2"],
                            check=False, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and table_rows(result.stdout)["value"] == ["3.0"]


def test_help_lists_every_command():
    out = ok("--help")
    for command in ("eval", "grad", "hessian", "diff", "jacobian", "trace"):
        assert f"  {command}" in out


def test_single_point_loads_neither_pyarrow_nor_rich():
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(sorted(m for m in ('pyarrow', 'rich') "
            "if m in sys.modules), file=sys.stderr))\n"
            "from tapecli.cli import main\n"
            "main(['hessian', 'x**2*y', '--at', 'x=1,y=2'])\n")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0
    assert result.stderr.strip() == "[]"


# -- batch dispatch and help, in process (click's CliRunner) ---------------------------

def test_every_command_help_has_an_example():
    from click.testing import CliRunner

    from tapecli.cli import cli

    runner = CliRunner()
    for command in ("eval", "grad", "hessian", "diff", "jacobian", "trace"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output and f"tapecli {command} " in result.output


@pytest.mark.parametrize("args, stdin, source", [
    (["grad", "x*y"], "x,y\n1,2\n", "-"),  # no --at, stdin not a terminal: a batch
    (["grad", "x*y", "--input", "-", "--format", "jsonl", "--keep-input", "--strict"], "", "-"),
])
def test_batches_go_to_run_batch(monkeypatch, args, stdin, source):
    from click.testing import CliRunner

    from tapecli import batch
    from tapecli.cli import cli

    calls = []
    monkeypatch.setattr(batch, "run_batch", lambda job, src, **kw: calls.append((job, src, kw)))
    result = CliRunner().invoke(cli, args, input=stdin)
    assert result.exit_code == 0, result.output
    [(job, src, options)] = calls
    assert (job.command, job.variables, src) == ("grad", ("x", "y"), source)
    jsonl = "--format" in args
    assert options == {"output": None, "fmt": "jsonl" if jsonl else None,
                       "keep_input": jsonl, "strict": jsonl}


def test_piped_csv_is_a_batch():
    # f = xy: rows (1, 2) and (3, 4) give f = 2, 12 and ∇f = (y, x)
    assert ok("grad", "x*y", input="x,y\n1,2\n3,4\n", stdin=None) == (
        "f,df/dx,df/dy\n2.0,2.0,1.0\n12.0,4.0,3.0\n")


def test_trace_refuses_a_batch_on_stdin_and_says_how_to_give_a_point():
    result = run("trace", "x*y", input="x,y\n1,2\n", stdin=None)
    assert result.returncode == 1
    assert "give them with --at x=VALUE,y=VALUE (trace shows the tape of one point; " \
        "it does not read a batch from stdin)" in result.stderr


def test_order_zero_is_refused_with_a_pointer_to_eval():
    result = run("diff", "x**2", "--order", "0", "--at", "x=1")
    assert result.returncode == 2
    assert "--order must be 1 or more" in result.stderr and "use eval" in result.stderr
