"""GradientTape code in the style of TensorFlow's guides, run with `import tapecli as tf`.

Each test follows one example of "Introduction to gradients and automatic
differentiation" (guide/autodiff), "Advanced automatic differentiation"
(guide/advanced_autodiff) or the tf.custom_gradient API docs, using the same
calls in the same order, and then checks the numbers against calculus done by
hand (the guides' own comments give most of them) or against numpy.
"""

import numpy as np
import pytest

import tapecli as tf


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- Introduction to gradients and automatic differentiation -----------------------
def test_gradient_of_a_square():
    x = tf.Variable(3.0)

    with tf.GradientTape() as tape:
        y = x**2

    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0  # dy = 2x dx


def test_gradient_of_a_quadratic_at_3_is_9():
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x**2 + 3 * x + 1
    assert tape.gradient(y, x).numpy() == 9.0  # 2x + 3


def test_gradients_with_respect_to_a_list_and_a_dict_of_variables():
    w = tf.Variable(tf.random.normal((3, 2)), name='w')
    b = tf.Variable(tf.zeros(2, dtype=tf.float32), name='b')
    x = [[1., 2., 3.]]

    with tf.GradientTape(persistent=True) as tape:
        y = x @ w + b
        loss = tf.reduce_mean(y**2)

    [dl_dw, dl_db] = tape.gradient(loss, [w, b])
    assert dl_dw.shape == w.shape and dl_db.shape == b.shape

    # loss = mean over 2 outputs of y**2, so dloss/dy = y, and y = x w + b.
    y_np = np.array(x) @ w.numpy() + b.numpy()
    np.testing.assert_allclose(dl_dw.numpy(), np.array(x).T @ y_np)
    np.testing.assert_allclose(dl_db.numpy(), y_np[0])

    my_vars = {'w': w, 'b': b}
    grad = tape.gradient(loss, my_vars)
    assert set(grad) == {'w', 'b'}
    np.testing.assert_allclose(grad['b'].numpy(), y_np[0])
    np.testing.assert_allclose(grad['w'].numpy(), np.array(x).T @ y_np)


def test_loss_gradient_of_a_one_point_linear_model():
    x, y = 2.0, 3.0
    w = tf.Variable(0.5)
    b = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        loss = (y - (w * x + b))**2
    dw, db = tape.gradient(loss, [w, b])
    # residual r = 3 - 2 = 1: dloss/dw = -2 r x = -4, dloss/db = -2 r = -2
    assert dw.numpy() == -4.0 and db.numpy() == -2.0


def test_linear_regression_trained_with_assign_sub():
    # As in the "basic training loops" guide: fit y = 3x + 2 + noise by gradient descent.
    TRUE_W, TRUE_B, NUM_EXAMPLES = 3.0, 2.0, 201
    x = tf.linspace(-2, 2, NUM_EXAMPLES)
    noise = tf.random.normal(shape=[NUM_EXAMPLES], seed=7)
    y = x * TRUE_W + TRUE_B + noise

    w = tf.Variable(5.0)
    b = tf.Variable(0.0)

    def model(x):
        return w * x + b

    def loss(target_y, predicted_y):
        return tf.reduce_mean(tf.square(target_y - predicted_y))

    learning_rate = 0.1
    losses = []
    for epoch in range(300):
        with tf.GradientTape() as t:
            current_loss = loss(y, model(x))
        dw, db = t.gradient(current_loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
        losses.append(float(current_loss))

    # Gradient descent converges to the least-squares line, which numpy solves directly.
    slope, intercept = np.polyfit(x.numpy(), y.numpy(), 1)
    np.testing.assert_allclose([w.numpy(), b.numpy()], [slope, intercept], rtol=1e-8)
    assert losses[-1] < losses[0]


def test_what_the_tape_watches():
    x0 = tf.Variable(3.0, name='x0')  # trainable
    x1 = tf.Variable(3.0, name='x1', trainable=False)
    x2 = tf.Variable(2.0, name='x2') + 1.0  # a Variable plus a tensor is a tensor
    x3 = tf.constant(3.0, name='x3')

    with tf.GradientTape() as tape:
        y = (x0**2) + (x1**2) + (x2**2)

    grad = tape.gradient(y, [x0, x1, x2, x3])
    assert grad[0].numpy() == 6.0
    assert grad[1:] == [None, None, None]
    assert [var.name for var in tape.watched_variables()] == ['x0:0']  # TF's name


def test_watching_a_constant():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x**2

    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0


def test_watch_accessed_variables_false():
    x0 = tf.Variable(0.0)
    x1 = tf.Variable(10.0)

    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x1)
        y0 = tf.math.sin(x0)
        y1 = tf.nn.softplus(x1)
        y = y0 + y1
        ys = tf.reduce_sum(y)

    grad = tape.gradient(ys, {'x0': x0, 'x1': x1})
    assert grad['x0'] is None
    np.testing.assert_allclose(grad['x1'].numpy(), sigmoid(10.0))  # softplus' = sigmoid


def test_gradient_with_respect_to_an_intermediate_result():
    x = tf.constant(3.0)

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = y * y

    assert tape.gradient(z, y).numpy() == 18.0  # dz/dy = 2y, y = 9


def test_persistent_tape_answers_twice():
    x = tf.constant([1, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y

    np.testing.assert_array_equal(tape.gradient(z, x).numpy(), [4.0, 108.0])  # 4 x**3
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 6.0])  # 2 x
    del tape


def test_gradient_of_several_targets_is_the_gradient_of_their_sum():
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=True) as tape:
        y0 = x**2
        y1 = 1 / x

    assert tape.gradient(y0, x).numpy() == 4.0
    assert tape.gradient(y1, x).numpy() == -0.25

    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y0 = x**2
        y1 = 1 / x

    assert tape.gradient({'y0': y0, 'y1': y1}, x).numpy() == 3.75

    x = tf.Variable(2.)
    with tf.GradientTape() as tape:
        y = x * [3., 4.]

    assert tape.gradient(y, x).numpy() == 7.0


def test_elementwise_gradient_of_sigmoid_over_a_linspace():
    x = tf.linspace(-10.0, 10.0, 200+1)

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.sigmoid(x)

    dy_dx = tape.gradient(y, x)
    s = sigmoid(np.linspace(-10.0, 10.0, 201))
    np.testing.assert_allclose(dy_dx.numpy(), s * (1 - s), rtol=1e-12)


def test_control_flow_connects_only_the_branch_taken():
    x = tf.constant(1.0)

    v0 = tf.Variable(2.0)
    v1 = tf.Variable(2.0)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if x > 0.0:
            result = v0
        else:
            result = v1**2

    dv0, dv1 = tape.gradient(result, [v0, v1])
    assert dv0.numpy() == 1.0 and dv1 is None
    assert tape.gradient(result, x) is None


def test_unconnected_target_gives_none():
    x = tf.Variable(2.)
    y = tf.Variable(3.)

    with tf.GradientTape() as tape:
        z = y * y
    assert tape.gradient(z, x) is None


def test_replacing_a_variable_with_a_tensor_disconnects_it():
    x = tf.Variable(2.0)
    seen = []
    for epoch in range(2):
        with tf.GradientTape() as tape:
            y = x+1

        seen.append((type(x).__name__, tape.gradient(y, x)))
        x = x + 1   # should have been x.assign_add(1)

    assert seen[0][0] == 'Variable' and seen[0][1].numpy() == 1.0
    assert seen[1] == ('Tensor', None)


def test_numpy_calculations_are_not_recorded():
    x = tf.Variable([[1.0, 2.0],
                     [3.0, 4.0]], dtype=tf.float32)

    with tf.GradientTape() as tape:
        x2 = x**2
        y = np.mean(x2, axis=0)  # leaves tapecli: the tape cannot follow
        y = tf.reduce_mean(y, axis=0)

    assert tape.gradient(y, x) is None


def test_reading_a_variable_after_assign_add_stops_the_gradient():
    x0 = tf.Variable(3.0)
    x1 = tf.Variable(0.0)

    with tf.GradientTape() as tape:
        x1.assign_add(x0)
        y = x1**2   # y = (x1 + x0)**2, but the tape only sees x1's new state

    assert tape.gradient(y, x0) is None


def test_zeros_instead_of_none():
    x = tf.Variable([2., 2.])
    y = tf.Variable(3.)

    with tf.GradientTape() as tape:
        z = y**2
    g = tape.gradient(z, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])


# ---- Advanced automatic differentiation --------------------------------------------
def test_stop_recording():
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)

    with tf.GradientTape() as t:
        x_sq = x * x
        with t.stop_recording():
            y_sq = y * y
        z = x_sq + y_sq

    grad = t.gradient(z, {'x': x, 'y': y})
    assert grad['x'].numpy() == 4.0  # 2x
    assert grad['y'] is None


def test_reset():
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)
    reset = True

    with tf.GradientTape() as t:
        y_sq = y * y
        if reset:
            t.reset()  # forget everything recorded so far
        z = x * x + y_sq

    grad = t.gradient(z, {'x': x, 'y': y})
    assert grad['x'].numpy() == 4.0
    assert grad['y'] is None


def test_stop_gradient():
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)

    with tf.GradientTape() as t:
        y_sq = y**2
        z = x**2 + tf.stop_gradient(y_sq)

    grad = t.gradient(z, {'x': x, 'y': y})
    assert grad['x'].numpy() == 4.0
    assert grad['y'] is None


def test_custom_gradient_that_clips_the_upstream_gradient():
    # An identity whose backward pass clips the gradient's norm to 0.5.
    @tf.custom_gradient
    def clip_gradients(y):
        def backward(dy):
            return tf.clip_by_norm(dy, 0.5)
        return y, backward

    v = tf.Variable(2.0)
    with tf.GradientTape() as t:
        output = clip_gradients(v * v)
    # The upstream gradient 1 is clipped to 0.5, then times d(v*v)/dv = 4.
    assert t.gradient(output, v).numpy() == 2.0

    with tf.GradientTape() as t:
        output = 0.1 * clip_gradients(v * v)
    # An upstream gradient of norm 0.1 passes unclipped: 0.1 * 4.
    np.testing.assert_allclose(t.gradient(output, v).numpy(), 0.4)


def test_multiple_tapes_watch_different_tensors():
    x0 = tf.constant(0.0)
    x1 = tf.constant(0.0)

    with tf.GradientTape() as tape0, tf.GradientTape() as tape1:
        tape0.watch(x0)
        tape1.watch(x1)

        y0 = tf.math.sin(x0)
        y1 = tf.nn.sigmoid(x1)

        y = y0 + y1

        ys = tf.reduce_sum(y)

    assert tape0.gradient(ys, x0).numpy() == 1.0   # cos(0)
    assert tape1.gradient(ys, x1).numpy() == 0.25  # sigmoid(0) (1 - sigmoid(0))


def test_higher_order_gradients_of_a_cube():
    x = tf.Variable(1.0)

    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = x * x * x

        # Computed inside t2, so t2 can differentiate the gradient computation.
        dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)

    assert dy_dx.numpy() == 3.0    # 3 x**2
    assert d2y_dx2.numpy() == 6.0  # 6 x


def test_jacobian_with_respect_to_a_scalar_source():
    x = tf.linspace(-10.0, 10.0, 200+1)
    delta = tf.Variable(0.0)

    with tf.GradientTape() as tape:
        y = tf.nn.sigmoid(x+delta)

    dy_dx = tape.jacobian(y, delta)
    assert y.shape == dy_dx.shape == (201,)
    s = sigmoid(np.linspace(-10.0, 10.0, 201))
    np.testing.assert_allclose(dy_dx.numpy(), s * (1 - s), rtol=1e-12)


def test_jacobian_summed_over_the_target_is_the_gradient():
    x = tf.random.normal([7, 5], seed=1)
    kernel = tf.Variable(tf.random.normal([5, 10], seed=2))

    with tf.GradientTape(persistent=True) as tape:
        y = tf.nn.relu(x @ kernel)

    j = tape.jacobian(y, kernel)
    assert j.shape == (7, 10, 5, 10)
    g = tape.gradient(y, kernel)
    j_sum = tf.reduce_sum(j, axis=[0, 1])
    delta = tf.reduce_sum(abs(g - j_sum)).numpy()
    assert delta < 1e-12
    # And by hand: dy[b, o]/dkernel[i, o] = x[b, i] where the unit is active.
    active = (x.numpy() @ kernel.numpy() > 0).astype(float)
    np.testing.assert_allclose(g.numpy(), x.numpy().T @ active)


def test_hessian_of_a_small_model_via_jacobian_of_a_gradient():
    x = tf.random.normal([7, 5], seed=3)
    kernel1 = tf.Variable(tf.random.normal([5, 4], seed=4))
    kernel2 = tf.Variable(tf.random.normal([4, 3], seed=5))

    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            h = tf.tanh(x @ kernel1)
            out = tf.tanh(h @ kernel2)
            loss = tf.reduce_mean(out**2)

        g = t1.gradient(loss, kernel1)

    hess = t2.jacobian(g, kernel1)
    assert hess.shape == (5, 4, 5, 4)
    n_params = 5 * 4
    h_mat = tf.reshape(hess, [n_params, n_params]).numpy()
    np.testing.assert_allclose(h_mat, h_mat.T, atol=1e-12)  # a Hessian is symmetric

    # Each column against central differences of the gradient.
    def gradient_at(k1):
        k = tf.constant(k1)
        with tf.GradientTape() as tape:
            tape.watch(k)
            loss = tf.reduce_mean(tf.tanh(tf.tanh(x @ k) @ kernel2)**2)
        return tape.gradient(loss, k).numpy().ravel()

    eps = 1e-6
    k0 = kernel1.numpy()
    for i in range(n_params):
        step = np.zeros(n_params)
        step[i] = eps
        step = step.reshape(k0.shape)
        column = (gradient_at(k0 + step) - gradient_at(k0 - step)) / (2 * eps)
        np.testing.assert_allclose(h_mat[:, i], column, atol=1e-7)


def test_batch_jacobian_is_the_diagonal_of_the_full_jacobian():
    x = tf.random.normal([7, 5], seed=6)
    kernel1 = tf.Variable(tf.random.normal([5, 8], seed=7))
    kernel2 = tf.Variable(tf.random.normal([8, 6], seed=8))

    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = tf.tanh(x @ kernel1)
        y = tf.tanh(y @ kernel2)

    j = tape.jacobian(y, x)
    assert j.shape == (7, 6, 7, 5)
    j_sum = tf.reduce_sum(j, axis=2)
    jb = tape.batch_jacobian(y, x)
    assert jb.shape == (7, 6, 5)
    error = tf.reduce_sum(abs(jb - j_sum))
    assert error.numpy() < 1e-12
    # By hand: dy/dx = diag(1 - y**2) K2^T diag(1 - h**2) K1^T, per row.
    h = np.tanh(x.numpy() @ kernel1.numpy())
    out = np.tanh(h @ kernel2.numpy())
    expected = np.einsum("bo,ho,bh,ih->boi", 1 - out**2, kernel2.numpy(), 1 - h**2,
                         kernel1.numpy())
    np.testing.assert_allclose(jb.numpy(), expected, atol=1e-12)


# ---- GradientTape API docs: nested and persistent tapes ----------------------------
def test_nested_tapes_over_a_watched_constant():
    x = tf.constant(3.0)
    with tf.GradientTape() as g:
        g.watch(x)
        with tf.GradientTape() as gg:
            gg.watch(x)
            y = x * x
        dy_dx = gg.gradient(y, x)  # 2x
    d2y_dx2 = g.gradient(dy_dx, x)  # 2
    assert dy_dx.numpy() == 6.0
    assert d2y_dx2.numpy() == 2.0


def test_second_derivative_of_a_cube_at_3_with_nested_tapes():
    x = tf.constant(3.0)
    with tf.GradientTape() as g:
        g.watch(x)
        with tf.GradientTape() as gg:
            gg.watch(x)
            y = x**3
        dy_dx = gg.gradient(y, x)
    d2y_dx2 = g.gradient(dy_dx, x)
    assert dy_dx.numpy() == 27.0   # 3 x**2
    assert d2y_dx2.numpy() == 18.0  # 6 x


def test_persistent_tape_computes_several_gradients():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as g:
        g.watch(x)
        y = x * x
        z = y * y
    dz_dx = g.gradient(z, x)  # 4 x**3 = 108
    dy_dx = g.gradient(y, x)  # 2 x = 6
    del g
    assert dz_dx.numpy() == 108.0 and dy_dx.numpy() == 6.0


def test_second_derivative_of_a_cube_at_3_with_a_persistent_outer_tape():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as g:
        g.watch(x)
        y = x**3
        dy_dx = g.gradient(y, x)   # recorded by g itself, as g is persistent
    d2y_dx2 = g.gradient(dy_dx, x)
    assert dy_dx.numpy() == 27.0
    assert d2y_dx2.numpy() == 18.0


# ---- tf.custom_gradient API docs ---------------------------------------------------
def test_custom_gradient_makes_log1pexp_stable():
    def log1pexp_naive(x):
        return tf.math.log(1 + tf.exp(x))

    @tf.custom_gradient
    def log1pexp(x):
        e = tf.exp(x)
        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))
        return tf.math.log(1 + e), grad

    x = tf.constant(100.)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = log1pexp(x)
    assert tape.gradient(y, x).numpy() == 1.0

    # The guide's x = 100 overflows exp in float32; float64 needs x = 1000 for that.
    x = tf.constant(1000.)
    with np.errstate(all="ignore"), tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_naive = log1pexp_naive(x)
        y = log1pexp(x)
        assert np.isnan(tape.gradient(y_naive, x).numpy())  # exp(x) / (1 + exp(x)) = inf / inf
        assert tape.gradient(y, x).numpy() == 1.0

    x = tf.constant(0.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = log1pexp(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), sigmoid(0.5))


@tf.custom_gradient
def custom_relu(x):
    def grad(upstream):
        return upstream * tf.cast(x > 0, tf.float64)
    return tf.maximum(x, 0.0), grad


def test_custom_relu_gradient():
    x = tf.constant([-2.0, 0.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = custom_relu(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("upstream", [1.0, 3.0])
def test_custom_relu_passes_on_the_upstream_gradient(upstream):
    x = tf.Variable([-1.5, 0.5, 4.0])
    with tf.GradientTape() as tape:
        y = upstream * custom_relu(x) + x
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(),
                                  [1.0, upstream + 1.0, upstream + 1.0])
