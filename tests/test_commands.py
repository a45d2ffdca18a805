"""The command table: every row's columns and JSON keys, results that name
themselves, jobs that pickle cheaply, options declared once.

Column names are the exact strings of CLI.md; a made-up row with a third-order
tensor key checks that new keys need no naming code, with its numbers from
calculus by hand.
"""

from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tapecli import cli, commands, derivatives, jobs, output, parser
from tapecli.batch import run_batch
from tapecli.commands import COMMANDS, Command, Order
from tapecli.errors import UsageError
from tapecli.jobs import Job
from tapecli.parser import parse

PACKAGE = Path(jobs.__file__).parent


def make_job(command, *texts: str, wrt=None, order=None) -> Job:
    return Job.create(command, [parse(t) for t in texts], wrt, order)


# -- every row's column names and JSON keys, for 1 to 3 variables -------------------------

@pytest.mark.parametrize("command, texts, wrt, order, names", [
    ("eval", ["x"], None, None, "f"),
    ("eval", ["x*y*z"], None, None, "f"),
    ("grad", ["x**2"], None, None, "f,df/dx"),
    ("grad", ["x*y"], None, None, "f,df/dx,df/dy"),
    ("grad", ["x*y*z"], None, None, "f,df/dx,df/dy,df/dz"),
    ("grad", ["x*y*z"], ["z", "x"], None, "f,df/dz,df/dx"),
    ("hessian", ["x**3"], None, None, "f,df/dx,d2f/dxdx"),
    ("hessian", ["x**2*y"], None, None,
     "f,df/dx,df/dy,d2f/dxdx,d2f/dxdy,d2f/dydx,d2f/dydy"),
    ("hessian", ["x*y*z"], None, None,
     ("f,df/dx,df/dy,df/dz,d2f/dxdx,d2f/dxdy,d2f/dxdz,d2f/dydx,d2f/dydy,d2f/dydz,"
      "d2f/dzdx,d2f/dzdy,d2f/dzdz")),
    ("diff", ["x**3"], None, None, "f,df/dx"),
    ("diff", ["x**3"], ["x"], 3, "f,d3f/dx^3"),
    ("diff", ["x**3*y**2"], ["x", "x", "y"], None, "f,d3f/dxdxdy"),
    ("diff", ["x*y*z"], ["z", "y", "x"], None, "f,d3f/dzdydx"),
    ("jacobian", ["x**2", "sin(x)"], None, None, "f1,f2,df1/dx,df2/dx"),
    ("jacobian", ["x*y", "x+y"], None, None, "f1,f2,df1/dx,df1/dy,df2/dx,df2/dy"),
    ("jacobian", ["x*y", "y*z", "z"], None, None,
     "f1,f2,f3,df1/dx,df1/dy,df1/dz,df2/dx,df2/dy,df2/dz,df3/dx,df3/dy,df3/dz"),
])
def test_every_command_names_its_csv_columns_as_the_contract_does(command, texts, wrt, order,
                                                                 names):
    job = make_job(command, *texts, wrt=wrt, order=order)
    assert ",".join(job.column_names()) == names
    point = {v: 0.5 + i for i, v in enumerate(job.inputs)}
    result = job.compute(point)
    assert len(job.columns(result)) == len(job.column_names())
    assert output.csv_text(job, result, point).splitlines()[0] == names


@pytest.mark.parametrize("command, texts, wrt, keys", [
    ("eval", ["x*y"], None, ["expression", "variables", "point", "value"]),
    ("grad", ["x"], None, ["expression", "variables", "point", "value", "gradient"]),
    ("hessian", ["x*y*z"], None,
     ["expression", "variables", "point", "value", "gradient", "hessian"]),
    ("diff", ["x*y"], ["x", "y"],
     ["expression", "variables", "point", "wrt", "value", "derivative"]),
    ("jacobian", ["x", "y", "x*y*z"], None,
     ["expressions", "variables", "point", "value", "jacobian"]),
])
def test_every_command_lays_out_its_json_object_as_the_contract_does(tmp_path, command,
                                                                    texts, wrt, keys):
    job = make_job(command, *texts, wrt=wrt)
    point = {v: 1.5 + i for i, v in enumerate(job.inputs)}
    obj = job.json_object(job.compute(point), point)
    assert list(obj) == keys
    assert obj["variables"] == list(job.variables)
    # A batch writes the same layout, column-wise, without the expression.
    source = tmp_path / "in.csv"
    source.write_text(",".join(job.inputs) + "\n" + ",".join(map(repr, point.values())) + "\n")
    run_batch(job, str(source), output=str(tmp_path / "out.jsonl"), fmt=None,
              keep_input=False, strict=False)
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert list(row) == keys[1:]
    assert row == job.json_object(job.compute(point), point, with_expression=False)


def test_every_row_computes_exactly_its_result_keys_in_order():
    texts = {"jacobian": ["x*y", "x-y"]}
    for row in COMMANDS:
        job = make_job(row.name, *texts.get(row.name, ["x*y"]),
                       wrt=["x", "y"] if row.wrt_sequence else None)
        assert job.command is row and job.command == row.name
        assert tuple(job.compute({"x": 2.0, "y": 3.0})) == row.keys == job.keys


# -- a new row with a new tensor key: its names come for free ------------------------------

def _third_derivatives(job, point):
    """value, gradient, Hessian and the tensor of third derivatives, entry by entry."""
    expr, n = job.expressions[0], len(job.wrt)
    value, grad, hess = derivatives.hessian(expr, point, job.wrt)
    d3f = np.empty(np.shape(value) + (n, n, n))
    for index in np.ndindex(n, n, n):
        d3f[(..., *index)] = derivatives.derivative(expr, point,
                                                    [job.wrt[i] for i in index])[1]
    result = {"value": value, "gradient": grad, "hessian": hess, "d3f": d3f}
    if job.order == 4:
        d4f = np.empty(np.shape(value) + (n,) * 4)
        for index in np.ndindex(*(n,) * 4):
            d4f[(..., *index)] = derivatives.derivative(expr, point,
                                                        [job.wrt[i] for i in index])[1]
        result["d4f"] = d4f
    return result


TENSORS = Command("tensors", _third_derivatives, ("value", "gradient", "hessian", "d3f"),
                  help="Print derivative tensors up to order 3.", example=())


def test_a_made_up_tensor_key_names_its_columns_row_major():
    job = make_job(TENSORS, "x**3*y**2")
    assert job.key_names("d3f") == [
        "d3f/dx^3", "d3f/dxdxdy", "d3f/dxdydx", "d3f/dxdydy",
        "d3f/dydxdx", "d3f/dydxdy", "d3f/dydydx", "d3f/dy^3"]
    assert job.column_names()[-9:-8] == ["d2f/dydy"]
    # Flattening follows the same order: entry (i, j, l) of a fake (2, 2, 2) array.
    fake = np.arange(8.0).reshape(2, 2, 2)
    assert [float(c) for c in job.columns({"value": np.float64(0), "gradient": np.zeros(2),
                                           "hessian": np.zeros((2, 2)), "d3f": fake})] == \
        [0.0] * 7 + list(np.arange(8.0))


def test_a_made_up_tensor_key_flows_into_csv_json_and_the_table():
    # f = x³y² at (1, 2): d3f/dx³ = 6y² = 24, d3f/dx²dy = 12xy = 24,
    # d3f/dxdy² = 6x² = 6, d3f/dy³ = 0
    job = make_job(TENSORS, "x**3*y**2")
    point = {"x": 1.0, "y": 2.0}
    result = job.compute(point)
    csv = output.csv_text(job, result, point).splitlines()
    assert csv[0].endswith(",d3f/dx^3,d3f/dxdxdy,d3f/dxdydx,d3f/dxdydy,"
                           "d3f/dydxdx,d3f/dydxdy,d3f/dydydx,d3f/dy^3")
    assert csv[1].endswith(",24.0,24.0,24.0,6.0,24.0,6.0,6.0,0.0")
    obj = json.loads(output.json_text(job, result, point))
    assert list(obj)[-1] == "d3f"
    assert obj["d3f"] == [[[24.0, 24.0], [24.0, 6.0]], [[24.0, 6.0], [6.0, 0.0]]]
    assert output.render_plain(output.result_sections(job, result, point)).endswith(
        "d3f     x     y\n"
        "x x  24.0  24.0\n"
        "x y  24.0   6.0\n"
        "y x  24.0   6.0\n"
        "y y   6.0   0.0\n")


def test_a_batch_of_a_made_up_tensor_key_matches_each_point(tmp_path):
    job = make_job(TENSORS, "x**3*y**2")
    source = tmp_path / "in.csv"
    source.write_text("x,y\n1,2\n-0.5,3\n")
    run_batch(job, str(source), output=str(tmp_path / "out.csv"), fmt=None,
              keep_input=False, strict=False)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == ",".join(job.column_names())
    for line, point in zip(lines[1:], ({"x": 1.0, "y": 2.0}, {"x": -0.5, "y": 3.0})):
        single = output.csv_text(job, job.compute(point), point).splitlines()[1]
        assert line == single


def _tensor_order(wrt, order):
    if order < 2:
        raise UsageError("--order must be 2 or more")
    return wrt, order


def _tensor_keys(order):
    return tuple(f"d{i}f" for i in range(4, order + 1))


# --order K that adds tensors, as hessian will have it: one field of the row.
ORDERED = Command("ordered", _third_derivatives, ("value", "gradient", "hessian", "d3f"),
                  help="Print derivative tensors up to order K.",
                  example=('tapecli ordered "x**3*y" --at x=1,y=2 --order 4',),
                  order=Order("K", "Add the derivative tensors up to order K.",
                              _tensor_order, keys=_tensor_keys))


def test_an_order_field_gives_a_command_its_order_option_keys_and_columns():
    # f = x⁴y at (1, 2): d4f/dx⁴ = 24y = 48, d4f/dx³dy = 24x = 24, others 0
    job = make_job(ORDERED, "x**4*y", order=4)
    assert job.keys == ("value", "gradient", "hessian", "d3f", "d4f")
    assert job.key_names("d4f")[:3] == ["d4f/dx^4", "d4f/dx^3dy", "d4f/dxdxdydx"]
    assert len(job.column_names()) == 1 + 2 + 4 + 8 + 16
    command = cli._click_command(ORDERED)
    result = CliRunner().invoke(command, ["x**4*y", "--at", "x=1,y=2", "--order", "4",
                                          "--format", "json"])
    assert result.exit_code == 0, result.output
    d4f = json.loads(result.output)["d4f"]
    assert d4f[0][0][0] == [48.0, 24.0] and d4f[1][1][1] == [0.0, 0.0]
    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "--order K" in help_text and "Add the derivative tensors up to order K." in help_text
    assert 'tapecli ordered "x**3*y" --at x=1,y=2 --order 4' in help_text
    diff = pickle.loads(pickle.dumps(make_job("diff", "x*y", wrt=["y"], order=3)))
    assert (diff.wrt, diff.order, diff.sequence) == (("y",), 3, ("y", "y", "y"))
    # A row outside COMMANDS travels as itself, its order with it.
    assert pickle.loads(pickle.dumps(job)) == job


def test_order_on_a_command_without_one_names_those_that_take_it():
    with pytest.raises(UsageError, match=r"^--order is for hessian and diff and plot only$"):
        make_job("grad", "x", order=2)
    with pytest.raises(UsageError, match=r"^unknown command 'curl'$"):
        make_job("curl", "x")


# -- pickling: texts, wrt and order; one compile per worker ---------------------------------

@pytest.mark.parametrize("command, texts, wrt, order", [
    ("eval", ["x*y"], None, None), ("grad", ["x*y"], ["y"], None),
    ("hessian", ["x*y*z"], None, None), ("diff", ["x**5"], ["x"], 4),
    ("diff", ["x*y"], ["x", "y", "y"], None), ("jacobian", ["x", "y*z"], ["z", "x"], None),
])
def test_a_pickled_job_comes_back_equal_and_small(command, texts, wrt, order):
    job = make_job(command, *texts, wrt=wrt, order=order)
    data = pickle.dumps(job)
    restored = pickle.loads(data)
    assert restored == job and restored.command is job.command
    assert all(a is b for a, b in zip(restored.expressions, job.expressions))
    assert b"tapecli.expression" not in data and b"tapecli.commands" not in data


def test_three_unpickles_of_a_job_in_a_fresh_process_compile_once(monkeypatch):
    job = make_job("hessian", "x**2*y + sin(x*y) + 7.25")
    data = pickle.dumps(job)
    point = {"x": np.array([1.0, 2.0, -0.5]), "y": np.array([0.5, 3.0, 4.0])}
    expected = job.compute(point)
    # As a worker starts: no parsed texts, no plans.
    parser._parse_cached.cache_clear()
    derivatives._driver.cache_clear()
    compiles = []
    compile_program = derivatives.compile_program
    monkeypatch.setattr(derivatives, "compile_program",
                        lambda *args: compiles.append(args) or compile_program(*args))
    for _ in range(3):
        result = pickle.loads(data).compute(point)
        for key in expected:
            np.testing.assert_array_equal(result[key], expected[key])
    assert len(compiles) == 1


# -- options declared once ---------------------------------------------------------------

def _params(name: str) -> dict:
    return {p.opts[0]: p for p in cli.cli.commands[name].params}


def test_the_shared_options_are_the_same_objects_on_every_command():
    for row in COMMANDS:
        params = _params(row.name)
        for flag in row.options:
            assert params[flag] is cli.OPTIONS[flag]
        assert list(params)[1:len(row.options) + 1] == list(row.options)
    trace = _params("trace")
    for flag in ("--at", "--wrt", "--output"):
        assert trace[flag] is cli.OPTIONS[flag]
    assert trace["--format"] is not cli.OPTIONS["--format"]  # a listing: table or json


def test_every_row_is_a_click_command_with_its_help_and_example():
    for row in COMMANDS:
        help_text = CliRunner().invoke(cli.cli, [row.name, "--help"], prog_name="tapecli").output
        assert help_text.startswith(f"Usage: tapecli {row.name} [OPTIONS] "
                                    + ("EXPR [EXPR ...]" if row.many else "EXPR") + "\n")
        assert row.help.splitlines()[0] in help_text
        assert all(line in help_text for line in row.example)
        assert ("--order" in help_text) == (row.order is not None)


# -- one home for numbers, formats, the terminal check, command names ---------------------

def test_numbers_formats_and_the_terminal_check_have_one_home():
    assert jobs.json_number is output.json_number
    assert cli.FORMATS is output.FORMATS
    assert [output.json_number(v) for v in (1.5, float("nan"), float("inf"), -np.inf)] == \
        [1.5, None, None, None]
    imported = {node.module for node in ast.walk(ast.parse((PACKAGE / "output.py").read_text()))
                if isinstance(node, ast.ImportFrom)}
    assert "jobs" not in imported
    for module in ("batch.py", "batch_output.py", "cli.py", "jobs.py", "output.py"):
        text = (PACKAGE / module).read_text()
        assert module == "output.py" or not re.search(r"def (use_rich|_is_terminal|number|"
                                                      r"json_number)\b|FORMATS = ", text)


def test_no_module_but_the_table_switches_on_a_command_name():
    names = "|".join(c.name for c in COMMANDS)
    switch = re.compile(rf"""command(\.name)? *(==|!=) *["'](?:{names})["']|"""
                        rf"""command(\.name)? in \(""")
    for path in PACKAGE.glob("*.py"):
        if path.name != "commands.py":
            assert not switch.search(path.read_text()), path.name
    assert commands.command("grad") is commands.BY_NAME["grad"]
