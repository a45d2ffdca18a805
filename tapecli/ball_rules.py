"""Ball rules: each primitive on truncated Taylor series of balls (python-flint's `arb_series`).

A rule is `rule(*args, **params)`: every argument is an `arb_series` of one length
(the caller, tapecli.balls, sets `flint.ctx.prec`, `flint.ctx.cap` and that length),
and the result is an `arb_series` of the same length whose balls contain the exact
normalized Taylor coefficients. Each Primitive's row in tapecli.ops points at its rule
(`sin.defball(ball_rules.sin)`), beside its Taylor rule.

flint's own series functions are preferred to our float recurrences replayed on balls:
they certify far more digits (37 against 10 at 128 bits in the issue's measurements).
The other functions compose from them, with coefficient 0 taken from arb's scalar
function of the same name where the composition would cancel (expm1 and log1p near 0,
tanh for large arguments), or integrate their derivative series (asinh, atanh, atan2,
softplus): f(u) = f(u0) + integral of f'(u) u'.

Kinks (abs, sign, relu, max, min, where, ifzero, heaviside, comparisons) are decided
by the ball when it is certain; when it straddles the switch, a rule takes the branch
the float64 tape took (`floats`: the float64 values of its arguments) and calls
`straddle()`, so the result can be reported as uncertain. Such rules carry the
attribute `kink = True`; the evaluator passes them those two keywords.

flint is imported on first use (`_flint()`), not at the top: tapecli.ops imports this
module and a plain `tapecli grad` must not pay for flint.
"""

from __future__ import annotations

import builtins


def _flint():
    import flint

    return flint


def _arb(x):
    return _flint().arb(x)


def _series(coefficients, length):
    return _flint().arb_series(coefficients, length)


def _head(u):
    return u[0]


def _with_head(v, value):
    """`v` with coefficient 0 replaced by `value` (a tighter ball from a scalar function)."""
    v[0] = value
    return v


def _constant(value, like):
    return _series([value], like.prec)


def _is_constant(u) -> bool:
    """Whether u is a number alone: every coefficient after the first is exactly 0."""
    return all(c.is_exact() and c.is_zero() for c in u.coeffs()[1:])


def _by_derivative(value, u, derivative):
    """f(u) from f(u0) = `value` and f'(u) u' = derivative(u) (a callable)."""
    if u.prec == 1:
        return _constant(value, u)
    return _with_head(derivative(u).integral(), value)


def _prime(u):
    return u.derivative()


# ---- arithmetic ---------------------------------------------------------------------
def add(a, b):
    return a + b


def subtract(a, b):
    return a - b


def multiply(a, b):
    return a * b


def divide(a, b):
    return a / b


def negative(u):
    return -u


def square(u):
    return u * u


def identity(u):
    return u


def pow(a, b):  # noqa: A001  (the primitive's name)
    """a**b: an integer constant exponent multiplies out (exact at a zero base); another
    constant exponent is flint's series power; a varying one is exp(b log a), with
    d/db a**b = 0 where a == 0 (EXPRESSIONS.md)."""
    b0 = _head(b)
    if _is_constant(b):
        if b0.is_exact() and b0.is_integer() and builtins.abs(int(b0.unique_fmpz())) <= 1 << 16:
            n = int(b0.unique_fmpz())
            if n >= 0:
                return a ** n if n else _constant(_arb(1), a)
            return 1 / (a ** -n)
        if _is_constant(a):
            return _constant(_head(a) ** b0, a)
        return a ** b0
    a0 = _head(a)
    if a0.is_exact() and a0.is_zero() and _is_constant(a):
        return _constant(_arb(0) ** b0 if b0 > 0 else _arb(0) ** b0, a)
    return (b * a.log()).exp()


# ---- exp, log and their relatives ---------------------------------------------------------
def exp(u):
    return u.exp()


def expm1(u):
    return _with_head(u.exp() - 1, _head(u).expm1())


def log(u):
    return u.log()


def log1p(u):
    return _by_derivative(_head(u).log1p(), u,
                          lambda u: _prime(u) / _truncate(1 + u, u.prec - 1))


def log2(u):
    return u.log() / _arb(2).log()


def log10(u):
    return u.log() / _arb(10).log()


def sqrt(u):
    return u.sqrt()


def cbrt(u):
    u0 = _head(u)
    if u0 < 0:
        return -((-u) ** (_arb(1) / 3))
    if u0.is_exact() and u0.is_zero():
        # cbrt'(0) = inf, as the float64 tape says: the series of a root at 0 has none.
        return _with_head(u ** (_arb(1) / 3), _arb(0))
    return u ** (_arb(1) / 3)


def sigmoid(u):
    # 1 / (1 + exp(-u)): exp(-u) carries its own exponent, so nothing underflows.
    return _with_head(1 / (1 + (-u).exp()), _sigmoid_scalar(_head(u)))


def _sigmoid_scalar(x):
    return 1 / (1 + (-x).exp())


def softplus(u):
    u0 = _head(u)
    value = (-builtins.abs(u0)).exp().log1p() + _max0(u0)
    return _by_derivative(value, u, lambda u: _prime(u) * _truncate(sigmoid(u), u.prec - 1))


def _max0(x):
    if x > 0:
        return x
    if x < 0:
        return _arb(0)
    return (x + builtins.abs(x)) / 2


def _truncate(u, length):
    return _series(u.coeffs()[:length], length)


# ---- trigonometric and hyperbolic ----------------------------------------------------------
def sin(u):
    return u.sin()


def cos(u):
    return u.cos()


def tan(u):
    return u.tan()


def asin(u):
    return u.asin()


def acos(u):
    return u.acos()


def atan(u):
    return u.atan()


def sinh(u):
    e = u.exp()
    return _with_head((e - 1 / e) / 2, _head(u).sinh())


def cosh(u):
    e = u.exp()
    return _with_head((e + 1 / e) / 2, _head(u).cosh())


def tanh(u):
    # From exp(-2|u|): never a large number minus a large number.
    u0 = _head(u)
    if u0 < 0:
        return -tanh(-u)
    e = (-2 * u).exp()
    return _with_head((1 - e) / (1 + e), u0.tanh())


def asinh(u):
    return _by_derivative(_head(u).asinh(), u,
                          lambda u: _prime(u) * _truncate((u * u + 1).rsqrt(), u.prec - 1))


def acosh(u):
    return _by_derivative(_head(u).acosh(), u,
                          lambda u: _prime(u) * _truncate((u * u - 1).rsqrt(), u.prec - 1))


def atanh(u):
    return _by_derivative(_head(u).atanh(), u,
                          lambda u: _prime(u) / _truncate(1 - u * u, u.prec - 1))


def atan2(y, x):
    value = _flint().arb.atan2(_head(y), _head(x))
    return _by_derivative(value, y, lambda y: _truncate(
        (x * _prime_full(y) - y * _prime_full(x)) / (x * x + y * y), y.prec - 1))


def _prime_full(u):
    """u' as a series of u's length (its last coefficient unknown, never read)."""
    return _series(u.derivative().coeffs(), u.prec)


def hypot(a, b):
    a0, b0 = _head(a), _head(b)
    if all(c.is_exact() and c.is_zero() for c in (a0, b0)):
        return _constant(_arb(0), a)  # every derivative is 0 at the origin (the VJP's)
    return (a * a + b * b).sqrt()


# ---- kinks: certain when the ball decides, else the float64 tape's branch ---------------
def kink(rule):
    rule.kink = True
    return rule


def _sign(x, fallback: float, straddle) -> int:
    """-1, 0 or 1: the sign of ball x, or of the float64 `fallback` when x straddles 0."""
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x.is_exact() and x.is_zero():
        return 0
    straddle()
    return (fallback > 0) - (fallback < 0) if fallback == fallback else 0


def _difference(a, b, floats):
    return _head(a) - _head(b), floats[0] - floats[1]


@kink
def abs(u, *, floats, straddle):  # noqa: A001
    s = _sign(_head(u), floats[0], straddle)
    return u if s > 0 else -u if s < 0 else _constant(_arb(0), u)  # abs'(0) = 0


@kink
def sign(u, *, floats, straddle):
    return _constant(_arb(_sign(_head(u), floats[0], straddle)), u)


@kink
def heaviside(u, *, floats, straddle):
    return _constant(_arb(int(_sign(_head(u), floats[0], straddle) > 0)), u)


@kink
def relu(u, *, floats, straddle):
    return u if _sign(_head(u), floats[0], straddle) > 0 else _constant(_arb(0), u)


@kink
def maximum(a, b, *, floats, straddle):
    d, f = _difference(a, b, floats)
    return a if _sign(d, f, straddle) >= 0 else b  # ties to the first argument


@kink
def minimum(a, b, *, floats, straddle):
    d, f = _difference(a, b, floats)
    return a if _sign(d, f, straddle) <= 0 else b


@kink
def where(c, a, b, *, floats, straddle):
    return a if _sign(_head(c), floats[0], straddle) != 0 else b


@kink
def ifzero(c, a, b, *, floats, straddle):
    return a if _sign(_head(c), floats[0], straddle) == 0 else b


def _comparison(test):
    @kink
    def rule(a, b, *, floats, straddle):
        d, f = _difference(a, b, floats)
        return _constant(_arb(int(test(_sign(d, f, straddle)))), a)
    return rule


less = _comparison(lambda s: s < 0)
less_equal = _comparison(lambda s: s <= 0)
greater = _comparison(lambda s: s > 0)
greater_equal = _comparison(lambda s: s >= 0)
equal = _comparison(lambda s: s == 0)
not_equal = _comparison(lambda s: s != 0)


def zero(u, *args, **params):
    """No derivative (stop_gradient): the value alone."""
    return _constant(_head(u), u)


def ones_like(u):
    return _constant(_arb(1), u)


def zeros_like(u):
    return _constant(_arb(0), u)

