"""Linear regression by plain gradient descent on two tf.Variables.

Fits Y = W*X + b to four points on the line Y = X + 1, starting from W = b = 0.
Each step takes the gradient of the mean squared error on a fresh tape and
moves the variables against it in place with assign_sub.

Learning rate 0.1 and 200 steps: the loss surface is a long narrow valley (the
Hessian's eigenvalues are about 16.7 and 0.3), so the step must stay below
2/16.7 = 0.12 to be stable, and the slow direction then shrinks by 3% a step;
W and b are within 1e-2 of 1 after 135 steps and within 2e-3 after 200.

Run: python examples/linear_regression.py
"""

from itertools import pairwise

import tapecli as tf

LEARNING_RATE = 0.1
STEPS = 200


def main() -> dict:
    X = tf.constant([1.0, 2.0, 3.0, 4.0])
    Y = X + 1.0
    W = tf.Variable(0.0, name="W")
    b = tf.Variable(0.0, name="b")

    losses = []
    for step in range(1, STEPS + 1):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(W * X + b - Y))
        dW, db = tape.gradient(loss, [W, b])
        W.assign_sub(LEARNING_RATE * dW)
        b.assign_sub(LEARNING_RATE * db)
        if step % 10 == 0:
            losses.append(float(loss))
            print(f"step {step:3d}  loss {float(loss):.3e}  W {float(W):.4f}  b {float(b):.4f}")

    assert all(later < earlier for earlier, later in pairwise(losses))
    assert abs(float(W) - 1.0) < 1e-2 and abs(float(b) - 1.0) < 1e-2
    return {"losses": losses, "W": float(W), "b": float(b)}


if __name__ == "__main__":
    main()
