"""Each example under examples/ runs, quickly, and shows what it claims.

The examples assert their own claims; these tests check the same claims again
against independent truths (calculus by hand, numpy re-implementations).
"""

import importlib.util
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

import tapecli as tf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = ["derivatives", "custom_relu", "linear_regression", "clipping_and_l2", "newton",
         "adversarial"]
TIME_LIMIT = 5.0  # seconds per example; they take well under one


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str):
    module = load(name)
    start = time.perf_counter()
    result = module.main()
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"{name}.py took {elapsed:.1f} s"
    return module, result


def test_every_example_is_listed_here_and_in_the_readme():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(NAMES)
    readme = (ROOT / "README.md").read_text()
    for name in NAMES:
        assert f"[examples/{name}.py](examples/{name}.py)" in readme


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_as_a_script(name):
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], check=False,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_derivatives():
    _, result = run("derivatives")
    assert result["gradient"] == pytest.approx(2 * 3 + 3)
    # d/dx x**3 = 3x**2, d2/dx2 = 6x, at x = 3
    assert result["nested"] == pytest.approx((27.0, 18.0))
    assert result["persistent"] == pytest.approx((27.0, 18.0))
    w, b, x, y = 2.0, 0.5, 1.5, 4.0
    residual = y - (w * x + b)
    assert result["list"] == pytest.approx([-2 * residual * x, -2 * residual])


def test_custom_relu():
    _, (value, gradient) = run("custom_relu")
    assert value == np.maximum([-2.0, 0.0, 2.0], 0.0).tolist()
    assert gradient == [0.0, 0.0, 1.0]


def test_linear_regression():
    module, result = run("linear_regression")
    losses = result["losses"]
    assert len(losses) == module.STEPS // 10
    assert all(b < a for a, b in pairwise(losses))
    assert abs(result["W"] - 1.0) < 1e-2 and abs(result["b"] - 1.0) < 1e-2
    # The same descent in numpy, with the MSE gradient by hand: 2*mean(r*x), 2*mean(r).
    X = np.array([1.0, 2.0, 3.0, 4.0])
    Y = X + 1
    w = b = 0.0
    for _ in range(module.STEPS):
        r = w * X + b - Y
        w, b = w - module.LEARNING_RATE * 2 * np.mean(r * X), \
            b - module.LEARNING_RATE * 2 * np.mean(r)
    assert (result["W"], result["b"]) == pytest.approx((w, b), rel=1e-12)


def test_clipping_and_l2():
    module, result = run("clipping_and_l2")
    for name in ("SGD", "Adam"):
        losses = result[name]["losses"]
        assert len(losses) == module.STEPS
        assert losses[-1] < 0.25 * losses[0]
        assert np.mean(losses[-10:]) < np.mean(losses[:10])
        assert result[name]["clipped_steps"] > 0
    # Both start from the same weights; the first loss is MSE + L2 in numpy.
    X, Y = (t.numpy() for t in module.make_data())
    W1, b1, W2, b2 = (v.numpy() for v in module.make_model())
    prediction = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
    first = np.mean((prediction - Y) ** 2) + module.L2 * (np.sum(W1**2) + np.sum(W2**2))
    assert result["SGD"]["losses"][0] == pytest.approx(first, rel=1e-12)
    assert result["Adam"]["losses"][0] == pytest.approx(first, rel=1e-12)


def rosenbrock_gradient(x, y):
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def rosenbrock_hessian(x, y):
    return np.array([[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200.0]])


def test_newton():
    module, result = run("newton")
    np.testing.assert_allclose(result["point"], [1.0, 1.0], rtol=0, atol=1e-8)
    assert result["iterations"] <= 10
    # At the start, the tapes' gradient and Hessian are the ones by hand...
    f, g, H = module.gradient_and_hessian(tf.Variable([-1.2, 1.0]))
    assert float(f) == pytest.approx(2.2**2 + 100 * 0.44**2, rel=1e-12)
    np.testing.assert_allclose(g.numpy(), rosenbrock_gradient(-1.2, 1.0), rtol=1e-12)
    np.testing.assert_allclose(H.numpy(), rosenbrock_hessian(-1.2, 1.0), rtol=1e-12)
    # ...and each iterate is a Newton step of numpy's own solve.
    path = np.array(result["path"])
    for before, after in pairwise(path[:5]):
        step = np.linalg.solve(rosenbrock_hessian(*before), rosenbrock_gradient(*before))
        np.testing.assert_allclose(after, before - step, rtol=1e-9, atol=1e-12)


def test_adversarial():
    module, result = run("adversarial")
    assert result["adversarial_loss"] > result["clean_loss"]
    assert result["adversarial_accuracy"] < result["clean_accuracy"]
    # The input gradient of mean BCE-with-logits is (sigmoid(z) - label) * w / n, per row.
    X, labels = result["X"].numpy(), result["labels"].numpy()
    w, b = result["w"].numpy(), float(result["b"])
    z = X @ w + b
    expected = (1 / (1 + np.exp(-z)) - labels) * w.T / len(X)
    np.testing.assert_allclose(result["dloss_dX"].numpy(), expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(result["X_adv"].numpy(), X + module.EPSILON * np.sign(expected))
    # The losses in numpy: mean of log(1 + exp(z)) - label * z.
    z_adv = result["X_adv"].numpy() @ w + b
    assert result["clean_loss"] == pytest.approx(np.mean(np.logaddexp(0, z) - labels * z))
    assert result["adversarial_loss"] == pytest.approx(
        np.mean(np.logaddexp(0, z_adv) - labels * z_adv))
