"""High-order derivatives: tapecli's Taylor mode against JAX jet, nested jax.grad and
PyTorch nested autograd, interleaved in one run.

    python benchmarks/highorder.py [--rounds N]      # peers are used where installed

The work is f = sin(x)*exp(x), whose n-th derivative is 2^(n/2) e^x sin(x + n pi/4),
and g = exp(x)*sin(y)*z**2 for the tensors (order 4 over rows against the Hessian of
the same rows; a tensor's error is its largest difference over its largest entry,
since it has exact zeros). Every contender's result is printed with
its relative error beside its time (a fast wrong answer is not ahead). Rounds are
interleaved: each round runs every contender of a row once, in a new order; the
table gives medians and each row's ratio to its reference (the issue's targets).
One-time costs (JAX compilation, the first call) are measured once and shown apart.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tapecli

F = "sin(x)*exp(x)"
G = "exp(x)*sin(y)*z**2"
ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "tapecli"]


def exact(n: int, x):
    return 2 ** (n / 2) * np.exp(x) * np.sin(x + n * math.pi / 4)


def rel(got, want) -> float:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))


def g_tensor4(x, y, z):
    """The order-4 tensor of G at a point (floats) or over rows (arrays, rows first)."""
    x, y, z = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(z, dtype=float)
    trig = [np.sin(y), np.cos(y), -np.sin(y), -np.cos(y), np.sin(y)]
    zs = [z * z, 2 * z, 2.0 + 0 * z, 0 * z, 0 * z]
    t = np.empty(x.shape + (3, 3, 3, 3))
    for index in np.ndindex(3, 3, 3, 3):
        c = [index.count(v) for v in range(3)]
        t[(...,) + index] = np.exp(x) * trig[c[1]] * zs[c[2]]
    return t


def tensor_error(got, want) -> float:
    """Largest difference over the largest entry: a tensor has exact zeros."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# ---- contenders: name -> (callable returning the answer, the exact answer) ---------------
def tapecli_rows(rows_x):
    f, g = tapecli.parse(F), tapecli.parse(G)
    point = {"x": 1.0}
    xyz = rows_xyz(len(rows_x))
    return {
        "rows:hessian G": (lambda: g.hessian(xyz)[2], None),
        "rows:tensor4 G": (lambda: g.derivative_tensors(xyz, 4)[4],
                           g_tensor4(xyz["x"], xyz["y"], xyz["z"])),
        "point:value+gradient": (lambda: f.gradient(point), None),
        "point:order20": (lambda: f.derivative(point, ["x"] * 20)[1], exact(20, 1.0)),
        "point:order100": (lambda: f.derivative(point, ["x"] * 100)[1], exact(100, 1.0)),
        "rows:numpy value": (lambda: np.sin(rows_x) * np.exp(rows_x), None),
        "rows:order20": (lambda: f.derivative({"x": rows_x}, ["x"] * 20)[1],
                         exact(20, rows_x)),
    }


def rows_xyz(rows: int) -> dict:
    rng = np.random.default_rng(1)
    return {v: rng.uniform(-1.0, 1.0, rows) for v in "xyz"}


def jax_rows(rows_x):
    try:
        import jax
        import jax.numpy as jnp
        from jax.experimental import jet
    except ImportError:
        return {}, {}
    jax.config.update("jax_enable_x64", True)

    def f(x):
        return jnp.sin(x) * jnp.exp(x)

    def jet_n(n):
        return lambda x: jet.jet(f, (x,), ([1.0] + [0.0] * (n - 1),))[1][-1]

    def nested(n):
        g = f
        for _ in range(n):
            g = jax.grad(g)
        return g

    out, once = {}, {}
    for n in (20, 100):
        compiled = jax.jit(jet_n(n))
        start = time.perf_counter()
        compiled(1.0).block_until_ready()
        once[f"JAX jet jit order {n}: compile"] = time.perf_counter() - start
        out[f"point:order{n}:JAX jet jit"] = (lambda c=compiled: float(c(1.0)), exact(n, 1.0))
        eager = jet_n(n)
        out[f"point:order{n}:JAX jet eager"] = (lambda e=eager: float(e(1.0)), exact(n, 1.0))
    for n in (8,):
        compiled = jax.jit(nested(n))
        start = time.perf_counter()
        compiled(1.0).block_until_ready()
        once[f"nested jax.grad jit order {n}: compile"] = time.perf_counter() - start
        out[f"point:order{n}:nested jax.grad jit"] = (lambda c=compiled: float(c(1.0)),
                                                      exact(n, 1.0))
    batched = jax.jit(jax.vmap(jet_n(20)))
    xs = jnp.asarray(rows_x)
    start = time.perf_counter()
    batched(xs).block_until_ready()
    once["JAX jit(vmap(jet)) order 20 rows: compile"] = time.perf_counter() - start
    out["rows:order20:JAX jit(vmap(jet))"] = (lambda: np.asarray(batched(xs)), exact(20, rows_x))

    def g(v):
        return jnp.exp(v[0]) * jnp.sin(v[1]) * v[2] ** 2

    tensor4 = jax.jit(jax.vmap(jax.jacfwd(jax.jacfwd(jax.hessian(g)))))
    xyz = rows_xyz(len(rows_x))
    V = jnp.asarray(np.stack([xyz["x"], xyz["y"], xyz["z"]], -1))
    start = time.perf_counter()
    tensor4(V).block_until_ready()
    once["JAX jit(vmap(jacfwd(jacfwd(hessian)))) rows: compile"] = time.perf_counter() - start
    out["rows:tensor4 G:JAX jit(vmap(jacfwd(jacfwd(hessian))))"] = (
        lambda: np.asarray(tensor4(V)), g_tensor4(xyz["x"], xyz["y"], xyz["z"]))
    return out, once


def torch_rows():
    try:
        import torch
    except ImportError:
        return {}

    def nested(n):
        x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        y = torch.sin(x) * torch.exp(x)
        for _ in range(n):
            (y,) = torch.autograd.grad(y, x, create_graph=True)
        return float(y.detach())

    return {"point:order8:PyTorch nested autograd": (lambda: nested(8), exact(8, 1.0))}


def tapecli_point8():
    f = tapecli.parse(F)
    return {"point:order8": (lambda: f.derivative({"x": 1.0}, ["x"] * 8)[1], exact(8, 1.0))}


# ---- whole processes -------------------------------------------------------------------
def process(*args) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, check=True,
                          env=env).stdout


def process_rows():
    import json

    def diff50():
        out = json.loads(process("diff", F, "--wrt", "x", "--order", "50", "--at", "x=1",
                                 "--format", "json"))
        return out["derivative"]

    def hessian4():
        out = json.loads(process("hessian", G, "--order", "4", "--at", "x=0.3,y=1.1,z=-0.7",
                                 "--format", "json"))
        return np.array(out["d4f"])

    rows = {
        "process:eval": (lambda: process("eval", F, "--at", "x=1"), None),
        "process:diff order 50": (diff50, exact(50, 1.0)),
        "process:hessian": (lambda: process("hessian", G, "--at", "x=0.3,y=1.1,z=-0.7"), None),
    }
    if "--order" in process("hessian", "--help"):
        rows["process:hessian --order 4"] = (hessian4, g_tensor4(0.3, 1.1, -0.7))
    return rows


# ---- running --------------------------------------------------------------------------
def timed(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rows_x = np.random.default_rng(0).uniform(-1.0, 1.0, args.rows)
    contenders = {**tapecli_rows(rows_x), **tapecli_point8(), **torch_rows()}
    peers, once = jax_rows(rows_x)
    contenders.update(peers)
    contenders.update(process_rows())
    errors = {}
    for name, (fn, want) in contenders.items():
        got = fn()
        measure = tensor_error if "tensor" in name or "hessian --order" in name else rel
        errors[name] = None if want is None else measure(got, want)
    inner = {name: (1 if name.startswith(("process", "rows")) or "eager" in name else 20)
             for name in contenders}
    times = {name: [] for name in contenders}
    names = list(contenders)
    for _ in range(args.rounds):
        random.shuffle(names)
        for name in names:
            times[name].append(timed(contenders[name][0], inner[name]))
    median = {name: statistics.median(t) for name, t in times.items()}
    references = {"point": "point:value+gradient", "rows": "rows:numpy value",
                  "process": "process:eval"}
    print(f"{'work':48} {'median':>12} {'ratio':>9}  relative error")
    for name in sorted(contenders):
        group = name.split(":")[0]
        ref = ("process:hessian" if "hessian --order" in name
               else "rows:hessian G" if "tensor" in name else references[group])
        ratio = median[name] / median[ref]
        err = "" if errors[name] is None else f"{errors[name]:.1e}"
        print(f"{name:48} {_show(median[name]):>12} {ratio:8.2f}x  {err}")
    for name, seconds in once.items():
        print(f"{name:48} {_show(seconds):>12} (once)")


def _show(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


if __name__ == "__main__":
    main()
