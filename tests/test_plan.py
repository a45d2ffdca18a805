"""Compiled plans give bit for bit what the tape gives, on every path they take."""

import warnings

import numpy as np
import pytest

import tapecli
from tapecli import derivatives, ops
from tapecli.plan import CHUNK_ROWS, PARALLEL_ROWS, NotCompilable, compile_program
from tapecli.tensor import constant

EXPRESSIONS = [
    "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)",
    "x**y + max(x, y)*relu(z) - abs(x)**3 + min(z, 0.5)",
    "hypot(x, y) + atan2(y, x)*sigmoid(z) + softplus(x*y) - tanh(z)/cosh(x)",
    "pow(x, 2.5) + log(x, 3) + cbrt(y) + sign(z)*z**-1 + x**0 + y**1",
]


def _on_tape(method, expr, point, *args):
    with derivatives.tape_only():
        return method(expr, point, *args)


def _same(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert np.array_equal(u, v, equal_nan=True), (u, v)


@pytest.mark.parametrize("text", EXPRESSIONS)
@pytest.mark.parametrize("rows", [7, 3 * CHUNK_ROWS + 5])  # one call, and chunks on threads
def test_batches_match_the_tape_exactly(text, rows):
    expr = tapecli.parse(text)
    rng = np.random.default_rng(rows)
    point = {v: rng.uniform(-3, 3, rows) for v in expr.variables}
    point["x"] = np.abs(point["x"])  # pow(x, 2.5) wants x >= 0 somewhere
    for method in (derivatives.value, derivatives.gradient, derivatives.hessian):
        _same(method(expr, point), _on_tape(method, expr, point))
    wrt = [expr.variables[0]] * 3 + [expr.variables[-1]]
    _same(derivatives.derivative(expr, point, wrt),
          _on_tape(derivatives.derivative, expr, point, wrt))


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_single_points_match_the_tape_exactly(text):
    expr = tapecli.parse(text)
    rng = np.random.default_rng(1)
    for _ in range(5):
        point = {v: float(rng.uniform(0.1, 3)) for v in expr.variables}
        for method in (derivatives.gradient, derivatives.hessian):
            method(expr, point)  # the first lone point runs on the tape ...
            _same(method(expr, point), _on_tape(method, expr, point))  # ... then the plan


def test_domain_errors_at_a_point_give_ieee_results_on_the_plan():
    expr = tapecli.parse("log(x) + 1/y + sqrt(x)")
    for _ in range(2):  # tape, then plan (whose float path falls back to numpy)
        value, grad = expr.gradient({"x": -1.0, "y": 0.0})
        assert np.isnan(value)
        assert np.isnan(grad[0]) and grad[1] == -np.inf
    value, grad = expr.gradient({"x": 0.0, "y": 2.0})
    assert value == -np.inf and grad[0] == np.inf and grad[1] == -0.25


def test_domain_errors_in_a_batch_on_two_threads_give_ieee_results_silently():
    # numpy's error state is per thread: the pool thread must ignore errors too,
    # or the rows it takes would raise (or print) RuntimeWarnings.
    expr = tapecli.parse("log(x) + 1/y")
    rows = 2 * PARALLEL_ROWS
    x = np.where(np.arange(rows) % 2 == 0, -1.0, 2.0)
    y = np.where(np.arange(rows) % 3 == 0, 0.0, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the filters are the whole process's, threads too
        for _ in range(2):  # the first batch compiles the plan, the second reuses it
            value, grad = expr.gradient({"x": x, "y": y})
    want_value = np.where(x < 0, np.nan, np.log(2.0)) + np.where(y == 0, np.inf, 0.25)
    assert np.array_equal(value, want_value, equal_nan=True)
    assert np.array_equal(grad[:, 0], np.where(x < 0, -1.0, 0.5))  # 1/x, finite everywhere
    assert np.array_equal(grad[:, 1], np.where(y == 0, -np.inf, -1 / 16))
    # the second half of the rows is the pool thread's share
    assert np.isnan(value[-2]) and value[-1] == np.inf


def test_simplification_leaves_the_work_a_person_would_write():
    # d/dx x**2 = 2*x: the seed's multiplications by 1 and pow(x, 1) are gone.
    expr = tapecli.parse("x**2")
    driver = derivatives._driver(derivatives.gradient_program, (expr,), ("x",))
    plan = driver.plan((2,))
    assert plan.n_steps <= 3, [step[0] for step in plan.steps]
    assert expr.gradient({"x": np.array([3.0, -1.5])})[1].tolist() == [[6.0], [-3.0]]


def test_constant_derivatives_fill_the_batch():
    expr = tapecli.parse("3*x + 2")
    value, grad, hess = expr.hessian({"x": np.arange(4.0)})
    assert value.tolist() == [2.0, 5.0, 8.0, 11.0]
    assert grad.tolist() == [[3.0]] * 4
    assert hess.tolist() == [[[0.0]]] * 4


def test_shape_dependent_programs_are_not_compiled():
    def program(xs):
        return [ops.reduce_sum(xs[0])]

    with pytest.raises(NotCompilable):
        compile_program(program, 1)

    def program_with_array_constant(xs):
        return [xs[0] * constant(np.array([1.0, 2.0]))]

    with pytest.raises(NotCompilable):
        compile_program(program_with_array_constant, 1)


def test_plans_sharing_a_threads_scratch_buffers_stay_exact():
    # One plan leaves more scratch buffers in the thread than the next one uses:
    # the next must still find its result rows where it expects them.
    rng = np.random.default_rng(3)
    point = {v: rng.uniform(0.5, 3, 11) for v in "xyz"}
    for text in EXPRESSIONS * 2:
        expr = tapecli.parse(text)
        for method in (derivatives.gradient, derivatives.hessian):
            _same(method(expr, point), _on_tape(method, expr, point))
