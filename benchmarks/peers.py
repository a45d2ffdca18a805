"""tapecli against its peers on the same work, interleaved in one run.

    pip install -r benchmarks/requirements.txt   # whichever peers you want; none is required
    python benchmarks/peers.py [--quick]

The work is f = sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2) over
float64 rows. The floor is hand-written numpy computing the value only. Every
contender's result is checked against the analytic answer before it is timed;
rounds are interleaved (every contender once per round, in a new order each
round, each time a few calls back to back, see _inner), and the table gives
medians, min-max and the ratio of medians to the floor's.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time

import numpy as np

import tapecli

F = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"


# ---- the truth, by hand -------------------------------------------------------------
def work(m, x, y, z):
    """f, written once for any library `m` that has sin, exp, log and sqrt."""
    return m.sin(x) * m.exp(y) + m.log(1 + z**2) * m.sqrt(x**2 + y**2 + 1) \
        - x * y * z / (1 + z**2)


def stacked(m):
    """f of one array X whose first axis holds x, y, z."""
    return lambda X: work(m, X[0], X[1], X[2])


def value_np(x, y, z):
    return work(np, x, y, z)


def value_and_gradient_np(x, y, z):
    ey, sx, q = np.exp(y), np.sin(x), 1 + z**2
    s, lq = np.sqrt(x**2 + y**2 + 1), np.log(q)
    f = sx * ey + lq * s - x * y * z / q
    fx = np.cos(x) * ey + lq * x / s - y * z / q
    fy = sx * ey + lq * y / s - x * z / q
    fz = 2 * z * s / q - x * y * (1 - z**2) / q**2
    return f, fx, fy, fz


def hessian_np(x, y, z):
    """The analytic Hessian, (N, 3, 3)."""
    ey, q, s = np.exp(y), 1 + z**2, np.sqrt(x**2 + y**2 + 1)
    lq = np.log(q)
    hxx = -np.sin(x) * ey + lq * (1 / s - x**2 / s**3)
    hyy = np.sin(x) * ey + lq * (1 / s - y**2 / s**3)
    hxy = np.cos(x) * ey - lq * x * y / s**3 - z / q
    hxz = 2 * z * x / (q * s) - y * (1 - z**2) / q**2
    hyz = 2 * z * y / (q * s) - x * (1 - z**2) / q**2
    hzz = s * (2 * q - 4 * z**2) / q**2 - x * y * (-2 * z * q**2 - (1 - z**2) * 4 * z * q) / q**4
    return np.stack([np.stack([hxx, hxy, hxz], -1), np.stack([hxy, hyy, hyz], -1),
                     np.stack([hxz, hyz, hzz], -1)], -2)


def point_math(x, y, z):
    """Value and gradient at one point, pure Python: the one-point floor."""
    ey, sx, q = math.exp(y), math.sin(x), 1 + z * z
    s, lq = math.sqrt(x * x + y * y + 1), math.log(q)
    return (sx * ey + lq * s - x * y * z / q, math.cos(x) * ey + lq * x / s - y * z / q,
            sx * ey + lq * y / s - x * z / q, 2 * z * s / q - x * y * (1 - z * z) / (q * q))


# ---- a minimal reverse-mode tape (micrograd over numpy arrays or floats) --------------
class MiniVar:
    __slots__ = ("value", "parents")

    def __init__(self, value, parents=()):
        self.value, self.parents = value, parents

    def __add__(self, o):
        o = o if isinstance(o, MiniVar) else MiniVar(o)
        return MiniVar(self.value + o.value, ((self, 1.0), (o, 1.0)))

    __radd__ = __add__

    def __sub__(self, o):
        o = o if isinstance(o, MiniVar) else MiniVar(o)
        return MiniVar(self.value - o.value, ((self, 1.0), (o, -1.0)))

    def __mul__(self, o):
        o = o if isinstance(o, MiniVar) else MiniVar(o)
        return MiniVar(self.value * o.value, ((self, o.value), (o, self.value)))

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = o if isinstance(o, MiniVar) else MiniVar(o)
        v = self.value / o.value
        return MiniVar(v, ((self, 1.0 / o.value), (o, -v / o.value)))

    def __pow__(self, n):
        return MiniVar(self.value ** n, ((self, n * self.value ** (n - 1)),))


def _mini_unary(fn, dfn):
    def op(a):
        return MiniVar(fn(a.value), ((a, dfn(a.value)),))
    return op


def mini_backward(out, inputs):
    order, seen, stack = [], set(), [(out, False)]
    while stack:  # topological order without recursion
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p, _ in node.parents)
    grads = {id(out): 1.0}
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None:
            continue
        for parent, local in node.parents:
            grads[id(parent)] = grads.get(id(parent), 0.0) + g * local
    return [grads.get(id(v), 0.0) for v in inputs]


def mini_value_and_gradient(x, y, z, lib):
    sin, cos, exp, log, sqrt = (_mini_unary(lib.sin, lib.cos), None,
                                _mini_unary(lib.exp, lib.exp),
                                _mini_unary(lib.log, lambda v: 1 / v),
                                _mini_unary(lib.sqrt, lambda v: 0.5 / lib.sqrt(v)))
    del cos
    xs = [MiniVar(x), MiniVar(y), MiniVar(z)]
    a, b, c = xs
    f = sin(a) * exp(b) + log(1 + c**2) * sqrt(a**2 + b**2 + 1) - a * b * c / (1 + c**2)
    return (f.value, *mini_backward(f, xs))


# ---- contenders ---------------------------------------------------------------------------
def batch_contenders(quick: bool):
    """name -> (make(x, y, z) -> thunk giving (f, fx, fy, fz)); only the installed peers."""
    out = {}
    out["tapecli"] = lambda x, y, z: (
        lambda: _split_grad(tapecli.parse(F).gradient({"x": x, "y": y, "z": z})))
    out["numpy by hand"] = lambda x, y, z: (lambda: value_and_gradient_np(x, y, z))
    out["minimal tape"] = lambda x, y, z: (lambda: mini_value_and_gradient(x, y, z, np))
    try:
        import numexpr as ne

        def numexpr_vg(x, y, z):
            def run():
                v = {"x": x, "y": y, "z": z}
                v["q"] = ne.evaluate("1 + z**2", local_dict=v)
                v["s"] = ne.evaluate("sqrt(x**2 + y**2 + 1)", local_dict=v)
                v["lq"] = ne.evaluate("log(q)", local_dict=v)
                v["ey"] = ne.evaluate("exp(y)", local_dict=v)
                return (ne.evaluate("sin(x)*ey + lq*s - x*y*z/q", local_dict=v),
                        ne.evaluate("cos(x)*ey + lq*x/s - y*z/q", local_dict=v),
                        ne.evaluate("sin(x)*ey + lq*y/s - x*z/q", local_dict=v),
                        ne.evaluate("2*z*s/q - x*y*(1 - z**2)/q**2", local_dict=v))
            return run
        out["numexpr"] = numexpr_vg
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)

        def fj(x, y, z):
            return work(jnp, x, y, z)

        @jax.jit
        def jax_vg(x, y, z):
            f, vjp = jax.vjp(fj, x, y, z)
            return (f, *vjp(jnp.ones_like(f)))

        def make(x, y, z):
            xj, yj, zj = (jnp.asarray(v) for v in (x, y, z))
            return lambda: [np.asarray(v) for v in jax.block_until_ready(jax_vg(xj, yj, zj))]
        out["JAX jit"] = make
    except ImportError:
        pass
    try:
        import torch
        torch.set_default_dtype(torch.float64)

        def make(x, y, z):
            tx, ty, tz = (torch.from_numpy(np.ascontiguousarray(v)) for v in (x, y, z))

            def run():
                a, b, c = (t.clone().requires_grad_() for t in (tx, ty, tz))
                f = work(torch, a, b, c)
                grads = torch.autograd.grad(f, (a, b, c), torch.ones_like(f))
                return (f.detach().numpy(), *(g.numpy() for g in grads))
            return run
        out["PyTorch"] = make
    except ImportError:
        pass
    try:
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        @tf.function
        def tf_vg(x, y, z):
            with tf.GradientTape() as tape:
                tape.watch([x, y, z])
                f = work(tf.math, x, y, z)
            return (f, *tape.gradient(f, [x, y, z]))

        def make(x, y, z):
            tx, ty, tz = (tf.constant(v) for v in (x, y, z))
            return lambda: [v.numpy() for v in tf_vg(tx, ty, tz)]
        out["TensorFlow tf.function"] = make
    except ImportError:
        pass
    try:
        import autograd
        import autograd.numpy as anp

        fa = stacked(anp)
        def make(x, y, z):
            X = np.stack([x, y, z])

            def run():
                vjp, f = autograd.make_vjp(fa)(X)
                g = vjp(np.ones_like(f))
                return f, g[0], g[1], g[2]
            return run
        out["HIPS autograd"] = make
    except ImportError:
        pass
    return out


def hessian_contenders():
    out = {"tapecli": lambda x, y, z: (
        lambda: tapecli.parse(F).hessian({"x": x, "y": y, "z": z})[2])}
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)

        fv = stacked(jnp)
        hess = jax.jit(jax.vmap(jax.hessian(fv)))

        def make(x, y, z):
            V = jnp.asarray(np.stack([x, y, z], -1))
            return lambda: np.asarray(jax.block_until_ready(hess(V)))
        out["JAX jit(vmap(hessian))"] = make
    except ImportError:
        pass
    try:
        import torch

        def make(x, y, z):
            tx, ty, tz = (torch.from_numpy(np.ascontiguousarray(v)) for v in (x, y, z))

            def run():
                a, b, c = (t.clone().requires_grad_() for t in (tx, ty, tz))
                f = work(torch, a, b, c)
                g = torch.autograd.grad(f.sum(), (a, b, c), create_graph=True)
                rows = [torch.stack(torch.autograd.grad(gi.sum(), (a, b, c), retain_graph=True),
                                    -1) for gi in g]
                return torch.stack(rows, -2).detach().numpy()
            return run
        out["PyTorch double backward"] = make
    except ImportError:
        pass
    try:
        import sympy

        sx, sy, sz = sympy.symbols("x y z")
        fs = work(sympy, sx, sy, sz)
        entries = list(sympy.hessian(fs, (sx, sy, sz)))
        fn = sympy.lambdify((sx, sy, sz), entries, "numpy", cse=True)

        def make(x, y, z):
            return lambda: np.stack(np.broadcast_arrays(*fn(x, y, z)), -1).reshape(-1, 3, 3)
        out["SymPy lambdify"] = make
    except ImportError:
        pass
    try:
        import tensorflow as tf

        @tf.function
        def tf_hess(x, y, z):
            with tf.GradientTape(persistent=True) as outer:
                outer.watch([x, y, z])
                with tf.GradientTape() as inner:
                    inner.watch([x, y, z])
                    f = work(tf.math, x, y, z)
                g = inner.gradient(f, [x, y, z])
            return tf.stack([tf.stack(outer.gradient(gi, [x, y, z]), -1) for gi in g], -2)

        def make(x, y, z):
            tx, ty, tz = (tf.constant(v) for v in (x, y, z))
            return lambda: tf_hess(tx, ty, tz).numpy()
        out["TensorFlow nested tapes"] = make
    except ImportError:
        pass
    try:
        import autograd
        import autograd.numpy as anp

        fa = stacked(anp)
        grad = autograd.elementwise_grad(fa)
        rows = [autograd.elementwise_grad(lambda X, i=i: grad(X)[i]) for i in range(3)]

        def make(x, y, z):
            X = np.stack([x, y, z])
            return lambda: np.stack([np.moveaxis(r(X), 0, -1) for r in rows], -2)
        out["HIPS autograd"] = make
    except ImportError:
        pass
    return out


def point_contenders():
    out = {"pure Python math (floor)": lambda x, y, z: (lambda: point_math(x, y, z))}
    out["tapecli"] = lambda x, y, z: (
        lambda: _split_grad(tapecli.parse(F).gradient({"x": x, "y": y, "z": z})))
    out["minimal tape"] = lambda x, y, z: (lambda: mini_value_and_gradient(x, y, z, math))
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)

        @jax.jit
        def jvg(x, y, z):
            f, vjp = jax.vjp(lambda a, b, c: work(jnp, a, b, c), x, y, z)
            return (f, *vjp(1.0))
        out["JAX jit"] = lambda x, y, z: (
            lambda: [float(v) for v in jax.block_until_ready(jvg(x, y, z))])
    except ImportError:
        pass
    try:
        import torch

        def make(x, y, z):
            def run():
                a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True)
                           for v in (x, y, z))
                f = work(torch, a, b, c)
                f.backward()
                return f.item(), a.grad.item(), b.grad.item(), c.grad.item()
            return run
        out["PyTorch"] = make
    except ImportError:
        pass
    try:
        import tensorflow as tf

        @tf.function
        def tvg(x, y, z):
            with tf.GradientTape() as tape:
                tape.watch([x, y, z])
                f = work(tf.math, x, y, z)
            return (f, *tape.gradient(f, [x, y, z]))

        def make(x, y, z):
            tx, ty, tz = (tf.constant(v, dtype=tf.float64) for v in (x, y, z))
            return lambda: [float(v) for v in tvg(tx, ty, tz)]
        out["TensorFlow tf.function"] = make
    except ImportError:
        pass
    return out


def _split_grad(result):
    value, grad = result
    return (value, *np.moveaxis(grad, -1, 0))


# ---- timing -------------------------------------------------------------------------------
def check(name, got, want, rtol=1e-9):
    for g, w in zip(got, want):
        if not np.allclose(np.asarray(g), w, rtol=rtol, atol=1e-12):
            raise SystemExit(f"{name} gives a wrong answer: max error "
                             f"{np.max(np.abs(np.asarray(g) - w))}")


def race(title, floor_name, thunks, rounds, inner=1):
    """Time every (already checked) thunk once per round, interleaved; print the table."""
    for thunk in thunks.values():
        thunk()  # warm: JIT compilation, plan compilation, caches
    times = {name: [] for name in thunks}
    # A fresh order every round: on this VM whoever follows a long single-threaded
    # contender finds the second core asleep, and a fixed order would always
    # charge that to the same contender.
    order = list(thunks.items())
    shuffle = random.Random(len(thunks) * rounds).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name, thunk in order:
            start = time.perf_counter()
            for _ in range(inner):
                thunk()
            times[name].append((time.perf_counter() - start) / inner)
    floor = statistics.median(times[floor_name])
    print(f"\n{title}")
    print(f"  {'contender':30} {'median':>12} {'min - max':>24} {'ratio':>7}")
    for name, ts in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        med = statistics.median(ts)
        print(f"  {name:30} {_fmt(med):>12} {_fmt(min(ts)) + ' - ' + _fmt(max(ts)):>24} "
              f"{med / floor:>6.2f}x")
    return {name: statistics.median(ts) / floor for name, ts in times.items()}


def _fmt(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.2f} us"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", choices=["batch", "hessian", "point"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["batch", "hessian", "point"])
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, tapecli {tapecli.__version__}, python "
          f"{sys.version.split()[0]}")
    if "batch" in only:
        for rows, rounds in ((10**6, 7), (10**5, 21), (10**3, 101)):
            x, y, z = (rng.uniform(-2, 2, rows) for _ in range(3))
            want = value_and_gradient_np(x, y, z)
            thunks = {"numpy value only (floor)": lambda: value_np(x, y, z)}
            thunks.update({name: make(x, y, z) for name, make in batch_contenders(args.quick).items()})
            thunks = {k: _checked_floor(k, v, want) for k, v in thunks.items()}
            race(f"value + gradient, {rows:.0e} rows", "numpy value only (floor)", thunks,
                 max(3, rounds // (3 if args.quick else 1)), inner=_inner(rows))
    if "hessian" in only:
        rows = 10**5
        x, y, z = (rng.uniform(-2, 2, rows) for _ in range(3))
        want = hessian_np(x, y, z)
        thunks = {"numpy value only (floor)": lambda: value_np(x, y, z)}
        thunks.update({name: make(x, y, z) for name, make in hessian_contenders().items()})
        for name, thunk in thunks.items():
            if name != "numpy value only (floor)":
                check(name, [thunk()], [want], rtol=1e-8)
        race("3x3 Hessian per row, 1e5 rows", "numpy value only (floor)", thunks,
             7 if args.quick else 15, inner=_inner(rows))
    if "point" in only:
        x, y, z = 0.3, -0.2, 1.5
        want = point_math(x, y, z)
        thunks = {name: make(x, y, z) for name, make in point_contenders().items()}
        for name, thunk in thunks.items():
            check(name, thunk(), want)
        race("value + gradient at one point, in-process", "pure Python math (floor)", thunks,
             15 if args.quick else 41, inner=200)


def _inner(rows: int) -> int:
    """Calls per timing: a few back to back, so that each contender is timed warm
    (on this machine an idle second core takes milliseconds to come back, which
    would otherwise charge whoever runs after a single-threaded contender)."""
    return 20 if rows <= 1000 else 5 if rows <= 100_000 else 2


def _checked_floor(name, thunk, want):
    if name == "numpy value only (floor)":
        check(name, [thunk()], want[:1])
    else:
        check(name, thunk(), want)
    return thunk


if __name__ == "__main__":
    main()
