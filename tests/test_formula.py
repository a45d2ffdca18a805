"""Formulas: derivatives read off the tape as expressions, simplified and printed.

The truth is calculus by hand for the printed text, and the tape itself for the
numbers: a printed formula, parsed again, must give the tape's derivative at
random points, print the same text twice, and be a fixed point of printing.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tapecli import UsageError, formula, parse
from tapecli.language import FUNCTIONS


def d(text: str, *wrt: str) -> str:
    return str(parse(text).differentiate(list(wrt)))


# ---- printing: only the parentheses that precedence and associativity need -------------
@pytest.mark.parametrize("text, printed", [
    ("-x**2", "-x**2"),
    ("(-x)**3", "-x**3"),
    ("(-x)**y", "(-x)**y"),
    ("2**3**x", "2**3**x"),
    ("(2**3)**x", "8**x"),
    ("(x**y)**z", "(x**y)**z"),
    ("x**(y**z)", "x**y**z"),
    ("a - (b - c)", "a - b + c"),
    ("a - (b*c - d)", "a - b*c + d"),
    ("a/(b*c)", "a/(b*c)"),
    ("a/b/c", "a/(b*c)"),
    ("a/(b/c)", "a*c/b"),
    ("(a + b)*(c - d)", "(a + b)*(c - d)"),
    ("(a + b)/(c + d)", "(a + b)/(c + d)"),
    ("x**(-y)", "x**-y"),
    ("x**(2*y)", "x**(2*y)"),
    ("x**(y + 1)", "x**(y + 1)"),
    ("(x + 1)**2", "(x + 1)**2"),
    ("(2*x)**y", "(2*x)**y"),
    ("-(x*y)", "-x*y"),
    ("sin(-x)", "sin(-x)"),
    ("-sin(x)", "-sin(x)"),
    ("1/x", "1/x"),
    ("x**-2", "1/x**2"),
    ("-1/(x + 1)", "-1/(x + 1)"),
    ("exp(x)**y", "exp(x)**y"),
])
def test_printing_uses_only_the_parentheses_precedence_needs(text, printed):
    assert str(parse(text)) == printed
    assert str(parse(printed)) == printed


@pytest.mark.parametrize("text, printed", [
    ("x*1", "x"), ("1*x", "x"), ("x + 0", "x"), ("x**1", "x"), ("--x", "x"),
    ("0*sin(x)", "0"), ("x - x", "0"), ("x/x", "1"),
    ("2 + 3*4", "14"), ("sqrt(4)", "2"),
    ("x*x", "x**2"), ("x*x**2*x**-1", "x**2"), ("sqrt(x)*sqrt(x)", "x"),
    ("x*y + x*y", "2*x*y"), ("3*x - x", "2*x"), ("x + y - x", "y"),
    ("a + -b", "a - b"), ("-a + b", "b - a"),
    ("(2*x)/(2*sqrt(u))", "x/sqrt(u)"), ("2*x/4", "x/2"), ("x/3", "x/3"),
    ("2*x/3", "2*x/3"), ("2*(x + 1)", "2*x + 2"),
    ("exp(x)*exp(y)", "exp(x + y)"), ("1/exp(x)", "exp(-x)"),
    ("3*0.1*x", "0.30000000000000004*x"),  # folded in float64, as the tape computes it
    ("0.1*x", "0.1*x"), ("1.5*x", "1.5*x"),
    ("pi*x", "pi*x"), ("e**x", "e**x"),
    ("1e300*x", "1e+300*x"), ("1e-7 + x", "x + 1e-07"),
])
def test_simplification_does_what_a_reader_expects(text, printed):
    assert str(parse(text)) == printed


def test_numbers_print_in_shortest_round_trip_form():
    for value in (0.1, 1 / 3, 2 / 3, 12.75, 1e-300, 123456789.125, 2.0**60):
        text = str(parse(repr(value) + "*x"))
        assert float(parse(text).differentiate("x").value({})) == value


# ---- every function's formula -----------------------------------------------------------
@pytest.mark.parametrize("text, derivative", [
    ("sin(x)", "cos(x)"), ("cos(x)", "-sin(x)"), ("tan(x)", "tan(x)**2 + 1"),
    ("asin(x)", "1/sqrt(1 - x**2)"), ("acos(x)", "-1/sqrt(1 - x**2)"),
    ("atan(x)", "1/(x**2 + 1)"), ("sinh(x)", "cosh(x)"), ("cosh(x)", "sinh(x)"),
    ("tanh(x)", "1 - tanh(x)**2"), ("asinh(x)", "1/sqrt(x**2 + 1)"),
    ("acosh(x)", "1/sqrt(x**2 - 1)"), ("atanh(x)", "1/(1 - x**2)"),
    ("exp(x)", "exp(x)"), ("expm1(x)", "expm1(x) + 1"), ("log(x)", "1/x"),
    ("log2(x)", "1.4426950408889634/x"), ("log10(x)", "0.43429448190325176/x"),
    ("log1p(x)", "1/(x + 1)"), ("sqrt(x)", "1/(2*sqrt(x))"), ("cbrt(x)", "1/(3*cbrt(x)**2)"),
    ("abs(x)", "sign(x)"), ("sign(x)", "0"), ("sigmoid(x)", "sigmoid(x)*(1 - sigmoid(x))"),
    ("softplus(x)", "sigmoid(x)"), ("relu(x)", "heaviside(x)"),
    ("heaviside(x)", "0"), ("log(x, 2)", "1.4426950408889634/x"),
    ("x**3", "3*x**2"), ("x**-1", "-1/x**2"), ("x**0.5", "1/(2*sqrt(x))"),
    ("2**x", "0.6931471805599453*2**x"),
])
def test_every_function_has_its_calculus_derivative(text, derivative):
    assert d(text, "x") == derivative


@pytest.mark.parametrize("text, dx, dy", [
    ("atan2(y, x)", "-y/(x**2 + y**2)", "x/(x**2 + y**2)"),
    ("hypot(x, y)", "ifzero(hypot(x, y), 0, x/hypot(x, y))",
     "ifzero(hypot(x, y), 0, y/hypot(x, y))"),
    ("pow(x, 3)*y", "3*x**2*y", "x**3"),
    ("max(x, y)", "1 - heaviside(y - x)", "heaviside(y - x)"),
    ("min(x, y)", "1 - heaviside(x - y)", "heaviside(x - y)"),
    ("ifzero(x, y, 2*y)", "0", "ifzero(x, 1, 2)"),
    ("x**y", "ifzero(x, ifzero(y, 0, x**(y - 1)*y), x**(y - 1)*y)",
     "ifzero(x, 0, x**y*log(x))"),
])
def test_two_argument_functions_have_their_partials(text, dx, dy):
    f = parse(text)
    assert [str(g) for g in f.gradient_formulas(["x", "y"])] == [dx, dy]


def test_the_issue_example_reads_as_sympy_prints_it():
    f = parse("x**2*y + sin(x)")
    assert [str(g) for g in f.gradient_formulas()] == ["2*x*y + cos(x)", "x**2"]
    assert [[str(h) for h in row] for row in f.hessian_formulas()] == [
        ["2*y - sin(x)", "2*x"], ["2*x", "0"]]
    assert str(f.differentiate(["x", "x", "y"])) == "2"
    assert f.differentiate("x").latex() == r"2 x y + \cos\left(x\right)"


def test_rosenbrock_has_its_textbook_gradient():
    f = parse("(1 - x)**2 + 100*(y - x**2)**2")
    assert [str(g) for g in f.gradient_formulas()] == ["400*x*(x**2 - y) + 2*x - 2",
                                                       "200*y - 200*x**2"]


# ---- kinks: the tape's conventions, in the language -------------------------------------
@pytest.mark.parametrize("text, point", [
    ("relu(x)", {"x": 0.0}), ("relu(x)", {"x": -1.0}), ("relu(x)", {"x": 2.0}),
    ("abs(x)", {"x": 0.0}), ("abs(x)*y", {"x": -2.0, "y": 3.0}),
    ("max(x, y)", {"x": 1.0, "y": 1.0}), ("max(x, y)", {"x": 1.0, "y": 2.0}),
    ("min(x, y)", {"x": 1.0, "y": 1.0}), ("min(x, y)", {"x": 3.0, "y": 2.0}),
    ("max(x*y, x + y)", {"x": 2.0, "y": 2.0}),
    ("x**y", {"x": 0.0, "y": 2.0}), ("x**y", {"x": 0.0, "y": 0.0}),
    ("x**y", {"x": 0.0, "y": -1.0}), ("x**y", {"x": 2.0, "y": 0.0}),
    ("hypot(x, y)", {"x": 0.0, "y": 0.0}), ("hypot(x, y)", {"x": 3.0, "y": 4.0}),
    ("sqrt(x)", {"x": 0.0}),
])
def test_kink_formulas_give_the_tapes_numbers_at_the_kink(text, point):
    f = parse(text)
    _, gradient = f.gradient(point)
    formulas = f.gradient_formulas()
    assert [float(g.value(point)) for g in formulas] == [float(v) for v in gradient]


def test_heaviside_is_a_step_with_relus_convention_at_zero():
    f = parse("heaviside(x)")
    assert [float(f.value({"x": v})) for v in (-1.0, 0.0, -0.0, 2.0)] == [0, 0, 0, 1]
    assert math.isnan(float(f.value({"x": math.nan})))
    assert f.gradient({"x": 0.5})[1].tolist() == [0.0]
    assert parse("relu(x)").differentiate("x").value({"x": 0.0}) == 0.0


def test_ifzero_picks_its_second_argument_where_the_first_is_zero():
    f = parse("ifzero(c, a, b)")
    assert f.value({"c": 0.0, "a": 1.0, "b": 2.0}) == 1.0
    assert f.value({"c": -0.0, "a": 1.0, "b": 2.0}) == 1.0
    assert f.value({"c": 1e-300, "a": 1.0, "b": 2.0}) == 2.0
    assert f.value({"c": math.nan, "a": 1.0, "b": 2.0}) == 2.0
    _, g = f.gradient({"c": 0.0, "a": 1.0, "b": 2.0})
    assert g.tolist() == [0.0, 1.0, 0.0]
    _, g = f.gradient({"c": 5.0, "a": 1.0, "b": 2.0})
    assert g.tolist() == [0.0, 0.0, 1.0]


# ---- the Python API: derivatives are Expressions ----------------------------------------
def test_a_derivative_is_an_expression_that_differentiates_again():
    f = parse("sin(x)*exp(x)")
    first = f.differentiate("x")
    assert str(first) == "cos(x)*exp(x) + exp(x)*sin(x)"
    assert str(first.differentiate("x")) == "2*cos(x)*exp(x)"
    assert str(f.differentiate(["x"] * 4)) == "-4*exp(x)*sin(x)"
    assert first.text == str(first)
    assert float(first.value({"x": 0.0})) == 1.0


def test_simplify_returns_an_expression_of_the_formula():
    f = parse("x*1 + 0 + x")
    assert f.simplify().text == "2*x" == str(f)
    assert f.text == "x*1 + 0 + x"  # the original is untouched


def test_jacobian_formulas_of_several_expressions():
    rows = formula.jacobian_formulas([parse("x*y"), parse("x + z")])
    assert [[str(e) for e in row] for row in rows] == [["y", "x", "0"], ["1", "0", "1"]]


def test_derivative_tensor_formulas_of_order_three():
    tensor = formula.derivative_tensor_formulas(parse("x**3*y"), 3)
    assert str(tensor[0][0][0]) == "6*y"
    assert {str(tensor[i][j][k]) for i, j, k in [(0, 0, 1), (0, 1, 0), (1, 0, 0)]} == {"6*x"}
    assert str(tensor[1][1][1]) == "0"


def test_a_wrt_name_that_is_no_variable_name_is_refused():
    with pytest.raises(UsageError, match="not a variable name"):
        parse("x").differentiate("2x")
    with pytest.raises(UsageError, match="constant"):
        parse("x").differentiate("pi")


def test_a_variable_not_in_the_expression_has_derivative_zero():
    assert d("x**2", "y") == "0"


def test_latex_prints_fractions_powers_and_functions():
    assert parse("x/(2*sqrt(y))").latex() == r"\frac{x}{2 \sqrt{y}}"
    assert parse("(x + 1)**2*sin(x)").latex() == (
        r"\sin\left(x\right) \left(x + 1\right)^{2}")
    assert parse("abs(x_1) + asin(y)").latex() == (
        r"\left|x_{1}\right| + \arcsin\left(y\right)")
    assert parse("ifzero(x, 1, y)").latex() == (
        r"\begin{cases} 1 & \text{if } x = 0 \\ y & \text{otherwise} \end{cases}")
    assert parse("pi*2**x").latex() == r"\pi \cdot 2^{x}"


# ---- deep and large formulas ------------------------------------------------------------
def test_deep_expressions_print_without_recursion():
    nested = "sin(" * 3000 + "x" + ")" * 3000
    assert str(parse(nested)) == nested
    assert str(parse("-(" * 3001 + "x*y" + ")" * 3001).differentiate("x")) == "-y"
    long_sum = " + ".join(f"x**{i}" for i in range(1, 2001))
    derivative = str(parse(long_sum).differentiate("x"))
    assert derivative.startswith("2000*x**1999 + 1999*x**1998 + ")
    assert derivative.endswith(" + 2*x + 1")


def test_a_formula_too_large_to_print_is_refused_with_a_message():
    f = parse("exp(sin(x)*cos(y))*log(x + y)")
    with pytest.raises(formula.FormulaError, match="more than .* terms"):
        f.differentiate(["x"] * 6 + ["y"] * 6)


# ---- the property: printed formulas parse and give the tape's numbers -------------------
_UNARY = ["sin", "cos", "tanh", "atan", "sigmoid", "softplus", "abs", "relu",
          "exp", "log", "sqrt", "cbrt", "asinh"]
_LEAVES = st.sampled_from(["x", "y", "1", "2", "3", "0.5", "1.5"])


def _combine(children):
    unary = st.builds(lambda f, a: (f"{f}(1 + ({a})**2)" if f in ("log", "sqrt") else
                                    f"exp(sin({a}))" if f == "exp" else f"{f}({a})"),
                      st.sampled_from(_UNARY), children)
    binary = st.builds(lambda op, a, b: f"({a}){op}({b})",
                       st.sampled_from(["+", "-", "*", "/"]), children, children)
    power = st.builds(lambda a, n: f"({a})**{n}", children, st.sampled_from(["2", "3", "-1"]))
    calls = st.builds(lambda f, a, b: f"{f}({a}, {b})",
                      st.sampled_from(["min", "max", "hypot", "atan2"]), children, children)
    return st.one_of(unary, binary, power, calls, st.builds(lambda a: f"-({a})", children))


EXPRESSIONS = st.recursive(_LEAVES, _combine, max_leaves=8)
POINTS = st.floats(0.3, 2.5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(EXPRESSIONS, POINTS, POINTS)
def test_printed_formulas_parse_and_give_the_tapes_derivatives(text, x, y):
    f = parse(text)
    point = {"x": x, "y": y}
    with np.errstate(all="ignore"):
        value, gradient = f.gradient(point, ["x", "y"])
        _, _, hessian = f.hessian(point, ["x", "y"])
    # Away from domain edges: where f itself is inf (1/relu(-x) at x = 1), the tape's
    # guards and the formula's IEEE arithmetic may disagree on 0*inf.
    assume(np.isfinite(value) and np.all(np.isfinite(gradient))
           and np.all(np.isfinite(hessian)))
    assume(np.all(np.abs(hessian) < 1e6))
    printed = [str(f)] + [str(g) for g in f.gradient_formulas(["x", "y"])]
    second = [str(h) for row in f.hessian_formulas(["x", "y"]) for h in row]
    for text_, truth in zip(printed + second, [value, *gradient, *hessian.ravel()]):
        again = parse(text_)
        assert str(again) == text_  # a fixed point: printing what was printed changes nothing
        with np.errstate(all="ignore"):
            number = float(again.value(point))
        assert number == pytest.approx(float(truth), rel=1e-9, abs=1e-9), (text, text_)


@settings(max_examples=30, deadline=None)
@given(EXPRESSIONS)
def test_printing_twice_gives_the_same_text(text):
    f = parse(text)
    assert str(f.differentiate("x")) == str(parse(text).differentiate("x"))
    assert f.differentiate("x").latex() == parse(text).differentiate("x").latex()


def test_every_language_function_prints_and_parses_back():
    for name, (_, arity) in FUNCTIONS.items():
        n = max(arity) if isinstance(arity, tuple) else arity
        text = f"{name}({', '.join(['x', 'y', 'z'][:n])})"
        for g in parse(text).gradient_formulas(["x", "y", "z"][:n]):
            assert str(parse(str(g))) == str(g)


# ---- the command line: `--formula`, run as a user runs it --------------------------------
SCRIPT = Path(sys.executable).parent / "tapecli"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tapecli"]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    result = subprocess.run([*COMMAND, *args], check=False, text=True, timeout=60,
                            capture_output=True, **kwargs)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def ok(*args: str, **kwargs) -> str:
    result = run(*args, **kwargs)
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def test_cli_grad_formula_prints_one_line_per_result():
    assert ok("grad", "x**2*y + sin(x)", "--formula") == (
        "f = x**2*y + sin(x)\ndf/dx = 2*x*y + cos(x)\ndf/dy = x**2\n")


def test_cli_hessian_formula_as_json_has_strings_and_no_point():
    obj = json.loads(ok("hessian", "x**2*y", "--formula", "--format", "json"))
    assert obj == {"expression": "x**2*y", "variables": ["x", "y"], "value": "x**2*y",
                   "gradient": ["2*x*y", "x**2"], "hessian": [["2*y", "2*x"], ["2*x", "0"]]}


def test_cli_hessian_formula_as_latex_equations():
    assert ok("hessian", "x**2*y", "--wrt", "x", "--formula", "--format", "latex") == (
        "$$ f = x^{2} y $$\n"
        "$$ \\frac{\\partial f}{\\partial x} = 2 x y $$\n"
        "$$ \\frac{\\partial^{2} f}{\\partial x^{2}} = 2 y $$\n")


def test_cli_diff_formula_follows_the_wrt_sequence_and_order():
    assert ok("diff", "x**2*y", "--wrt", "x,x,y", "--formula") == "f = x**2*y\nd3f/dxdxdy = 2\n"
    out = ok("diff", "sin(x)*exp(x)", "--wrt", "x", "--order", "8", "--formula")
    assert out == "f = exp(x)*sin(x)\nd8f/dx^8 = 16*exp(x)*sin(x)\n"
    obj = json.loads(ok("diff", "x**3", "--wrt", "x,x", "--formula", "--format", "json"))
    assert obj == {"expression": "x**3", "variables": ["x"], "wrt": ["x", "x"],
                   "value": "x**3", "derivative": "6*x"}


def test_cli_jacobian_and_eval_formulas():
    assert ok("jacobian", "x*y", "x+z", "--formula") == (
        "f1 = x*y\nf2 = x + z\n"
        "df1/dx = y\ndf1/dy = x\ndf1/dz = 0\ndf2/dx = 1\ndf2/dy = 0\ndf2/dz = 1\n")
    assert ok("eval", "x*1 + 0 + x", "--formula") == "f = 2*x\n"


def test_cli_eval_formula_of_a_printed_formula_is_a_fixed_point():
    for line in ok("hessian", "sin(x)*exp(y)/(1 + x**2)", "--formula").splitlines():
        printed = line.split(" = ", 1)[1]
        assert ok("eval", printed, "--formula") == f"f = {printed}\n"


def test_cli_formula_gives_the_numbers_of_the_command_without_it():
    formulas = ok("grad", "x**y + hypot(x, y)", "--formula").splitlines()
    numbers = json.loads(ok("grad", "x**y + hypot(x, y)", "--at", "x=1.5,y=0.5",
                            "--format", "json"))
    values = [json.loads(ok("eval", line.split(" = ", 1)[1], "--at", "x=1.5,y=0.5",
                            "--format", "json"))["value"] for line in formulas]
    assert values == pytest.approx([numbers["value"], *numbers["gradient"]], rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (("grad", "x*y", "--formula", "--at", "x=1,y=2"), "drop --at"),
    (("grad", "x*y", "--formula", "--input", "-"), "drop --input"),
    (("grad", "x*y", "--formula", "--format", "csv"), "not --format csv"),
    (("grad", "x*y", "--formula", "--format", "jsonl"), "not --format jsonl"),
    (("grad", "x*y", "--at", "x=1,y=2", "--format", "latex"), "add --formula"),
    (("diff", "exp(x*sin(x))", "--wrt", "x", "--order", "9", "--formula"), "more than"),
    (("grad", "x*y", "--formula", "--wrt", "z"), "not a variable"),
])
def test_cli_formula_usage_errors_say_why_in_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("tapecli: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_cli_formula_with_a_batch_on_stdin_is_a_usage_error():
    result = run("grad", "x*y", "--formula", input="x,y\n1,2\n", stdin=None)
    assert result.returncode == 2
    assert result.stderr == ("tapecli: error: --formula prints expressions, not values at "
                             "points: it reads no batch on stdin\n")


def test_cli_hessian_order_formula_adds_the_tensors_of_higher_order():
    out = ok("hessian", "x**3*y", "--order", "3", "--formula").splitlines()
    assert out[7:] == ["d3f/dx^3 = 6*y", "d3f/dxdxdy = 6*x", "d3f/dxdydx = 6*x",
                       "d3f/dxdydy = 0", "d3f/dydxdx = 6*x", "d3f/dydxdy = 0",
                       "d3f/dydydx = 0", "d3f/dy^3 = 0"]
    obj = json.loads(ok("hessian", "x**4", "--order", "4", "--formula", "--format", "json"))
    assert (obj["d3f"], obj["d4f"]) == ([[["24*x"]]], [[[["24"]]]])
