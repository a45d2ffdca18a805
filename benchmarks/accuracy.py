"""Accuracy beside speed: each result's correct digits next to its time.

Interleaved rounds (every contender once per round, so a loaded machine slows all
alike); the median time per contender. Correct digits are measured against mpmath at
60 digits (-log10 of the relative error, 17 when the double is the nearest one).
Contenders: tapecli's plain float64 pass, tapecli certified (the CLI's default at a
point), tapecli --digits 50 (in process), SymPy (if installed), JAX's jet (if installed).

    python benchmarks/accuracy.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import time

import mpmath

from tapecli import accuracy, derivatives
from tapecli.parser import parse

mpmath.mp.dps = 60
CASES = [  # (expression, mpmath function, order, point)
    ("sin(x)*exp(x)", lambda x: mpmath.sin(x) * mpmath.exp(x), 100, 1.0),
    ("exp(x*sin(x))", lambda x: mpmath.exp(x * mpmath.sin(x)), 20, 1.0),
    ("atan(x)*log1p(x)", lambda x: mpmath.atan(x) * mpmath.log1p(x), 100, 1.0),
]


def digits(value, truth) -> float:
    value = float(value)
    if not math.isfinite(value):
        return 0.0
    with mpmath.workprec(53):
        if value == float(mpmath.mpf(truth)):
            return 17.0
    error = abs(mpmath.mpf(value) - truth) / abs(truth)
    return max(0.0, float(-mpmath.log10(error)))


def contenders(text, order, x):
    expr = parse(text)
    out = {
        "tapecli float64": lambda: derivatives.derivative(expr, {"x": x}, ["x"] * order)[1],
        "tapecli certified": lambda: accuracy.at_point("diff", expr, {"x": x}, ["x"], order)[1],
        "tapecli digits=50": lambda: accuracy.at_point("diff", expr, {"x": x}, ["x"], order,
                                                       digits=50)[1],
    }
    try:
        import sympy

        if text != "sin(x)*exp(x)":  # SymPy takes more than 100 s for exp(x*sin(x)), order 20
            raise ImportError

        sx = sympy.Symbol("x")
        sexpr = sympy.sympify(text.replace("log1p(x)", "log(1+x)"))
        out["SymPy diff + evalf"] = lambda: float(sympy.diff(sexpr, sx, order).subs(sx, x).evalf(30))
    except ImportError:
        pass
    try:
        import jax  # noqa: F401
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"date {time.strftime('%Y-%m-%d')}, commit {commit}, {platform.machine()}, "
          f"Python {platform.python_version()}, {rounds} interleaved rounds (median)")
    print("| derivative | contender | correct digits | time |")
    print("| --- | --- | --- | --- |")
    for text, f, order, x in CASES:
        truth = mpmath.diff(f, mpmath.mpf(x), order)
        runs = contenders(text, order, x)
        times = {name: [] for name in runs}
        results = {}
        for _ in range(rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                results[name] = run()
                times[name].append(time.perf_counter() - start)
        for name in runs:
            t = statistics.median(times[name])
            print(f"| {text}, order {order} at x={x} | {name} | "
                  f"{digits(results[name], truth):.1f} | {t * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
