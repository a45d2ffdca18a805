"""tapecli.optimizers against update steps computed by hand with numpy."""

import numpy as np
import pytest

import tapecli as tf
from tapecli.optimizers import SGD, Adam

W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.25, 3.0, 2.0])


def test_the_optimizers_are_exposed_as_tf_optimizers():
    assert tf.optimizers.SGD is SGD and tf.optimizers.Adam is Adam


def test_keras_defaults():
    sgd, adam = SGD(), Adam()
    assert (sgd.learning_rate, sgd.momentum) == (0.01, 0.0)
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == \
        (0.001, 0.9, 0.999, 1e-7)


def test_one_sgd_step():
    w = tf.Variable(W0)
    SGD(learning_rate=0.1).apply_gradients([(tf.constant(G1), w)])
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.05, -2.0 + 0.1, 0.5 - 0.2], rtol=1e-15)


def test_momentum_steps():
    # Keras: velocity = momentum * velocity - lr * g; w = w + velocity.
    w = tf.Variable(W0)
    optimizer = SGD(learning_rate=0.1, momentum=0.9)
    optimizer.apply_gradients([(tf.constant(G1), w)])
    velocity = -0.1 * G1  # the first step starts from zero velocity: plain SGD
    np.testing.assert_allclose(w.numpy(), W0 + velocity, rtol=1e-15)
    optimizer.apply_gradients([(tf.constant(G2), w)])
    velocity = 0.9 * velocity - 0.1 * G2
    np.testing.assert_allclose(w.numpy(), W0 - 0.1 * G1 + velocity, rtol=1e-14)
    # by hand, first component: 1 - 0.05 + (0.9 * -0.05 + 0.025) = 0.93
    assert w.numpy()[0] == pytest.approx(0.93, rel=1e-14)


def test_two_adam_steps_with_keras_bias_correction():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    w = tf.Variable(W0)
    optimizer = Adam(learning_rate=lr)
    expected, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate([G1, G2], start=1):
        optimizer.apply_gradients([(tf.constant(g), w)])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - lr_t * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-14)
    assert optimizer.iterations == 2


def test_adam_first_step_moves_each_weight_by_about_the_learning_rate():
    # With bias correction, m_hat = g and v_hat = g**2 after one step: the step is
    # lr * sign(g), up to epsilon. This checks the correction without repeating its formula.
    w = tf.Variable(W0)
    Adam(learning_rate=0.01).apply_gradients([(tf.constant(G1), w)])
    np.testing.assert_allclose(w.numpy(), W0 - 0.01 * np.sign(G1), rtol=1e-6)


def test_adam_epsilon_is_added_to_the_uncorrected_root():
    # Keras adds epsilon to sqrt(v), not to sqrt(v_hat); a large epsilon shows which.
    w = tf.Variable([0.0])
    Adam(learning_rate=1.0, epsilon=0.1).apply_gradients([(tf.constant([1.0]), w)])
    # one step: m = 0.1, v = 0.001; lr_t = sqrt(0.001) / 0.1
    lr_t = np.sqrt(0.001) / 0.1
    assert w.numpy()[0] == pytest.approx(-lr_t * 0.1 / (np.sqrt(0.001) + 0.1), rel=1e-14)


def test_none_gradients_are_skipped():
    used, unused = tf.Variable([1.0, 2.0]), tf.Variable(5.0)
    for optimizer in (SGD(learning_rate=0.5, momentum=0.5), Adam()):
        before = used.numpy().copy()
        optimizer.apply_gradients([(tf.constant([1.0, 1.0]), used), (None, unused)])
        assert float(unused) == 5.0
        assert np.all(used.numpy() < before)


def test_state_is_kept_per_variable():
    a, b = tf.Variable(0.0), tf.Variable(0.0)
    optimizer = SGD(learning_rate=1.0, momentum=0.5)
    optimizer.apply_gradients([(tf.constant(1.0), a), (tf.constant(-2.0), b)])
    optimizer.apply_gradients([(tf.constant(1.0), a), (tf.constant(-2.0), b)])
    # steps: a: 1, then 0.5*1 + 1 = 1.5; b: -2, then -3
    assert (float(a), float(b)) == (-2.5, 5.0)


def test_training_a_quadratic_through_the_tape():
    target = np.array([3.0, -1.0])
    for optimizer in (SGD(learning_rate=0.1, momentum=0.5), Adam(learning_rate=0.1)):
        w = tf.Variable([0.0, 0.0])
        for _ in range(300):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(w - target))
            optimizer.apply_gradients(zip([tape.gradient(loss, w)], [w]))
        np.testing.assert_allclose(w.numpy(), target, atol=1e-3)


def test_bad_pairs_are_refused():
    with pytest.raises(TypeError, match="Variables"):
        SGD().apply_gradients([(tf.constant(1.0), tf.constant(2.0))])
    with pytest.raises(ValueError, match="shape"):
        SGD().apply_gradients([(tf.constant([1.0, 2.0]), tf.Variable(1.0))])
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
