"""This checkout against another revision of tapecli, interleaved in one process.

    python benchmarks/ab.py [--base main] [--rounds 15] [--only order20 ...]

On a shared machine absolute times say little; a ratio of medians taken in one
process, the two versions alternating in a fresh order every round, does. The
base revision's `tapecli/` is taken from git (`git archive`) into a temporary
directory and imported as `tapecli_base`, so no old code is kept in the tree.
Each row prints both medians, new / base, and each version's largest relative
error against the analytic answer (or, for tensors, the largest difference
from the analytic tensor scaled by its largest entry), so a fast wrong answer
shows.
"""

from __future__ import annotations

import argparse
import importlib
import io
import math
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tapecli  # noqa: E402  (this checkout)

F = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"
G = "exp(x)*sin(y)*z**2"


def base_package(rev: str, repo: Path = ROOT):
    """tapecli as of `rev`, imported under the name tapecli_base."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "tapecli", "grammar"],
                             capture_output=True, check=True).stdout
    where = Path(tempfile.mkdtemp(prefix="tapecli-ab-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(where, filter="data")
    (where / "tapecli").rename(where / "tapecli_base")
    sys.path.insert(0, str(where))
    return importlib.import_module("tapecli_base")


def rel(got, want) -> float:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))


def scaled(got, want) -> float:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def exact_sin_exp(n: int, x):
    """d^n/dx^n sin(x) exp(x) = 2^(n/2) e^x sin(x + n pi/4)."""
    return 2 ** (n / 2) * np.exp(x) * np.sin(x + n * math.pi / 4)


def g_tensor4(x, y, z):
    """The order-4 tensor of exp(x) sin(y) z**2, rows first: (N, 3, 3, 3, 3)."""
    ex, sy, cy = np.exp(x), np.sin(y), np.cos(y)
    trig = [sy, cy, -sy, -cy, sy]
    zs = [z * z, 2 * z, 2.0 + 0 * z, 0 * z, 0 * z]
    t = np.empty(x.shape + (3, 3, 3, 3))
    for index in np.ndindex(3, 3, 3, 3):
        c = [index.count(v) for v in range(3)]
        t[(...,) + index] = ex * trig[c[1]] * zs[c[2]]
    return t


def workloads(pkg, rows: int, rng_seed: int = 0):
    """name -> (thunk, error of its result); built alike for both versions."""
    rng = np.random.default_rng(rng_seed)
    x1 = rng.uniform(-1.0, 1.0, rows)
    x, y, z = (rng.uniform(-2.0, 2.0, rows) for _ in range(3))
    x3, y3, z3 = x[:1000], y[:1000], z[:1000]
    f1, f3, g3 = pkg.parse("sin(x)*exp(x)"), pkg.parse(F), pkg.parse(G)
    tensors = pkg.derivatives.derivative_tensors if hasattr(pkg, "derivatives") else None
    want_g4 = g_tensor4(x, y, z)
    return {
        "order20 rows": (lambda: f1.derivative({"x": x1}, ["x"] * 20)[1],
                         lambda r: rel(r, exact_sin_exp(20, x1))),
        "order20 point": (lambda: f1.derivative({"x": 1.0}, ["x"] * 20)[1],
                          lambda r: rel(r, exact_sin_exp(20, 1.0))),
        "order8 point": (lambda: f1.derivative({"x": 1.0}, ["x"] * 8)[1],
                         lambda r: rel(r, exact_sin_exp(8, 1.0))),
        "tensor4 G rows": (lambda: tensors(g3, {"x": x, "y": y, "z": z}, 4)[4],
                           lambda r: scaled(r, want_g4)),
        "tensor4 F rows": (lambda: tensors(f3, {"x": x, "y": y, "z": z}, 4)[4], None),
        "hessian F rows": (lambda: f3.hessian({"x": x, "y": y, "z": z})[2], None),
        "grad F 1e3 rows": (lambda: f3.gradient({"x": x3, "y": y3, "z": z3})[1], None),
        "grad F point": (lambda: f3.gradient({"x": 0.3, "y": -0.2, "z": 1.5})[1], None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the git repository of --base")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", action="append", help="a substring of the rows to run")
    args = parser.parse_args()
    base = base_package(args.base, args.repo)
    new, old = workloads(tapecli, args.rows), workloads(base, args.rows)
    names = [n for n in new if not args.only or any(o in n for o in args.only)]
    contenders = [(n, v, fns[n]) for n in names for v, fns in (("new", new), ("base", old))]
    results = {}
    for name, version, (thunk, error) in contenders:
        results[name, version] = thunk()  # warm, and the answer
    times = {(n, v): [] for n, v, _ in contenders}
    inner = {n: 1 if "rows" in n and "1e3" not in n else 50 for n in names}
    for _ in range(args.rounds):
        random.shuffle(contenders)
        for name, version, (thunk, _) in contenders:
            start = time.perf_counter()
            for _ in range(inner[name]):
                thunk()
            times[name, version].append((time.perf_counter() - start) / inner[name])
    print(f"tapecli checkout vs {args.base}, {args.rounds} interleaved rounds, medians")
    print(f"{'work':18} {'new':>10} {'base':>10} {'new/base':>9}  {'err new':>8} {'err base':>8}"
          "  same bits")
    for name in names:
        med = {v: statistics.median(times[name, v]) for v in ("new", "base")}
        error = new[name][1]
        errs = [f"{error(results[name, v]):.1e}" if error else "-" for v in ("new", "base")]
        same = np.array_equal(results[name, "new"], results[name, "base"], equal_nan=True)
        print(f"{name:18} {_show(med['new']):>10} {_show(med['base']):>10} "
              f"{med['new'] / med['base']:8.2f}x  {errs[0]:>8} {errs[1]:>8}  {same}")


def _show(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


if __name__ == "__main__":
    main()
