"""How big tapecli's printed derivatives are next to SymPy's.

For each standard test function, every gradient and Hessian entry is printed by
tapecli (`Expression.gradient_formulas` / `hessian_formulas`, the tape's graph
simplified) and by SymPy (`str(sympy.diff(f, x))`, no `simplify`). The size of a
formula is its number of operators (+ - * / **, unary minus included) and
function calls. Prints the ratio per formula and in total.

    pip install -r benchmarks/requirements.txt   # sympy
    python benchmarks/formula_size.py
"""

from __future__ import annotations

import re
import sys

import sympy

import tapecli

FUNCTIONS = {
    "rosenbrock": "(1 - x)**2 + 100*(y - x**2)**2",
    "himmelblau": "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
    "beale": "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
    "readme speed": "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)",
    "sin*exp*log*sqrt": "sin(x)*exp(y)*log(x + y)*sqrt(x*y)",
    "powers": "x**3*y**2 + (x + y)**4 - x**-2",
    "quotient": "(x**2 + y)/(x - y**2) + x/(1 + y**2)",
    "sin/exp": "sin(x*y)/exp(x + y)",
}

# A number (its sign is an operator only outside the literal), a call, an operator.
_TOKEN = re.compile(r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                    r"|[A-Za-z_]\w*\(|\*\*|[-+*/^]")


def size(text: str) -> int:
    """Operators and function calls in a printed formula."""
    return sum(1 for token in _TOKEN.findall(text) if not token[0].isdigit() and token[0] != ".")


def rows() -> list[tuple[str, str, int, int]]:
    out = []
    for name, text in FUNCTIONS.items():
        f = tapecli.parse(text)
        symbols = sympy.symbols(f.variables)
        sf = sympy.sympify(text, locals=dict(zip(f.variables, symbols)))
        for v, formula in zip(f.variables, f.gradient_formulas()):
            out.append((name, f"df/d{v}", size(str(formula)), size(str(sympy.diff(sf, v)))))
        hessian = f.hessian_formulas()
        for i, vi in enumerate(f.variables):
            for j, vj in enumerate(f.variables):
                theirs = str(sympy.diff(sf, vi, vj))
                out.append((name, f"d2f/d{vi}d{vj}", size(str(hessian[i][j])), size(theirs)))
    return out


def main() -> int:
    table = rows()
    print(f"{'function':<18} {'formula':<10} {'tapecli':>8} {'sympy':>6} {'ratio':>6}")
    for name, what, ours, theirs in table:
        ratio = ours / theirs if theirs else float("inf") if ours else 1.0
        print(f"{name:<18} {what:<10} {ours:>8} {theirs:>6} {ratio:>6.2f}")
    total_ours = sum(r[2] for r in table)
    total_theirs = sum(r[3] for r in table)
    worst = max((r[2] / r[3] if r[3] else (float("inf") if r[2] else 1.0)) for r in table)
    print(f"{'total':<29} {total_ours:>8} {total_theirs:>6} {total_ours / total_theirs:>6.2f}")
    print(f"worst single formula: {worst:.2f}x (targets: total <= 1.3x, each <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
