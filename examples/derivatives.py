"""First and second derivatives with tf.GradientTape, TensorFlow-style.

Run: python examples/derivatives.py
"""

import tapecli as tf


def first_derivative() -> float:
    """d/dx (x**2 + 3x + 1) at x = 3: 2*3 + 3 = 9."""
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x**2 + 3 * x + 1
    return float(tape.gradient(y, x))


def second_derivative_nested() -> tuple[float, float]:
    """d/dx and d2/dx2 of x**3 at x = 3 (27 and 18): the outer tape records the
    inner tape's gradient computation, so it can differentiate it again."""
    x = tf.Variable(3.0)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = x**3
        dy_dx = inner.gradient(y, x)
    d2y_dx2 = outer.gradient(dy_dx, x)
    return float(dy_dx), float(d2y_dx2)


def second_derivative_persistent_outer() -> tuple[float, float]:
    """The same, asking a persistent outer tape for both derivatives: it watched
    x**3 being computed and the inner tape differentiating it."""
    x = tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            y = x**3
        dy_dx = inner.gradient(y, x)
    first = outer.gradient(y, x)  # a second call on the same tape: it must be persistent
    second = outer.gradient(dy_dx, x)
    del outer  # a persistent tape keeps its records until it is released
    return float(first), float(second)


def gradients_of_a_list() -> list[float]:
    """Gradients of the squared error (y - (w*x + b))**2 with respect to [w, b]."""
    w, b = tf.Variable(2.0), tf.Variable(0.5)
    x, y = tf.constant(1.5), tf.constant(4.0)
    with tf.GradientTape() as tape:
        loss = (y - (w * x + b)) ** 2
    dw, db = tape.gradient(loss, [w, b])
    return [float(dw), float(db)]


def main() -> dict:
    results = {
        "gradient": first_derivative(),
        "nested": second_derivative_nested(),
        "persistent": second_derivative_persistent_outer(),
        "list": gradients_of_a_list(),
    }
    print("d/dx (x**2 + 3x + 1) at 3:", results["gradient"])
    for name, label in (("nested", "nested tapes"), ("persistent", "persistent outer")):
        first, second = results[name]
        print(f"x**3 at 3, {label + ':':17s}  first {first:g}, second {second:g}")
    print("(y - (w*x + b))**2 by [w, b]:", results["list"])
    assert results["gradient"] == 9.0
    assert results["nested"] == (27.0, 18.0)
    assert results["persistent"] == (27.0, 18.0)
    # residual r = y - (w*x + b) = 4 - 3.5 = 0.5; d/dw = -2*r*x = -1.5, d/db = -2*r = -1
    assert results["list"] == [-1.5, -1.0]
    return results


if __name__ == "__main__":
    main()
