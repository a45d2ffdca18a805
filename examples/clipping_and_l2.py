"""Training a small two-layer network with clipped gradients, an L2 penalty and
tapecli's own SGD and Adam optimizers.

The network is relu(X @ W1 + b1) @ W2 + b2, fitted to random inputs whose
targets come from a fixed random "teacher" network. Each step:
- the loss is the mean squared error plus an L2 penalty on the weight matrices,
- each gradient is clipped to norm at most CLIP_NORM (tf.clip_by_norm), which
  tames the large first steps from a random start,
- the optimizer updates the variables in place: apply_gradients(zip(grads, variables)).

Run: python examples/clipping_and_l2.py
"""

import tapecli as tf

HIDDEN = 16
L2 = 1e-3
CLIP_NORM = 0.5
STEPS = 150


def make_data(n: int = 64, features: int = 4):
    tf.random.set_seed(0)
    X = tf.random.normal([n, features])
    teacher_W1 = tf.random.normal([features, HIDDEN])
    teacher_W2 = tf.random.normal([HIDDEN, 1])
    Y = tf.matmul(tf.nn.relu(tf.matmul(X, teacher_W1)), teacher_W2) / 4.0
    return X, Y


def make_model(features: int = 4) -> list:
    tf.random.set_seed(1)  # every optimizer starts from the same weights
    return [
        tf.Variable(tf.random.normal([features, HIDDEN], stddev=0.5), name="W1"),
        tf.Variable(tf.zeros([HIDDEN]), name="b1"),
        tf.Variable(tf.random.normal([HIDDEN, 1], stddev=0.5), name="W2"),
        tf.Variable(tf.zeros([1]), name="b2"),
    ]


def predict(variables: list, X):
    W1, b1, W2, b2 = variables
    hidden = tf.nn.relu(tf.matmul(X, W1) + b1)
    return tf.matmul(hidden, W2) + b2


def loss_fn(variables: list, X, Y):
    W1, _, W2, _ = variables
    mse = tf.reduce_mean(tf.square(predict(variables, X) - Y))
    penalty = L2 * (tf.reduce_sum(tf.square(W1)) + tf.reduce_sum(tf.square(W2)))
    return mse + penalty


def train(optimizer, X, Y) -> dict:
    variables = make_model()
    losses, clipped_steps = [], 0
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = loss_fn(variables, X, Y)
        grads = tape.gradient(loss, variables)
        norms = [float(tf.sqrt(tf.reduce_sum(tf.square(g)))) for g in grads]
        clipped_steps += any(norm > CLIP_NORM for norm in norms)
        grads = [tf.clip_by_norm(g, CLIP_NORM) for g in grads]
        optimizer.apply_gradients(zip(grads, variables))
        losses.append(float(loss))
    return {"losses": losses, "clipped_steps": clipped_steps}


def main() -> dict:
    X, Y = make_data()
    results = {
        "SGD": train(tf.optimizers.SGD(learning_rate=0.05, momentum=0.9), X, Y),
        "Adam": train(tf.optimizers.Adam(learning_rate=0.01), X, Y),
    }
    for name, result in results.items():
        losses = result["losses"]
        print(f"{name:4s}  loss {losses[0]:.4f} -> {losses[-1]:.4f}  "
              f"(gradients clipped on {result['clipped_steps']} of {STEPS} steps)")
        assert losses[-1] < 0.25 * losses[0]
        assert result["clipped_steps"] > 0
    return results


if __name__ == "__main__":
    main()
