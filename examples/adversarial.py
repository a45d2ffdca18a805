"""A fast-gradient-sign attack on a logistic-regression classifier.

Training differentiates the loss with respect to the weights; the attack
differentiates the same loss with respect to the input instead, with the
weights held fixed, and moves every input feature by EPSILON in the direction
that increases the loss: x_adv = x + EPSILON * sign(dloss/dx).

Run: python examples/adversarial.py
"""

import tapecli as tf

EPSILON = 0.5
FEATURES = 2


def make_data(n: int = 200):
    """Two Gaussian blobs: label 0 around (-1, -1), label 1 around (1, 1)."""
    tf.random.set_seed(0)
    labels = tf.cast(tf.random.uniform([n, 1]) > 0.5, tf.float64)
    X = tf.random.normal([n, FEATURES]) + (2.0 * labels - 1.0)
    return X, labels


def logits(X, w, b):
    return tf.matmul(X, w) + b


def cross_entropy(z, labels):
    """Mean binary cross-entropy from logits: softplus(z) - label*z, the stable
    form of -[label*log(sigmoid(z)) + (1 - label)*log(1 - sigmoid(z))]."""
    return tf.reduce_mean(tf.nn.softplus(z) - labels * z)


def accuracy(X, labels, w, b) -> float:
    predicted = tf.cast(logits(X, w, b) > 0.0, tf.float64)
    return float(tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float64)))


def train(X, labels, steps: int = 200):
    w = tf.Variable(tf.zeros([FEATURES, 1]), name="w")
    b = tf.Variable(0.0, name="b")
    optimizer = tf.optimizers.SGD(learning_rate=0.5)
    for _ in range(steps):
        with tf.GradientTape() as tape:  # watches the variables it reads: w and b
            loss = cross_entropy(logits(X, w, b), labels)
        optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
    return w, b


def fast_gradient_sign(X, labels, w, b):
    # Watch only the input: the weights are constants of this derivative.
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(X)
        loss = cross_entropy(logits(X, w, b), labels)
    dloss_dX = tape.gradient(loss, X)
    return X + EPSILON * tf.sign(dloss_dX), dloss_dX


def main() -> dict:
    X, labels = make_data()
    w, b = train(X, labels)
    X_adv, dloss_dX = fast_gradient_sign(X, labels, w, b)
    results = {
        "clean_loss": float(cross_entropy(logits(X, w, b), labels)),
        "adversarial_loss": float(cross_entropy(logits(X_adv, w, b), labels)),
        "clean_accuracy": accuracy(X, labels, w, b),
        "adversarial_accuracy": accuracy(X_adv, labels, w, b),
    }
    print(f"clean inputs:       loss {results['clean_loss']:.3f}  "
          f"accuracy {results['clean_accuracy']:.1%}")
    print(f"perturbed by {EPSILON}:   loss {results['adversarial_loss']:.3f}  "
          f"accuracy {results['adversarial_accuracy']:.1%}")
    assert results["adversarial_loss"] > results["clean_loss"]
    assert results["adversarial_accuracy"] < results["clean_accuracy"]
    results.update(X=X, labels=labels, w=w, b=b, X_adv=X_adv, dloss_dX=dloss_dX)
    return results


if __name__ == "__main__":
    main()
