"""Taylor mode: truncated Taylor series pushed forward through a recorded graph.

Reverse mode nests one tape per order, so the work doubles with each order.
Here every value of a captured program (tapecli.graph) becomes a truncated
series of *normalized* coefficients instead (the rules: tapecli.series, one per
primitive, each Primitive pointing at its own). An order-K derivative along a
direction is K! times coefficient K, taken only when a number is reported: the
coefficients stay of moderate size, so high orders keep their digits (JAX's
jet carries derivative-scaled terms and loses them).

Here: the propagator that runs a Graph on series (reporting to the op
observers, so tapecli.domain names the op or derivative that went non-finite),
the chunked runner for batches, the exact integer or rational weights that turn
univariate passes along several directions into mixed partials (Griewank, Utke
and Walther 2000), and `jet` for a user's own tape code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from itertools import combinations_with_replacement

import numpy as np

from .graph import Graph, NotCompilable, capture
from .plan import PARALLEL_ROWS, _WORKERS, _pool
from .primitive import state
from .series import leading, pad
from .tensor import Tensor


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
        read = set(last)
        for s in self.outputs:
            last[s] = len(graph.nodes)
        # An output no op reads needs only the coefficients asked for, where its
        # rule can compute just those (series.multiply.some).
        self.partial = {s: graph.nodes[s].prim.taylor.some for s in self.outputs
                        if s not in read and graph.nodes[s].prim is not None
                        and hasattr(graph.nodes[s].prim.taylor, "some")}
        self.steps = []
        for k, node in enumerate(graph.nodes):
            if node.prim is not None and node.prim.taylor is None:
                raise NotCompilable(f"{node.prim.name} has no Taylor rule")
            free = tuple(s for s in {slot[id(a)] for a in node.args} if last.get(s) == k)
            self.steps.append((node, tuple(slot[id(a)] for a in node.args), free))

    def run(self, inputs: Sequence[np.ndarray], K: int, keep: Sequence[int] | None = None
            ) -> list[np.ndarray]:
        """Output series, coefficients `keep` of each (default all K+1); inputs are
        series of degree <= K."""
        values: list = [None] * len(self.steps)
        report = bool(state.observers)
        partial = {} if keep is None or report else self.partial
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
                elif k in partial:
                    out = partial[k](K, keep, ans, *series, **node.params)
                else:
                    out = node.prim.taylor(K, ans, *series, **node.params)
                if report:
                    _report(node.prim, series, ans, out)
                values[k] = out
                for a in free:
                    values[a] = None
        if keep is None:
            return [pad(values[s], K + 1) for s in self.outputs]
        return [values[s] if s in partial else pad(values[s], K + 1)[keep]
                for s in self.outputs]


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


class AlongLanes:
    """A variable along D directions at once, as a series (2, rows, D): its value
    in every lane, one slope per lane in every row. Built chunk by chunk: whole,
    for 1e5 rows and the 34 directions of order-4 tensors in 3 variables, it
    would be 54 MB written once and read once."""

    def __init__(self, value: np.ndarray, slopes: np.ndarray):
        self.value, self.slopes = value.reshape(-1, 1), slopes
        self.shape = (2, len(self.value), len(slopes))

    def rows(self, lo: int, hi: int) -> np.ndarray:
        series = np.empty((2, hi - lo, self.shape[2]))
        series[0] = self.value[lo:hi]
        series[1] = self.slopes
        return series


def _part(x, rows: int, lo: int, hi: int):
    if isinstance(x, AlongLanes):
        return x.rows(lo, hi)
    return x if np.shape(x)[1:2] != (rows,) else x[:, lo:hi]


def run_rows(propagator: Propagator, inputs: Sequence, K: int, rows: int,
             keep: Sequence[int] | None = None, parallel: bool = True,
             weights: Sequence[np.ndarray] | None = None,
             columns: Sequence[Sequence[int]] | None = None) -> list[np.ndarray]:
    """Run over `rows` rows (axis 1 of every input series, or 1 to broadcast), in
    cache-sized chunks on two threads; keep only the coefficients `keep` (default all).
    An input is an array or AlongLanes.

    With `weights` (one (D, m) matrix per kept coefficient; inputs of shape
    (.., rows, D)), each chunk's lanes are combined where they are made, in
    cache: an output is then a list, coefficient keep[i] @ weights[i] of shape
    (rows, m), and the (len(keep), rows, D) lanes are never held whole; with
    `columns` too, result i keeps (and may repeat) the columns columns[i] of that."""
    if not _malloc_tuned and rows > 1:
        _keep_freed_memory()
    keep = list(range(K + 1)) if keep is None else list(keep)
    tail = np.broadcast_shapes(*(np.shape(x)[1:] for x in inputs)) if inputs else (rows,)
    width = math.prod(tail[1:])
    per_chunk = max(64, _CHUNK_ELEMENTS // ((K + 1) * max(width, 1)))

    def combined(s: np.ndarray, shape: tuple[int, ...]):
        s = s if s.shape[1:] == shape else leading(s, shape)
        if weights is None:
            return s
        s = [c @ w for c, w in zip(s, weights)]
        return s if columns is None else [np.take(c, j, axis=-1) for c, j in zip(s, columns)]

    if not parallel or state.observers or rows <= per_chunk:
        with np.errstate(all="ignore"):
            whole = [_part(x, rows, 0, rows) for x in inputs]
            return [combined(s, tail) for s in propagator.run(whole, K, keep)]
    if weights is None:
        results = [np.empty((len(keep),) + tail) for _ in propagator.outputs]
    else:
        widths = [w.shape[1] for w in weights] if columns is None else [len(j) for j in columns]
        results = [[np.empty((rows, m)) for m in widths] for _ in propagator.outputs]
    workers = _WORKERS if rows >= PARALLEL_ROWS else 1
    shares = [rows * k // workers for k in range(workers + 1)]

    def share(w: int) -> None:
        with np.errstate(all="ignore"):  # numpy's error state is per thread
            for lo in range(shares[w], shares[w + 1], per_chunk):
                hi = min(lo + per_chunk, shares[w + 1])
                part = [_part(x, rows, lo, hi) for x in inputs]
                for result, s in zip(results, propagator.run(part, K, keep)):
                    if weights is None:
                        result[:, lo:hi] = leading(s, (hi - lo,) + tail[1:])
                    else:
                        for r, c in zip(result, combined(s, (hi - lo,) + tail[1:])):
                            r[lo:hi] = c

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
    integers, so no rational weight rounds (a polynomial's partials are right to
    rounding: x**3*y gives d3f/dy^3 = 2.2e-16, not 0).
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
    from fractions import Fraction  # only mixed partials need it: start-up stays lean

    return [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]


def _matmul(a, b):
    cols = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def _solve(a, b):
    """X with a X = b, exactly (Gauss-Jordan on fractions; a is square and regular)."""
    from fractions import Fraction

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
        out = leading(out, shape)
        results.append((out[0].copy(), [out[k] * factorials[k] for k in range(1, K + 1)]))
    if several and several[0]:
        return [r[0] for r in results], [r[1] for r in results]
    return results[0]

