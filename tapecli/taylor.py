"""Taylor mode: truncated Taylor series pushed forward through a recorded graph.

Reverse mode nests one tape per order, so the work doubles with each order.
Here every value of a captured program (tapecli.graph) becomes a truncated
series instead: an array `s` of shape (d+1, *shape) holding the *normalized*
coefficients of x(t) = s[0] + s[1] t + ... + s[d] t**d (Griewank and Walther,
*Evaluating Derivatives*, ch. 13). An order-K derivative along a direction is
K! times coefficient K, taken only when a number is reported: the coefficients
themselves stay of moderate size, so order 100 keeps its digits (JAX's jet
carries derivative-scaled terms and loses them there).

A series is kept only as long as it can be nonzero: constants and variables
off the direction are degree 0, a variable on it degree 1, a product of
degrees a and b has degree min(a + b, K). So x**3 costs three terms, and a
recurrence such as exp's sums over the argument's own degree only: along a
variable, every rule costs O(K) per term, not O(K**2).

The rules live here, one function per primitive, and each Primitive's row in
tapecli.ops points at its rule (`sin.deftaylor(taylor.sin)`), beside its VJP.
A rule is `rule(K, ans, *args, **params) -> series`: `ans` is the primitive's
own forward on the arguments' values, so coefficient 0 is bit for bit what the
tape computes, and `args` are series. Kinks take the branch the VJP takes
(EXPRESSIONS.md): abs and relu by the sign of the value, min/max by the
comparison the VJP makes, ties to the first argument.

Mixed partials come from univariate passes along several integer directions
at once (an extra trailing axis of every series), combined with exact
rational weights (Griewank, Utke and Walther 2000; `interpolation`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import combinations_with_replacement

import numpy as np

from typing import TYPE_CHECKING

from .primitive import state
from .tensor import Tensor

if TYPE_CHECKING:  # tapecli.ops imports this module, and tapecli.graph imports ops
    from .graph import Graph

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


def _pad(u: np.ndarray, n: int) -> np.ndarray:
    if len(u) >= n:
        return u
    return np.concatenate([u, np.zeros((n - len(u),) + u.shape[1:])])


def _with_value(v: np.ndarray, ans) -> np.ndarray:
    if ans is not None:
        v[0] = ans
    return v


def _leading(s: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
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
    """For u = u0 + u1 t (a variable along a direction): u1**k / k!, k = 0..K."""
    w = np.empty((K + 1,) + u.shape[1:])
    w[0] = 1.0
    np.divide(u[1], np.arange(1.0, K + 1).reshape((-1,) + (1,) * (u.ndim - 1)), out=w[1:])
    if u.ndim == 1:
        return np.cumprod(w)
    for k in range(2, K + 1):  # numpy's cumprod along the outer axis is slower
        np.multiply(w[k - 1], w[k], out=w[k])
    return w


def _cyclic(K: int, p: np.ndarray, values) -> np.ndarray:
    """p_k * values[k % len(values)]: the series of exp, sin, cos, sinh, cosh of
    a linear argument, whose derivatives repeat (sin, cos, -sin, -cos, ...)."""
    out = np.empty((K + 1,) + np.broadcast_shapes(p.shape[1:], *(np.shape(x) for x in values)))
    n = len(values)
    for r, x in enumerate(values):
        np.multiply(p[r::n], x, out=out[r::n])
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


def _sin_cos(K, s0, c0, u, sign):
    """sin and cos (sign -1) or sinh and cosh (sign +1) together: s' = c u', c' = sign s u'."""
    if len(u) == 2:
        p = _linear_powers(K, u)
        cycle = (s0, c0, sign * s0, sign * c0)
        return _cyclic(K, p, cycle), _cyclic(K, p, cycle[1:] + cycle[:1])
    s, c, ju, du = _new(K, s0), _new(K, c0), _ramp(u), len(u) - 1
    for k in range(1, K + 1):
        m = min(k, du)
        _conv(ju, c, k, 1, m, (s, k), 1.0 / k)
        _conv(ju, s, k, 1, m, (c, k), sign / k)
    return s, c


def sin(K, ans, u):
    return _sin_cos(K, ans, np.cos(u[0]), u, -1.0)[0]


def cos(K, ans, u):
    return _sin_cos(K, np.sin(u[0]), ans, u, -1.0)[1]


def sinh(K, ans, u):
    return _sin_cos(K, ans, np.cosh(u[0]), u, 1.0)[0]


def cosh(K, ans, u):
    return _sin_cos(K, np.sinh(u[0]), ans, u, 1.0)[1]


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
            return _with_value(_pad(series, 1).copy(), ans)
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
    v[1:] = _pad(q, K)[:K] / np.arange(1.0, K + 1).reshape((-1,) + (1,) * (v.ndim - 1))
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
    a, b = (_pad(u.reshape(u.shape[:1] + (1,) * (rank - u.ndim) + u.shape[1:]), n)
            for u in (a, b))
    return _with_value(np.where(take_first, a, b), ans)


def maximum(K, ans, a, b):
    return _select(ans, a[0] >= b[0], a, b)


def minimum(K, ans, a, b):
    return _select(ans, a[0] <= b[0], a, b)


def where(K, ans, c, a, b):
    return _select(ans, c[0], a, b)


def identity(K, ans, u):
    return u


def zero(K, ans, *args, **params):
    """No derivative (comparisons, sign, stop_gradient, ones_like): the value alone."""
    return np.asarray(ans)[None]


# ---- the propagator ------------------------------------------------------------------------
class Propagator:
    """A Graph laid out for Taylor mode: run(inputs, K) maps input series to output series."""

    def __init__(self, graph: Graph):
        self.graph = graph
        slot = {id(n): k for k, n in enumerate(graph.nodes)}
        self.outputs = [slot[id(n)] for n in graph.outputs]
        last = {}
        for k, node in enumerate(graph.nodes):
            for a in node.args:
                last[slot[id(a)]] = k
        for s in self.outputs:
            last[s] = len(graph.nodes)
        self.steps = []
        for k, node in enumerate(graph.nodes):
            if node.prim is not None and node.prim.taylor is None:
                from .graph import NotCompilable
                raise NotCompilable(f"{node.prim.name} has no Taylor rule")
            free = tuple(s for s in {slot[id(a)] for a in node.args} if last.get(s) == k)
            self.steps.append((node, tuple(slot[id(a)] for a in node.args), free))

    def run(self, inputs: Sequence[np.ndarray], K: int) -> list[np.ndarray]:
        """Output series, each of K+1 coefficients; inputs are series of degree <= K."""
        values: list = [None] * len(self.steps)
        report = bool(state.observers)
        for k, (node, args, free) in enumerate(self.steps):
            if node.input is not None:
                values[k] = inputs[node.input]
            elif node.value is not None:
                values[k] = node.value.reshape(1)
            else:
                series = [values[a] for a in args]
                ans = node.prim.forward(*(s[0] for s in series), **node.params)
                if all(len(s) == 1 for s in series):
                    out = np.asarray(ans)[None]
                else:
                    out = node.prim.taylor(K, ans, *series, **node.params)
                if report:
                    _report(node.prim, series, ans, out)
                values[k] = out
                for a in free:
                    values[a] = None
        return [_pad(values[s], K + 1) for s in self.outputs]


def _report(prim, series, ans, out) -> None:
    """Tell the op observers (tapecli.domain) about the value, then the derivatives:
    derivative coefficients count only where the value and all inputs are finite."""
    for observe in state.observers:
        observe(prim, tuple(Tensor(np.asarray(s[0])) for s in series), {},
                Tensor(np.asarray(ans)))
    if len(out) == 1 or np.asarray(ans).dtype.kind != "f":
        return
    flags = [_finite_flag(s) for s in series] + [_finite_flag(np.asarray(ans)[None])]
    outer = state.differentiating
    state.differentiating = prim
    try:
        for observe in state.observers:
            observe(prim, tuple(flags), {}, Tensor(np.moveaxis(out[1:], 0, -1)))
    finally:
        state.differentiating = outer


def _finite_flag(s: np.ndarray) -> Tensor:
    return Tensor(np.where(np.isfinite(s).all(axis=0), 0.0, np.nan)[..., None])


# ---- batches: chunks of rows on both cores -----------------------------------------------
_CHUNK_ELEMENTS = 1 << 16  # per series and chunk: (K+1) * directions * rows
_malloc_tuned = False


def _keep_freed_memory() -> None:
    """Let glibc reuse freed blocks of a few MB instead of returning them to the OS.

    Every rule allocates fresh series of (K+1) * rows floats, above glibc's
    mmap threshold; each would come as new pages from the kernel, and on this
    VM the page faults cost 3-4x the arithmetic (measured: two 500 KB series
    265 us, 66 us with this). The compiled plans avoid it with scratch buffers;
    here one call per process keeps such blocks on the heap. Capped (4 MB
    blocks, 32 MB kept free), so memory stays flat."""
    global _malloc_tuned
    _malloc_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 32 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def run_rows(propagator: Propagator, inputs: Sequence[np.ndarray], K: int, rows: int,
             keep: Sequence[int] | None = None, parallel: bool = True) -> list[np.ndarray]:
    """Run over `rows` rows (axis 1 of every input series, or 1 to broadcast), in
    cache-sized chunks on two threads; keep only the coefficients `keep` (default all)."""
    from .plan import PARALLEL_ROWS, _WORKERS, _pool

    if not _malloc_tuned and rows > 1:
        _keep_freed_memory()
    keep = list(range(K + 1)) if keep is None else list(keep)
    tail = np.broadcast_shapes(*(np.shape(x)[1:] for x in inputs)) if inputs else (rows,)
    width = math.prod(tail[1:])
    per_chunk = max(64, _CHUNK_ELEMENTS // ((K + 1) * max(width, 1)))
    if not parallel or state.observers or rows <= per_chunk:
        with np.errstate(all="ignore"):
            return [_leading(s[keep], tail) for s in propagator.run(inputs, K)]
    results = [np.empty((len(keep),) + tail) for _ in propagator.outputs]
    workers = _WORKERS if rows >= PARALLEL_ROWS else 1
    shares = [rows * k // workers for k in range(workers + 1)]

    def share(w: int) -> None:
        with np.errstate(all="ignore"):  # numpy's error state is per thread
            for lo in range(shares[w], shares[w + 1], per_chunk):
                hi = min(lo + per_chunk, shares[w + 1])
                part = [x if np.shape(x)[1:2] != (rows,) else x[:, lo:hi] for x in inputs]
                for result, s in zip(results, propagator.run(part, K)):
                    result[:, lo:hi] = _leading(s[keep], (hi - lo,) + tail[1:])

    others = [_pool().submit(share, w) for w in range(1, workers)]
    share(0)
    for other in others:
        other.result()
    return results


# ---- mixed partials from univariate passes -------------------------------------------------
def multi_indices(n: int, k: int) -> list[tuple[int, ...]]:
    """Every j in N**n with |j| = k, as counts: (k, 0, ...), (k-1, 1, 0, ...), ..."""
    out = []
    for combo in combinations_with_replacement(range(n), k):
        j = [0] * n
        for v in combo:
            j[v] += 1
        out.append(tuple(j))
    return out


@functools.lru_cache(maxsize=64)
def interpolation(n: int, d: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Directions and weights that turn univariate passes into partial derivatives.

    Along a direction s, coefficient k of f(x + t s) is F_k(s) = sum_{|j|=k}
    (d^j f / j!) s^j. The C(n+d-1, d) integer directions s with |s| = d
    determine every such polynomial of degree k <= d (Griewank, Utke and Walther
    2000), so d^j f = sum_s W_k[j, s] F_k(s) with exact rational weights W_k
    (the inverse, or for k < d the least-squares left inverse, of [s^j]),
    computed here once with fractions. Row j of W_k already includes j!.
    Returns (directions as an int array (D, n), [W_1, ..., W_d])."""
    directions = multi_indices(n, d)
    weights = []
    for k in range(1, d + 1):
        js = multi_indices(n, k)
        m = [[_monomial(s, j) for j in js] for s in directions]
        if k == d:
            inverse = _solve(m, _eye(len(js)))
        else:  # least squares, exact: (M^T M)^-1 M^T
            mt = [list(col) for col in zip(*m)]
            inverse = _solve(_matmul(mt, m), mt)
        factorials = [math.prod(math.factorial(c) for c in j) for j in js]
        weights.append(np.array([[float(x * f) for x in row]
                                 for row, f in zip(inverse, factorials)]))
    return np.array(directions, dtype=np.float64).reshape(len(directions), n), weights


@functools.lru_cache(maxsize=64)
def polarization(n: int, d: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Directions and integer weights for every partial of orders 1..d at once.

    d^j f = sum_{0 < s <= j} (-1)**|j-s| binom(j, s) F_|j|(s) (a product over the
    variables of the finite-difference identity sum_s (-1)**(j-s) binom(j, s) s**l
    = j! [l == j] for l <= j). The directions are every s with 1 <= |s| <= d
    (C(n+d, d) - 1 of them, more than `interpolation` needs), but the weights are
    integers: a polynomial's partials come out exact, zeros as zeros.
    Returns (directions (D, n), [W_1, ..., W_d]) with W_k[j, s] for |j| = k."""
    directions = [s for k in range(1, d + 1) for s in multi_indices(n, k)]
    where = {s: i for i, s in enumerate(directions)}
    weights = []
    for k in range(1, d + 1):
        js = multi_indices(n, k)
        w = np.zeros((len(js), len(directions)))
        for row, j in enumerate(js):
            for s in _box(j):
                if any(s):
                    w[row, where[s]] = (-1) ** (k - sum(s)) * math.prod(
                        math.comb(a, b) for a, b in zip(j, s))
        weights.append(w)
    return np.array(directions, dtype=np.float64).reshape(len(directions), n), weights


def one_partial(j: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Directions (D, n) and weights (D,) for the single partial d^j f, |j| = d:
    the integer weights of `polarization` over the box 0 < s <= j, unless the box
    holds more than 4x the C(n+d-1, d) directions of `interpolation`."""
    n, d = len(j), sum(j)
    box = [s for s in _box(j) if any(s)]
    if len(box) > 4 * math.comb(n + d - 1, d):
        directions, weights = interpolation(n, d)
        return directions, weights[d - 1][multi_indices(n, d).index(tuple(j))]
    weights = [(-1) ** (d - sum(s)) * math.prod(math.comb(a, b) for a, b in zip(j, s))
               for s in box]
    return np.array(box, dtype=np.float64), np.array(weights, dtype=np.float64)


def _box(j):
    out = [()]
    for a in j:
        out = [s + (b,) for s in out for b in range(a + 1)]
    return out


def _monomial(s, j) -> int:
    return math.prod(a ** b for a, b in zip(s, j))


def _eye(n):
    return [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]


def _matmul(a, b):
    cols = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def _solve(a, b):
    """X with a X = b, exactly (Gauss-Jordan on fractions; a is square and regular)."""
    n = len(a)
    rows = [[Fraction(x) for x in ra] + [Fraction(x) for x in rb] for ra, rb in zip(a, b)]
    for c in range(n):
        p = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[p] = rows[p], rows[c]
        pivot = rows[c][c]
        rows[c] = [x / pivot for x in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                f = rows[r][c]
                rows[r] = [x - f * y for x, y in zip(rows[r], rows[c])]
    return [row[n:] for row in rows]


# ---- jet: Taylor mode for a user's own tape code ----------------------------------------
def jet(fun: Callable, primals: Sequence, series: Sequence[Sequence]):
    """Taylor-mode derivatives of `fun` along a curve, shaped like JAX's `jet`.

    `fun` takes tensors and returns a tensor (or a list or tuple of them), built
    from elementwise tapecli ops. `primals[i]` is x_i(0) and `series[i]` the list
    [x_i'(0), x_i''(0), ...] (derivatives, as in JAX; every list of one length
    K). Returns `(primal_out, series_out)`: f(x(0)) and [f'(0), ..., f^(K)(0)]
    along t -> f(x(t)), each an array (a list of them for several outputs).
    Internally the coefficients are normalized (divided by k!), so high orders
    keep their digits."""
    if len(primals) != len(series):
        raise ValueError("jet needs one series per primal")
    orders = {len(s) for s in series}
    if len(orders) > 1:
        raise ValueError("jet terms have inconsistent lengths for different arguments")
    K = orders.pop() if orders else 0
    several: list[bool] = []

    def program(xs):
        out = fun(*xs)
        several.append(isinstance(out, (list, tuple)))
        return list(out) if several[-1] else [out]

    from .graph import capture

    graph = capture(program, len(primals))
    arrays = [np.asarray(p, dtype=np.float64) for p in primals]
    arrays += [np.asarray(t, dtype=np.float64) for s in series for t in s]
    shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
    factorials = [float(math.factorial(k)) for k in range(K + 1)]
    inputs = []
    for p, s in zip(primals, series):
        terms = [np.asarray(p, dtype=np.float64)] + [np.asarray(t, dtype=np.float64) / f
                                                      for t, f in zip(s, factorials[1:])]
        inputs.append(np.stack(np.broadcast_arrays(*terms, np.empty(shape))[:-1]))
    with np.errstate(all="ignore"):
        outputs = Propagator(graph).run(inputs, K)
    results = []
    for out in outputs:
        out = _leading(out, shape)
        results.append((out[0].copy(), [out[k] * factorials[k] for k in range(1, K + 1)]))
    if several and several[0]:
        return [r[0] for r in results], [r[1] for r in results]
    return results[0]

