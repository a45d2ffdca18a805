"""Ball evaluation: a recorded graph run on python-flint balls, until its digits are certain.

Every value of the captured value program (tapecli.graph, the graph Taylor mode reads)
becomes a truncated Taylor series of balls (`arb_series`): each coefficient is an
interval that contains the exact coefficient, so a result's ball says how many of its
digits are right. The rules are the primitives' `ball` column (tapecli.ball_rules).

A partial derivative is read from univariate passes, as in Taylor mode: along e_x for
d^k f/dx^k (k! times coefficient k), and for a mixed partial along every integer
direction 0 < s <= j with the integer weights of tapecli.taylor.polarization, which
balls hold exactly. `evaluate` starts at 128 bits and raises the precision (doubling,
or more when a ball shows how many bits were lost) until every result is decided:
rounded to the nearest float64, or to N significant digits, the whole ball rounds to
one number. Results still undecided at the precision cap (an exact zero reached by
cancellation, a ball that straddles a kink) are returned as such.

python-flint's precision is global to the process (`flint.ctx.prec`): this module sets
it around each pass and restores it; threads must not evaluate balls concurrently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

import numpy as np

START_BITS = 128
# Bits of all coefficients of one series that a pass may hold (about 8 MB per series):
# the precision cap falls as the order rises, so order 1,000,000 still fits.
_BIT_BUDGET = 1 << 26
_MAX_BITS = 1 << 15


class Entry(NamedTuple):
    """One number to certify: output `output` of the graph differentiated `counts`
    times by each name ({} for the value)."""

    output: int
    counts: tuple[tuple[str, int], ...]

    @property
    def order(self) -> int:
        return sum(k for _, k in self.counts)


class Certified(NamedTuple):
    """A result: its ball, the number it certainly rounds to (a float, or a Decimal of
    N digits; None when undecided) and the significant digits the ball is sure of."""

    ball: object
    number: float | Decimal | None
    digits: int
    straddled: bool


def flint():
    import flint as module  # 10 MB of FLINT, GMP and MPFR: only when a ball is needed

    return module


# ---- the evaluator ----------------------------------------------------------------------
class BallGraph:
    """A Graph laid out for ball evaluation: run(inputs, floats, length) -> output series."""

    def __init__(self, graph, names: Sequence[str]):
        self.graph, self.names = graph, tuple(names)
        self.slot = {id(n): k for k, n in enumerate(graph.nodes)}
        for node in graph.nodes:
            if node.prim is not None and node.prim.ball is None:
                raise NotImplementedError(f"{node.prim.name} has no ball rule")

    def floats(self, point: Sequence[float]) -> list:
        """The float64 value of every node at `point`: what the float64 tape computed,
        the branch a kink takes where its ball straddles."""
        values: list = []
        with np.errstate(all="ignore"):
            for node in self.graph.nodes:
                if node.input is not None:
                    values.append(float(point[node.input]))
                elif node.value is not None:
                    values.append(node.value.item())
                else:
                    args = [values[self.slot[id(a)]] for a in node.args]
                    values.append(np.asarray(node.prim.forward(*args, **node.params)).item())
        return values

    def run(self, inputs: Sequence, floats: Sequence, length: int, exact_reals: bool):
        """Output series (arb_series of `length`) for input series `inputs`; and whether
        a kink's ball straddled its switch."""
        fl = flint()
        values: list = []
        straddled = [False]

        def straddle():
            straddled[0] = True

        for node in self.graph.nodes:
            if node.input is not None:
                values.append(inputs[node.input])
            elif node.value is not None:
                values.append(fl.arb_series([real(node.value.item(), exact_reals)], length))
            else:
                args = [values[self.slot[id(a)]] for a in node.args]
                rule = node.prim.ball
                try:
                    if getattr(rule, "kink", False):
                        out = rule(*args, floats=[floats[self.slot[id(a)]] for a in node.args],
                                   straddle=straddle, **node.params)
                    else:
                        out = rule(*args, **node.params)
                except (ZeroDivisionError, ValueError):  # a ball that holds a pole
                    out = fl.arb_series([fl.arb.nan()] * length, length)
                values.append(out)
        return [values[self.slot[id(n)]] for n in self.graph.outputs], straddled[0]


def real(value, exact_reals: bool):
    """The ball of a number the tool read: the float64 itself (exact), or with
    `exact_reals` the real it names: pi, e, or the shortest decimal of the double
    (0.1 is 1/10)."""
    fl = flint()
    value = float(value)
    if not exact_reals or not math.isfinite(value):
        return fl.arb(value) if math.isfinite(value) else fl.arb("nan" if value != value
                                                                  else value)
    if value == math.pi:
        return fl.arb.pi()
    if value == math.e:
        return fl.arb(1).exp()
    return fl.arb(repr(value))


# ---- which passes a partial derivative needs ------------------------------------------------
def _box(counts: Sequence[int]):
    out = [()]
    for a in counts:
        out = [s + (b,) for s in out for b in range(a + 1)]
    return [s for s in out if any(s)]


def weights(counts: Mapping[str, int]) -> list[tuple[tuple[tuple[str, int], ...], int]]:
    """[(direction, integer weight)] with d^j f = sum weight * coefficient |j| along
    direction (directions as sorted (name, step) pairs)."""
    names = [n for n, k in counts.items() if k]
    if not names:
        return [((), 1)]
    total = sum(counts[n] for n in names)
    if len(names) == 1:
        return [(((names[0], 1),), math.factorial(total))]
    js = [counts[n] for n in names]
    out = []
    for s in _box(js):
        w = (-1) ** (total - sum(s)) * math.prod(math.comb(a, b) for a, b in zip(js, s))
        out.append((tuple((n, k) for n, k in zip(names, s) if k), w))
    return out


def passes_for(entries: Sequence[Entry]) -> int:
    """How many univariate passes the entries need (a work bound's count)."""
    return len({d for e in entries for d, _ in weights(dict(e.counts))})


# ---- rounding a ball --------------------------------------------------------------------
def _dyadic(x) -> tuple[int, int]:
    m, e = x.mid().man_exp() if not x.is_exact() else x.man_exp()
    return int(m), int(e)


def _ends(ball) -> tuple[tuple[int, int], tuple[int, int]]:
    m, e = (int(v) for v in ball.mid().man_exp())
    r = ball.rad()
    rm, re = (int(v) for v in r.man_exp()) if not r.is_zero() else (0, e)
    base = min(e, re)
    m, rm = m << (e - base), rm << (re - base)
    return (m - rm, base), (m + rm, base)


def to_double(m: int, e: int) -> float:
    """m * 2**e rounded to the nearest float64 (ties to even), as IEEE does."""
    if m == 0:
        return 0.0
    size = m.bit_length() if m > 0 else (-m).bit_length()
    # The sign from m's comparison: copysign would convert a huge m to float first.
    if size + e > 1030:
        return math.inf if m > 0 else -math.inf
    if size + e < -1080:
        return 0.0 if m > 0 else -0.0
    try:
        return float(m << e) if e >= 0 else m / (1 << -e)  # Python rounds these correctly
    except OverflowError:
        return math.copysign(math.inf, m)


def nearest_double(ball) -> float | None:
    """The float64 nearest every point of the ball, or None if the ball is not that
    certain (or not finite)."""
    if not ball.is_finite():
        return None
    (lo, e), (hi, _) = _ends(ball)
    a, b = to_double(lo, e), to_double(hi, e)
    if a != b or math.isinf(a):
        return None
    return a


def _round_digits(m: int, e: int, n: int) -> tuple[int, int, int]:
    """m * 2**e to n significant decimal digits, ties to even: (sign, q, k) with
    10**(n-1) <= q < 10**n and value ~ q * 10**(k - n + 1)."""
    sign = 1 if m < 0 else 0
    m = abs(m)
    guess = math.floor((m.bit_length() + e - 1) * 0.30102999566398120)
    for k in (guess - 1, guess, guess + 1, guess + 2):
        shift = n - 1 - k  # q = round(m * 2**e * 10**shift)
        num, den = m, 1
        num, den = (num << e, den) if e >= 0 else (num, den << -e)
        num, den = (num * 10 ** shift, den) if shift >= 0 else (num, den * 10 ** -shift)
        q, rest = divmod(num, den)
        if 2 * rest > den or (2 * rest == den and q % 2):
            q += 1
        if 10 ** (n - 1) <= q < 10 ** n:
            return sign, q, k
    raise AssertionError("no decimal exponent fits")  # pragma: no cover


def rounded_digits(ball, n: int) -> Decimal | None:
    """The ball to n significant digits, correctly rounded, if every point of it rounds
    so; an exact zero is 0."""
    if not ball.is_finite():
        return None
    if ball.is_exact() and ball.is_zero():
        return Decimal(0)
    (lo, e), (hi, _) = _ends(ball)
    if (lo < 0) != (hi < 0) or lo == 0 or hi == 0:
        return None
    a, b = _round_digits(lo, e, n), _round_digits(hi, e, n)
    if a != b:
        return None
    sign, q, k = a
    return Decimal((sign, Decimal(q).as_tuple().digits, k - n + 1))


def certain_digits(ball) -> int:
    """Significant decimal digits the ball is sure of (0 when it holds zero)."""
    if not ball.is_finite() or ball.contains(0):
        return 0
    if ball.is_exact():
        return 17
    fl = flint()
    relative = fl.arb(ball.rad()) / abs(fl.arb(ball.mid()))
    return max(0, int(-float(relative.log()) / math.log(10)))


def lost_bits(ball) -> int:
    """How many bits of the working precision the ball lost (its relative radius)."""
    if not ball.is_finite():
        return 0
    if ball.is_exact():
        return 0
    fl = flint()
    mid = abs(fl.arb(ball.mid()))
    if mid.is_zero():
        return 0
    return max(0, int(float((fl.arb(ball.rad()) / mid).log()) / math.log(2)))


# ---- the loop -------------------------------------------------------------------------------
def precision_cap(length: int, digits: int | None) -> int:
    """The most bits a pass of series `length` may use."""
    cap = max(START_BITS, min(_MAX_BITS, _BIT_BUDGET // max(length, 1)))
    if digits is not None:
        cap = max(cap, int(digits * 3.33 * 2) + 256)
    return cap


def evaluate(ball_graph: BallGraph, point: Sequence[float], entries: Sequence[Entry],
             digits: int | None = None, exact_reals: bool = False,
             cap: int | None = None) -> list[Certified]:
    """Certify each entry: the nearest float64 (digits None) or `digits` significant
    digits, raising the precision until decided or the cap."""
    fl = flint()
    floats = ball_graph.floats(point)
    need = {i: weights(dict(e.counts)) for i, e in enumerate(entries)}
    length = max((e.order for e in entries), default=0) + 1
    cap = cap or precision_cap(length, digits)
    results: dict[int, Certified] = {}
    pending = list(range(len(entries)))
    prec = START_BITS if digits is None else max(START_BITS, int(digits * 3.33) + 64)
    old_prec, old_cap = fl.ctx.prec, fl.ctx.cap
    try:
        while pending:
            fl.ctx.prec = prec
            fl.ctx.cap = length
            directions = {d for i in pending for d, _ in need[i]}
            series = {}
            straddles = {}
            for d in directions:
                steps = dict(d)
                inputs = []
                for k, name in enumerate(ball_graph.names):
                    x0 = real(point[k], exact_reals)
                    step = steps.get(name, 0)
                    inputs.append(fl.arb_series([x0, step] if step else [x0], length))
                series[d], straddles[d] = ball_graph.run(inputs, floats, length, exact_reals)
            worst = 0
            still = []
            for i in pending:
                entry = entries[i]
                total = fl.arb(0)
                straddled = False
                for d, w in need[i]:
                    s = series[d][entry.output]
                    c = s[entry.order] if entry.order < s.length() else fl.arb(0)
                    total += w * c
                    straddled |= straddles[d]
                number = nearest_double(total) if digits is None else rounded_digits(total,
                                                                                     digits)
                done = number is not None and not straddled
                if done or prec >= cap:
                    results[i] = Certified(total, number if done else None,
                                           certain_digits(total), straddled)
                else:
                    still.append(i)
                    worst = max(worst, lost_bits(total))
            pending = still
            prec = min(cap, max(2 * prec, prec + worst + 64))
    finally:
        fl.ctx.prec, fl.ctx.cap = old_prec, old_cap
    return [results[i] for i in range(len(entries))]
