"""A ReLU whose gradient is written by hand with tf.custom_gradient.

The decorated function returns its output and a function that maps the
upstream gradient to the gradient of the input: the tape calls it instead of
differentiating the body. Here it sets relu'(0) = 0, TensorFlow's convention,
where the body alone, tf.maximum(x, 0.0), would pass the gradient at the tie
x == 0 to x and give 1.

Run: python examples/custom_relu.py
"""

import tapecli as tf


@tf.custom_gradient
def relu(x):
    passes = tf.cast(x > 0, tf.float64)  # 1 where x > 0, else 0 (so 0 at the kink)

    def grad(upstream):
        return upstream * passes

    return tf.maximum(x, 0.0), grad


def main() -> tuple[list[float], list[float]]:
    x = tf.constant([-2.0, 0.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = relu(x)
    dy_dx = tape.gradient(y, x)
    print("relu(x)    =", y.numpy())
    print("d relu/dx  =", dy_dx.numpy())
    assert dy_dx.numpy().tolist() == [0.0, 0.0, 1.0]
    # The built-in tf.nn.relu agrees, value and gradient.
    with tf.GradientTape() as tape:
        tape.watch(x)
        builtin = tf.nn.relu(x)
    assert y.numpy().tolist() == builtin.numpy().tolist() == [0.0, 0.0, 2.0]
    assert tape.gradient(builtin, x).numpy().tolist() == [0.0, 0.0, 1.0]
    # Without the custom gradient the body's own derivative would be used: 1 at x == 0.
    with tf.GradientTape() as tape:
        tape.watch(x)
        body = tf.maximum(x, 0.0)
    assert tape.gradient(body, x).numpy().tolist() == [0.0, 1.0, 1.0]
    return y.numpy().tolist(), dy_dx.numpy().tolist()


if __name__ == "__main__":
    main()
