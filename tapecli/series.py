"""Taylor rules: truncated Taylor series arithmetic, one rule per primitive.

A series is an array `s` of shape (d+1, *shape) holding the *normalized*
coefficients of x(t) = s[0] + s[1] t + ... + s[d] t**d (Griewank and Walther,
*Evaluating Derivatives*, ch. 13, Tables 13.1-13.2). It is kept only as long as
it can be nonzero: constants and variables off the direction are degree 0, a
variable on it degree 1, a product of degrees a and b has degree min(a + b, K);
so x**3 costs three terms, and a recurrence such as exp's sums over the
argument's own degree only (a linear argument takes closed forms: O(K)).

A rule is `rule(K, ans, *args, **params) -> series`: `ans` is the primitive's
own forward on the arguments' values (so coefficient 0 is bit for bit what the
tape computes) and `args` are series; each Primitive's row in tapecli.ops
points at its rule (`sin.deftaylor(series.sin)`), beside its VJP. Kinks take
the branch the VJP takes (EXPRESSIONS.md): abs and relu by the sign of the
value, min/max by the comparison the VJP makes, ties to the first argument.
This module imports nothing of tapecli: the op table imports it.
"""

from __future__ import annotations

import math

import numpy as np

_LN2, _LN10 = math.log(2.0), math.log(10.0)


# ---- series helpers --------------------------------------------------------------------
def _new(K: int, ans) -> np.ndarray:
    ans = np.asarray(ans, dtype=np.float64)
    v = np.empty((K + 1,) + ans.shape)
    v[0] = ans
    return v


def _ramp(u: np.ndarray) -> np.ndarray:
    """j * u[j]: the weights every recurrence from an ODE v' = w u' needs."""
    return u * np.arange(len(u), dtype=np.float64).reshape((-1,) + (1,) * (u.ndim - 1))


def _conv(a: np.ndarray, b: np.ndarray, k: int, lo: int, hi: int, into=None, scale=1.0):
    """scale * sum_{j=lo..hi} a[j] * b[k-j] (0 for an empty range); with
    `into` = (series, i), written to series[i] in place instead of returned."""
    if a.ndim == 1:  # one point: numbers, and BLAS's dot for long sums
        if hi == lo:
            x = a[lo] * b[k - lo] * scale
        elif hi < lo:
            x = 0.0
        else:
            x = np.dot(a[lo:hi + 1], b[k - hi:k - lo + 1][::-1]) * scale
        if into is None:
            return x
        into[0][into[1]] = x
        return None
    out = None if into is None else into[0][into[1]]
    if hi < lo:
        if out is None:
            return 0.0
        out[...] = 0.0
        return None
    if hi == lo:
        x = np.multiply(a[lo], b[k - lo], out=out)
    else:
        # einsum accumulates a[j] * b[k-j] into each entry in turn, with no
        # temporaries: a chunk of rows gives exactly what the whole batch gives.
        x = np.einsum("i...,i...->...", a[lo:hi + 1], b[k - hi:k - lo + 1][::-1], out=out)
    if scale != 1.0:
        x *= scale
    return x if out is None else None


def pad(u: np.ndarray, n: int) -> np.ndarray:
    if len(u) >= n:
        return u
    return np.concatenate([u, np.zeros((n - len(u),) + u.shape[1:])])


def _with_value(v: np.ndarray, ans) -> np.ndarray:
    if ans is not None:
        v[0] = ans
    return v


def leading(s: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
    """Series `s` broadcast to (len(s), *tail): its own tail may be shorter."""
    rest = s.shape[1:]
    s = s.reshape(s.shape[:1] + (1,) * (len(tail) - len(rest)) + rest)
    return np.broadcast_to(s, s.shape[:1] + tail)


# ---- arithmetic ------------------------------------------------------------------------
def add(K, ans, a, b, sign=1.0):
    n = max(len(a), len(b))
    out = np.zeros((n,) + np.shape(ans))
    out[:len(a)] += a
    if sign > 0:
        out[:len(b)] += b
    else:
        out[:len(b)] -= b
    return _with_value(out, ans)


def subtract(K, ans, a, b):
    return add(K, ans, a, b, -1.0)


def negative(K, ans, u):
    return _with_value(-u, ans)


def multiply(K, ans, a, b):
    """The Cauchy product, truncated at K: (ab)_k = sum_j a_j b_{k-j}."""
    if len(a) == 1 or len(b) == 1:
        out = a * b if len(a) == len(b) else (a[0] * b if len(a) == 1 else a * b[0])
        return _with_value(out[:K + 1], ans)
    d = min(len(a) + len(b) - 2, K)
    if a.ndim == 1 and b.ndim == 1:
        out = np.convolve(a, b)[:d + 1]
    else:
        out = np.empty((d + 1,) + np.broadcast_shapes(a.shape[1:], b.shape[1:]))
        for k in range(d + 1):
            _conv(a, b, k, max(0, k - len(b) + 1), min(k, len(a) - 1), (out, k))
    return _with_value(out, ans)


def _multiply_some(K, keep, ans, a, b):
    """Coefficients `keep` of the product alone, (len(keep), ...): what an output
    node needs (an order-K derivative reads coefficients 0 and K), one einsum
    each, the sums in the order `multiply` takes them, so the same bits."""
    if len(a) == 1 or len(b) == 1 or a.ndim == b.ndim == 1:  # cheap already
        return pad(multiply(K, ans, a, b), K + 1)[list(keep)]
    out = np.empty((len(keep),) + np.broadcast_shapes(a.shape[1:], b.shape[1:]))
    for i, k in enumerate(keep):
        if k == 0 and ans is not None:
            out[i] = ans
        else:
            _conv(a, b, k, max(0, k - len(b) + 1), min(k, len(a) - 1), (out, i))
    return out


multiply.some = _multiply_some  # tapecli.taylor takes it for an output no op reads


def square(K, ans, u):
    return multiply(K, ans, u, u)


def divide(K, ans, a, b):
    """v = a / b from b v = a: v_k = (a_k - sum_{j>=1} b_j v_{k-j}) / b_0."""
    if len(b) == 1:
        return _with_value(a / b[0], ans)
    if ans is None:
        ans = a[0] / b[0]
    v = _new(K, ans)
    for k in range(1, K + 1):
        top = a[k] if k < len(a) else 0.0
        v[k] = (top - _conv(b, v, k, 1, min(k, len(b) - 1))) / b[0]
    return v


# ---- exp and its relatives: v' = w u' ---------------------------------------------------
def _linear_powers(K: int, u: np.ndarray) -> np.ndarray:
    """For u = u0 + u1 t (a variable along a direction): u1**k / k!, k = 0..K.

    A direction's slope is one number for every row (axis 1), so where u1 is the
    same in all rows the K products are taken once, on the first row, and the
    powers broadcast over the rows: the same IEEE quotients and products (in
    Python floats for a single slope), so the same bits as row by row, with K
    passes over the rows saved."""
    if u.ndim > 1 and u.shape[1] > 1 and (u[1] == u[1, :1]).all():
        return _linear_powers(K, u[:, :1])
    if u[1].size == 1:
        slope, power, powers = float(u[1].flat[0]), 1.0, [1.0]
        for k in range(1, K + 1):
            power *= slope / k
            powers.append(power)
        return np.array(powers).reshape((K + 1,) + (1,) * (u.ndim - 1))
    w = np.empty((K + 1,) + u.shape[1:])
    w[0] = 1.0
    np.divide(u[1], np.arange(1.0, K + 1).reshape((-1,) + (1,) * (u.ndim - 1)), out=w[1:])
    for k in range(2, K + 1):  # numpy's cumprod along the outer axis is slower
        np.multiply(w[k - 1], w[k], out=w[k])
    return w


def _cyclic(K: int, p: np.ndarray, values, signs=(1.0,)) -> np.ndarray:
    """p_k * signs[r] * values[r], r = k % len(values): the series of exp, sin, cos,
    sinh, cosh of a linear argument, whose derivatives repeat (sin, cos, -sin,
    -cos, ...). A sign goes on whichever factor is smaller (exact either way)."""
    out = np.empty((K + 1,) + np.broadcast_shapes(p.shape[1:], *(np.shape(x) for x in values)))
    n = len(values)
    small = p.ndim == 1 or p.shape[1] == 1
    for r, (x, sign) in enumerate(zip(values, signs * n)):
        pr = p[r::n]
        if sign != 1.0:
            pr, x = (pr * sign, x) if small else (pr, x * sign)
        np.multiply(pr, x, out=out[r::n])
    return out


def exp(K, ans, u):
    """v' = v u': v_k = (1/k) sum_{j=1..k} j u_j v_{k-j}."""
    if len(u) == 2:
        p = _linear_powers(K, u)
        if p.shape[1:] == np.shape(ans):
            p *= ans  # in place: a fresh large array costs page faults
            return _with_value(p, ans)
        return _with_value(_cyclic(K, p, (ans,)), ans)
    v, ju, du = _new(K, ans), _ramp(u), len(u) - 1
    for k in range(1, K + 1):
        _conv(ju, v, k, 1, min(k, du), (v, k), 1.0 / k)
    return v


def expm1(K, ans, u):
    v = exp(K, ans + 1.0, u)  # the VJP's own exp(x) = ans + 1
    return _with_value(v, ans)


def _sin_cos(K, s0, c0, u, sign, want):
    """sin and cos (sign -1) or sinh and cosh (sign +1): s' = c u', c' = sign s u'.
    Returns series `want` (0: s, 1: c); a linear argument takes the closed form
    of that one alone, other arguments the recurrence, which needs both."""
    if len(u) == 2:
        cycle, signs = (s0, c0, s0, c0), (1.0, 1.0, sign, sign)
        return _cyclic(K, _linear_powers(K, u), cycle[want:] + cycle[:want],
                       signs[want:] + signs[:want])
    s, c, ju, du = _new(K, s0), _new(K, c0), _ramp(u), len(u) - 1
    for k in range(1, K + 1):
        m = min(k, du)
        _conv(ju, c, k, 1, m, (s, k), 1.0 / k)
        _conv(ju, s, k, 1, m, (c, k), sign / k)
    return (s, c)[want]


def sin(K, ans, u):
    return _sin_cos(K, ans, np.cos(u[0]), u, -1.0, 0)


def cos(K, ans, u):
    return _sin_cos(K, np.sin(u[0]), ans, u, -1.0, 1)


def sinh(K, ans, u):
    return _sin_cos(K, ans, np.cosh(u[0]), u, 1.0, 0)


def cosh(K, ans, u):
    return _sin_cos(K, np.sinh(u[0]), ans, u, 1.0, 1)


def _riccati(K, ans, u, w0, next_w):
    """v' = w u' where w_k depends on v_0..v_k (tan, tanh, sigmoid)."""
    v, ju, du = _new(K, ans), _ramp(u), len(u) - 1
    w = np.empty_like(v)
    w[0] = w0
    for k in range(1, K + 1):
        _conv(ju, w, k, 1, min(k, du), (v, k), 1.0 / k)
        if k < K:
            w[k] = next_w(v, k)
    return v


def tan(K, ans, u):  # tan' = 1 + tan**2
    return _riccati(K, ans, u, 1.0 + ans * ans, lambda v, k: _conv(v, v, k, 0, k))


def tanh(K, ans, u):  # tanh' = 1 - tanh**2
    return _riccati(K, ans, u, 1.0 - ans * ans, lambda v, k: -_conv(v, v, k, 0, k))


def sigmoid(K, ans, u):  # sigmoid' = sigmoid (1 - sigmoid)
    return _riccati(K, ans, u, ans * (1.0 - ans), lambda v, k: v[k] - _conv(v, v, k, 0, k))


def softplus(K, ans, u):
    """softplus' = sigmoid(u), and sigmoid(u) = exp(u - softplus(u)) never overflows."""
    s = sigmoid(K - 1, np.exp(u[0] - ans), u) if K > 1 else np.exp(u[0] - ans)[None]
    v, ju, du = _new(K, ans), _ramp(u), len(u) - 1
    for k in range(1, K + 1):
        _conv(ju, s, k, 1, min(k, du), (v, k), 1.0 / k)
    return v


# ---- log and the inverse functions: v' = u' / w -----------------------------------------
def _over(K, ans, u, w):
    """v' = u'/w: v_k = (u_k - (1/k) sum_{j=1..k-1} j v_j w_{k-j}) / w_0."""
    v, du, dw = _new(K, ans), len(u) - 1, len(w) - 1
    jv = np.zeros_like(v)
    for k in range(1, K + 1):
        acc = _conv(jv, w, k, max(1, k - dw), k - 1) / k
        v[k] = ((u[k] if k <= du else 0.0) - acc) / w[0]
        jv[k] = k * v[k]
    return v


def _shifted(u, value0):
    w = u.copy()
    w[0] = value0
    return w


def _square_plus(K, u, c, sign):
    """c + sign * u**2 as a series of order K, value computed as the VJPs compute it."""
    w = multiply(K, None, u, u)
    w = sign * w
    w[0] = c + sign * (u[0] * u[0])
    return w


def log(K, ans, u):
    return _over(K, ans, u, u)


def log1p(K, ans, u):
    return _over(K, ans, u, _shifted(u, u[0] + 1.0))


def log2(K, ans, u):
    return _over(K, ans, u, u * _LN2)


def log10(K, ans, u):
    return _over(K, ans, u, u * _LN10)


def atan(K, ans, u):
    return _over(K, ans, u, _square_plus(K, u, 1.0, 1.0))


def atanh(K, ans, u):
    return _over(K, ans, u, _square_plus(K, u, 1.0, -1.0))


def _sqrt_of(K, u):
    return sqrt(K, np.sqrt(u[0]), u)


def asin(K, ans, u):
    return _over(K, ans, u, _sqrt_of(K - 1, _square_plus(K - 1, u, 1.0, -1.0)))


def acos(K, ans, u):
    return _over(K, ans, u, -_sqrt_of(K - 1, _square_plus(K - 1, u, 1.0, -1.0)))


def asinh(K, ans, u):
    return _over(K, ans, u, _sqrt_of(K - 1, _square_plus(K - 1, u, 1.0, 1.0)))


def acosh(K, ans, u):
    w = _square_plus(K - 1, u, 0.0, 1.0)
    w[0] = u[0] * u[0] - 1.0
    return _over(K, ans, u, _sqrt_of(K - 1, w))


# ---- roots and powers ---------------------------------------------------------------------
def sqrt(K, ans, u):
    """v*v = u: v_k = (u_k - sum_{j=1..k-1} v_j v_{k-j}) / (2 v_0)."""
    v, du = _new(K, ans), len(u) - 1
    for k in range(1, K + 1):
        v[k] = ((u[k] if k <= du else 0.0) - _conv(v, v, k, 1, k - 1)) / (2.0 * v[0])
    return v


def _power(K, ans, u, r):
    """v = u**r for a constant r, from u v' = r u' v:
    k u_0 v_k = sum_{j=1..k} ((r+1) j - k) u_j v_{k-j}."""
    v, ju, du = _new(K, ans), _ramp(u), len(u) - 1
    for k in range(1, K + 1):
        m = min(k, du)
        v[k] = ((r + 1.0) * _conv(ju, v, k, 1, m) / k - _conv(u, v, k, 1, m)) / u[0]
    return v


def cbrt(K, ans, u):
    return _power(K, ans, u, 1.0 / 3.0)


_SQUARING_LIMIT = 1 << 16  # integer exponents up to this are multiplied out


def _integer_power(K, u, n: int):
    """u**n for an integer n >= 1 by repeated squaring: exact series, also where u_0 = 0."""
    result, base = None, u
    while True:
        if n & 1:
            result = base if result is None else multiply(K, None, result, base)
        n >>= 1
        if not n:
            return result
        base = multiply(K, None, base, base)


def pow(K, ans, a, b):
    """a**b. A constant integer exponent multiplies out (exact at a zero base);
    another constant exponent takes the power recurrence; a varying exponent is
    exp(b log a), with d/db a**b = 0 where a == 0 (EXPRESSIONS.md)."""
    if len(b) == 1:
        r = b[0]
        if np.ndim(r) == 0 and float(r).is_integer() and 0 < (r if r > 0 else -r) <= _SQUARING_LIMIT:
            series = _integer_power(K, a, int(r if r > 0 else -r))
            if r < 0:
                return divide(K, ans, np.ones(1), series)
            return _with_value(pad(series, 1).copy(), ans)
        return _power(K, ans, a, r)
    a0 = a[0]
    at_zero = a0 == 0.0
    if len(a) == 1:
        v = exp(K, ans, b * np.log(a0))
    else:
        v = exp(K, ans, multiply(K, None, b, log(K, np.log(a0), a)))
        if np.any(at_zero):  # the exponent's series does not count there
            v = np.where(at_zero, _power(K, ans, a, b[0]), v)
    if np.any(at_zero) and len(a) == 1:
        v[1:] = np.where(at_zero, 0.0, v[1:])
    # 0**0 is 1 and, as the VJPs take it (d/da a**0 = 0, d/db a**b = 0 where
    # a == 0), constant there: every order 0, as nested tapes give at order 2
    # (x**x at 0 was 0 at order 2 and nan at order 3).
    both_zero = at_zero & (b[0] == 0.0)
    if np.any(both_zero):
        v[1:] = np.where(both_zero, 0.0, v[1:])
    return v


# ---- two-argument functions ----------------------------------------------------------------
def _slope(u):
    """The series of u'(t): coefficients (k+1) u_{k+1}; None for a constant."""
    return None if len(u) == 1 else _ramp(u)[1:]


def atan2(K, ans, y, x):
    """v' = (x y' - y x') / (x**2 + y**2), so v_k = q_{k-1} / k for q that quotient."""
    w = add(K, x[0] * x[0] + y[0] * y[0], multiply(K, None, x, x), multiply(K, None, y, y))
    dy, dx = _slope(y), _slope(x)
    terms = [multiply(K - 1, None, x, dy)] if dy is not None else []
    if dx is not None:
        terms.append(-multiply(K - 1, None, y, dx))
    p = terms[0] if len(terms) == 1 else add(K - 1, terms[0][0] + terms[1][0], *terms)
    q = divide(K - 1, None, p, w)
    v = _new(K, ans)
    v[1:] = pad(q, K)[:K] / np.arange(1.0, K + 1).reshape((-1,) + (1,) * (v.ndim - 1))
    return v


def hypot(K, ans, a, b):
    """sqrt(a**2 + b**2); every derivative is 0 at the origin, as the VJP has it."""
    s = add(K, ans * ans, multiply(K, None, a, a), multiply(K, None, b, b))
    v = sqrt(K, ans, s)
    origin = np.asarray(ans) == 0.0
    if np.any(origin):
        v[1:] = np.where(origin, 0.0, v[1:])
    return v


# ---- kinks: the branch the VJP takes ---------------------------------------------------------
def abs(K, ans, u):  # noqa: A001  (the primitive's name)
    return _with_value(np.sign(u[0]) * u, ans)  # abs'(0) = 0


def relu(K, ans, u):
    return _with_value(np.where(u[0] > 0.0, u, 0.0), ans)


def _select(ans, take_first, a, b):
    n, rank = max(len(a), len(b)), max(a.ndim, b.ndim)
    a, b = (pad(u.reshape(u.shape[:1] + (1,) * (rank - u.ndim) + u.shape[1:]), n)
            for u in (a, b))
    return _with_value(np.where(take_first, a, b), ans)


def maximum(K, ans, a, b):
    return _select(ans, a[0] >= b[0], a, b)


def minimum(K, ans, a, b):
    return _select(ans, a[0] <= b[0], a, b)


def where(K, ans, c, a, b):
    return _select(ans, c[0], a, b)


def ifzero(K, ans, c, a, b):
    return _select(ans, c[0] == 0.0, a, b)


def identity(K, ans, u):
    return u


def zero(K, ans, *args, **params):
    """No derivative (comparisons, sign, stop_gradient, ones_like): the value alone."""
    return np.asarray(ans)[None]
