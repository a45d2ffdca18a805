"""TensorFlow's API as tapecli has it: tf.Module, dtypes, printing, and the TF-only ops.

The semantics are TensorFlow's documented ones (and, where a number is quoted, what
TensorFlow 2.21.0 printed); gradients are checked against central differences to
second (some third) order with tests/gradcheck.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gradcheck import check_grads

import tapecli as tf

rng = np.random.default_rng(7)


# ---- tf.Module ------------------------------------------------------------------------
class Dense(tf.Module):
    def __init__(self, n_in, n_out, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(tf.ones([n_in, n_out]), name='w')
        self.b = tf.Variable(tf.zeros([n_out]), name='b')

    @tf.Module.with_name_scope
    def __call__(self, x):
        self.made_inside = tf.Variable(0.0, name='inside', trainable=False)
        return tf.nn.relu(x @ self.w + self.b)


class Sequential(tf.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.dense_1 = Dense(3, 3)
        self.dense_2 = Dense(3, 2)
        self.layers = [self.dense_1, {"z": tf.Variable(1.0, name="z", trainable=False)},
                       (tf.Variable(2.0, name="t"),)]
        self.alias = self.dense_1.w


def test_a_module_is_named_from_its_class_in_snake_case():
    assert Dense(1, 1).name == "dense" and Sequential().name == "sequential"

    class HTTPServer2Go(tf.Module):
        pass
    assert HTTPServer2Go().name == "http_server2_go"
    assert Dense(1, 1, name="first").name == "first"
    with pytest.raises(ValueError, match="'bad name' is not a valid module name"):
        tf.Module(name="bad name")


def test_variables_are_found_by_walking_attributes_in_tensorflows_order():
    # TensorFlow 2.21 gives this order for the same module: its own attributes by
    # name (alias, dense_1, dense_2, layers: [module, {z}, (t,)]), then each
    # submodule's, every variable once.
    model = Sequential(name="the_model")
    assert [v.name for v in model.variables] == ['w:0', 'z:0', 't:0', 'b:0', 'b:0', 'w:0']
    assert [v.name for v in model.trainable_variables] == ['w:0', 't:0', 'b:0', 'b:0', 'w:0']
    assert [v.name for v in model.non_trainable_variables] == ['z:0']
    assert model.submodules == (model.dense_1, model.dense_2)
    assert len({id(v) for v in model.variables}) == len(model.variables) == 6


def test_a_module_that_holds_itself_is_walked_once():
    class Loop(tf.Module):
        pass
    loop = Loop()
    loop.me = loop
    loop.v = tf.Variable(1.0)
    loop.child = Loop()
    loop.child.parent = loop
    assert loop.variables == (loop.v,) and loop.submodules == (loop.child,)


def test_a_subclass_need_not_call_init_to_hold_variables():
    class GradientDescent(tf.Module):  # as the optimizers guide writes it
        def __init__(self, learning_rate=1e-3):
            self.learning_rate = learning_rate
            self.slots = [tf.Variable(0.0)]

    optimizer = GradientDescent()
    assert optimizer.trainable_variables == (optimizer.slots[0],)
    with pytest.raises(AttributeError):
        optimizer.name  # noqa: B018  (TensorFlow's Module raises here too)


def test_name_scopes_name_the_variables_made_inside():
    model = Sequential(name="the_model")
    assert model.name_scope.name == "the_model/"
    with model.name_scope:
        assert tf.Variable(1.0, name="inner").name == "the_model/inner:0"
    with tf.name_scope("a") as a:
        with tf.name_scope("b") as b:
            assert tf.Variable(1.0).name == "a/b/Variable:0"
        with tf.name_scope("root/") as root:
            assert tf.Variable(1.0).name == "root/Variable:0"
    assert (a, b, root) == ("a/", "a/b/", "root/")
    assert tf.Variable(1.0).name == "Variable:0"
    layer = Dense(2, 1, name="layer")
    np.testing.assert_array_equal(layer(tf.constant([[1.0, -3.0]])).numpy(), [[0.0]])
    assert layer.made_inside.name == "layer/inside:0"


def test_a_module_made_inside_a_scope_keeps_the_full_scope():
    with tf.name_scope("outer"):
        inner = Dense(1, 1, name="inner")
    assert inner.name == "inner" and inner.name_scope.name == "outer/inner/"


# ---- tensors as TensorFlow shows them ----------------------------------------------
def test_print_shows_what_tensorflow_prints():
    # TensorFlow 2.21 prints the same text, with float32 for float64.
    assert str(tf.constant(6.0)) == "tf.Tensor(6.0, shape=(), dtype=float64)"
    assert str(tf.constant([2.0, 6.0])) == "tf.Tensor([2. 6.], shape=(2,), dtype=float64)"
    assert str(tf.constant([[1.0, 2.0], [3.0, 4.0]])) == \
        "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float64)"
    assert str(tf.constant(12)) == "tf.Tensor(12, shape=(), dtype=int32)"
    assert str(tf.constant(0.1, tf.float32)) == "tf.Tensor(0.1, shape=(), dtype=float32)"
    assert "'w:0'" in str(tf.Variable(1.0, name="w"))


def test_a_scalar_formats_as_its_number():
    loss = tf.constant(6.151314)
    assert f"loss={loss:2.5f}" == "loss=6.15131" and f"{tf.constant(7):3d}" == "  7"
    assert f"{tf.Variable(4.4567):1.2f}" == "4.46"
    assert f"{tf.constant([1.0, 2.0])}" == "[1. 2.]"
    with pytest.raises(TypeError):
        f"{tf.constant([1.0, 2.0]):2.5f}"  # as numpy and TensorFlow


def test_numpy_of_a_scalar_is_a_numpy_scalar():
    six = tf.constant(6.0).numpy()
    assert type(six) is np.float64 and repr(six) == "np.float64(6.0)"
    assert type(tf.constant(6.0, tf.float32).numpy()) is np.float32
    assert repr([tf.constant(4.44).numpy()]) == "[np.float64(4.44)]"
    assert type(tf.constant([6.0]).numpy()) is np.ndarray


def test_an_integer_scalar_is_a_shape_entry_and_an_index():
    n_params = tf.reduce_prod((4, 5))
    assert tf.reshape(tf.zeros([4, 5]), [n_params, 1]).shape == (20, 1)
    assert [0, 1, 2, 3][tf.constant(2)] == 2 and int(tf.constant(3)) == 3
    assert tf.eye(tf.constant(2)).shape == (2, 2)
    with pytest.raises(TypeError, match="integer scalar"):
        [0, 1, 2][tf.constant(2.0)]
    with pytest.raises(TypeError, match="integer scalar"):
        [0, 1, 2][tf.constant([1])]


# ---- integer tensors ---------------------------------------------------------------------
def test_python_ints_make_int32_as_in_tensorflow():
    assert tf.constant(10).dtype == np.int32 and tf.constant([1, 2]).dtype == np.int32
    assert tf.constant(2**40).dtype == np.int64  # too large for int32, as in TensorFlow
    assert tf.constant([1, 3.0]).dtype == np.float64 and tf.constant(True).dtype == np.bool_
    assert tf.constant(np.array([1, 2])).dtype == np.int64  # numpy keeps its dtype
    assert tf.Variable(10).dtype == np.int32


def test_integer_ops_stay_integer_where_tensorflow_keeps_them():
    i = tf.constant([1, 2, 3])
    for result, want in [(i * i, [1, 4, 9]), (i + 2, [3, 4, 5]), (-i, [-1, -2, -3]),
                         (tf.reduce_sum(i), 6), (tf.reduce_prod(i), 6), (tf.reduce_max(i), 3),
                         (tf.reduce_mean(tf.constant([1, 2])), 1),  # truncated, as TF
                         (tf.einsum('i,i->', i, i), 14), (tf.reshape(i, [3, 1])[2], [3])]:
        assert result.dtype == np.int32, result
        np.testing.assert_array_equal(result.numpy(), want)
    assert (i / 2).dtype == np.float64  # true division makes floats, as TensorFlow's
    assert (i * 2.5).dtype == np.float64  # TensorFlow raises a TypeError here


def test_watching_an_integer_warns_and_gives_none():
    x = tf.constant(10)
    with tf.GradientTape() as g:
        with pytest.warns(UserWarning, match=r"must be floating \(e.g. tf.float32\), got int32"):
            g.watch(x)
        y = x * x
    assert y.numpy() == 100 and g.gradient(y, x) is None


def test_an_integer_variable_is_watched_but_has_no_gradient():
    v = tf.Variable(10)
    with tf.GradientTape() as g:
        y = v * v
    assert g.watched_variables() == (v,)  # as TensorFlow 2.21
    assert g.gradient(y, v) is None


def test_a_cast_to_integer_stops_the_gradient():
    x = tf.constant([1.5, 2.5])
    with tf.GradientTape() as g:
        g.watch(x)
        y = tf.cast(tf.cast(x, tf.int32), tf.float64) * x
    np.testing.assert_array_equal(g.gradient(y, x).numpy(), [1.0, 2.0])


# ---- float32 ------------------------------------------------------------------------------
def test_float32_is_kept_through_ops_numbers_lists_and_arrays():
    x = tf.constant([1.0, 2.0], tf.float32)
    for y in [x * 2, 2.5 * x, x * [3, 4], x * np.array([1.0, 2.0]), x ** 4,
              tf.where(x > 1, 0.0, x), tf.exp(x) + 1.0, tf.reduce_mean(x), tf.norm(x),
              tf.nn.elu(-x), tf.einsum('i,i->', x, x), tf.reduce_prod(x)]:
        assert y.dtype == np.float32, y


def test_float32_gradients_stay_float32():
    x = tf.Variable([1.0, 2.0], dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        y = tf.reduce_sum(2 * x**4 + 3 * x**3 + 2)
        z = x * x
    g = tape.gradient(y, x)
    assert g.dtype == np.float32 and tape.jacobian(z, x).dtype == np.float32
    np.testing.assert_array_equal(g.numpy(), np.float32([17.0, 100.0]))  # 8x^3 + 9x^2


def test_assign_sub_on_float32_rounds_in_float32():
    # TensorFlow converts the delta to the variable's type first: 2 - float32(0.1).
    v = tf.Variable(2.0, dtype=tf.float32)
    v.assign_sub(0.1)
    assert v.numpy() == np.float32(2.0) - np.float32(0.1) == np.float32(1.9)
    assert v.dtype == np.float32


# ---- silence on overflow ------------------------------------------------------------------
def test_overflow_and_invalid_values_are_silent_as_in_tensorflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tf.exp(1000.0).numpy() == np.inf
        assert tf.divide(1.0, 0.0).numpy() == np.inf
        assert np.isnan(tf.math.log(-1.0).numpy())
        x = tf.constant(1000.0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.math.log(1 + tf.exp(x))
        assert np.isnan(tape.gradient(y, x).numpy())  # inf / inf, as TensorFlow's


# ---- the predicates ----------------------------------------------------------------------
def test_is_nan_is_finite_is_inf():
    x = tf.constant([1.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(tf.math.is_nan(x).numpy(), [False, True, False, False])
    np.testing.assert_array_equal(tf.math.is_finite(x).numpy(), [True, False, False, False])
    np.testing.assert_array_equal(tf.math.is_inf(x).numpy(), [False, False, True, True])
    assert tf.math.is_nan(x).dtype == np.bool_
    assert bool(tf.math.is_nan(tf.constant(np.nan))) and not tf.math.is_nan(tf.constant(1.0))


def test_the_predicates_have_no_gradient():
    x = tf.constant([1.0, np.nan, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cast(tf.math.is_nan(x), tf.float64)
    assert tape.gradient(y, x) is None
    with tf.GradientTape() as tape:  # TensorFlow 2.21: [0. 1. 0.]
        tape.watch(x)
        y = tf.cast(tf.math.is_nan(x), tf.float64) * x
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 1.0, 0.0])


# ---- the ops and their gradients -----------------------------------------------------------
@pytest.mark.parametrize("f, shapes", [
    (lambda x: tf.reduce_max(x), [(3, 4)]),
    (lambda x: tf.reduce_max(x, axis=1), [(3, 4)]),
    (lambda x: tf.reduce_max(x, axis=[0, 2], keepdims=True), [(2, 3, 2)]),
    (lambda x: tf.reduce_prod(x), [(2, 3)]),
    (lambda x: tf.reduce_prod(x, axis=1), [(3, 4)]),
    (lambda x: tf.reduce_prod(x, axis=[0, 2], keepdims=True), [(2, 3, 2)]),
    (lambda a, b: tf.einsum('ij,jk->ik', a, b), [(2, 3), (3, 4)]),
    (lambda a, b: tf.einsum('ij,jk', a, b), [(2, 3), (3, 4)]),
    (lambda j: tf.einsum('bxby->bxy', j), [(3, 2, 3, 4)]),
    (lambda a: tf.einsum('ii', a), [(3, 3)]),
    (lambda a, v: tf.einsum('ij,k->i', a, v), [(3, 3), (4,)]),
    (lambda a, b: tf.einsum('bij,bjk->bik', a, b), [(2, 2, 3), (2, 3, 2)]),
    (lambda x: tf.norm(x), [(3, 4)]),
    (lambda x: tf.norm(x, axis=1, keepdims=True), [(3, 4)]),
    (lambda x: tf.norm(x, ord=1, axis=0), [(3, 4)]),
    (lambda x: tf.norm(x, ord=3), [(3, 4)]),
    (lambda x: tf.norm(x, ord=np.inf), [(5,)]),
    (lambda x: tf.norm(x, ord=1, axis=[0, 1]), [(3, 4)]),
    (lambda x: tf.norm(x, ord=np.inf, axis=[1, 2]), [(2, 3, 4)]),
    (lambda x: tf.nn.elu(x), [(3, 4)]),
])
def test_gradients_agree_with_central_differences(f, shapes):
    check_grads(f, *[rng.standard_normal(s) for s in shapes], order=2)


def test_solve_and_its_gradients_to_third_order():
    a = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    check_grads(tf.linalg.solve, a, rng.standard_normal((3, 2)), order=3)
    batch = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    check_grads(tf.linalg.solve, batch, rng.standard_normal((2, 3, 1)), order=2)
    x = tf.linalg.solve(tf.constant([[2.0, 1.0], [1.0, 3.0]]), tf.constant([[1.0], [2.0]]))
    np.testing.assert_allclose(x.numpy(), [[0.2], [0.6]], rtol=1e-15)
    with pytest.raises(ValueError, match="rank >= 2"):
        tf.linalg.solve(tf.eye(2), tf.constant([1.0, 2.0]))


def test_products_with_zeros_have_exact_gradients_to_third_order():
    check_grads(lambda x: tf.reduce_prod(x, axis=1), np.array([[2., 0., 3.], [1., 2., 0.]]))
    check_grads(tf.reduce_prod, np.array([2.0, 0.0, 3.0, 0.0]), order=3)
    x = tf.constant([2.0, 0.0, 3.0])
    with tf.GradientTape() as tape:  # TensorFlow 2.21: [0. 6. 0.]
        tape.watch(x)
        y = tf.reduce_prod(x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 6.0, 0.0])


def test_einsum_diagonal_and_elu_to_third_order():
    check_grads(lambda j: tf.einsum('bxby->bxy', j), rng.standard_normal((3, 2, 3, 2)), order=3)
    check_grads(tf.nn.elu, rng.standard_normal(6), order=3)


def test_ties_of_reduce_max_share_the_gradient():
    x = tf.constant([[1.0, 3.0], [3.0, 2.0]])
    with tf.GradientTape() as tape:  # TensorFlow 2.21: [[0. 0.5] [0.5 0.]]
        tape.watch(x)
        y = tf.reduce_max(x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [[0.0, 0.5], [0.5, 0.0]])


def test_norm_values_and_its_nan_gradient_at_zero():
    m = tf.constant([[3.0, 4.0], [0.0, 0.0]])
    assert tf.norm(m).numpy() == 5.0 and tf.norm(tf.constant([3.0, -4.0]), ord=1).numpy() == 7.0
    np.testing.assert_array_equal(tf.norm(m, axis=1).numpy(), [5.0, 0.0])
    assert tf.norm(m, ord=1, axis=[0, 1]).numpy() == 4.0  # largest column sum
    assert tf.norm(m, ord=np.inf, axis=[0, 1]).numpy() == 7.0  # largest row sum
    x = tf.constant([0.0, 0.0])
    with tf.GradientTape() as tape:  # TensorFlow 2.21: [nan nan]
        tape.watch(x)
        y = tf.norm(x)
    assert np.isnan(tape.gradient(y, x).numpy()).all()
    with pytest.raises(ValueError, match="ord"):
        tf.norm(m, ord=2, axis=[0, 1])
    with pytest.raises(ValueError, match="ord"):
        tf.norm(m, ord=-1)


def test_elu_values():
    np.testing.assert_allclose(tf.nn.elu(tf.constant([-1.0, 0.0, 1.0, 800.0])).numpy(),
                               [math.expm1(-1.0), 0.0, 1.0, 800.0], rtol=1e-15)


def test_eye():
    np.testing.assert_array_equal(tf.eye(2, 3).numpy(), [[1, 0, 0], [0, 1, 0]])
    assert tf.eye(2, batch_shape=[4]).shape == (4, 2, 2) and tf.eye(2).dtype == np.float64
    assert tf.eye(2, dtype=tf.float32).dtype == np.float32 and tf.linalg.eye is tf.eye


def test_einsum_refuses_an_ellipsis():
    with pytest.raises(ValueError, match=r"'\.\.\.' is not supported"):
        tf.einsum('...ij->...ji', tf.eye(2))

