"""TensorFlow's own guides, run on `import tapecli as tf`, against numbers from TensorFlow.

Each `guide_*` function below is one group of cells of "Introduction to gradients and
automatic differentiation" (site/en/guide/autodiff.ipynb in tensorflow/docs),
"Advanced automatic differentiation" (advanced_autodiff.ipynb), "Basic training loops"
(basic_training_loops.ipynb) or "Optimizers with Core APIs" (core/optimizers_core.ipynb):
the guide's code, taking the library as the argument `tf`, returning what the cells print.
The tests run them with tapecli and compare with RECORDED, what the same functions
returned when run with TensorFlow 2.21.0 (tensorflow-cpu, numpy 2.4, Linux x86-64):

    python tests/test_tf_guides.py   # with tensorflow-cpu and pytest: prints RECORDED

Where the guides differ from these functions, and why:
- Keras layers (tf.keras.layers.Dense) become the small `Dense` tf.Module below, whose
  weights come from numpy (fixed seeds), as do the guides' tf.random.normal draws: so
  both libraries see the same numbers. Plotting, tf.data, saved models and Keras
  training are left out.
- Cells whose numbers depend on rounding (a Hessian solve, the optimizers' discrete
  convergence) take a `dtype` and are recorded in TensorFlow at the same precision as
  tapecli runs them: float64 (tapecli's default) and float32 (`dtype=tf.float32`).
- Arrays of more than 12 entries are compared through `summary`: shape, a few entries,
  the sum of absolute values and a sum weighted by cos(1 + index), which sees them all.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

# ---- the guides' code ----------------------------------------------------------------
# Numpy draws standing in for tf.random.normal, the same for both libraries.
_rng = np.random.default_rng(20261204)
X_7_5 = _rng.standard_normal((7, 5))
W_3_2 = _rng.standard_normal((3, 2))
KERNEL_5_10, BIAS_10 = _rng.standard_normal((5, 10)) * 0.5, _rng.standard_normal(10) * 0.1
KERNEL_5_8, BIAS_8 = _rng.standard_normal((5, 8)) * 0.5, _rng.standard_normal(8) * 0.1
KERNEL_8_6, BIAS_6 = _rng.standard_normal((8, 6)) * 0.5, _rng.standard_normal(6) * 0.1
NOISE_201 = _rng.standard_normal(201)


def make_dense(tf):
    class Dense(tf.Module):
        """tf.keras.layers.Dense's arithmetic as a tf.Module, with given weights."""

        def __init__(self, kernel, bias, activation, dtype, name=None):
            super().__init__(name=name)
            self.kernel = tf.Variable(tf.constant(kernel, dtype), name='kernel')
            self.bias = tf.Variable(tf.constant(bias, dtype), name='bias')
            self.activation = activation

        @tf.Module.with_name_scope
        def __call__(self, x):
            return self.activation(x @ self.kernel + self.bias)

    return Dense


def plain(value):
    """What a cell shows, as Python numbers (None stays None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    array = np.asarray(value, dtype=np.float64)
    return array.item() if array.ndim == 0 else array.tolist()


def summary(value):
    array = np.asarray(value, dtype=np.float64)
    if array.size <= 12:
        return plain(array)
    flat = array.ravel()
    weights = np.cos(1.0 + np.arange(flat.size))
    return {"shape": list(array.shape), "head": flat[:4].tolist(), "tail": flat[-4:].tolist(),
            "sum_abs": float(np.abs(flat).sum()), "weighted": float(weights @ flat)}


# ---- Introduction to gradients and automatic differentiation (autodiff.ipynb) -----
def guide_gradient_tapes(tf):
    x = tf.Variable(3.0)

    with tf.GradientTape() as tape:
      y = x**2

    dy_dx = tape.gradient(y, x)
    return dy_dx.numpy()


def guide_gradients_of_a_model(tf):
    w = tf.Variable(tf.constant(W_3_2, tf.float32), name='w')
    b = tf.Variable(tf.zeros(2, dtype=tf.float32), name='b')
    x = [[1., 2., 3.]]

    with tf.GradientTape(persistent=True) as tape:
      y = x @ w + b
      loss = tf.reduce_mean(y**2)

    [dl_dw, dl_db] = tape.gradient(loss, [w, b])
    my_vars = {
        'w': w,
        'b': b
    }
    grad = tape.gradient(loss, my_vars)
    return [list(w.shape), list(dl_dw.shape), dl_dw, dl_db, grad['b']]


def guide_gradients_of_a_layer(tf):
    layer = make_dense(tf)(KERNEL_5_10[:3, :2], BIAS_10[:2], tf.nn.relu, tf.float32)
    x = tf.constant([[1., 2., 3.]])

    with tf.GradientTape() as tape:
      # Forward pass
      y = layer(x)
      loss = tf.reduce_mean(y**2)

    grad = tape.gradient(loss, layer.trainable_variables)
    lines = [f'{var.name}, shape: {g.shape}' for var, g in zip(layer.trainable_variables, grad)]
    return [lines, grad]


def guide_controlling_what_the_tape_watches(tf):
    x0 = tf.Variable(3.0, name='x0')
    x1 = tf.Variable(3.0, name='x1', trainable=False)
    x2 = tf.Variable(2.0, name='x2') + 1.0
    x3 = tf.constant(3.0, name='x3')

    with tf.GradientTape() as tape:
      y = (x0**2) + (x1**2) + (x2**2)

    grad = tape.gradient(y, [x0, x1, x2, x3])
    return [grad, [var.name for var in tape.watched_variables()]]


def guide_watching_a_constant(tf):
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = x**2

    dy_dx = tape.gradient(y, x)
    return dy_dx.numpy()


def guide_watch_accessed_variables_off(tf):
    x0 = tf.Variable(0.0)
    x1 = tf.Variable(10.0)

    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(x1)
      y0 = tf.math.sin(x0)
      y1 = tf.nn.softplus(x1)
      y = y0 + y1
      ys = tf.reduce_sum(y)

    grad = tape.gradient(ys, {'x0': x0, 'x1': x1})
    return [grad['x0'], grad['x1'].numpy()]


def guide_intermediate_results(tf):
    x = tf.constant(3.0)

    with tf.GradientTape() as tape:
      tape.watch(x)
      y = x * x
      z = y * y

    return tape.gradient(z, y).numpy()


def guide_persistent_tape(tf):
    x = tf.constant([1, 3.0])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      y = x * x
      z = y * y

    first, second = tape.gradient(z, x).numpy(), tape.gradient(y, x).numpy()
    del tape
    return [first, second]


def guide_gradient_of_several_targets(tf):
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=True) as tape:
      y0 = x**2
      y1 = 1 / x
    separately = [tape.gradient(y0, x).numpy(), tape.gradient(y1, x).numpy()]

    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
      y0 = x**2
      y1 = 1 / x
    return separately + [tape.gradient({'y0': y0, 'y1': y1}, x).numpy()]


def guide_gradient_of_a_vector_target(tf):
    x = tf.Variable(2.)

    with tf.GradientTape() as tape:
      y = x * [3., 4.]

    return tape.gradient(y, x).numpy()


def guide_sigmoid_and_its_gradient(tf):
    x = tf.linspace(-10.0, 10.0, 200+1)

    with tf.GradientTape() as tape:
      tape.watch(x)
      y = tf.nn.sigmoid(x)

    dy_dx = tape.gradient(y, x)
    return [summary(y), summary(dy_dx)]


def guide_control_flow(tf):
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
    dx = tape.gradient(result, x)
    return [dv0, dv1, dx]


def guide_unconnected_gradient(tf):
    x = tf.Variable(2.)
    y = tf.Variable(3.)

    with tf.GradientTape() as tape:
      z = y * y
    return tape.gradient(z, x)


def guide_replacing_a_variable_with_a_tensor(tf):
    x = tf.Variable(2.0)
    printed = []
    for epoch in range(2):
      with tf.GradientTape() as tape:
        y = x+1

      printed.append(tape.gradient(y, x))
      x = x + 1   # This should be `x.assign_add(1)`
    return printed


def guide_calculations_in_numpy(tf):
    x = tf.Variable([[1.0, 2.0],
                     [3.0, 4.0]], dtype=tf.float32)

    with tf.GradientTape() as tape:
      x2 = x**2

      # This step is calculated with NumPy
      y = np.mean(x2, axis=0)

      # Like most ops, reduce_mean will cast the NumPy array to a constant tensor
      # using `tf.convert_to_tensor`.
      y = tf.reduce_mean(y, axis=0)

    return tape.gradient(y, x)


def guide_integer_gradients(tf):
    x = tf.constant(10)

    with tf.GradientTape() as g:
      g.watch(x)
      y = x * x

    return [x.dtype.name, y.numpy(), g.gradient(y, x)]


def guide_stateful_ops(tf):
    x0 = tf.Variable(3.0)
    x1 = tf.Variable(0.0)

    with tf.GradientTape() as tape:
      # Update x1 = x1 + x0.
      x1.assign_add(x0)
      # The tape starts recording from x1.
      y = x1**2   # y = (x1 + x0)**2

    return tape.gradient(y, x0)


def guide_zeros_instead_of_none(tf):
    x = tf.Variable([2., 2.])
    y = tf.Variable(3.)

    with tf.GradientTape() as tape:
      z = y**2
    return tape.gradient(z, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


# ---- Advanced automatic differentiation (advanced_autodiff.ipynb) -----------------
def guide_stop_recording(tf):
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)

    with tf.GradientTape() as t:
      x_sq = x * x
      with t.stop_recording():
        y_sq = y * y
      z = x_sq + y_sq

    grad = t.gradient(z, {'x': x, 'y': y})
    return [grad['x'], grad['y']]


def guide_reset(tf):
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)
    reset = True

    with tf.GradientTape() as t:
      y_sq = y * y
      if reset:
        # Throw out all the tape recorded so far.
        t.reset()
      z = x * x + y_sq

    grad = t.gradient(z, {'x': x, 'y': y})
    return [grad['x'], grad['y']]


def guide_stop_gradient(tf):
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)

    with tf.GradientTape() as t:
      y_sq = y**2
      z = x**2 + tf.stop_gradient(y_sq)

    grad = t.gradient(z, {'x': x, 'y': y})
    return [grad['x'], grad['y']]


def guide_custom_gradient(tf):
    @tf.custom_gradient
    def clip_gradients(y):
      def backward(dy):
        return tf.clip_by_norm(dy, 0.5)
      return y, backward

    v = tf.Variable(2.0)
    with tf.GradientTape() as t:
      output = clip_gradients(v * v)
    return t.gradient(output, v)  # calls "backward", which clips 4 to 2


def guide_multiple_tapes(tf):
    x0 = tf.constant(0.0)
    x1 = tf.constant(0.0)

    with tf.GradientTape() as tape0, tf.GradientTape() as tape1:
      tape0.watch(x0)
      tape1.watch(x1)

      y0 = tf.math.sin(x0)
      y1 = tf.nn.sigmoid(x1)

      y = y0 + y1

      ys = tf.reduce_sum(y)

    return [tape0.gradient(ys, x0).numpy(), tape1.gradient(ys, x1).numpy()]


def guide_higher_order_gradients(tf):
    x = tf.Variable(1.0)  # Create a Tensorflow variable initialized to 1.0

    with tf.GradientTape() as t2:
      with tf.GradientTape() as t1:
        y = x * x * x

      # Compute the gradient inside the outer `t2` context manager
      # which means the gradient computation is differentiable as well.
      dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)
    return [dy_dx.numpy(), d2y_dx2.numpy()]


def guide_input_gradient_regularization(tf, dtype):
    x = tf.constant(X_7_5, dtype)

    layer = make_dense(tf)(KERNEL_5_10, BIAS_10, tf.nn.relu, dtype)

    with tf.GradientTape() as t2:
      # The inner tape only takes the gradient with respect to the input,
      # not the variables.
      with tf.GradientTape(watch_accessed_variables=False) as t1:
        t1.watch(x)
        y = layer(x)  # noqa: F841  (as in the guide)
        out = tf.reduce_sum(layer(x)**2)
      # 1. Calculate the input gradient.
      g1 = t1.gradient(out, x)
      # 2. Calculate the magnitude of the input gradient.
      g1_mag = tf.norm(g1)

    dg1_mag = t2.gradient(g1_mag, layer.trainable_variables)
    return [[list(var.shape) for var in dg1_mag], g1_mag, summary(g1),
            [summary(g) for g in dg1_mag]]


def guide_jacobian_of_a_scalar_source(tf):
    x = tf.linspace(-10.0, 10.0, 200+1)
    delta = tf.Variable(0.0)

    with tf.GradientTape() as tape:
      y = tf.nn.sigmoid(x+delta)

    dy_dx = tape.jacobian(y, delta)
    return [list(y.shape), list(dy_dx.shape), summary(dy_dx)]


def guide_jacobian_of_a_tensor_source(tf, dtype):
    x = tf.constant(X_7_5, dtype)
    layer = make_dense(tf)(KERNEL_5_10, BIAS_10, tf.nn.relu, dtype)

    with tf.GradientTape(persistent=True) as tape:
      y = layer(x)

    j = tape.jacobian(y, layer.kernel)
    g = tape.gradient(y, layer.kernel)
    j_sum = tf.reduce_sum(j, axis=[0, 1])
    delta = tf.reduce_max(abs(g - j_sum)).numpy()
    assert delta < 1e-3
    return [list(y.shape), list(layer.kernel.shape), list(j.shape), list(g.shape),
            summary(j), summary(g)]


def guide_hessian_newton_step(tf, dtype):
    x = tf.constant(X_7_5, dtype)
    Dense = make_dense(tf)
    layer1 = Dense(KERNEL_5_8, BIAS_8, tf.nn.relu, dtype)
    layer2 = Dense(KERNEL_8_6, BIAS_6, tf.nn.relu, dtype)

    with tf.GradientTape() as t2:
      with tf.GradientTape() as t1:
        x = layer1(x)
        x = layer2(x)
        loss = tf.reduce_mean(x**2)

      g = t1.gradient(loss, layer1.kernel)

    h = t2.jacobian(g, layer1.kernel)
    shapes = [f'layer.kernel.shape: {layer1.kernel.shape}', f'h.shape: {h.shape}']

    n_params = tf.reduce_prod(layer1.kernel.shape)

    g_vec = tf.reshape(g, [n_params, 1])
    h_mat = tf.reshape(h, [n_params, n_params])

    def imshow_zero_center(image, **kwargs):
      lim = tf.reduce_max(abs(image))
      return lim  # the guide plots the image between -lim and lim

    lim = imshow_zero_center(h_mat)

    eps = 1e-3
    eye_eps = tf.eye(h_mat.shape[0], dtype=dtype)*eps

    update = tf.linalg.solve(h_mat + eye_eps, g_vec)

    _ = layer1.kernel.assign_sub(tf.reshape(update, layer1.kernel.shape))
    return [shapes, int(n_params), lim, summary(g_vec), summary(h_mat), summary(update),
            summary(layer1.kernel)]


def guide_batch_jacobian(tf, dtype):
    x = tf.constant(X_7_5, dtype)
    Dense = make_dense(tf)
    layer1 = Dense(KERNEL_5_8, BIAS_8, tf.nn.elu, dtype)
    layer2 = Dense(KERNEL_8_6, BIAS_6, tf.nn.elu, dtype)

    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
      tape.watch(x)
      y = layer1(x)
      y = layer2(y)

    j = tape.jacobian(y, x)
    j_sum = tf.reduce_sum(j, axis=2)
    j_select = tf.einsum('bxby->bxy', j)
    jb = tape.batch_jacobian(y, x)
    error = tf.reduce_max(abs(jb - j_sum))
    assert error < 1e-3
    return [list(y.shape), list(j.shape), list(j_sum.shape), list(j_select.shape),
            list(jb.shape), summary(j), summary(j_select), summary(jb), error.numpy()]


# ---- Basic training loops (basic_training_loops.ipynb) ----------------------------
TRUE_W = 3.0
TRUE_B = 2.0

NUM_EXAMPLES = 201


def make_model(tf):
    class MyModel(tf.Module):
      def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Initialize the weights to `5.0` and the bias to `0.0`
        # In practice, these should be randomly initialized
        self.w = tf.Variable(5.0)
        self.b = tf.Variable(0.0)

      def __call__(self, x):
        return self.w * x + self.b

    return MyModel


def guide_the_model(tf):
    model = make_model(tf)()
    assert model(3.0).numpy() == 15.0
    return [model.name, [v.numpy() for v in model.variables], len(model.trainable_variables)]


def guide_training_loop(tf):
    x = tf.linspace(-2,2, NUM_EXAMPLES)
    x = tf.cast(x, tf.float32)

    def f(x):
      return x * TRUE_W + TRUE_B

    noise = tf.constant(NOISE_201, tf.float32)  # the guide's tf.random.normal(shape=[201])

    y = f(x) + noise

    def loss(target_y, predicted_y):
      return tf.reduce_mean(tf.square(target_y - predicted_y))

    def train(model, x, y, learning_rate):

      with tf.GradientTape() as t:
        # Trainable variables are automatically tracked by GradientTape
        current_loss = loss(y, model(x))

      # Use GradientTape to calculate the gradients with respect to W and b
      dw, db = t.gradient(current_loss, [model.w, model.b])

      # Subtract the gradient scaled by the learning rate
      model.w.assign_sub(learning_rate * dw)
      model.b.assign_sub(learning_rate * db)

    model = make_model(tf)()

    weights = []
    biases = []
    losses = []
    epochs = range(10)

    def report(model, loss):
      return f"W = {model.w.numpy():1.2f}, b = {model.b.numpy():1.2f}, loss={loss:2.5f}"

    def training_loop(model, x, y):

      for epoch in epochs:
        # Update the model with the single giant batch
        train(model, x, y, learning_rate=0.1)

        # Track this before I update
        weights.append(model.w.numpy())
        biases.append(model.b.numpy())
        current_loss = loss(y, model(x))
        losses.append(current_loss.numpy())
        report(model, current_loss)

    starting = "Current loss: %1.6f" % loss(y, model(x)).numpy()  # noqa: UP031  (the guide's)
    training_loop(model, x, y)
    final = "Current loss: %1.6f" % loss(model(x), y).numpy()  # noqa: UP031
    return [starting, final, weights, biases, losses, report(model, loss(y, model(x)))]


# ---- Optimizers with Core APIs (core/optimizers_core.ipynb) -----------------------
def make_optimizers(tf):
    class GradientDescent(tf.Module):

      def __init__(self, learning_rate=1e-3):
        # Initialize parameters
        self.learning_rate = learning_rate
        self.title = f"Gradient descent optimizer: learning rate={self.learning_rate}"

      def apply_gradients(self, grads, vars):
        # Update variables
        for grad, var in zip(grads, vars):
          var.assign_sub(self.learning_rate*grad)

    class Momentum(tf.Module):

      def __init__(self, learning_rate=1e-3, momentum=0.7):
        # Initialize parameters
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.change = 0.
        self.title = f"Gradient descent optimizer: learning rate={self.learning_rate}"

      def apply_gradients(self, grads, vars):
        # Update variables
        for grad, var in zip(grads, vars):
          curr_change = self.learning_rate*grad + self.momentum*self.change
          var.assign_sub(curr_change)
          self.change = curr_change

    class Adam(tf.Module):

        def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, ep=1e-7):
          # Initialize the Adam parameters
          self.beta_1 = beta_1
          self.beta_2 = beta_2
          self.learning_rate = learning_rate
          self.ep = ep
          self.t = 1.
          self.v_dvar, self.s_dvar = [], []
          self.title = f"Adam: learning rate={self.learning_rate}"
          self.built = False

        def apply_gradients(self, grads, vars):
          # Set up moment and RMSprop slots for each variable on the first call
          if not self.built:
            for var in vars:
              # The guide's tf.zeros(shape=var.shape) is float32, its variables' type;
              # dtype=var.dtype keeps that true in float64 too.
              v = tf.Variable(tf.zeros(shape=var.shape, dtype=var.dtype))
              s = tf.Variable(tf.zeros(shape=var.shape, dtype=var.dtype))
              self.v_dvar.append(v)
              self.s_dvar.append(s)
            self.built = True
          # Perform Adam updates
          for i, (d_var, var) in enumerate(zip(grads, vars)):
            # Moment calculation
            self.v_dvar[i] = self.beta_1*self.v_dvar[i] + (1-self.beta_1)*d_var
            # RMSprop calculation
            self.s_dvar[i] = self.beta_2*self.s_dvar[i] + (1-self.beta_2)*tf.square(d_var)
            # Bias correction
            v_dvar_bc = self.v_dvar[i]/(1-(self.beta_1**self.t))
            s_dvar_bc = self.s_dvar[i]/(1-(self.beta_2**self.t))
            # Update model variables
            var.assign_sub(self.learning_rate*(v_dvar_bc/(tf.sqrt(s_dvar_bc) + self.ep)))
          # Increment the iteration counter
          self.t += 1.

    return {"gradient_descent": GradientDescent, "momentum": Momentum, "adam": Adam}


def optimizer_loss(x):
    return 2*(x**4) + 3*(x**3) + 2


def make_grad(tf):
    def grad(f, x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        result = f(x)
      return tape.gradient(result, x)
    return grad


def guide_loss_and_its_gradient(tf):
    x_vals = tf.linspace(-2, 2, 201)
    x_vals = tf.cast(x_vals, tf.float32)
    grad = make_grad(tf)
    return [summary(optimizer_loss(x_vals)), summary(grad(optimizer_loss, x_vals)),
            plain(optimizer_loss(0)), plain(optimizer_loss(-9/8))]


def guide_convergence(tf, optimizer, dtype):
    grad = make_grad(tf)

    def convergence_test(optimizer, loss_fn, grad_fn=grad, init_val=2., max_iters=2000):
      # Function for optimizer convergence test
      printed = [optimizer.title]
      # Initializing variables and structures
      x_star = tf.Variable(init_val, dtype=dtype)  # the guide's is float32, TF's default
      param_path = []
      converged = False

      for iter in range(1, max_iters + 1):
        x_grad = grad_fn(loss_fn, x_star)

        # Case for exploding gradient
        if tf.math.is_nan(x_grad):
          printed.append(f"Gradient exploded at iteration {iter}")
          return printed, []

        # Updating the variable and storing its old-version
        x_old = x_star.numpy()
        optimizer.apply_gradients([x_grad], [x_star])
        param_path.append(x_star.numpy())

        # Checking for convergence
        if x_star == x_old:
          printed.append(f"Converged in {iter} iterations")
          converged = True
          break

      # Print early termination message
      if not converged:
        printed.append(f"Exceeded maximum of {max_iters} iterations. Test terminated.")
      return printed, param_path

    results = []
    for learning_rate in [1e-3, 1e-2, 1e-1]:
      with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # TensorFlow's own numpy, on nan
        printed, param_path = convergence_test(
            make_optimizers(tf)[optimizer](learning_rate=learning_rate), loss_fn=optimizer_loss)
      results.append([printed, len(param_path), summary(param_path) if param_path else []])
    return results


# ---- what the same functions returned in TensorFlow 2.21.0 --------------------------
# TensorFlow 2.21.0, numpy 2.4.6, Linux x86-64, 2026-12-04 (printed by this file's recording run)
RECORDED = {'batch_jacobian/float64': [[7, 6],
                            [7, 6, 7, 5],
                            [7, 6, 5],
                            [7, 6, 5],
                            [7, 6, 5],
                            {'shape': [7, 6, 7, 5],
                             'head': [-0.03551468766387218,
                                      0.01098807617095058,
                                      0.028498101255314278,
                                      -0.04296747003881213],
                             'tail': [0.27406720105297666,
                                      0.6398067151121033,
                                      -0.24271831780338418,
                                      -0.3195087254796452],
                             'sum_abs': 38.85897256550966,
                             'weighted': -1.2113233797499063},
                            {'shape': [7, 6, 5],
                             'head': [-0.03551468766387218,
                                      0.01098807617095058,
                                      0.028498101255314278,
                                      -0.04296747003881213],
                             'tail': [0.27406720105297666,
                                      0.6398067151121033,
                                      -0.24271831780338418,
                                      -0.3195087254796452],
                             'sum_abs': 38.85897256550965,
                             'weighted': 3.1795467296881386},
                            {'shape': [7, 6, 5],
                             'head': [-0.03551468766387218,
                                      0.01098807617095058,
                                      0.028498101255314278,
                                      -0.04296747003881213],
                             'tail': [0.27406720105297666,
                                      0.6398067151121033,
                                      -0.24271831780338418,
                                      -0.3195087254796452],
                             'sum_abs': 38.85897256550965,
                             'weighted': 3.1795467296881386},
                            5.551115123125783e-17],
 'calculations_in_numpy': None,
 'control_flow': [1.0, None, None],
 'controlling_what_the_tape_watches': [[6.0, None, None, None], ['x0:0']],
 'convergence/gradient_descent/float32': [[['Gradient descent optimizer: learning rate=0.001',
                                            'Exceeded maximum of 2000 iterations. Test terminated.'],
                                           2000,
                                           {'shape': [2000],
                                            'head': [1.899999976158142,
                                                     1.8126379251480103,
                                                     1.7354214191436768,
                                                     1.66650390625],
                                            'tail': [0.04770812392234802,
                                                     0.04768677055835724,
                                                     0.04766543582081795,
                                                     0.04764411970973015],
                                            'sum_abs': 302.9485724195838,
                                            'weighted': -0.8549506909230219}],
                                          [['Gradient descent optimizer: learning rate=0.01',
                                            'Exceeded maximum of 2000 iterations. Test terminated.'],
                                           2000,
                                           {'shape': [2000],
                                            'head': [1.0,
                                                     0.8299999833106995,
                                                     0.722256064414978,
                                                     0.6451658010482788],
                                            'tail': [0.005398734472692013,
                                                     0.005396098829805851,
                                                     0.005393465515226126,
                                                     0.005390834994614124],
                                            'sum_abs': 50.33694670908153,
                                            'weighted': -0.33504803123764837}],
                                          [['Gradient descent optimizer: learning rate=0.1',
                                            'Gradient exploded at iteration 6'],
                                           0,
                                           []]],
 'convergence/gradient_descent/float64': [[['Gradient descent optimizer: learning rate=0.001',
                                            'Exceeded maximum of 2000 iterations. Test terminated.'],
                                           2000,
                                           {'shape': [2000],
                                            'head': [1.9,
                                                     1.812638,
                                                     1.735421444437669,
                                                     1.66650387831086],
                                            'tail': [0.04770811664105836,
                                                     0.04768676336755291,
                                                     0.04766542959289635,
                                                     0.04764411529004488],
                                            'sum_abs': 302.94856423865764,
                                            'weighted': -0.8549505078811707}],
                                          [['Gradient descent optimizer: learning rate=0.01',
                                            'Exceeded maximum of 2000 iterations. Test terminated.'],
                                           2000,
                                           {'shape': [2000],
                                            'head': [1.0, 0.83, 0.72225604, 0.6451657912472603],
                                            'tail': [0.00539873428295673,
                                                     0.005396098524825431,
                                                     0.005393465345853726,
                                                     0.005390834742251207],
                                            'sum_abs': 50.33694130296079,
                                            'weighted': -0.3350481092496208}],
                                          [['Gradient descent optimizer: learning rate=0.1',
                                            'Gradient exploded at iteration 8'],
                                           0,
                                           []]],
 'convergence/momentum/float32': [[['Gradient descent optimizer: learning rate=0.001',
                                    'Exceeded maximum of 2000 iterations. Test terminated.'],
                                   2000,
                                   {'shape': [2000],
                                    'head': [1.899999976158142,
                                             1.7426379919052124,
                                             1.5628173351287842,
                                             1.384425163269043],
                                    'tail': [0.015402013435959816,
                                             0.015394783578813076,
                                             0.015387560240924358,
                                             0.015380343422293663],
                                    'sum_abs': 115.41640675067902,
                                    'weighted': -0.8720681852285106}],
                                  [['Gradient descent optimizer: learning rate=0.01',
                                    'Converged in 80 iterations'],
                                   80,
                                   {'shape': [80],
                                    'head': [1.0,
                                             0.12999999523162842,
                                             -0.48069673776626587,
                                             -0.9200947284698486],
                                    'tail': [-1.1249994039535522,
                                             -1.124998927116394,
                                             -1.124998688697815,
                                             -1.124998688697815],
                                    'sum_abs': 89.21943372488022,
                                    'weighted': 1.2995020713371337}],
                                  [['Gradient descent optimizer: learning rate=0.1',
                                    'Gradient exploded at iteration 6'],
                                   0,
                                   []]],
 'convergence/momentum/float64': [[['Gradient descent optimizer: learning rate=0.001',
                                    'Exceeded maximum of 2000 iterations. Test terminated.'],
                                   2000,
                                   {'shape': [2000],
                                    'head': [1.9, 1.742638, 1.5628173490408628, 1.3844251341990397],
                                    'tail': [0.015402037353799894,
                                             0.015394807256287536,
                                             0.015387583998649063,
                                             0.015380367571131225],
                                    'sum_abs': 115.416425617428,
                                    'weighted': -0.872068181767731}],
                                  [['Gradient descent optimizer: learning rate=0.01',
                                    'Converged in 185 iterations'],
                                   185,
                                   {'shape': [185],
                                    'head': [1.0, 0.13, -0.48069675999999995, -0.9200947917620218],
                                    'tail': [-1.1249999999999944,
                                             -1.1249999999999913,
                                             -1.12499999999999,
                                             -1.12499999999999],
                                    'sum_abs': 207.34443113150013,
                                    'weighted': 0.3847836714121265}],
                                  [['Gradient descent optimizer: learning rate=0.1',
                                    'Gradient exploded at iteration 8'],
                                   0,
                                   []]],
 'convergence/adam/float32': [[['Adam: learning rate=0.001',
                                'Exceeded maximum of 2000 iterations. Test terminated.'],
                               2000,
                               {'shape': [2000],
                                'head': [1.9989999532699585,
                                         1.9980000257492065,
                                         1.9970000982284546,
                                         1.9960002899169922],
                                'tail': [0.8233501315116882,
                                         0.8230182528495789,
                                         0.822686493396759,
                                         0.8223549127578735],
                                'sum_abs': 2604.824602127075,
                                'weighted': -0.44987227627970516}],
                              [['Adam: learning rate=0.01',
                                'Exceeded maximum of 2000 iterations. Test terminated.'],
                               2000,
                               {'shape': [2000],
                                'head': [1.9900000095367432,
                                         1.9800037145614624,
                                         1.9700134992599487,
                                         1.9600318670272827],
                                'tail': [0.06756294518709183,
                                         0.06750799715518951,
                                         0.06745310872793198,
                                         0.06739827990531921],
                                'sum_abs': 668.9904274865985,
                                'weighted': -0.9441107308465554}],
                              [['Adam: learning rate=0.1', 'Converged in 1156 iterations'],
                               1156,
                               {'shape': [1156],
                                'head': [1.899999976158142,
                                         1.8005775213241577,
                                         1.7021496295928955,
                                         1.6051440238952637],
                                'tail': [-1.1249973773956299,
                                         -1.1249971389770508,
                                         -1.1249970197677612,
                                         -1.1249970197677612],
                                'sum_abs': 313.19646270095836,
                                'weighted': -1.340973013932381}]],
 'convergence/adam/float64': [[['Adam: learning rate=0.001',
                                'Exceeded maximum of 2000 iterations. Test terminated.'],
                               2000,
                               {'shape': [2000],
                                'head': [1.999000000001,
                                         1.9980000346344293,
                                         1.9970001269219586,
                                         1.996000299770037],
                                'tail': [0.8233475765278826,
                                         0.8230156736267087,
                                         0.8226839238890546,
                                         0.8223523272196933],
                                'sum_abs': 2604.8211294614584,
                                'weighted': -0.4498735962261029}],
                              [['Adam: learning rate=0.01',
                                'Exceeded maximum of 2000 iterations. Test terminated.'],
                               2000,
                               {'shape': [2000],
                                'head': [1.99000000001,
                                         1.9800036672351107,
                                         1.9700134585100446,
                                         1.9600318310046778],
                                'tail': [0.06756243628932507,
                                         0.06750748634126255,
                                         0.06745259678069264,
                                         0.06739776751777476],
                                'sum_abs': 668.9892682204154,
                                'weighted': -0.944111004419407}],
                              [['Adam: learning rate=0.1', 'Converged in 1527 iterations'],
                               1527,
                               {'shape': [1527],
                                'head': [1.9000000001,
                                         1.8005775851902788,
                                         1.702149718148505,
                                         1.605144152744618],
                                'tail': [-1.1250000000000098,
                                         -1.1250000000000104,
                                         -1.1250000000000109,
                                         -1.1250000000000109],
                                'sum_abs': 730.593529900603,
                                'weighted': -1.6338582597056384}]],
 'custom_gradient': 2.0,
 'gradient_of_a_vector_target': 7.0,
 'gradient_of_several_targets': [4.0, -0.25, 3.75],
 'gradient_tapes': 6.0,
 'gradients_of_a_layer': [['bias:0, shape: (2,)', 'kernel:0, shape: (3, 2)'],
                          [[0.031026989221572876, 0.5575106739997864],
                           [[0.031026989221572876, 0.5575106739997864],
                            [0.06205397844314575, 1.1150213479995728],
                            [0.09308096766471863, 1.672532081604004]]]],
 'gradients_of_a_model': [[3, 2],
                          [3, 2],
                          [[0.9576929211616516, -4.183556079864502],
                           [1.9153858423233032, -8.367112159729004],
                           [2.8730788230895996, -12.550668716430664]],
                          [0.9576929211616516, -4.183556079864502],
                          [0.9576929211616516, -4.183556079864502]],
 'hessian_newton_step/float64': [['layer.kernel.shape: (5, 8)', 'h.shape: (5, 8, 5, 8)'],
                                 40,
                                 0.7801526710899269,
                                 {'shape': [40, 1],
                                  'head': [0.018471292656743257,
                                           0.157814840788663,
                                           -0.515464672066474,
                                           -0.12682806610103425],
                                  'tail': [-0.022272398920907047,
                                           0.04489374266252697,
                                           0.04176726017162627,
                                           0.031133887448189092],
                                  'sum_abs': 3.787344452826107,
                                  'weighted': 1.170243990458871},
                                 {'shape': [40, 40],
                                  'head': [0.002940622802783103,
                                           -0.006064882693089104,
                                           -0.00027304141887228095,
                                           0.0],
                                  'tail': [-0.0001787186168316112,
                                           0.00780996297470456,
                                           0.013232536359463986,
                                           0.01067019488770891],
                                  'sum_abs': 29.61513197500609,
                                  'weighted': -1.5815151687184972},
                                 {'shape': [40, 1],
                                  'head': [0.1975584562042688,
                                           0.16311648976069817,
                                           -0.31502924133191795,
                                           -0.3912874604720646],
                                  'tail': [-0.005533945940895091,
                                           0.1935541952318477,
                                           0.5357688437959828,
                                           0.0801146736025352],
                                  'sum_abs': 8.500485876232391,
                                  'weighted': 1.5555948351883035},
                                 {'shape': [5, 8],
                                  'head': [0.4131190815472512,
                                           0.35223788704278713,
                                           0.06734133070597162,
                                           -0.12685708989491234],
                                  'tail': [0.39844213090387315,
                                           -0.07253413961817197,
                                           0.11256454014278083,
                                           0.1854739961467517],
                                  'sum_abs': 8.32548741651696,
                                  'weighted': 0.33265715629365394}],
 'higher_order_gradients': [3.0, 6.0],
 'input_gradient_regularization/float64': [[[10], [5, 10]],
                                           13.139514980336928,
                                           {'shape': [7, 5],
                                            'head': [3.7565981861691924,
                                                     -2.3863164304174713,
                                                     0.42534649450811646,
                                                     0.6007510236316358],
                                            'tail': [2.7584844134714404,
                                                     -0.9396870551671977,
                                                     0.952537866366083,
                                                     -0.3937550240452109],
                                            'sum_abs': 61.7556764725086,
                                            'weighted': 13.609532362367386},
                                           [[1.1297846472147872,
                                             0.0,
                                             1.0024946874701692,
                                             2.374778493806912,
                                             0.3947458297152386,
                                             0.3859612793201017,
                                             1.404845276411207,
                                             0.5493111606154613,
                                             2.1036992795736023,
                                             0.6075066640599185],
                                            {'shape': [5, 10],
                                             'head': [4.236127006071532,
                                                      0.0,
                                                      0.9287449336253735,
                                                      3.4525170596010613],
                                             'tail': [-0.007860205828489564,
                                                      0.4035293819004461,
                                                      -0.33784885125398245,
                                                      0.42661681390415734],
                                             'sum_abs': 66.75230481771797,
                                             'weighted': 14.142939742250789}]],
 'integer_gradients': ['int32', 100, None],
 'intermediate_results': 18.0,
 'jacobian_of_a_scalar_source': [[201],
                                 [201],
                                 {'shape': [201],
                                  'head': [4.5395798224490136e-05,
                                           5.016965951654129e-05,
                                           5.544544183067046e-05,
                                           6.127599772298709e-05],
                                  'tail': [6.126982043497264e-05,
                                           5.542924554902129e-05,
                                           5.01845934195444e-05,
                                           4.5416676584864035e-05],
                                  'sum_abs': 9.999136739024834,
                                  'weighted': -9.71721026617685e-06}],
 'jacobian_of_a_tensor_source/float64': [[7, 10],
                                         [5, 10],
                                         [7, 10, 5, 10],
                                         [5, 10],
                                         {'shape': [7, 10, 5, 10],
                                          'head': [2.4754139527195487, 0.0, 0.0, 0.0],
                                          'tail': [0.0, 0.0, 0.0, 0.0],
                                          'sum_abs': 123.45765066481317,
                                          'weighted': -4.385954466757441},
                                         {'shape': [5, 10],
                                          'head': [6.0729652547061415,
                                                   0.0,
                                                   2.320130584136651,
                                                   3.7528346705694906],
                                          'tail': [-0.5383673280233698,
                                                   0.5955096186382557,
                                                   -0.32689939710224547,
                                                   0.5955096186382557],
                                          'sum_abs': 90.86606622714699,
                                          'weighted': 17.92062150776305}],
 'loss_and_its_gradient': [{'shape': [201],
                            'head': [10.0, 9.451896667480469, 8.927175521850586, 8.42521858215332],
                            'tail': [52.23352813720703,
                                     54.104393005371094,
                                     56.026248931884766,
                                     58.0],
                            'sum_abs': 1714.2133499383926,
                            'weighted': 23.181375205160226},
                           {'shape': [201],
                            'head': [-28.0,
                                     -26.815536499023438,
                                     -25.661888122558594,
                                     -24.538673400878906],
                            'tail': [92.28347778320312, 94.8106918334961, 97.38273620605469, 100.0],
                            'sum_abs': 3371.1115890583023,
                            'weighted': 60.37694998088911},
                           2,
                           0.93212890625],
 'multiple_tapes': [1.0, 0.25],
 'persistent_tape': [[4.0, 108.0], [2.0, 6.0]],
 'replacing_a_variable_with_a_tensor': [1.0, None],
 'reset': [4.0, None],
 'sigmoid_and_its_gradient': [{'shape': [201],
                               'head': [4.539786095847376e-05,
                                        5.0172176997875795e-05,
                                        5.5448515922762454e-05,
                                        6.1279752117116e-05],
                               'tail': [0.9999387264251709,
                                        0.9999445676803589,
                                        0.9999498128890991,
                                        0.9999545812606812],
                               'sum_abs': 100.50000133370486,
                               'weighted': 0.4423567134419674},
                              {'shape': [201],
                               'head': [4.5395798224490136e-05,
                                        5.016965951654129e-05,
                                        5.544544183067046e-05,
                                        6.127599772298709e-05],
                               'tail': [6.126982043497264e-05,
                                        5.542924554902129e-05,
                                        5.01845934195444e-05,
                                        4.5416676584864035e-05],
                               'sum_abs': 9.999136739024834,
                               'weighted': -9.71721026617685e-06}],
 'stateful_ops': None,
 'stop_gradient': [4.0, None],
 'stop_recording': [4.0, None],
 'the_model': ['my_model', [0.0, 5.0], 2],
 'training_loop': ['Current loss: 11.161587',
                   'Current loss: 1.226731',
                   [4.424337387084961,
                    4.003719806671143,
                    3.6963887214660645,
                    3.471832036972046,
                    3.307755947113037,
                    3.187870979309082,
                    3.1002750396728516,
                    3.036271572113037,
                    2.989506483078003,
                    2.955336809158325],
                   [0.39185142517089844,
                    0.7053325772285461,
                    0.9561175107955933,
                    1.156745433807373,
                    1.317247748374939,
                    1.4456496238708496,
                    1.5483710765838623,
                    1.6305482387542725,
                    1.6962900161743164,
                    1.7488834857940674],
                   [6.912052154541016,
                    4.496678352355957,
                    3.113312005996704,
                    2.314697742462158,
                    1.849892497062683,
                    1.577139973640442,
                    1.4157772064208984,
                    1.3195518255233765,
                    1.26172935962677,
                    1.2267311811447144],
                   'W = 2.96, b = 1.75, loss=1.22673'],
 'unconnected_gradient': None,
 'watch_accessed_variables_off': [None, 0.9999545812606812],
 'watching_a_constant': 6.0,
 'zeros_instead_of_none': [0.0, 0.0]}

# ---- the tests ------------------------------------------------------------------------
GUIDES = [name for name in dir() if name.startswith("guide_")]


def cases():
    """(key, function, extra arguments) of every recorded case."""
    out = []
    for name in sorted(GUIDES):
        function = globals()[name]
        key = name[len("guide_"):]
        if name == "guide_convergence":
            for optimizer in ("gradient_descent", "momentum", "adam"):
                for dtype in ("float32", "float64"):
                    out.append((f"{key}/{optimizer}/{dtype}", function, (optimizer, dtype)))
        elif "dtype" in function.__code__.co_varnames[:function.__code__.co_argcount]:
            out.append((f"{key}/float64", function, ("float64",)))
        else:
            out.append((key, function, ()))
    return out


def run(function, tf, args):
    dtypes = {"float32": tf.float32, "float64": tf.float64}
    args = tuple(dtypes.get(a, a) for a in args)
    return plain(function(tf, *args))


def assert_close(got, want, where=""):
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert isinstance(got, (int, float)), f"{where}: {got!r} vs {want!r}"
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=where)
    elif isinstance(want, str):
        assert_same_text(got, want, where)
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


_NUMBER = re.compile(r"-?\d+\.\d+")


def assert_same_text(got, want, where=""):
    """The same text, but printed decimals may differ by rtol 1e-5 plus one unit of
    their last printed digit (float32 and float64 round differently there)."""
    assert isinstance(got, str) and _NUMBER.split(got) == _NUMBER.split(want), \
        f"{where}: {got!r} vs {want!r}"
    for g, w in zip(_NUMBER.findall(got), _NUMBER.findall(want)):
        last_digit = 10.0 ** -len(w.split(".")[1])
        assert abs(float(g) - float(w)) <= 1e-5 * abs(float(w)) + 1.01 * last_digit, \
            f"{where}: {got!r} vs {want!r}"


@pytest.mark.parametrize("key, function, args", cases(), ids=[c[0] for c in cases()])
def test_the_guide_prints_what_tensorflow_prints(key, function, args):
    import tapecli as tf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the integer guide's; tested below
        got = run(function, tf, args)
    assert_close(got, RECORDED[key], key)


if __name__ == "__main__":  # the recording run, with TensorFlow installed
    import pprint

    import tensorflow

    recorded = {}
    for key, function, args in cases():
        recorded[key] = run(function, tensorflow, args)
    print(f"# TensorFlow {tensorflow.__version__}, numpy {np.__version__}")
    text = pprint.pformat(recorded, width=100, sort_dicts=False)
    print("RECORDED = " + re.sub(r"'\n\s+'", "", text))  # pprint's split strings, joined
