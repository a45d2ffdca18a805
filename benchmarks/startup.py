"""Whole-process start-up: `tapecli grad "x**2+3*x+1" --at x=3` against a bare
`python -c "import numpy"`, and the same job done by peers' scripts.

    python benchmarks/startup.py [--rounds N] [--peers-python PATH]

Runs are interleaved (each command once per round) and the table gives
medians, min-max and the ratio to the numpy floor. tapecli is the console
script next to this Python (install with `pip install .`: a non-editable
install, with bytecode compiled, is what users run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

JOB = {
    "TensorFlow script": """
import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
x = tf.constant(3.0, tf.float64)
with tf.GradientTape() as t:
    t.watch(x); y = x**2 + 3*x + 1
print(float(y), float(t.gradient(y, x)))
""",
    "JAX script": """
import jax
print(*jax.value_and_grad(lambda x: x**2 + 3*x + 1)(3.0))
""",
    "SymPy script": """
import sympy
x = sympy.Symbol("x"); f = x**2 + 3*x + 1
print(f.subs(x, 3), sympy.diff(f, x).subs(x, 3))
""",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--peers-python", default=sys.executable,
                        help="a Python that has tensorflow, jax, sympy (optional)")
    args = parser.parse_args()
    script = Path(sys.executable).parent / "tapecli"
    commands = {
        'python -c "import numpy" (floor)': [sys.executable, "-c", "import numpy"],
        "tapecli grad ... --at x=3": [str(script), "grad", "x**2+3*x+1", "--at", "x=3"],
    }
    for name, code in JOB.items():
        module = name.split()[0].lower().replace("tensorflow", "tensorflow")
        probe = subprocess.run([args.peers_python, "-c", f"import {module}"],
                               capture_output=True)
        if probe.returncode == 0:
            commands[name] = [args.peers_python, "-c", code]
    for tool, argv in (("qalc", ["qalc", "diff(x^2+3x+1, x, 1, 3)"]),
                       ("maxima", ["maxima", "--very-quiet", "-r",
                                   "print(at(diff(x^2+3*x+1,x),x=3))$ quit();"])):
        if shutil.which(tool):
            commands[f"{tool} (native)"] = argv
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users run: cached bytecode
    for argv in commands.values():  # warm the file cache and write bytecode
        subprocess.run(argv, capture_output=True, env=env, check=True)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, env=env, check=True)
            times[name].append(time.perf_counter() - start)
    floor = statistics.median(next(iter(times.values())))
    print(f"{'command':36} {'median':>10} {'min - max':>20} {'ratio':>7}")
    for name, ts in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        med = statistics.median(ts)
        print(f"{name:36} {med * 1e3:>7.1f} ms {min(ts) * 1e3:>8.1f} - {max(ts) * 1e3:>6.1f} ms "
              f"{med / floor:>6.2f}x")


if __name__ == "__main__":
    main()
