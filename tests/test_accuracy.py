"""Every printed digit right: ball rules, the certified point results, --digits, --strict.

The truth is mpmath at 60 digits (or closed forms by hand); flint's balls are held
against it and against the float64 rules of Taylor mode.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapecli import accuracy, balls, ops
from tapecli.jobs import Job
from tapecli.parser import parse
from test_cli import run

mpmath.mp.dps = 60


def certified(command, text, point, wrt=None, order=None, digits=None):
    job = Job.create(command, [parse(t) for t in ([text] if isinstance(text, str) else text)],
                     wrt, order)
    result, uncertain = accuracy.certify(job, point, job.compute(point), digits)
    return result, uncertain


def nearest(x) -> float:
    """The float64 nearest an mpmath number (mpmath rounds to nearest at 53 bits)."""
    with mpmath.workprec(53):
        return float(mpmath.mpf(x))


# ---- ball rules against the float64 Taylor rules and against closed forms --------------
UNARY = {  # a point where the float64 rule is well conditioned
    "sin": 0.7, "cos": 0.7, "tan": 0.7, "asin": 0.3, "acos": 0.3, "atan": 0.7,
    "sinh": 0.7, "cosh": 0.7, "tanh": 0.7, "asinh": 0.7, "acosh": 1.7, "atanh": 0.3,
    "exp": 0.7, "expm1": 0.7, "log": 0.7, "log2": 0.7, "log10": 0.7, "log1p": 0.7,
    "sqrt": 0.7, "cbrt": 0.7, "sigmoid": 0.7, "softplus": 0.7, "abs": -0.7, "relu": 0.7,
    "square": 0.7, "negative": 0.7,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_ball_rule_agrees_with_its_float64_taylor_rule(name):
    x = UNARY[name]
    expr = parse(f"{name}(x)") if name not in ("square", "negative") else \
        parse("x*x" if name == "square" else "-x")
    from tapecli import derivatives

    floats = derivatives.taylor(expr, {"x": x}, {"x": 1.0}, 6)
    job = Job.create("eval", [expr])
    graph = accuracy._ball_graph(job.expressions, ("x",))
    for k in range(7):
        [c] = balls.evaluate(graph, [x], [balls.Entry(0, (("x", k),) if k else ())])
        assert c.number is not None
        exact = c.number / math.factorial(k)
        assert floats[k] == pytest.approx(exact, rel=1e-12, abs=1e-300), (name, k)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "pow", "atan2",
                                  "hypot", "maximum", "minimum"])
def test_each_binary_ball_rule_agrees_with_its_float64_taylor_rule(name):
    text = {"add": "x+y", "subtract": "x-y", "multiply": "x*y", "divide": "x/y",
            "pow": "x**y", "atan2": "atan2(x, y)", "hypot": "hypot(x, y)",
            "maximum": "max(x, y)", "minimum": "min(x, y)"}[name]
    point = {"x": 0.7, "y": 1.3}
    result, uncertain = certified("hessian", text, point)
    job = Job.create("hessian", [parse(text)])
    floats = job.compute(point)
    assert not uncertain
    for key in ("value", "gradient", "hessian"):
        np.testing.assert_allclose(np.asarray(result[key], dtype=float), floats[key],
                                   rtol=1e-13, atol=1e-15)


def ball_derivative(text, x, n, digits=50):
    result, uncertain = certified("diff", text, {"x": x}, ["x"], n, digits=digits)
    assert not uncertain
    return result["derivative"].item() if hasattr(result["derivative"], "item") \
        else result["derivative"]


def agree(decimal: Decimal, truth, digits=50):
    truth = mpmath.mpf(truth)
    assert decimal == Decimal(mpmath.nstr(truth, digits, strip_zeros=False,
                                          min_fixed=-mpmath.inf, max_fixed=mpmath.inf)) \
        or abs(mpmath.mpf(str(decimal)) / truth - 1) < mpmath.mpf(10) ** (1 - digits)


@pytest.mark.parametrize("n", [1, 7, 40, 150])
def test_balls_give_closed_forms_to_50_digits(n):
    x = 0.25
    agree(ball_derivative("exp(3*x)", x, n), mpmath.mpf(3) ** n * mpmath.exp(3 * mpmath.mpf(x)))
    agree(ball_derivative("1/(1-x)", x, n),
          mpmath.factorial(n) / (1 - mpmath.mpf(x)) ** (n + 1))
    agree(ball_derivative("log(1+x)", x, n),
          (-1) ** (n - 1) * mpmath.factorial(n - 1) / (1 + mpmath.mpf(x)) ** n)
    X = mpmath.mpf(x)
    agree(ball_derivative("sin(x)*exp(x)", x, n),
          mpmath.mpf(2) ** (mpmath.mpf(n) / 2) * mpmath.exp(X) * mpmath.sin(X + n * mpmath.pi / 4))


def test_atan_at_zero_has_its_closed_form_coefficients():
    # atan(x) = sum (-1)^k x^(2k+1) / (2k+1): d^n atan(0) = (-1)^k (2k)! at n = 2k+1, else 0
    for n in (1, 2, 3, 9, 10, 31):
        d = ball_derivative("atan(x)", 0.0, n)
        k = (n - 1) // 2
        assert d == (0 if n % 2 == 0 else (-1) ** k * math.factorial(2 * k))


# ---- the default at a point: the double nearest the truth --------------------------------
def test_sin_exp_order_100_prints_the_nearest_double():
    out = json.loads(run("diff", "sin(x)*exp(x)", "--wrt", "x", "--order", "100", "--at", "x=1",
                         "--format", "json").stdout)
    X = mpmath.mpf(1)
    truth = mpmath.mpf(2) ** 50 * mpmath.exp(X) * mpmath.sin(X + 25 * mpmath.pi)
    assert out["derivative"] == nearest(truth) == -2575333104750642.0


def test_order_50_at_2_5_prints_the_nearest_double():
    result, _ = certified("diff", "sin(x)*exp(x)", {"x": 2.5}, ["x"], 50)
    X = mpmath.mpf(2.5)
    truth = mpmath.mpf(2) ** 25 * mpmath.exp(X) * mpmath.sin(X + 50 * mpmath.pi / 4)
    assert float(result["derivative"]) == nearest(truth)


def test_cancellation_at_order_zero_is_exact():
    out = json.loads(run("eval", "(1+x)-1", "--at", "x=1e-17", "--format", "json").stdout)
    assert out["value"] == 1e-17
    out = json.loads(run("grad", "log(1+x)-x", "--at", "x=1e-10", "--format", "json").stdout)
    X = mpmath.mpf(1e-10)
    assert out["value"] == nearest(mpmath.log(1 + X) - X) == pytest.approx(-5.0e-21, rel=1e-9)
    assert out["gradient"] == [nearest(1 / (1 + X) - 1)]


def test_exp_order_3000_is_e_not_inf():
    result = run("diff", "exp(x)", "--order", "3000", "--at", "x=1", "--format", "json")
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["derivative"] == math.e


def test_an_exactly_zero_mixed_partial_prints_zero():
    text = "x*y*z + sin(x)*exp(y) - log(1+z**2)"
    result, uncertain = certified("diff", text, {"x": 0.5, "y": 0.7, "z": 0.3},
                                  ["z", "y", "x", "z", "y"])
    assert not uncertain and float(result["derivative"]) == 0.0


def test_mixed_partials_are_the_nearest_doubles():
    point = {"x": 0.5, "y": 0.7}
    result, uncertain = certified("diff", "exp(x*y)*sin(x+y)", point, ["x", "x", "y", "y"])
    x, y = (mpmath.mpf(point[n]) for n in "xy")
    truth = mpmath.diff(lambda a, b: mpmath.exp(a * b) * mpmath.sin(a + b), (x, y), (2, 2))
    assert not uncertain and float(result["derivative"]) == nearest(truth)


def test_hessian_and_tensors_are_the_nearest_doubles():
    point = {"x": 0.3, "y": 1.1}
    result, uncertain = certified("hessian", "sin(x*y) + x**3*y", point, order=3)
    x, y = (mpmath.mpf(point[n]) for n in "xy")

    def f(a, b):
        return mpmath.sin(a * b) + a ** 3 * b
    assert not uncertain
    for i in range(2):
        for j in range(2):
            counts = (int(i == 0) + int(j == 0), int(i == 1) + int(j == 1))
            assert result["hessian"][i, j] == nearest(mpmath.diff(f, (x, y), counts))
    assert result["d3f"][0, 0, 1] == nearest(mpmath.diff(f, (x, y), (2, 1)))


def test_a_jacobian_is_certified_per_entry():
    result, uncertain = certified("jacobian", ["exp(x)-1", "x*y"], {"x": 1e-20, "y": 3.0})
    assert not uncertain
    assert list(result["value"]) == [1e-20, nearest(mpmath.mpf(1e-20) * 3)]
    assert result["jacobian"][0, 0] == nearest(mpmath.exp(mpmath.mpf(1e-20)))


def test_exact_float64_results_never_import_flint():
    import subprocess
    import sys

    code = ("import sys; from tapecli.cli import main\n"
            "try:\n    main(['grad', 'x**2+3*x+1', '--at', 'x=3'])\n"
            "except SystemExit: pass\n"
            "assert 'flint' not in sys.modules, 'flint imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "value       19.0" in done.stdout


# ---- kinks --------------------------------------------------------------------------------
def test_kinks_keep_their_conventions_when_the_ball_decides():
    result, uncertain = certified("grad", "abs(x-1) + relu(x-1) + max(x, 1)", {"x": 1.0})
    assert not uncertain
    assert float(result["gradient"][0]) == 0.0 + 0.0 + 1.0  # abs'(0)=relu'(0)=0, ties first


def test_a_ball_that_straddles_a_kink_warns_and_strict_fails():
    args = ("grad", "abs(sin(x)**2 + cos(x)**2 - 1)", "--at", "x=0.3")
    warned = run(*args)
    assert warned.returncode == 0
    assert warned.stderr == ("tapecli: warning: f is certain to 0 digits; df/dx is certain "
                             "to 0 digits only\n")
    strict = run(*args, "--strict")
    assert strict.returncode == 1
    assert strict.stderr.startswith("tapecli: error: f is certain to 0 digits")


# ---- --digits -----------------------------------------------------------------------------
def test_digits_10000_of_pi_and_e():
    with mpmath.workdps(10050):
        for text, truth in (("pi", mpmath.pi), ("exp(1)", mpmath.e), ("e", mpmath.e)):
            out = run("eval", text, "--digits", "10000", "--format", "csv").stdout
            printed = out.splitlines()[1]
            assert len(printed.replace(".", "")) == 10000
            assert printed == mpmath.nstr(+truth, 10000, strip_zeros=False)


def test_digits_read_the_point_as_exact_decimals():
    out = json.loads(run("eval", "x*3", "--at", "x=0.1", "--digits", "25",
                         "--format", "json").stdout)
    assert out["value"] == 0.3  # json reads the number; the text is 0.3000...
    text = run("eval", "x*3", "--at", "x=0.1", "--digits", "25", "--format", "csv").stdout
    assert text.splitlines()[1] == "0.3000000000000000000000000"


def test_digits_of_a_high_order_derivative_match_the_closed_form():
    text = run("diff", "sin(x)*exp(x)", "--wrt", "x", "--order", "100", "--at", "x=1",
               "--digits", "30", "--format", "csv").stdout
    X = mpmath.mpf(1)
    truth = mpmath.mpf(2) ** 50 * mpmath.exp(X) * mpmath.sin(X + 25 * mpmath.pi)
    assert text.splitlines()[1].split(",")[1] == "-2575333104750642.11495388086724"
    assert abs(mpmath.mpf("-2575333104750642.11495388086724") - truth) < 0.005


def test_digits_out_of_range_is_a_usage_error():
    bad = run("eval", "x", "--at", "x=1", "--digits", "0")
    assert bad.returncode == 2 and "--digits" in bad.stderr


# ---- the ball's own claims are never wrong -----------------------------------------------------
FUNCTIONS = ["sin", "cos", "exp", "atan", "tanh", "log1p", "sqrt", "sigmoid", "softplus",
             "asinh", "expm1"]
MP = {"sin": mpmath.sin, "cos": mpmath.cos, "exp": mpmath.exp, "atan": mpmath.atan,
      "tanh": mpmath.tanh, "log1p": mpmath.log1p, "sqrt": lambda v: mpmath.sqrt(1 + v * v),
      "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
      "softplus": lambda v: mpmath.log(1 + mpmath.exp(v)), "asinh": mpmath.asinh,
      "expm1": mpmath.expm1}


@settings(max_examples=40, deadline=None)
@given(f=st.sampled_from(FUNCTIONS), g=st.sampled_from(FUNCTIONS),
       x=st.floats(-0.5, 2, allow_nan=False), n=st.integers(0, 12))
def test_certified_digits_never_claim_a_digit_the_truth_denies(f, g, x, n):
    inner = "sqrt(1+x*x)" if g == "sqrt" else f"{g}(x)"
    outer = f"sqrt(1+({inner})*({inner}))" if f == "sqrt" else f"{f}({inner})"
    text = f"{outer}*x"
    if n == 0:
        result, uncertain = certified("eval", text, {"x": x})
        printed = result["value"]
    else:
        result, uncertain = certified("diff", text, {"x": x}, ["x"], n)
        printed = result["derivative"]
    X = mpmath.mpf(x)
    truth = mpmath.diff(lambda v: MP[f](MP[g](v)) * v, X, n)
    if not uncertain:
        if abs(truth) < 1e-45:  # mpmath.diff's own noise around an exact zero
            assert abs(float(printed)) < 1e-40, (text, x, n)
        else:
            assert float(printed) == nearest(truth), (text, x, n)
