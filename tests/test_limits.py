"""Hard to break, second round (#22): work bounded before it runs away, third-party
libraries' errors caught at their boundary, messages that stay readable.

Each case runs the installed `tapecli` script in a subprocess, as a user would,
and checks the message, the exit status, that no traceback escaped and, where
the point is a bound, the time or memory it took.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TAPECLI = str(Path(sys.executable).parent / "tapecli")


def run(*args: str, stdin: bytes | None = None, env: dict | None = None, timeout: float = 120,
        limit_memory: int | None = None, cwd=None):
    def limit():
        if limit_memory:
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))

    done = subprocess.run([TAPECLI, *args], input=stdin, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False, preexec_fn=limit,
                          cwd=cwd)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    return done


def one_error_line(done, status: int) -> str:
    lines = done.stderr.decode().splitlines()
    assert done.returncode == status, done.stderr
    assert len(lines) == 1 and lines[0].startswith("tapecli: error: "), lines
    return lines[0]


def nested(function: str, depth: int) -> str:
    return f"{function}(" * depth + "x" + ")" * depth


# ---- formulas: size checked while they are built ------------------------------------------
def test_a_formula_that_grows_as_n_squared_is_refused_while_it_is_built():
    # d/dx sin(sin(...sin(x))) is a product of `depth` cosines, the k-th k deep:
    # depth**2/2 terms. 2,000 deep took 10.6 s and 561 MB before it was refused.
    start = time.monotonic()
    done = run("grad", "--formula", nested("sin", 2000))
    assert time.monotonic() - start < 20
    assert one_error_line(done, 2) == (
        "tapecli: error: a formula grows past 80,000 terms while it is built; ask for "
        "numbers (--at) instead, or a lower order")


def test_sin_nested_ten_thousand_deep_is_refused_within_a_gigabyte():
    done = run("grad", "--formula", nested("sin", 10_000), limit_memory=1 << 30)
    assert "grows past 80,000 terms" in one_error_line(done, 2)


def test_the_hessian_formulas_of_a_product_of_40_factors_are_refused_not_minutes_of_work():
    # One variable: gathering like terms takes n**4 steps (300 s at n = 40).
    one = "*".join(f"(x+{i})" for i in range(1, 41))
    start = time.monotonic()
    done = run("hessian", "--formula", one)
    assert time.monotonic() - start < 60
    assert one_error_line(done, 2) == (
        "tapecli: error: simplifying the formulas takes more than 300,000 steps; ask for "
        "numbers (--at) instead, or a lower order")
    # Forty variables: 1,600 small formulas, too many in all.
    many = "*".join(f"(x{i}+{i})" for i in range(40))
    start = time.monotonic()
    done = run("hessian", "--formula", many)
    assert time.monotonic() - start < 60
    assert one_error_line(done, 2) == (
        "tapecli: error: the formulas of the Hessian have more than 100,000 terms in all "
        "(1,600 formulas); ask for numbers (--at) instead")


def test_formulas_below_the_bounds_still_print_and_read_back():
    ten = "*".join(f"(x+{i})" for i in range(1, 11))
    done = run("hessian", "--formula", ten)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "f = " + "*".join(sorted(f"(x + {i})" for i in range(1, 11)))
    # d2f/dx2 at x = 0 by hand: f = prod (x + i), so f''(0) = 2 * sum_{i<j} prod_{k != i,j} k.
    import itertools
    import math

    want = 2 * sum(math.factorial(10) // (i * j)
                   for i, j in itertools.combinations(range(1, 11), 2))
    second = lines[-1].split(" = ", 1)[1]
    check = run("eval", second, "--at", "x=0", "--format", "csv")
    assert float(check.stdout.decode().splitlines()[1]) == want
