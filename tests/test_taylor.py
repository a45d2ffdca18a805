"""Taylor mode against nested tapes, calculus by hand and exact rationals.

Every primitive's Taylor rule is held against the reverse-mode path it replaces
(the nested-tape derivative program, a different algorithm on the same ops) at
orders 1 to 6, on single points and batches, on a variable and on a nonlinear
argument (the rules' general recurrences, not only their shortcuts). High orders
are held against closed forms; tensors against analytic values and their own
symmetry; jet against series worked out by hand.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapecli
from tapecli import derivatives, domain, parse, taylor
from tapecli.jobs import Job

SETTINGS = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def nested(expr, point, wrt):
    """The reverse-mode answer: one tape per differentiation, nested (no Taylor mode)."""
    return derivatives._run(derivatives.derivative_program, (expr,), point, tuple(wrt))[1]


def close(taylor_result, tape_result, scale=1.0):
    """Bit-close: 1e-12 relative, or 2e-12 of `scale` (the size of the other
    derivatives of the same order, which a mixed partial's rounding follows)."""
    scale = max(np.max(np.abs(tape_result), initial=1.0), np.max(np.abs(scale)))
    np.testing.assert_allclose(taylor_result, tape_result, rtol=1e-12, atol=2e-12 * scale)


# ---- every primitive, orders 1 to 6, against nested tapes -----------------------------------
# name -> (x range in which f(x) and f(x + x*x/4) are smooth, away from kinks and edges)
ONE = {
    "sin": (-2, 2), "cos": (-2, 2), "tan": (-0.8, 0.8), "asin": (-0.6, 0.6),
    "acos": (-0.6, 0.6), "atan": (-2, 2), "sinh": (-2, 2), "cosh": (-2, 2),
    "tanh": (-2, 2), "asinh": (-2, 2), "acosh": (1.2, 3), "atanh": (-0.6, 0.6),
    "exp": (-2, 2), "expm1": (-2, 2), "log": (0.3, 3), "log2": (0.3, 3),
    "log10": (0.3, 3), "log1p": (-0.5, 3), "sqrt": (0.3, 3), "cbrt": (0.3, 3),
    "sigmoid": (-3, 3), "softplus": (-3, 3),
    "abs": (0.3, 2), "relu": (0.3, 2), "sign": (0.3, 2),
}
NEGATIVE_SIDE = {"abs": (-2, -0.3), "relu": (-2, -0.3), "sign": (-2, -0.3), "cbrt": (-3, -0.3)}


def one_argument_cases():
    for name, span in [*ONE.items(), *NEGATIVE_SIDE.items()]:
        for inner in ("x", "(x + x*x/4)"):
            yield pytest.param(f"{name}({inner})", span, id=f"{name}({inner})@{span[0]}")


@pytest.mark.parametrize("text, span", list(one_argument_cases()))
@SETTINGS
@given(data=st.data())
def test_every_function_matches_nested_tapes_at_orders_1_to_6(text, span, data):
    expr = parse(text)
    x = data.draw(st.floats(*span))
    batch = np.array(data.draw(st.lists(st.floats(*span), min_size=1, max_size=4)))
    for n in range(1, 7):
        for point in ({"x": x}, {"x": batch}):
            _, d = derivatives._derivative_taylor(expr, point, ("x",) * n)
            close(d, nested(expr, point, ["x"] * n))


TWO = [
    "x*y", "x/y", "x - y", "x + y", "-x*y", "x**3*y", "x**-2 + y", "x**2.5*y", "pow(x, y)",
    "2**(x*y)", "x**(y*y)", "atan2(y, x)", "atan2(x*y, x + y)", "hypot(x, y)",
    "hypot(x*y, x - y)", "max(x, y)*x", "min(x, y)*y", "log(x, y + 1)", "x*y/(x + y)",
    "max(x, 0.25)*y + min(y, 3)",
]


@pytest.mark.parametrize("text", TWO)
@SETTINGS
@given(x=st.floats(0.4, 2), y=st.floats(0.4, 2))
def test_two_argument_functions_match_nested_tapes_with_mixed_partials(text, x, y):
    if "max" in text or "min" in text:
        y = x + 0.5  # away from the tie
    expr = parse(text)
    batch = {"x": np.array([x, y, 1.1]), "y": np.array([y, x + 0.2, 0.7])}
    for wrt in (["x"] * 3, ["y"] * 4, ["x", "y", "x"], ["y", "x", "y", "y", "x"], ["x"] * 6):
        for point in ({"x": x, "y": y}, batch):
            if "max" in text or "min" in text:
                point = {"x": point["x"], "y": np.asarray(point["x"]) + 0.5}
            _, d = derivatives._derivative_taylor(expr, point, tuple(wrt))
            pure = [nested(expr, point, [v] * len(wrt)) for v in set(wrt)]
            close(d, nested(expr, point, wrt), scale=np.abs(pure))


def test_where_and_comparisons_take_the_branch_of_the_values():
    def fn(x):
        return tapecli.where(tapecli.greater(x, 1.0), x * x * x, tapecli.sin(x))

    value, series = tapecli.jet(fn, (np.array([0.5, 2.0]),), ([1.0, 0.0, 0.0],))
    np.testing.assert_allclose(value, [math.sin(0.5), 8.0])
    np.testing.assert_allclose(series[0], [math.cos(0.5), 12.0])
    np.testing.assert_allclose(series[1], [-math.sin(0.5), 12.0])
    np.testing.assert_allclose(series[2], [-math.cos(0.5), 6.0])


def test_kinks_take_the_branch_the_vjp_takes():
    # abs'(0) = 0, relu'(0) = 0, ties of max go to the first argument
    for text, expected in (("abs(x)", 0.0), ("relu(x)", 0.0), ("max(x, 0)*x", 0.0),
                           ("max(x*x*x, 0*x)", 6.0), ("sign(x)*x", 0.0)):
        _, d = derivatives._derivative_taylor(parse(text), {"x": 0.0}, ("x",) * 3)
        assert d == expected, text
    _, d = derivatives._derivative_taylor(parse("max(x*x*x, y)"), {"x": 0.0, "y": 0.0},
                                          ("x",) * 3)
    assert d == 6.0  # the tie goes to x**3


# ---- high orders against closed forms ---------------------------------------------------------
def relative_error(got, exact):
    return abs(float(got) / exact - 1.0)


@pytest.mark.parametrize("n", [20, 50, 100, 150, 200])
def test_exp_of_a_multiple_to_any_order(n):
    for a, x in ((2.0, 0.5), (-0.5, 1.5), (1.0, -1.0)):
        _, d = parse(f"exp({a}*x)").derivative({"x": x}, ["x"] * n)
        assert relative_error(d, a ** n * math.exp(a * x)) < 1e-12


@pytest.mark.parametrize("n", [20, 50, 100, 150])
def test_the_geometric_series_to_any_order(n):
    # d^n/dx^n 1/(1-x) = n! / (1-x)^(n+1)
    for x in (0.5, -0.3):
        _, d = parse("1/(1-x)").derivative({"x": x}, ["x"] * n)
        assert relative_error(d, math.factorial(n) / (1 - x) ** (n + 1)) < 1e-12


@pytest.mark.parametrize("n", [20, 50, 100])
def test_log_of_one_plus_x_to_any_order(n):
    # d^n/dx^n log(1+x) = (-1)^(n+1) (n-1)! / (1+x)^n, for log(1+x) and log1p(x) alike
    for text in ("log(1+x)", "log1p(x)"):
        _, d = parse(text).derivative({"x": 0.5}, ["x"] * n)
        exact = (-1) ** (n + 1) * math.factorial(n - 1) / 1.5 ** n
        assert relative_error(d, exact) < 1e-12


@pytest.mark.parametrize("n", [20, 50])
def test_sin_times_exp_at_orders_20_and_50(n):
    # (e^x sin x)^(n) = 2^(n/2) e^x sin(x + n pi/4). The product's terms cancel by a
    # factor 2^(n/2): well conditioned to about order 50, not at 100 (README, "Taylor mode").
    expr = parse("sin(x)*exp(x)")
    for x in (1.0, 0.3):
        _, d = expr.derivative({"x": x}, ["x"] * n)
        exact = 2 ** (n / 2) * math.exp(x) * math.sin(x + n * math.pi / 4)
        assert relative_error(d, exact) < 1e-8


def test_order_100_on_a_batch_matches_single_points():
    expr = parse("exp(x/2)/(2-x)")
    xs = np.linspace(-1.0, 1.0, 7)
    _, batch = expr.derivative({"x": xs}, ["x"] * 100)
    for x, d in zip(xs, batch):
        _, single = expr.derivative({"x": float(x)}, ["x"] * 100)
        assert relative_error(d, float(single)) < 1e-12


def test_a_derivative_float64_cannot_hold_is_inf_and_one_it_can_is_not():
    _, d = parse("1/(1-x)").derivative({"x": 0.5}, ["x"] * 200)  # 200! 2^201 > 1e308
    assert d == np.inf
    _, d = parse("exp(x/2)").derivative({"x": 1.0}, ["x"] * 300)  # 2^-300 e^0.5
    assert relative_error(d, 0.5 ** 300 * math.exp(0.5)) < 1e-12


def test_polynomials_end_exactly():
    _, d = parse("x**7 - 3*x**2").derivative({"x": -1.5}, ["x"] * 7)
    assert d == math.factorial(7)
    _, d = parse("x**7 - 3*x**2").derivative({"x": -1.5}, ["x"] * 40)
    assert d == 0.0
    _, d = parse("x**3").derivative({"x": 0.0}, ["x"] * 3)  # integer powers exact at 0
    assert d == 6.0


# ---- mixed partials and tensors -----------------------------------------------------------
def test_mixed_partials_of_three_variables_against_calculus():
    # f = exp(x*y)*sin(z): d5f/dx dx dy dy dz = (2 + 4xy + x^2 y^2) e^(xy) cos(z)... by hand:
    # d2/dx2 e^(xy) = y^2 e^(xy); d2/dy2 of that = (2 + 4xy + x^2 y^2) e^(xy)
    x, y, z = 0.7, -0.4, 1.3
    expr = parse("exp(x*y)*sin(z)")
    _, d = expr.derivative({"x": x, "y": y, "z": z}, ["x", "x", "y", "y", "z"])
    exact = (2 + 4 * x * y + x * x * y * y) * math.exp(x * y) * math.cos(z)
    assert relative_error(d, exact) < 1e-12
    for wrt in (["z", "y", "x", "y", "x"], ["y", "x", "z", "x", "y"]):
        _, e = expr.derivative({"x": x, "y": y, "z": z}, wrt)
        assert relative_error(e, exact) < 1e-12


def test_third_order_tensor_of_a_monomial_is_exact():
    # f = x^2 y z: the nonzero third partials are f_xxy = 2z, f_xxz = 2y, f_xyz = 2x
    x, y, z = 1.5, 2.0, -3.0
    value, grad, hess, d3 = parse("x**2*y*z").derivative_tensors({"x": x, "y": y, "z": z}, 3)
    assert value == x * x * y * z
    expected = np.zeros((3, 3, 3))
    for index, v in (((0, 0, 1), 2 * z), ((0, 0, 2), 2 * y), ((0, 1, 2), 2 * x)):
        for perm in {index, index[::-1], (index[0], index[2], index[1]),
                     (index[1], index[0], index[2]), (index[1], index[2], index[0]),
                     (index[2], index[0], index[1])}:
            expected[perm] = v
    assert np.array_equal(d3, expected)


def fourth_order_tensor_by_hand(x, y, z):
    # f = exp(x) sin(y) z^2: each x-derivative keeps e^x, y cycles sin -> cos -> -sin
    # -> -cos, z: z^2 -> 2z -> 2 -> 0.
    trig = [math.sin(y), math.cos(y), -math.sin(y), -math.cos(y), math.sin(y)]
    zs = [z * z, 2 * z, 2.0, 0.0, 0.0]
    t = np.empty((3, 3, 3, 3))
    for index in np.ndindex(3, 3, 3, 3):
        counts = [index.count(v) for v in range(3)]
        t[index] = math.exp(x) * trig[counts[1]] * zs[counts[2]]
    return t


def test_fourth_order_tensor_against_calculus_and_symmetry():
    x, y, z = 0.3, 1.1, -0.7
    expr = parse("exp(x)*sin(y)*z**2")
    results = expr.derivative_tensors({"x": x, "y": y, "z": z}, 4)
    assert [r.shape for r in results] == [(), (3,), (3, 3), (3, 3, 3), (3, 3, 3, 3)]
    np.testing.assert_allclose(results[4], fourth_order_tensor_by_hand(x, y, z),
                               rtol=1e-12, atol=1e-13)
    for perm in ((1, 0, 2, 3), (3, 2, 1, 0), (0, 2, 3, 1)):
        assert np.array_equal(results[4], results[4].transpose(perm))
    # value, gradient and Hessian are exactly what `hessian` gives
    for a, b in zip(results[:3], expr.hessian({"x": x, "y": y, "z": z})):
        assert np.array_equal(a, b)


def test_tensors_on_a_batch_and_against_nested_tapes():
    expr = parse("sin(x*y) + z*log(x + z*z)")
    rng = np.random.default_rng(3)
    point = {v: rng.uniform(0.5, 1.5, 5) for v in "xyz"}
    results = expr.derivative_tensors(point, 5, wrt=["z", "x", "y"])
    assert results[5].shape == (5, 3, 3, 3, 3, 3)
    names = ["z", "x", "y"]
    for index in ((0, 0, 1), (2, 1, 0), (1, 1, 1, 2), (0, 1, 2, 2, 0), (2, 2, 2, 2, 2)):
        wrt = [names[i] for i in index]
        close(results[len(index)][(slice(None),) + index], nested(expr, point, wrt))


def test_tensors_with_a_name_outside_the_expression_are_zero_there():
    results = parse("x**4").derivative_tensors({"x": 2.0}, 4, wrt=["x", "q"])
    assert results[4][0, 0, 0, 0] == 24.0
    assert np.all(results[3][1] == 0) and np.all(results[4][:, :, 1] == 0)


def test_direction_weights_are_exact_inverses():
    for n, d in ((2, 3), (3, 4), (2, 6)):
        directions, weights = taylor.interpolation(n, d)
        for k in range(1, d + 1):
            js = taylor.multi_indices(n, k)
            monomials = np.array([[taylor._monomial(s, j) for j in js] for s in directions])
            factorials = np.diag([math.prod(math.factorial(c) for c in j) for j in js])
            np.testing.assert_allclose(weights[k - 1] @ monomials, factorials, atol=1e-9)
        directions, weights = taylor.polarization(n, d)
        for k in range(1, d + 1):
            js = taylor.multi_indices(n, k)
            monomials = np.array([[taylor._monomial(s, j) for j in js] for s in directions])
            factorials = np.diag([math.prod(math.factorial(c) for c in j) for j in js])
            assert np.array_equal(weights[k - 1] @ monomials, factorials)


# ---- the Python API ---------------------------------------------------------------------------
def test_taylor_coefficients_along_a_direction():
    c = parse("exp(x)*y").taylor({"x": 0.5, "y": 3.0}, {"x": 2.0}, 5)
    np.testing.assert_allclose(c, [3 * math.exp(0.5) * 2 ** k / math.factorial(k)
                                   for k in range(6)], rtol=1e-15)
    c = parse("x*y").taylor({"x": np.array([1.0, 2.0]), "y": 3.0}, {"x": 1.0, "y": -1.0}, 3)
    # (x + t)(3 - t) = 3x + (3 - x) t - t^2
    np.testing.assert_array_equal(c, [[3.0, 6.0], [2.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])


def test_jet_matches_jaxs_example_by_faa_di_bruno():
    # JAX's docstring: h0, h1, h2 for h(z) = z^3 at 0.5; f = sin
    h0, h1, h2 = 0.5 ** 3, 3 * 0.5 ** 2, 6 * 0.5
    f0, (f1, f2) = tapecli.jet(tapecli.sin, (h0,), ((h1, h2),))
    assert f0 == math.sin(h0)
    assert relative_error(f1, math.cos(h0) * h1) < 1e-15
    assert relative_error(f2, -math.sin(h0) * h1 ** 2 + math.cos(h0) * h2) < 1e-15


def test_jet_of_tape_code_with_several_inputs_and_outputs():
    def fn(x, y):
        return [x * y, tapecli.exp(x) + y]

    # x(t) = 1 + t, y(t) = 2 + 3t + t^2 (so y'' = 2)
    (p, q), (sp, sq) = tapecli.jet(fn, (1.0, 2.0), ([1.0, 0.0, 0.0], [3.0, 2.0, 0.0]))
    # x y = 2 + 5t + 4t^2 + t^3: derivatives 5, 8, 6
    assert p == 2.0 and [float(s) for s in sp] == [5.0, 8.0, 6.0]
    np.testing.assert_allclose([q, *sq], [math.e + 2, math.e + 3, math.e + 2, math.e])


def test_jet_refuses_uneven_series_and_non_elementwise_code():
    with pytest.raises(ValueError, match="inconsistent"):
        tapecli.jet(lambda x, y: x * y, (1.0, 2.0), ([1.0], [1.0, 2.0]))
    with pytest.raises(Exception, match="not elementwise"):
        tapecli.jet(lambda x: tapecli.reduce_sum(x), (np.ones(3),), ([np.ones(3)],))


def test_low_orders_keep_reverse_mode_and_high_orders_take_taylor_mode():
    expr = parse("sin(x)*exp(y)")
    point = {"x": 0.4, "y": 0.2}
    assert expr.derivative(point, ["x", "y"])[1] == expr.hessian(point)[2][0, 1]
    _, d = expr.derivative(point, ["x", "x", "y"])
    assert d == derivatives._derivative_taylor(expr, point, ("x", "x", "y"))[1]


def test_big_batches_run_in_chunks_on_two_threads_and_match_one_pass():
    expr = parse("sin(x)*exp(y) + x*y*y/(1 + y*y)")
    rng = np.random.default_rng(0)
    rows = 70000
    point = {"x": rng.uniform(-1, 1, rows), "y": rng.uniform(-1, 1, rows)}
    _, chunked = expr.derivative(point, ["x"] * 12)
    with derivatives.tape_only():  # op by op, one pass, in this thread
        _, whole = expr.derivative(point, ["x"] * 12)
    assert np.array_equal(chunked, whole)


def test_an_output_product_computes_only_the_kept_coefficients_with_the_same_bits():
    expr = parse("sin(x)*exp(x)*(1 + x)")
    propagator = derivatives._propagator((expr,), ("x",))
    assert propagator.partial  # the output is a product no op reads
    x = np.random.default_rng(2).uniform(-1, 1, 500)
    inputs = [np.stack([x, np.full_like(x, 1.0)])]
    (whole,) = propagator.run(inputs, 20)
    (kept,) = propagator.run(inputs, 20, [0, 7, 20])
    assert np.array_equal(kept, whole[[0, 7, 20]])


@pytest.mark.parametrize("text", ["sin(x)", "cos(x)", "sinh(x)", "cosh(x)", "exp(x)",
                                  "sin(x)*exp(x)", "cos(x)*sinh(x) - exp(x)"])
def test_a_slope_shared_by_every_row_gives_the_bits_of_one_slope_per_row(text):
    # A shared slope takes its powers once, per row they are taken row by row:
    # the same IEEE operations, so a chunk of rows never depends on its neighbours.
    expr = parse(text)
    propagator = derivatives._propagator((expr,), ("x",))
    x = np.random.default_rng(3).uniform(-2, 2, 64)
    slopes = np.full_like(x, 0.75)
    (shared,) = propagator.run([np.stack([x, slopes])], 15)
    slopes[-1] = 0.5
    (per_row,) = propagator.run([np.stack([x, slopes])], 15)
    assert np.array_equal(shared[:, :-1], per_row[:, :-1])
    assert not np.array_equal(shared[:, -1], per_row[:, -1])
    (point,) = propagator.run([np.array([x[0], 0.75])], 15)  # a point's products: BLAS sums
    np.testing.assert_allclose(shared[:, 0], point, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(shared[3] * 6 / 0.75 ** 3, nested(expr, {"x": x}, ["x"] * 3),
                               rtol=1e-12)


# ---- domain problems at high orders ---------------------------------------------------------
def test_domain_diagnosis_names_the_op_and_its_derivative_at_high_order():
    job = Job.create("diff", [parse("sqrt(x) + log(y)")], ["x"], 40)
    point = {"x": np.array([0.0, 1.0, 2.0]), "y": np.array([1.0, -1.0, 1.0])}
    result = job.compute(point)
    problems = domain.find_problems(job, point, result)
    assert problems == {"sqrt'": 1, "log": 1}


# ---- the command line: diff --order N and hessian --order K, in a subprocess --------------
SCRIPT = Path(sys.executable).parent / "tapecli"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tapecli"]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                            timeout=60, stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def cli_json(*args: str) -> dict:
    result = cli(*args, "--format", "json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return json.loads(result.stdout)


def test_cli_diff_order_100_of_sin_exp_against_the_closed_form():
    out = cli_json("diff", "sin(x)*exp(x)", "--wrt", "x", "--order", "100", "--at", "x=1")
    assert out["wrt"] == ["x"] * 100
    # The product's terms cancel by 2^50 at this order (README, "Taylor mode"): float64 from
    # rounded sin(1), cos(1), e keeps about 2 digits (JAX jet: 4e-3). Its sign and
    # size are right; exp(2x), without cancellation, is exact to 1e-12.
    exact = 2 ** 50 * math.e * math.sin(1 + 25 * math.pi)
    assert relative_error(out["derivative"], exact) < 0.1
    out = cli_json("diff", "exp(2*x)", "--order", "100", "--at", "x=0.5")
    assert relative_error(out["derivative"], 2.0 ** 100 * math.e) < 1e-12


def test_cli_hessian_order_3_of_a_monomial_is_its_exact_tensor():
    out = cli_json("hessian", "x**2*y*z", "--order", "3", "--at", "x=1,y=2,z=3")
    assert out["hessian"] == [[12.0, 6.0, 4.0], [6.0, 0.0, 1.0], [4.0, 1.0, 0.0]]
    # f_xxy = 2z = 6, f_xxz = 2y = 4, f_xyz = 2x = 2, all else 0
    assert out["d3f"] == [[[0.0, 6.0, 4.0], [6.0, 0.0, 2.0], [4.0, 2.0, 0.0]],
                          [[6.0, 0.0, 2.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
                          [[4.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    assert "d4f" not in out


def test_cli_hessian_order_4_csv_columns_follow_the_hessian_row_major():
    result = cli("hessian", "x**3*y", "--order", "4", "--wrt", "y,x", stdin="x,y\n1,2\n2,1\n")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    names = header.split(",")
    assert names[:7] == ["f", "df/dy", "df/dx", "d2f/dydy", "d2f/dydx", "d2f/dxdy", "d2f/dxdx"]
    assert names[7] == "d3f/dy^3" and names[8] == "d3f/dydydx" and names[14] == "d3f/dx^3"
    assert names[15] == "d4f/dy^4" and names[-1] == "d4f/dx^4" and len(names) == 31
    for line, (x, y) in zip(rows, ((1.0, 2.0), (2.0, 1.0))):
        row = dict(zip(names, map(float, line.split(","))))
        assert row["d3f/dx^3"] == 6 * y and row["d3f/dxdxdy"] == 6 * x
        assert row["d4f/dx^3dy"] == 6.0 and row["d4f/dydx^3"] == 6.0
        assert row["d4f/dx^4"] == 0.0 and row["d3f/dydydx"] == 0.0


def test_cli_hessian_order_3_table_shows_the_tensor_as_labelled_slices():
    result = cli("hessian", "x**2*y", "--order", "3", "--at", "x=1,y=2")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("d3f"))
    assert lines[start].split() == ["d3f", "x", "y"]
    assert [line.split() for line in lines[start + 1:start + 5]] == [
        ["x", "x", "0.0", "2.0"], ["x", "y", "2.0", "0.0"],
        ["y", "x", "2.0", "0.0"], ["y", "y", "0.0", "0.0"]]


def test_cli_hessian_order_below_2_is_a_usage_error():
    for order in ("1", "0", "-3"):
        result = cli("hessian", "x*y", "--order", order, "--at", "x=1,y=2")
        assert result.returncode == 2
        assert "tapecli: error: --order for hessian must be 2 or more" in result.stderr
    result = cli("hessian", "x*y", "--order", "2", "--at", "x=1,y=2", "--format", "json")
    assert result.returncode == 0 and "d3f" not in json.loads(result.stdout)


def test_cli_high_order_domain_problem_warns_with_the_derivative_named():
    result = cli("diff", "sqrt(x)", "--order", "40", "--at", "x=0")
    assert result.returncode == 0
    assert "non-finite results (nan or inf) from sqrt' on 1 row" in result.stderr
    result = cli("diff", "sqrt(x)", "--order", "40", "--at", "x=0", "--strict")
    assert result.returncode == 1 and result.stdout == ""


def test_taylor_results_are_the_same_bits_in_every_process():
    # A captured graph once ordered the arguments of a + b and a * b by memory
    # address; a Taylor product's sums run in argument order, so a process whose
    # heap looked different (pandas imported first, a Dask worker) got other bits.
    script = ("import sys, importlib\n"
              "[importlib.import_module(m) for m in sys.argv[1:]]\n"
              "import numpy as np, tapecli\n"
              "x = np.random.default_rng(1).normal(size=3000)\n"
              "d = tapecli.parse('sin(x)*exp(x) + x*log(1 + x**2)').derivative({'x': x}, ['x'] * 5)\n"
              "print(d[1].tobytes().hex())\n")
    outputs = {subprocess.run([sys.executable, "-c", script, *modules], capture_output=True,
                              text=True, check=True).stdout
               for modules in ([], ["pandas"], ["json", "decimal", "pandas", "pyarrow"])}
    assert len(outputs) == 1
