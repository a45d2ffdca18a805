"""Expressions as values and derivatives: variables, the derivative drivers on
scalars, batches and broadcast points, and every function of the language.

The truth is independent of tapecli: numpy for values, central finite
differences of numpy for first and second derivatives, and calculus by hand
for Hessians, mixed partials and derivatives up to order 8.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapecli
from tapecli import DataError, GradientTape, UsageError, constant, parse
from tapecli.expression import FUNCTIONS

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


# ---- variables --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, variables", [
    ("y*x + x + a", ("y", "x", "a")),
    ("sin(b)**a + a*b", ("b", "a")),
    ("((b))**a + a", ("b", "a")),              # the tree is built bottom-up, not left to right
    ("x**(y**(z**w))", ("x", "y", "z", "w")),
    ("1e5 + z + e5", ("z", "e5")),             # the 'e5' inside 1e5 is no name
    ("pi*x + e", ("x",)),                      # constants are not variables
    ("2 + 3", ()),
    ("atan2(v, u) + hypot(u, w)", ("v", "u", "w")),
])
def test_variables_in_order_of_first_appearance(text, variables):
    assert parse(text).variables == variables


@SETTINGS
@given(st.lists(st.sampled_from(["a", "b", "c", "x1", "y_2", "_z"]), min_size=1, max_size=12))
def test_variables_of_any_sum(names):
    assert parse(" + ".join(names)).variables == tuple(dict.fromkeys(names))


# ---- the drivers on one point, by hand ------------------------------------------------------
# f = x**2*y + sin(x*y)
def f_hand(x, y):
    return x**2 * y + np.sin(x * y)


def grad_hand(x, y):
    return np.stack([2*x*y + y*np.cos(x*y), x**2 + x*np.cos(x*y)], axis=-1)


def hess_hand(x, y):
    xx = 2*y - y**2 * np.sin(x*y)
    xy = 2*x + np.cos(x*y) - x*y*np.sin(x*y)
    yy = -x**2 * np.sin(x*y)
    return np.stack([np.stack([xx, xy], -1), np.stack([xy, yy], -1)], -2)


F = parse("x**2*y + sin(x*y)")


def test_value_gradient_hessian_at_a_point():
    point = {"x": 1.3, "y": -0.7}
    value, grad, hess = F.hessian(point)
    assert np.shape(value) == () and grad.shape == (2,) and hess.shape == (2, 2)
    np.testing.assert_allclose(F.value(point), f_hand(1.3, -0.7), rtol=1e-14)
    np.testing.assert_allclose(value, f_hand(1.3, -0.7), rtol=1e-14)
    np.testing.assert_allclose(grad, grad_hand(1.3, -0.7), rtol=1e-13)
    np.testing.assert_allclose(hess, hess_hand(1.3, -0.7), rtol=1e-13)
    v2, g2 = F.gradient(point)
    assert v2 == value and np.array_equal(g2, grad)


def test_a_batch_is_rows_in_one_call():
    x, y = np.linspace(-2, 2, 7), np.linspace(0.5, 3, 7)
    value, grad, hess = F.hessian({"x": x, "y": y})
    assert value.shape == (7,) and grad.shape == (7, 2) and hess.shape == (7, 2, 2)
    np.testing.assert_allclose(value, f_hand(x, y), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, grad_hand(x, y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(hess, hess_hand(x, y), rtol=1e-12, atol=1e-14)
    # the same numbers as one point at a time
    for i in range(7):
        row = F.hessian({"x": float(x[i]), "y": float(y[i])})
        for batch, single in zip((value, grad, hess), row):
            np.testing.assert_allclose(batch[i], single, rtol=1e-14, atol=1e-15)


def test_point_values_broadcast_together():
    x, y = np.array([[0.5], [1.0], [1.5]]), np.array([-1.0, 0.0, 1.0, 2.0])
    value, grad, hess = F.hessian({"x": x, "y": y})
    assert value.shape == (3, 4) and grad.shape == (3, 4, 2) and hess.shape == (3, 4, 2, 2)
    X, Y = np.broadcast_arrays(x, y)
    np.testing.assert_allclose(value, f_hand(X, Y), atol=1e-14)
    np.testing.assert_allclose(grad, grad_hand(X, Y), atol=1e-13)
    np.testing.assert_allclose(hess, hess_hand(X, Y), atol=1e-13)
    # a scalar beside an array: every row shares it
    value, grad = F.gradient({"x": np.array([0.5, 1.0]), "y": 2.0})
    np.testing.assert_allclose(grad, grad_hand(np.array([0.5, 1.0]), np.array([2.0, 2.0])))


def test_point_values_may_be_ints_lists_and_float32():
    np.testing.assert_allclose(F.value({"x": 2, "y": 3}), f_hand(2.0, 3.0))
    np.testing.assert_allclose(F.value({"x": [1, 2], "y": [3.0, 4.0]}),
                               f_hand(np.array([1.0, 2.0]), np.array([3.0, 4.0])))
    value = F.value({"x": np.float32(0.5), "y": np.array([1.0, 2.0], dtype=np.float32)})
    assert value.dtype == np.float64


def test_gradient_follows_wrt():
    point = {"x": np.array([0.3, 1.1]), "y": np.array([2.0, -1.0])}
    expected = grad_hand(point["x"], point["y"])
    _, grad = F.gradient(point, wrt=["y", "x"])
    np.testing.assert_allclose(grad, expected[:, ::-1])
    _, grad = F.gradient(point, wrt=["y"])
    assert grad.shape == (2, 1)
    np.testing.assert_allclose(grad[:, 0], expected[:, 1])
    _, grad, hess = F.hessian(point, wrt=["y", "x"])
    np.testing.assert_allclose(hess, hess_hand(point["x"], point["y"])[:, ::-1, ::-1])
    _, grad = F.gradient(point, wrt="x")  # one name alone
    np.testing.assert_allclose(grad[:, 0], expected[:, 0])


def test_a_name_outside_the_expression_has_zero_derivatives():
    _, grad, hess = F.hessian({"x": [1.0, 2.0], "y": 0.5}, wrt=["x", "q"])
    assert grad.shape == (2, 2) and hess.shape == (2, 2, 2)
    assert np.all(grad[:, 1] == 0) and np.all(hess[:, 1, :] == 0) and np.all(hess[:, :, 1] == 0)
    _, d = F.derivative({"x": 1.0, "y": 0.5}, ["x", "q"])
    assert d == 0


def test_no_wrt_gives_empty_derivatives():
    value, grad, hess = parse("2 + 3").hessian({})
    assert value == 5.0 and grad.shape == (0,) and hess.shape == (0, 0)
    value, grad = F.gradient({"x": [1.0, 2.0, 3.0], "y": 1.0}, wrt=[])
    assert value.shape == (3,) and grad.shape == (3, 0)


def test_an_empty_batch_and_a_two_dimensional_batch():
    value, grad, hess = F.hessian({"x": np.zeros(0), "y": 1.0})
    assert value.shape == (0,) and grad.shape == (0, 2) and hess.shape == (0, 2, 2)
    x, y = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0.5, 2, 6).reshape(2, 3)
    _, d = G.derivative({"x": x, "y": y}, ["x", "x", "y"])
    assert d.shape == (2, 3)
    np.testing.assert_allclose(d, d3_dxdxdy_hand(x, y), rtol=1e-12, atol=1e-13)


def test_constant_expression_in_a_batch():
    value, grad = parse("2 + 3").gradient({"x": np.arange(4.0)}, wrt=["x"])
    assert value.shape == (4,) and np.all(value == 5.0)
    assert grad.shape == (4, 1) and np.all(grad == 0.0)


# ---- derivatives of any order and mixed partials -------------------------------------------------
G = parse("x**3*y**2 + exp(x*y)")


def d3_dxdxdy_hand(x, y):
    # d/dx: 3x²y² + y e^{xy};  d²/dx²: 6xy² + y² e^{xy};  then d/dy:
    return 12*x*y + 2*y*np.exp(x*y) + x*y**2*np.exp(x*y)


@pytest.mark.parametrize("wrt", [["x", "x", "y"], ["x", "y", "x"], ["y", "x", "x"]])
def test_third_mixed_partial_in_any_order(wrt):
    value, d = G.derivative({"x": 0.7, "y": -1.3}, wrt)
    np.testing.assert_allclose(value, 0.7**3 * 1.3**2 + math.exp(-0.91), rtol=1e-14)
    np.testing.assert_allclose(d, d3_dxdxdy_hand(0.7, -1.3), rtol=1e-12)
    x, y = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    _, d = G.derivative({"x": x, "y": y}, wrt)
    assert d.shape == (5,)
    np.testing.assert_allclose(d, d3_dxdxdy_hand(x, y), rtol=1e-12, atol=1e-13)


def test_mixed_partial_of_three_variables():
    # d/dz sin(xy) z = sin(xy); d/dx: y cos(xy); d/dy: cos(xy) - xy sin(xy)
    x, y, z = 0.4, 1.7, -2.0
    _, d = parse("sin(x*y)*z").derivative({"x": x, "y": y, "z": z}, ["x", "y", "z"])
    np.testing.assert_allclose(d, math.cos(x*y) - x*y*math.sin(x*y), rtol=1e-13)


def test_derivative_of_order_zero_is_the_value():
    value, d = G.derivative({"x": 0.7, "y": -1.3}, [])
    assert value == d


def test_derivative_agrees_with_gradient_and_hessian():
    point = {"x": 0.9, "y": 0.4}
    _, grad, hess = G.hessian(point)
    assert G.derivative(point, ["x"])[1] == pytest.approx(grad[0], rel=1e-14)
    assert G.derivative(point, ["y", "x"])[1] == pytest.approx(hess[0, 1], rel=1e-14)
    assert G.derivative(point, ["y", "y"])[1] == pytest.approx(hess[1, 1], rel=1e-14)


@pytest.mark.parametrize("n", range(1, 9))
def test_high_order_derivatives_of_sin_exp(n):
    # (e^x sin x)^(n) = 2^(n/2) e^x sin(x + n pi/4)
    def closed_form(x):
        return 2 ** (n / 2) * np.exp(x) * np.sin(x + n * np.pi / 4)

    expr = parse("sin(x)*exp(x)")
    _, d = expr.derivative({"x": 0.3}, ["x"] * n)
    np.testing.assert_allclose(d, closed_form(0.3), rtol=1e-12)
    x = np.linspace(-2, 2, 9)
    _, d = expr.derivative({"x": x}, ["x"] * n)
    np.testing.assert_allclose(d, closed_form(x), rtol=1e-11, atol=1e-12 * 2 ** (n / 2))


@pytest.mark.parametrize("n", [4, 6])
def test_high_order_derivatives_of_a_power(n):
    # d^n/dx^n x**7 = 7!/(7-n)! x**(7-n), including for negative x (integer exponent)
    x = np.array([-1.5, -0.5, 0.5, 2.0])
    _, d = parse("x^7").derivative({"x": x}, ["x"] * n)
    np.testing.assert_allclose(d, math.factorial(7) / math.factorial(7 - n) * x ** (7 - n),
                               rtol=1e-12)


# ---- Jacobian --------------------------------------------------------------------------------------
def test_jacobian_of_several_expressions():
    exprs = [parse("x*y"), parse("x + z"), parse("sin(y)")]
    x, y, z = np.array([1.0, 2.0]), np.array([3.0, -1.0]), 0.5
    values, jac = tapecli.jacobian(exprs, {"x": x, "y": y, "z": z})
    assert values.shape == (2, 3) and jac.shape == (2, 3, 3)
    np.testing.assert_allclose(values, np.stack([x*y, x + z, np.sin(y)], -1))
    zero, one = np.zeros(2), np.ones(2)
    expected = np.stack([np.stack([y, x, zero], -1),          # columns: x, y, z
                         np.stack([one, zero, one], -1),
                         np.stack([zero, np.cos(y), zero], -1)], -2)
    np.testing.assert_allclose(jac, expected)
    _, jac = tapecli.jacobian(exprs, {"x": 1.0, "y": 3.0, "z": 0.5}, wrt=["z", "x"])
    np.testing.assert_allclose(jac, [[0.0, 3.0], [1.0, 1.0], [0.0, 0.0]])


def test_jacobian_rows_are_gradients():
    exprs = [F, G]
    point = {"x": np.array([0.2, 0.8, -1.1]), "y": np.array([1.5, -0.3, 0.9])}
    values, jac = tapecli.jacobian(exprs, point)
    for i, e in enumerate(exprs):
        value, grad = e.gradient(point)
        np.testing.assert_allclose(values[..., i], value, rtol=1e-14)
        np.testing.assert_allclose(jac[..., i, :], grad, rtol=1e-14)


# ---- the Expression object -------------------------------------------------------------------------
def test_expression_is_immutable():
    expr = parse("x + y")
    for name in ("text", "variables", "_nodes", "_root", "anything"):
        with pytest.raises(AttributeError):
            setattr(expr, name, None)
        with pytest.raises(AttributeError):
            delattr(expr, name)
    assert isinstance(expr.variables, tuple) and isinstance(expr._nodes, tuple)
    assert expr.text == "x + y" and "x + y" in repr(expr)


def test_identical_subexpressions_are_one_node():
    assert len(parse("sin(x*y) + sin(x*y)")._nodes) == len(parse("sin(x*y) + x")._nodes)


def test_expression_runs_under_a_user_tape_and_nests():
    expr = parse("x**3 + x*y")
    x, y = constant(2.0), constant(5.0)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch([x, y])
            f = expr({"x": x, "y": y})
        dx, dy = inner.gradient(f, [x, y])
    d2x = outer.gradient(dx, x)
    assert float(f) == 18.0 and float(dx) == 3*4 + 5 and float(dy) == 2.0
    assert float(d2x) == 6 * 2.0


def test_a_batch_is_one_vectorized_pass():
    from tapecli import derivatives, tape

    calls = []

    def count(*args):
        calls.append(args[0].name)

    expr = parse("sin(x)*y + x**2")
    expr.hessian({"x": 0.5, "y": 1.0})  # the first call may also compile a plan
    tape.state.observers.append(count)
    try:
        with derivatives.tape_only():
            counts = []
            for n in (1, 1000):
                calls.clear()
                expr.hessian({"x": np.linspace(0, 1, n), "y": np.ones(n)})
                counts.append(len(calls))
    finally:
        tape.state.observers.remove(count)
    assert counts[0] == counts[1] > 0  # the op count does not grow with the rows


def test_missing_or_bad_point_values_are_data_errors():
    with pytest.raises(DataError, match="'y' has no value") as info:
        F.value({"x": 1.0})
    assert info.value.exit_code == 1
    with pytest.raises(DataError, match="not a real number"):
        F.value({"x": "abc", "y": 1.0})
    with pytest.raises(DataError, match="not a real number"):
        F.value({"x": None, "y": 1.0})
    with pytest.raises(DataError, match="not a real number"):
        F.value({"x": [1.0, 2j], "y": 1.0})
    with pytest.raises(DataError, match=r"do not broadcast together: x \(2,\), y \(3,\)"):
        F.gradient({"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="has no value"):
        F({"x": constant(1.0)})


def test_wrt_names_are_checked():
    for wrt in (["pi"], ["e"], ["sin"], ["2x"], [1]):
        with pytest.raises(UsageError):
            F.gradient({"x": 1.0, "y": 2.0}, wrt=wrt)
        with pytest.raises(UsageError):
            F.derivative({"x": 1.0, "y": 2.0}, wrt)
        with pytest.raises(UsageError):
            tapecli.jacobian([F], {"x": 1.0, "y": 2.0}, wrt=wrt)


# ---- every function of the language ----------------------------------------------------------------
def reals(lo, hi, avoid=(), margin=0.1):
    return st.floats(lo, hi).filter(lambda v: all(abs(v - k) > margin for k in avoid))


def _away_from_origin(pair, radius=0.2):
    return math.hypot(*pair) > radius


def _atan2_ok(pair):  # away from the origin and from the branch cut along y = 0, x < 0
    y, x = pair
    return math.hypot(y, x) > 0.2 and not (x < 0 and abs(y) < 0.1)


# name -> (expression, numpy reference, strategy of argument tuples)
ONE = {
    "sin": (np.sin, reals(-3, 3)),
    "cos": (np.cos, reals(-3, 3)),
    "tan": (np.tan, reals(-1.2, 1.2)),
    "asin": (np.arcsin, reals(-0.9, 0.9)),
    "acos": (np.arccos, reals(-0.9, 0.9)),
    "atan": (np.arctan, reals(-3, 3)),
    "sinh": (np.sinh, reals(-3, 3)),
    "cosh": (np.cosh, reals(-3, 3)),
    "tanh": (np.tanh, reals(-3, 3)),
    "asinh": (np.arcsinh, reals(-3, 3)),
    "acosh": (np.arccosh, reals(1.1, 4)),
    "atanh": (np.arctanh, reals(-0.9, 0.9)),
    "exp": (np.exp, reals(-3, 3)),
    "expm1": (np.expm1, reals(-3, 3)),
    "log": (np.log, reals(0.1, 5)),
    "log2": (np.log2, reals(0.1, 5)),
    "log10": (np.log10, reals(0.1, 5)),
    "log1p": (np.log1p, reals(-0.9, 5)),
    "sqrt": (np.sqrt, reals(0.1, 5)),
    "cbrt": (np.cbrt, reals(-5, 5, avoid=(0.0,), margin=0.2)),
    "abs": (np.abs, reals(-3, 3, avoid=(0.0,))),
    "sign": (np.sign, reals(-3, 3, avoid=(0.0,))),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), reals(-5, 5)),
    "softplus": (lambda x: np.log(1 + np.exp(x)), reals(-5, 5)),
    "relu": (lambda x: np.where(x > 0, x, 0.0), reals(-3, 3, avoid=(0.0,))),
    "heaviside": (lambda x: np.where(x > 0, 1.0, 0.0), reals(-3, 3, avoid=(0.0,))),
}
TWO = {
    "pow": (np.power, st.tuples(reals(0.2, 3), reals(-2, 2))),
    "atan2": (np.arctan2, st.tuples(reals(-2, 2), reals(-2, 2)).filter(_atan2_ok)),
    "hypot": (np.hypot, st.tuples(reals(-2, 2), reals(-2, 2)).filter(_away_from_origin)),
    "min": (np.minimum,
            st.tuples(reals(-2, 2), reals(-2, 2)).filter(lambda p: abs(p[0] - p[1]) > 0.1)),
    "max": (np.maximum,
            st.tuples(reals(-2, 2), reals(-2, 2)).filter(lambda p: abs(p[0] - p[1]) > 0.1)),
    "log(x, base)": (lambda x, b: np.log(x) / np.log(b),
                     st.tuples(reals(0.1, 5), reals(0.2, 5, avoid=(1.0,), margin=0.2))),
}
CASES = {name: (f"{name}(x)", ref, strategy.map(lambda v: (v,)))
         for name, (ref, strategy) in ONE.items()}
CASES.update({name: (f"{name.split('(')[0]}(x, y)", ref, strategy)
              for name, (ref, strategy) in TWO.items()})
CASES["ifzero"] = ("ifzero(x, y, z)", lambda c, a, b: np.where(c == 0, a, b),
                   st.tuples(reals(-2, 2, avoid=(0.0,)), reals(-2, 2), reals(-2, 2)))
NAMES = ("x", "y", "z")


def test_the_table_covers_every_function():
    covered = {name.split("(")[0] for name in CASES}
    assert covered == set(FUNCTIONS)


def central_gradient(ref, args, h=1e-6):
    grad = []
    for i in range(len(args)):
        step = h * max(1.0, abs(args[i]))
        up, down = list(args), list(args)
        up[i] += step
        down[i] -= step
        grad.append((ref(*np.array(up)) - ref(*np.array(down))) / (2 * step))
    return np.array(grad)


def central_hessian(ref, args, h=1e-4):
    n = len(args)
    hess = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            def shifted(di, dj):
                a = np.array(args, dtype=np.float64)
                a[i] += di * h
                a[j] += dj * h
                return ref(*a)
            hess[i, j] = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1)
                          + shifted(-1, -1)) / (4 * h * h)
    return hess


PARSED = {name: parse(text) for name, (text, _, _) in CASES.items()}


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_function_value_and_derivatives_at_a_point(name, data):
    _, ref, strategy = CASES[name]
    args = data.draw(strategy)
    expr = PARSED[name]
    point = dict(zip(NAMES, args))
    value, grad, hess = expr.hessian(point)
    np.testing.assert_allclose(expr.value(point), ref(*np.array(args)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(value, ref(*np.array(args)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad, central_gradient(ref, args), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hess, central_hessian(ref, args), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_function_on_a_batch(name, data):
    _, ref, strategy = CASES[name]
    rows = data.draw(st.lists(strategy, min_size=1, max_size=6))
    columns = [np.array(c) for c in zip(*rows)]
    value, grad = PARSED[name].gradient(dict(zip(NAMES, columns)))
    assert value.shape == (len(rows),) and grad.shape == (len(rows), len(columns))
    np.testing.assert_allclose(value, ref(*columns), rtol=1e-13, atol=1e-15)
    expected = np.array([central_gradient(ref, args) for args in rows])
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


# ---- conventions at kinks and edges (EXPRESSIONS.md), by hand ---------------------------------------
@pytest.mark.parametrize("text, point, value, gradient", [
    ("abs(x)", {"x": 0.0}, 0.0, [0.0]),
    ("sign(x)", {"x": 0.0}, 0.0, [0.0]),
    ("sign(x)", {"x": -2.0}, -1.0, [0.0]),
    ("relu(x)", {"x": 0.0}, 0.0, [0.0]),
    ("min(x, y)", {"x": 1.5, "y": 1.5}, 1.5, [1.0, 0.0]),   # a tie: all to the first
    ("max(x, y)", {"x": 1.5, "y": 1.5}, 1.5, [1.0, 0.0]),
    ("sqrt(x)", {"x": 0.0}, 0.0, [math.inf]),
    ("x**y", {"x": 0.0, "y": 2.0}, 0.0, [0.0, 0.0]),         # d/dy taken as 0 where x == 0
    ("x**3", {"x": -2.0}, -8.0, [12.0]),                   # integer power of a negative
    ("x**-1", {"x": -2.0}, -0.5, [-0.25]),
    ("pow(x, 2)", {"x": -3.0}, 9.0, [-6.0]),
])
def test_conventions(text, point, value, gradient):
    expr = parse(text)
    for p in (point, {k: np.array([v, v]) for k, v in point.items()}):  # one point, a batch
        f, g = expr.gradient(p)
        np.testing.assert_array_equal(f, np.broadcast_to(value, np.shape(f)))
        np.testing.assert_array_equal(g, np.broadcast_to(gradient, np.shape(g)))


def test_log_with_a_base_derivatives():
    # log_b x = ln x / ln b:  d/dx = 1/(x ln b),  d/db = -ln x / (b ln² b)
    x, b = 3.0, 2.5
    value, grad = parse("log(x, b)").gradient({"x": x, "b": b})
    np.testing.assert_allclose(value, math.log(x) / math.log(b), rtol=1e-15)
    np.testing.assert_allclose(grad, [1 / (x * math.log(b)), -math.log(x) / (b * math.log(b)**2)],
                               rtol=1e-14)


def test_domain_errors_give_ieee_results():
    value = parse("log(x) + sqrt(y)").value({"x": np.array([-1.0, 0.0, 1.0]),
                                             "y": np.array([4.0, 4.0, -1.0])})
    assert np.isnan(value[0]) and value[1] == -math.inf and np.isnan(value[2])
    assert math.isnan(parse("log(x)").value({"x": -1.0}))
    assert parse("1/x").value({"x": 0.0}) == math.inf


def central_third(ref, x, h=2e-3):
    def difference(h):
        return (ref(x + 2*h) - 2*ref(x + h) + 2*ref(x - h) - ref(x - 2*h)) / (2 * h**3)
    return (4 * difference(h / 2) - difference(h)) / 3  # Richardson: the h² error cancels


@pytest.mark.parametrize("name", [n for n in ONE if n not in ("sign", "relu", "abs")])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_function_third_derivative(name, data):
    ref, strategy = ONE[name]
    x = data.draw(strategy)
    _, d = PARSED[name].derivative({"x": x}, ["x", "x", "x"])
    np.testing.assert_allclose(d, central_third(ref, np.float64(x)), rtol=2e-4, atol=2e-4)


def test_overflow_and_domain_edges_at_one_point_and_in_a_batch():
    for point in ({"x": 1000.0}, {"x": np.array([1000.0, 1.0])}):
        value, grad = parse("exp(x)").gradient(point)
        assert np.ravel(value)[0] == math.inf and np.ravel(grad)[0] == math.inf
    assert parse("x**400").value({"x": 10.0}) == math.inf
    assert math.isnan(parse("x**(1/3)").value({"x": -8.0}))
    assert math.isnan(parse("asin(x)").value({"x": 2.0}))
    assert parse("x/y").value({"x": -1.0, "y": 0.0}) == -math.inf


# ---- random expressions: gradients and Hessians against finite differences ----------------------------
_SMOOTH = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh, "atan": np.arctan,
           "sigmoid": lambda u: 1 / (1 + np.exp(-u)), "softplus": lambda u: np.log1p(np.exp(u)),
           "asinh": np.arcsinh}


def _smooth_trees():
    leaves = st.one_of(st.sampled_from(["x", "y", "z"]), st.sampled_from(["2", "0.5", "pi"]))
    return st.recursive(
        leaves.map(lambda t: ("leaf", t)),
        lambda kids: st.one_of(
            st.tuples(st.sampled_from(["+", "-", "*", "/"]), kids, kids),
            st.tuples(st.sampled_from(["^2", "^3"]), kids),
            st.tuples(st.sampled_from(sorted(_SMOOTH)), kids)),
        max_leaves=6)


def _text(tree) -> str:
    kind = tree[0]
    if kind == "leaf":
        return tree[1]
    if kind in ("^2", "^3"):
        return f"({_text(tree[1])}){kind}"
    if kind == "/":  # a denominator that cannot vanish
        return f"({_text(tree[1])})/(1 + ({_text(tree[2])})^2)"
    if kind in _SMOOTH:
        return f"{kind}({_text(tree[1])})"
    return f"({_text(tree[1])}) {kind} ({_text(tree[2])})"


def _numpy(tree, x, y, z):
    kind = tree[0]
    if kind == "leaf":
        return {"x": x, "y": y, "z": z, "pi": np.pi}.get(tree[1], None) \
            if tree[1] in ("x", "y", "z", "pi") else float(tree[1])
    if kind in ("^2", "^3"):
        return _numpy(tree[1], x, y, z) ** int(kind[1])
    if kind in _SMOOTH:
        return _SMOOTH[kind](_numpy(tree[1], x, y, z))
    a, b = _numpy(tree[1], x, y, z), _numpy(tree[2], x, y, z)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / (1 + b * b)}[kind]


@SETTINGS
@given(_smooth_trees(), st.tuples(reals(-1, 1), reals(-1, 1), reals(-1, 1)))
def test_random_expressions_against_finite_differences(tree, xyz):
    expr = parse(_text(tree))
    wrt = ["x", "y", "z"]
    point = dict(zip(wrt, xyz))

    def ref(x, y, z):
        return _numpy(tree, x, y, z) + 0 * x

    value, grad, hess = expr.hessian(point, wrt=wrt)
    np.testing.assert_allclose(value, ref(*np.array(xyz)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, central_gradient(ref, xyz), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, central_hessian(ref, xyz), rtol=1e-4, atol=1e-4)


@SETTINGS
@given(_smooth_trees(), st.lists(st.tuples(reals(-1, 1), reals(-1, 1), reals(-1, 1)),
                                 min_size=1, max_size=5))
def test_one_point_batch_and_tape_agree(tree, rows):
    from tapecli import derivatives

    expr = parse(_text(tree))
    wrt = ["x", "y", "z"]
    batch = dict(zip(wrt, (np.array(c) for c in zip(*rows))))
    planned = expr.hessian(batch, wrt=wrt)
    with derivatives.tape_only():
        taped = expr.hessian(batch, wrt=wrt)
    for p, t in zip(planned, taped):
        np.testing.assert_allclose(p, t, rtol=1e-14, atol=1e-15)
    for i, row in enumerate(rows):
        single = expr.hessian(dict(zip(wrt, row)), wrt=wrt)
        for p, s in zip(planned, single):
            np.testing.assert_allclose(p[i], s, rtol=1e-13, atol=1e-14)
