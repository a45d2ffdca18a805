"""The GradientTape's behaviour: watching, persistence, structures, nesting, Jacobians,
derivative conventions at kinks, Variables, operators and custom gradients.

Every expected number is worked out by hand in the comment beside it (or by numpy).
"""

import math

import numpy as np
import pytest

import tapecli as tf


def value(t) -> np.ndarray:
    return np.asarray(t.numpy())


def nth_derivative(f, x0: float, n: int) -> float:
    """d^n f/dx^n at x0, by n tapes nested inside each other."""
    x = tf.constant(x0)

    def derivative(order):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x) if order == 1 else derivative(order - 1)
        return tape.gradient(y, x)

    return float(derivative(n))


# ---- persistence ---------------------------------------------------------------------
def test_second_use_of_a_non_persistent_tape_raises_a_clear_runtime_error():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    assert value(tape.gradient(y, x)) == 4.0
    with pytest.raises(RuntimeError, match="non-persistent.*persistent=True"):
        tape.gradient(y, x)


@pytest.mark.parametrize("first, second", [("gradient", "jacobian"), ("jacobian", "gradient"),
                                           ("jacobian", "batch_jacobian")])
def test_any_second_computation_on_a_non_persistent_tape_raises(first, second):
    x = tf.constant([[1.0, 2.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    getattr(tape, first)(y, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        getattr(tape, second)(y, x)


def test_persistent_tape_answers_any_number_of_times():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = tf.sin(y)
    for _ in range(3):
        assert value(tape.gradient(y, x)) == 6.0
        np.testing.assert_allclose(value(tape.gradient(z, x)), math.cos(9.0) * 6.0)
    np.testing.assert_allclose(value(tape.jacobian(z, x)), math.cos(9.0) * 6.0)


def test_gradient_inside_the_context_of_a_non_persistent_tape():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x * x
        g = tape.gradient(y, x)  # not recorded by the tape itself
    assert value(g) == 27.0


def test_a_tape_cannot_be_entered_twice_at_once():
    tape = tf.GradientTape()
    with tape, pytest.raises(ValueError, match="already recording"), tape:
        pass


# ---- unconnected sources and output_gradients ----------------------------------------
def test_unconnected_source_gives_none_or_zeros():
    x = tf.constant([1.0, 2.0])
    z = tf.constant([[3.0], [4.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        y = tf.reduce_sum(x * x)
    assert tape.gradient(y, z) is None
    zeros = tape.gradient(y, z, unconnected_gradients="zero")
    assert zeros.shape == (2, 1)
    np.testing.assert_array_equal(value(zeros), [[0.0], [0.0]])
    grads = tape.gradient(y, [x, z], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(value(grads[0]), [2.0, 4.0])
    np.testing.assert_array_equal(value(grads[1]), [[0.0], [0.0]])


def test_unwatched_constant_gives_none():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        y = x * x
    assert tape.gradient(y, x) is None


def test_output_gradients_weight_the_target():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = 3.0 * x
    # J = diag(2x): the VJP with weights w is 2 x w.
    g = tape.gradient(y, x, output_gradients=tf.constant([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(value(g), [2.0, 40.0, 600.0])
    # Several targets, one weight each: 2 x w1 + 3 w2.
    g = tape.gradient([y, z], x, output_gradients=[np.array([1.0, 0.0, 1.0]), 2.0 * np.ones(3)])
    np.testing.assert_array_equal(value(g), [8.0, 6.0, 12.0])
    with pytest.raises(ValueError, match="output_gradients"):
        tape.gradient([y, z], x, output_gradients=[np.ones(3)])


def test_gradient_of_a_list_of_targets_is_the_gradient_of_their_sum():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        a, b = x * x, tf.exp(x)
    np.testing.assert_allclose(value(tape.gradient([a, b], x)), 4.0 + math.exp(2.0))


# ---- structure of sources --------------------------------------------------------------
def test_sources_as_list_tuple_and_dict_give_the_same_structure():
    a, b, c = tf.Variable(1.0), tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        y = a * b * c  # gradients: (bc, ac, ab) = (6, 3, 2)
    as_list = tape.gradient(y, [a, b, c])
    as_tuple = tape.gradient(y, (a, b, c))
    as_dict = tape.gradient(y, {"a": a, "b": b, "c": c})
    nested = tape.gradient(y, {"ab": [a, b], "c": (c,)})
    assert isinstance(as_list, list) and isinstance(as_tuple, tuple)
    assert [float(g) for g in as_list] == [float(g) for g in as_tuple] == [6.0, 3.0, 2.0]
    assert {k: float(g) for k, g in as_dict.items()} == {"a": 6.0, "b": 3.0, "c": 2.0}
    assert isinstance(nested["ab"], list) and isinstance(nested["c"], tuple)
    assert [float(nested["ab"][0]), float(nested["ab"][1]), float(nested["c"][0])] == \
        [6.0, 3.0, 2.0]
    assert isinstance(tape.gradient(y, a), tf.Tensor)


def test_sources_must_be_tensors():
    x = tf.constant(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(TypeError, match="sources"):
        tape.gradient(y, [x, 3.0])


def test_watch_refuses_what_cannot_have_gradients():
    with tf.GradientTape() as tape:
        with pytest.raises(TypeError, match="tensor"):
            tape.watch(np.array([1.0]))
        # As TensorFlow: a warning, not an error, and no gradient.
        truth = tf.constant([1.0]) > 0.0
        with pytest.warns(UserWarning, match="must be floating .* got bool"):
            tape.watch(truth)
        y = tf.cast(truth, tf.float64) * 2.0
    assert tape.gradient(y, truth) is None


# ---- controlling recording --------------------------------------------------------------
def test_stop_recording_pauses_only_that_tape():
    x = tf.constant(2.0)
    with tf.GradientTape() as outer, tf.GradientTape() as inner:
        outer.watch(x)
        inner.watch(x)
        with inner.stop_recording():
            y = x * x  # seen by outer only
        z = y + x
    assert value(inner.gradient(z, x)) == 1.0   # only the "+ x" path
    assert value(outer.gradient(z, x)) == 5.0   # 2x + 1


def test_stop_recording_resumes_afterwards():
    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        with tape.stop_recording():
            a = x * x
        b = x * x * x
        y = a + b
    assert value(tape.gradient(y, x)) == 12.0  # only 3 x**2


def test_reset_forgets_records_and_watches():
    x = tf.constant(2.0)
    v = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        before = x * v
        tape.reset()
        after = v * v  # v is watched again when read
        y = before + after
        z = x * 3.0  # x is no longer watched: not recorded
    assert value(tape.gradient([y, z], v)) == 6.0  # only d(v**2)/dv: "before" is forgotten
    assert [w.name for w in tape.watched_variables()] == [v.name]


def test_reset_then_gradient_of_a_forgotten_computation_is_none():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
    assert tape.gradient(y, x) is None


def test_reset_makes_a_used_tape_usable_again():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        tape.gradient(y, x)
        tape.reset()
        tape.watch(x)
        z = x * x * x
    assert value(tape.gradient(z, x)) == 12.0


def test_watched_variables_in_order_of_first_access():
    a, b = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b")
    c = tf.Variable(3.0, name="c", trainable=False)
    d = tf.Variable(4.0, name="d")
    with tf.GradientTape() as tape:
        y = b * a + b * c
        tape.watch(d)
    assert value(y) == 8.0
    assert [v.name for v in tape.watched_variables()] == ["b:0", "a:0", "d:0"]
    assert all(isinstance(v, tf.Variable) for v in tape.watched_variables())


def test_watch_accessed_variables_false_watches_only_what_is_asked():
    a, b = tf.Variable(2.0), tf.Variable(5.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(b)
        y = a * a * b
    assert tape.watched_variables() == (b,)
    ga, gb = tape.gradient(y, [a, b])
    assert ga is None
    assert value(gb) == 4.0  # a**2


def test_stop_gradient_blocks_one_path():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * tf.stop_gradient(x * x)  # x * (x**2 held constant)
    assert value(y) == 27.0
    assert value(tape.gradient(y, x)) == 9.0


# ---- Variables ----------------------------------------------------------------------
def test_variable_assign_assign_add_assign_sub():
    v = tf.Variable([1.0, 2.0], name="v")
    assert v.assign([5.0, 6.0]) is v
    np.testing.assert_array_equal(value(v), [5.0, 6.0])
    v.assign_add([1.0, -1.0])
    np.testing.assert_array_equal(value(v), [6.0, 5.0])
    v.assign_sub(tf.constant([0.5, 0.5]))
    np.testing.assert_array_equal(value(v), [5.5, 4.5])
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    assert v.name == "v:0" and v.trainable  # TensorFlow's full name


def test_gradient_uses_the_value_the_op_saw_not_a_later_assign():
    v = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = v * v
        v.assign(10.0)
    assert value(y) == 4.0
    assert value(tape.gradient(y, v)) == 4.0  # 2 * 2, not 2 * 10


def test_gradient_after_assign_uses_the_new_value():
    v = tf.Variable(2.0)
    v.assign_add(1.0)
    with tf.GradientTape() as tape:
        y = v * v * v
    assert value(tape.gradient(y, v)) == 27.0  # 3 * 3**2


def test_non_trainable_variable_is_not_watched_unless_asked():
    v = tf.Variable(3.0, trainable=False)
    with tf.GradientTape() as tape:
        y = v * v
    assert tape.gradient(y, v) is None
    assert tape.watched_variables() == ()
    with tf.GradientTape() as tape:
        tape.watch(v)
        y = v * v
    assert value(tape.gradient(y, v)) == 6.0


def test_variable_in_arithmetic_gives_tensors():
    v = tf.Variable(2.0)
    s = v + 1.0
    assert type(s) is tf.Tensor and value(s) == 3.0


# ---- nesting and higher orders ------------------------------------------------------
def test_gradients_are_tensors_an_outer_tape_can_differentiate():
    x = tf.constant([1.0, -2.0, 0.5])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(x ** 3)
        g = inner.gradient(y, x)  # 3 x**2
        assert isinstance(g, tf.Tensor)
        h = tf.reduce_sum(g * g)  # 9 sum x**4
    np.testing.assert_allclose(value(outer.gradient(h, x)), 36.0 * value(x) ** 3)


def test_third_order_with_three_nested_tapes():
    x = tf.Variable(1.5)
    with tf.GradientTape() as t3:
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                y = tf.sin(x) * x  # y' = cos x x + sin x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)  # -sin x x + 2 cos x
    d3 = t3.gradient(d2, x)  # -cos x x - 3 sin x
    c, s = math.cos(1.5), math.sin(1.5)
    np.testing.assert_allclose([float(d1), float(d2), float(d3)],
                               [c * 1.5 + s, -s * 1.5 + 2 * c, -c * 1.5 - 3 * s])


def test_fourth_order():
    def f(x):
        return tf.sin(2.0 * x) + x ** 5

    x0 = 0.7
    expected = [2 * math.cos(2 * x0) + 5 * x0 ** 4, -4 * math.sin(2 * x0) + 20 * x0 ** 3,
                -8 * math.cos(2 * x0) + 60 * x0 ** 2, 16 * math.sin(2 * x0) + 120 * x0]
    got = [nth_derivative(f, x0, n) for n in (1, 2, 3, 4)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_persistent_tape_differentiates_its_own_gradient():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x ** 3
        dy = tape.gradient(y, x)
        d2y = tape.gradient(dy, x)
    d3y = tape.gradient(d2y, x)
    assert [float(dy), float(d2y), float(d3y)] == [27.0, 18.0, 6.0]


def test_hessian_of_a_three_variable_function_by_jacobian_of_a_gradient():
    x0, x1, x2 = 0.5, -1.2, 2.0
    x = tf.Variable([x0, x1, x2])
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            f = x[0] ** 2 * x[1] + tf.sin(x[1] * x[2]) + tf.exp(x[0]) * x[2]
        g = inner.gradient(f, x)
    hessian = outer.jacobian(g, x)

    e, s, c = math.exp(x0), math.sin(x1 * x2), math.cos(x1 * x2)
    np.testing.assert_allclose(value(g), [2 * x0 * x1 + e * x2, x0 ** 2 + x2 * c,
                                          x1 * c + e])
    expected = np.array([
        [2 * x1 + e * x2, 2 * x0, e],
        [2 * x0, -x2 ** 2 * s, c - x1 * x2 * s],
        [e, c - x1 * x2 * s, -x1 ** 2 * s],
    ])
    assert hessian.shape == (3, 3)
    np.testing.assert_allclose(value(hessian), expected, rtol=1e-12)


def test_hessian_of_three_scalar_variables():
    a, b, c = tf.Variable(1.0), tf.Variable(2.0), tf.Variable(-1.0)
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            f = a * a * b + b * c * c * c
        grads = inner.gradient(f, [a, b, c])  # (2ab, a**2 + c**3, 3 b c**2)
    rows = [[outer.gradient(g, v) for v in (a, b, c)] for g in grads]
    expected = [[2 * 2.0, 2 * 1.0, None],          # d(2ab): 2b, 2a, unconnected
                [2 * 1.0, None, 3 * 1.0],          # d(a**2 + c**3): 2a, -, 3c**2
                [None, 3 * 1.0, 6 * 2.0 * -1.0]]   # d(3bc**2): -, 3c**2, 6bc
    got = [[None if h is None else float(h) for h in row] for row in rows]
    assert got == expected


# ---- Jacobians -----------------------------------------------------------------------
def test_jacobian_of_a_vector_function():
    x = tf.constant([2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.stack([x[0] * x[1], tf.sin(x[0]), x[1] ** 2])
    j = tape.jacobian(y, x)
    expected = [[3.0, 2.0], [math.cos(2.0), 0.0], [0.0, 6.0]]
    np.testing.assert_allclose(value(j), expected)


def test_jacobian_of_a_matrix_product_with_respect_to_a_matrix():
    a = np.arange(6.0).reshape(3, 2)
    x = tf.constant(np.arange(8.0).reshape(2, 4) / 7.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = a @ x
    j = tape.jacobian(y, x)
    # y[i, j] = sum_k a[i, k] x[k, j]: dy[i, j]/dx[k, l] = a[i, k] delta(j, l)
    assert j.shape == (3, 4, 2, 4)
    np.testing.assert_array_equal(value(j), np.einsum("ik,jl->ijkl", a, np.eye(4)))


def test_jacobian_with_respect_to_several_sources_and_unconnected():
    x, y, z = tf.constant([1.0, 2.0]), tf.constant(3.0), tf.constant([5.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y, z])
        out = x * y  # d/dx = y I, d/dy = x
    jx, jy, jz = tape.jacobian(out, [x, y, z])
    np.testing.assert_array_equal(value(jx), 3.0 * np.eye(2))
    np.testing.assert_array_equal(value(jy), [1.0, 2.0])
    assert jz is None
    zeros = tape.jacobian(out, z, unconnected_gradients="zero")
    assert zeros.shape == (2, 1) and not value(zeros).any()


def test_batch_jacobian_against_the_analytic_answer():
    rows = np.array([[1.0, 2.0], [-0.5, 0.3], [2.0, -1.0]])
    x = tf.constant(rows)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.stack([x[:, 0] * x[:, 1], tf.exp(x[:, 0]), x[:, 1] ** 3], axis=1)
    jb = tape.batch_jacobian(y, x)
    assert jb.shape == (3, 3, 2)
    for b, (p, q) in enumerate(rows):
        np.testing.assert_allclose(value(jb)[b], [[q, p], [math.exp(p), 0.0], [0.0, 3 * q * q]])


def test_jacobian_of_a_gradient_inside_a_persistent_tape_is_differentiable_again():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = x ** 3
        j = inner.jacobian(y, x)  # diag(3 x**2)
        s = tf.reduce_sum(j)
    np.testing.assert_allclose(value(outer.gradient(s, x)), 6.0 * value(x))


# ---- derivative conventions at kinks and edges (EXPRESSIONS.md) ------------------------
def test_abs_sign_relu_at_zero():
    assert nth_derivative(tf.abs, 0.0, 1) == 0.0
    assert nth_derivative(tf.nn.relu, 0.0, 1) == 0.0
    for x0 in (-1.0, 0.0, 2.0):
        assert nth_derivative(tf.sign, x0, 1) == 0.0
    assert nth_derivative(tf.abs, -2.0, 1) == -1.0 and nth_derivative(tf.abs, 2.0, 1) == 1.0
    assert nth_derivative(tf.nn.relu, 2.0, 1) == 1.0 and nth_derivative(tf.nn.relu, -2.0, 1) == 0


@pytest.mark.parametrize("op", [tf.maximum, tf.minimum], ids=["max", "min"])
def test_min_max_ties_go_to_the_first_argument(op):
    a, b = tf.constant([1.0, 2.0]), tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        y = op(a, b)
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_array_equal(value(ga), [1.0, 1.0])
    np.testing.assert_array_equal(value(gb), [0.0, 0.0])


def test_max_with_a_number_at_a_tie():
    x = tf.constant(0.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        first = tf.maximum(x, 0.0)
        second = tf.maximum(0.0, x)
    assert value(tape.gradient(first, x)) == 1.0
    assert value(tape.gradient(second, x)) == 0.0


def test_sqrt_derivative_at_zero_is_infinite():
    with np.errstate(divide="ignore"):
        assert nth_derivative(tf.sqrt, 0.0, 1) == math.inf


def test_derivative_of_the_exponent_is_zero_where_the_base_is_zero():
    for b0 in (2.0, 0.5, 0.0):
        a, b = tf.constant(0.0), tf.constant(b0)
        with np.errstate(divide="ignore"), tf.GradientTape() as tape:
            tape.watch([a, b])
            y = a ** b
            gb = tape.gradient(y, b)
        assert value(gb) == 0.0


def test_derivative_of_zero_to_the_zero_is_zero_in_the_base():
    a = tf.constant(0.0)
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = a ** 0.0  # constant 1
    assert value(tape.gradient(y, a)) == 0.0


@pytest.mark.parametrize("n", [2, 3, -1, -2, 5])
@pytest.mark.parametrize("x0", [-2.0, -0.5, 1.5])
def test_integer_power_of_a_negative_number_first_and_second_derivatives(n, x0):
    expected1 = n * x0 ** (n - 1)
    expected2 = n * (n - 1) * x0 ** (n - 2)
    for power in (lambda x: x ** n, lambda x: x ** float(n), lambda x: tf.pow(x, n)):
        np.testing.assert_allclose(nth_derivative(power, x0, 1), expected1, rtol=1e-13)
        np.testing.assert_allclose(nth_derivative(power, x0, 2), expected2, rtol=1e-13)


def test_integer_power_of_a_negative_number_needs_no_logarithm():
    # The exponent is not watched, so its VJP (with log(x)) never runs: no nan, no warning.
    x = tf.constant(-2.0)
    with np.errstate(invalid="raise", divide="raise"):
        assert nth_derivative(lambda x: x ** 3, -2.0, 3) == 6.0
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.pow(x, tf.constant(4.0))
        assert value(tape.gradient(y, x)) == 4 * -8.0


def first_and_second_gradients(f, *values):
    """Gradients of sum(f) and of the sum of those gradients, by two nested tapes."""
    xs = [tf.constant(v) for v in values]
    with tf.GradientTape() as outer:
        outer.watch(xs)
        with tf.GradientTape() as inner:
            inner.watch(xs)
            y = tf.reduce_sum(f(*xs))
        first = inner.gradient(y, xs, unconnected_gradients="zero")
        total = sum(tf.reduce_sum(g) for g in first)
    second = outer.gradient(total, xs, unconnected_gradients="zero")
    return [value(g) for g in first], [value(g) for g in second]


@pytest.mark.parametrize("name, f, values, first, second", [
    # clip_by_norm of the zero vector: the identity there, so the gradient is the weights.
    ("clip_by_norm at 0", lambda t: tf.clip_by_norm(t, 1.0) * tf.constant([2.0, 3.0]),
     [np.zeros(2)], [[2.0, 3.0]], [[0.0, 0.0]]),
    # hypot has no derivative at the origin: 0 by convention, not 0/0.
    ("hypot at the origin", tf.hypot, [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]),
    # divide_no_nan is 0 wherever y == 0, and so are its derivatives.
    ("divide_no_nan by 0", tf.divide_no_nan, [1.5, 0.0], [0.0, 0.0], [0.0, 0.0]),
    # sigmoid' = s(1 - s) and softplus' = s: 0 and 1 far out, without overflow.
    ("sigmoid far out", tf.sigmoid, [np.array([-800.0, 800.0])], [[0.0, 0.0]], [[0.0, 0.0]]),
    ("softplus far out", tf.nn.softplus, [np.array([-800.0, 800.0])], [[0.0, 1.0]],
     [[0.0, 0.0]]),
    # clip_by_value at its bounds: max/min ties go to t, so the gradient passes.
    ("clip_by_value at the bounds", lambda t: tf.clip_by_value(t, -1.0, 1.0),
     [np.array([-1.0, 1.0, 3.0])], [[1.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]]),
])
def test_edges_give_finite_conventional_derivatives(name, f, values, first, second):
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        got_first, got_second = first_and_second_gradients(f, *values)
    for got, want in zip(got_first, first):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(got_second, second):
        np.testing.assert_array_equal(got, want)


# ---- operators, comparisons, indexing, tensor basics -------------------------------
OPERATOR_CASES = [
    # (name, f(x, other), derivative in x, as a function of x and other)
    ("x + c", lambda x, c: x + c, lambda x, c: np.ones_like(x + c)),
    ("c + x", lambda x, c: c + x, lambda x, c: np.ones_like(x + c)),
    ("x - c", lambda x, c: x - c, lambda x, c: np.ones_like(x + c)),
    ("c - x", lambda x, c: c - x, lambda x, c: -np.ones_like(x + c)),
    ("x * c", lambda x, c: x * c, lambda x, c: c + 0 * x),
    ("c * x", lambda x, c: c * x, lambda x, c: c + 0 * x),
    ("x / c", lambda x, c: x / c, lambda x, c: 1 / c + 0 * x),
    ("c / x", lambda x, c: c / x, lambda x, c: -c / x ** 2),
    ("x ** c", lambda x, c: x ** c, lambda x, c: c * x ** (c - 1)),
    ("c ** x", lambda x, c: c ** x, lambda x, c: c ** x * np.log(c)),
    ("-x", lambda x, c: -x + 0 * c, lambda x, c: -np.ones_like(x + c)),
    ("+x", lambda x, c: +x, lambda x, c: np.ones_like(x)),
    ("abs(x)", lambda x, c: abs(x), lambda x, c: np.sign(x)),
]


@pytest.mark.parametrize("name, f, derivative", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
@pytest.mark.parametrize("other", [2.5, np.float64(1.5), np.array([1.5, 2.0, 3.0])],
                         ids=["float", "numpy scalar", "numpy array"])
def test_operators_with_numbers_and_arrays_on_either_side(name, f, derivative, other):
    x_np = np.array([0.5, 1.25, 2.0])
    x = tf.constant(x_np)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x, other)
    assert isinstance(y, tf.Tensor)
    np.testing.assert_allclose(value(y), f(x_np, other))
    # d(sum y)/dx: each y[i] depends on x[i] only.
    np.testing.assert_allclose(value(tape.gradient(y, x)), derivative(x_np, other))


def test_matmul_operator_with_numpy_on_either_side():
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = tf.constant([[0.5, -1.0], [2.0, 1.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        left = m @ x
        right = x @ m
    np.testing.assert_allclose(value(left), m @ value(x))
    np.testing.assert_allclose(value(right), value(x) @ m)
    # d(sum(m x))/dx[k, l] = sum_i m[i, k]; d(sum(x m))/dx[k, l] = sum_j m[l, j]
    np.testing.assert_allclose(value(tape.gradient(left, x)), np.tile(m.sum(0)[:, None], 2))
    np.testing.assert_allclose(value(tape.gradient(right, x)), np.tile(m.sum(1), (2, 1)))


def test_comparisons_give_boolean_tensors_that_are_not_recorded():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        results = [x < 2.0, x <= 2.0, x > 2.0, x >= 2.0, x == 2.0, x != 2.0,
                   2.0 < x, np.array([3.0, 2.0, 1.0]) < x]
        mask = tf.cast(x > 1.5, tf.float64)
    expected = [[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 0, 1],
                [0, 0, 1], [0, 0, 1]]
    for got, want in zip(results, expected):
        assert isinstance(got, tf.Tensor) and got.dtype == np.bool_
        np.testing.assert_array_equal(value(got), np.array(want, dtype=bool))
    assert tape.gradient(mask, x) is None


def test_where_selects_gradients_by_a_comparison():
    x = tf.constant([-1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.where(x > 0, x * x, -x)
    np.testing.assert_array_equal(value(tape.gradient(y, x)), [-1.0, 4.0, 6.0])


def test_indexing_and_slicing_are_differentiable():
    x = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x[0, 1] * x[1, 2] + tf.reduce_sum(x[:, 0:2] ** 2) + x[1][0] + x[..., -1][0]
    # Term by term:   x01 * x12    sum of squares of columns 0-1    x10      x02
    expected = np.zeros((2, 3))
    expected[0, 1] += 6.0
    expected[1, 2] += 2.0
    expected[:, 0:2] += 2.0 * value(x)[:, 0:2]
    expected[1, 0] += 1.0
    expected[0, 2] += 1.0
    np.testing.assert_array_equal(value(tape.gradient(y, x)), expected)


def test_fancy_indexing_with_repeats_adds_up():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x[[0, 0, 2, 0]] * tf.constant([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(value(tape.gradient(y, x)), [7.0, 0.0, 3.0])


def test_tensor_basics():
    t = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2
    assert t.dtype == np.float64
    s = tf.constant(2.5)
    assert s.shape == () and s.numpy().shape == () and float(s) == 2.5
    assert tf.constant(3).dtype == np.int32 and tf.constant(3.0).dtype == np.float64  # as TF, but float64
    assert tf.constant([1.0], tf.float32).dtype == np.float32
    assert tf.zeros(2, dtype=tf.float32).dtype == np.float32 == tf.ones([1], tf.float32).dtype
    assert tf.zeros((2, 1)).dtype == np.float64 and tf.zeros((2, 1)).shape == (2, 1)
    assert [float(row[0]) for row in t] == [1.0, 4.0]
    assert "shape=(2, 3)" in repr(t)
    np.testing.assert_array_equal(np.asarray(t), t.numpy())


def test_ops_accept_lists_and_numbers():
    np.testing.assert_allclose(value(tf.reduce_sum([[1.0, 2.0], [3.0, 4.0]], axis=0)), [4, 6])
    np.testing.assert_allclose(value(tf.sin(0.5)), math.sin(0.5))
    np.testing.assert_allclose(value(tf.reduce_mean([1.0, 2.0, 6.0])), 3.0)


# ---- custom gradients ----------------------------------------------------------------
@tf.custom_gradient
def cube(x):
    def grad_fn(upstream):
        return upstream * 3.0 * x * x  # tapecli ops: differentiable again
    return x * x * x, grad_fn


def test_custom_gradient_under_nested_tapes():
    x = tf.constant(2.0)
    with tf.GradientTape() as t3:
        t3.watch(x)
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = cube(x)
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    assert [float(y), float(d1), float(d2), float(d3)] == [8.0, 12.0, 12.0, 6.0]


def test_custom_gradient_is_what_the_tape_uses():
    @tf.custom_gradient
    def straight_through_round(x):
        return tf.constant(np.round(x.numpy())), lambda upstream: upstream

    x = tf.constant([0.4, 1.6])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = straight_through_round(x) * tf.constant([2.0, 3.0])
    np.testing.assert_array_equal(value(y), [0.0, 6.0])
    np.testing.assert_array_equal(value(tape.gradient(y, x)), [2.0, 3.0])


def test_custom_gradient_second_derivative_through_body_intermediates():
    @tf.custom_gradient
    def softplus(x):
        e = tf.exp(x)
        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))  # uses e from the body
        return tf.math.log(1 + e), grad

    x0 = 0.3
    s = 1 / (1 + math.exp(-x0))
    np.testing.assert_allclose(nth_derivative(softplus, x0, 1), s)
    np.testing.assert_allclose(nth_derivative(softplus, x0, 2), s * (1 - s))


def test_custom_gradient_with_two_inputs_and_a_none_gradient():
    @tf.custom_gradient
    def scaled(x, scale):
        def grad(upstream):
            return upstream * scale, None  # no gradient for scale
        return x * scale, grad

    x, c = tf.constant([1.0, 2.0]), tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch([x, c])
        y = scaled(x, c) + c  # c still reaches y through "+ c"
    gx, gc = tape.gradient(y, [x, c])
    np.testing.assert_array_equal(value(gx), [3.0, 3.0])
    assert value(gc) == 2.0  # d(sum(y))/dc through "+ c" only, broadcast over 2 items


def test_custom_gradient_with_a_wrong_number_of_gradients_is_an_error():
    @tf.custom_gradient
    def bad(x, y):
        return x * y, lambda upstream: upstream

    x, y = tf.constant(1.0), tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        z = bad(x, y)
    with pytest.raises(ValueError, match="1 gradients for 2 inputs"):
        tape.gradient(z, [x, y])


def test_tapes_record_only_their_own_threads_ops():
    # As in TensorFlow: a tape entered in one thread does not see another's ops.
    import threading

    x = tf.constant(2.0)
    inside = threading.Event()
    done = threading.Event()

    def other_thread():
        inside.wait()
        with tf.GradientTape() as other:
            other.watch(x)
            y = x * x * x
        results.append(other.gradient(y, x).numpy())
        done.set()

    results = []
    worker = threading.Thread(target=other_thread)
    worker.start()
    with tf.GradientTape() as tape:
        tape.watch(x)
        inside.set()
        done.wait(10)
        z = x * x
    worker.join()
    assert tape.gradient(z, x).numpy() == 4.0
    assert results == [12.0]
    assert len(tape._records) == 1  # the other thread's two multiplies are not here


def test_shared_subexpressions_compute_and_record_an_op_once():
    from tapecli.tape import shared_subexpressions

    x = tf.constant(1.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        with shared_subexpressions():
            a, b = tf.sin(x) * 2.0, tf.sin(x) * 2.0  # the same ops on the same inputs
            c = -0.0 * x, 0.0 * x  # -0.0 and 0.0 stay different constants
        assert a is b and c[0] is not c[1]
        assert tf.sin(x) is not tf.sin(x)  # outside the block nothing is shared
        y = a + b
    assert len([r for r in tape._records if r[0].name == "sin"]) == 3
    assert tape.gradient(y, x).numpy() == 4.0 * math.cos(1.5)  # d/dx 4 sin(x), exactly
