"""tapecli.output called directly: every format of one point, with hand-computed numbers."""

from __future__ import annotations

import io
import json
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

import tapecli
from tapecli import output
from tapecli.jobs import Job


def hessian_case():
    # f = x²y + y³ at (1, 2): f = 10, ∇f = (4, 13), H = [[4, 2], [2, 12]]
    job = Job.create("hessian", [tapecli.parse("x**2*y + y**3")])
    point = {"x": 1.0, "y": 2.0}
    return job, job.compute(point), point


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@settings(max_examples=50)
@given(st.floats(allow_nan=False))
def test_number_reads_back_to_the_same_float(x):
    assert float(output.number(x)) == x
    assert output.number(x) == repr(x)


def test_number_spells_non_finite_values_like_numpy():
    assert [output.number(v) for v in (math.inf, -math.inf, math.nan)] == ["inf", "-inf", "nan"]


def test_plain_table_of_a_hessian():
    job, result, point = hessian_case()
    assert output.render_plain(output.result_sections(job, result, point)) == (
        "expression  x**2*y + y**3\n"
        "value       10.0\n"
        "\n"
        "            x     y\n"
        "point     1.0   2.0\n"
        "gradient  4.0  13.0\n"
        "\n"
        "hessian    x     y\n"
        "x        4.0   2.0\n"
        "y        2.0  12.0\n")


def test_plain_table_of_a_gradient_with_respect_to_one_variable():
    # d(xy)/dy = x = 2; the point still shows both variables
    job = Job.create("grad", [tapecli.parse("x*y")], ["y"])
    point = {"x": 2.0, "y": 5.0}
    text = output.render_plain(output.result_sections(job, job.compute(point), point))
    assert "            x    y\npoint     2.0  5.0\ngradient       2.0\n" in text


def test_rich_table_on_a_terminal_and_plain_text_with_no_color(monkeypatch):
    job, result, point = hessian_case()
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = Terminal()
    output.write_result(job, result, point, "table", terminal)
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # without the colours
    assert "─" in text  # a rich table rule
    rows = [line.split() for line in text.split("hessian")[1].splitlines()]
    assert ["x", "y"] in rows  # the column names, then the rows, each named
    assert ["x", "4.0", "2.0"] in rows and ["y", "2.0", "12.0"] in rows

    monkeypatch.setenv("NO_COLOR", "1")
    terminal = Terminal()
    output.write_result(job, result, point, "table", terminal)
    assert terminal.getvalue() == output.render_plain(output.result_sections(job, result, point))


def test_json_is_strict_and_shortest():
    # f = 1/x at 0: inf, gradient -1/x² = -inf; JSON writes both as null
    job = Job.create("grad", [tapecli.parse("1/x")])
    point = {"x": 0.0}
    text = output.json_text(job, job.compute(point), point)
    assert json.loads(text) == {"expression": "1/x", "variables": ["x"], "point": {"x": 0.0},
                                "value": None, "gradient": [None]}
    assert "Infinity" not in text and "NaN" not in text


def test_csv_and_jsonl_are_a_batch_of_one_row():
    job, result, point = hessian_case()
    assert output.csv_text(job, result, point) == (
        "f,df/dx,df/dy,d2f/dxdx,d2f/dxdy,d2f/dydx,d2f/dydy\n"
        "10.0,4.0,13.0,4.0,2.0,2.0,12.0\n")
    assert output.csv_text(job, result, point, echo={"y": 2.0, "x": 1.0, "z": 0.5}) \
        .startswith("y,x,z,f,")
    line = output.jsonl_text(job, result, point, echo={"x": 1.0, "y": 2.0})
    assert json.loads(line) == {"input": {"x": 1.0, "y": 2.0}, "variables": ["x", "y"],
                                "point": {"x": 1.0, "y": 2.0}, "value": 10.0,
                                "gradient": [4.0, 13.0], "hessian": [[4.0, 2.0], [2.0, 12.0]]}


def test_csv_writes_non_finite_numbers_as_nan_inf():
    # log(x) at -1: nan, gradient 1/x = -1; sqrt(x) at 0: 0, gradient inf
    job = Job.create("jacobian", [tapecli.parse("log(x)"), tapecli.parse("sqrt(y)")])
    point = {"x": -1.0, "y": 0.0}
    assert output.csv_text(job, job.compute(point), point) == (
        "f1,f2,df1/dx,df1/dy,df2/dx,df2/dy\nnan,0.0,-1.0,0.0,0.0,inf\n")


def test_diff_and_jacobian_tables():
    job = Job.create("diff", [tapecli.parse("x**3")], ["x"], 3)  # d³x³/dx³ = 6
    text = output.render_plain(output.result_sections(job, job.compute({"x": 2.0}), {"x": 2.0}))
    assert "d3f/dx^3    6.0\n" in text
    job = Job.create("jacobian", [tapecli.parse("x*y"), tapecli.parse("x-y")])
    point = {"x": 2.0, "y": 3.0}
    text = output.render_plain(output.result_sections(job, job.compute(point), point))
    assert text.endswith(
        "jacobian  expression  value  d/dx  d/dy\n"
        "f1        x*y           6.0   3.0   2.0\n"
        "f2        x-y          -1.0   1.0  -1.0\n")
