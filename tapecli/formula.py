"""Formulas: a recorded graph read back as a simplified expression, printed as text or LaTeX.

A derivative driver's program, captured once (tapecli.graph), is the tape's
own account of f and its derivatives: every op the backward passes recorded.
This module turns that graph into an expression a reader would write, in the
language of EXPRESSIONS.md, with no second symbolic engine: the ops are the
tape's, only their arrangement is simplified.

The simplified form is canonical (as in SymPy's automatic simplification):
a sum is a number plus terms with numeric coefficients (like terms gathered),
a product is a numeric coefficient times bases raised to exponents (powers of
one base combined, x*x is x**2, sqrt(u) is u**0.5), and identical
subexpressions are one interned node, so "is this the same term" is `is`.
That is the algebra a reader means, not IEEE arithmetic: 0*anything is 0 and
x/x is 1. Numbers are folded in float64, as the tape computes them, and
printed in shortest round-trip form (3*0.1 is 0.30000000000000004); a
coefficient that is exactly p/q for a small q prints as a fraction (x/3).

Kinks and guards that VJPs record as `where(comparison, a, b)` print with the
language's two functions for them (tapecli.ops): `heaviside(x)` (0 at 0, as
relu'(0)) for <, <=, >, >=, and `ifzero(c, a, b)` (a where c == 0, else b) for
== and !=; inside a branch the guard's own condition is known, so
`ifzero(x, 1, x)` there is x.

Every pass (conversion, substitution, printing) walks the nodes in a loop
over a topological order, never by recursion: formulas thousands deep print.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from . import ops
from .errors import UsageError
from .graph import Graph, topological
from .names import derivative_name
from .language import ATOM, PRECEDENCE, PRIMITIVES, check_variable_name

NUM, VAR, ADD, MUL, CALL = "num", "var", "add", "mul", "call"
_SUM, _PRODUCT = PRECEDENCE["add"].precedence, PRECEDENCE["mul"].precedence
_NEGATION, _POWER = PRECEDENCE["neg"].precedence, PRECEDENCE["pow"].precedence

# More nodes than this (counted as the printed tree, shared parts once per use)
# would print pages: refuse with a message instead.
MAX_SIZE = 20_000
# A term built larger than this (its printed tree) stops the conversion at once:
# a derivative that grows as n**2 (sin nested 2,000 deep) is refused before it
# takes minutes and gigabytes. Larger than MAX_SIZE, as a sum may shrink when
# its terms cancel.
BUILD_LIMIT = 4 * MAX_SIZE
# Steps (interned lookups) one conversion may take: gathering like terms in sums
# of products of sums (the Hessian of (x+1)*(x+2)*...*(x+40)) takes n**4 of them,
# about 50,000 a second. Past this, a usage error rather than minutes of work.
WORK_LIMIT = 300_000
# The formulas of one result (a Hessian, a Jacobian, a tensor) in all: each entry
# may be small and n**2 of them still print megabytes (and take minutes to simplify).
MAX_TOTAL = 5 * MAX_SIZE


class FormulaError(UsageError):
    """The result has no printable formula (too large, or an op outside the language)."""


class Term:
    """One node of a canonical expression (interned: equal nodes are one object).

    NUM: `value`; VAR: `name`; ADD: `value` (the constant) + sum of coefficient *
    monomial over `items` ((monomial, coefficient) pairs); MUL: `value` (the
    coefficient) * product of base**exponent over `items` ((base, exponent Term)
    pairs); CALL: `name` of a language function applied to `items`.
    """

    __slots__ = ("kind", "value", "name", "items", "size", "__weakref__")

    def __init__(self, kind: str, value=None, name=None, items=()):
        self.kind, self.value, self.name, self.items = kind, value, name, items
        # The printed tree's nodes, a shared node counted at each use (capped, so
        # that a tree exponentially larger than its graph stays a small number).
        self.size = min(1 + sum(c.size for c in self.children()), 2 * BUILD_LIMIT)

    def __repr__(self) -> str:
        return f"<Term {to_text(self)}>"

    def children(self) -> list[Term]:
        if self.kind in (ADD, CALL):
            return [t if self.kind == CALL else t[0] for t in self.items]
        if self.kind == MUL:
            return [x for base, exponent in self.items for x in (base, exponent)]
        return []


def _is_number(term: Term, value: float | None = None) -> bool:
    return term.kind == NUM and (value is None or term.value == value)


def _is_integer(x: float) -> bool:
    return math.isfinite(x) and x == int(x)


class Builder:
    """Makes canonical terms; one builder interns the nodes of one conversion."""

    def __init__(self):
        self._interned: dict[tuple, Term] = {}
        self._steps = 0

    def _intern(self, key: tuple, make) -> Term:
        self._steps += 1
        if self._steps > WORK_LIMIT:
            raise FormulaError(f"simplifying the formulas takes more than {WORK_LIMIT:,} "
                               "steps; ask for numbers (--at) instead, or a lower order")
        found = self._interned.get(key)
        if found is None:
            found = make()
            if found.size > BUILD_LIMIT:
                raise FormulaError(f"a formula grows past {BUILD_LIMIT:,} terms while it is "
                                   "built; ask for numbers (--at) instead, or a lower order")
            self._interned[key] = found
        return found

    def number(self, value: float) -> Term:
        value = float(value)
        # nan is not equal to itself; -0.0 prints as 0 (a reader's zero).
        key = (NUM, "nan" if value != value else value + 0.0)
        return self._intern(key, lambda: Term(NUM, value=value + 0.0))

    def variable(self, name: str) -> Term:
        return self._intern((VAR, name), lambda: Term(VAR, name=name))

    def call(self, name: str, args: Sequence[Term]) -> Term:
        args = tuple(args)
        if all(a.kind == NUM for a in args):
            with np.errstate(all="ignore"):
                return self.number(_PRIMITIVES[name].forward(*(np.float64(a.value) for a in args)))
        if name == "ifzero" and args[1] is args[2]:
            return args[1]
        if name == "sqrt":
            return self.power(args[0], self.number(0.5))
        return self._intern((CALL, name, *map(id, args)), lambda: Term(CALL, name=name, items=args))

    def add(self, terms: Sequence[Term]) -> Term:
        while True:
            constant, items = self._gather(terms)
            again = self._merge_selects(items) or self._expand_overlap(items)
            if again is None:
                break
            terms = [self.number(constant), *again]
        if not items:
            return self.number(constant)
        if constant == 0 and len(items) == 1:
            return self.scale(items[0][0], items[0][1])
        key = (ADD, constant, frozenset((id(m), c) for m, c in items))
        return self._intern(key, lambda: Term(ADD, value=constant, items=items))

    def _gather(self, terms: Sequence[Term]) -> tuple[float, tuple]:
        """A sum's constant and its (monomial, coefficient) pairs, like terms gathered."""
        constant = 0.0
        coefficients: dict[int, list] = {}  # id(monomial) -> [monomial, coefficient]
        for term in terms:
            if term.kind == NUM:
                constant += term.value
                continue
            parts = term.items if term.kind == ADD else (_split(self, term),)
            if term.kind == ADD:
                constant += term.value
            for monomial, coefficient in parts:
                entry = coefficients.setdefault(id(monomial), [monomial, 0.0])
                entry[1] += coefficient
        return constant, tuple((m, c) for m, c in coefficients.values() if c != 0)

    def _merge_selects(self, items: tuple) -> list[Term] | None:
        """a*ifzero(c, p, q) + b*ifzero(c, r, s) is ifzero(c, a*p + b*r, a*q + b*s)."""
        by_condition: dict[int, list] = {}
        for m, c in items:
            if m.kind == CALL and m.name == "ifzero":
                by_condition.setdefault(id(m.items[0]), []).append((m, c))
        groups = [g for g in by_condition.values() if len(g) > 1]
        if not groups:
            return None
        merged = {id(m) for g in groups for m, _ in g}
        out = [self.scale(m, c) for m, c in items if id(m) not in merged]
        for group in groups:
            condition = group[0][0].items[0]
            yes = self.add([self.scale(m.items[1], c) for m, c in group])
            no = self.add([self.scale(m.items[2], c) for m, c in group])
            out.append(self.call("ifzero", [condition, yes, no]))
        return out

    def _expand_overlap(self, items: tuple) -> list[Term] | None:
        """Multiply out one product of a sum by a sum when that makes like terms
        meet: cos(x)*exp(x) + exp(x)*(sin(x) - cos(x)) is exp(x)*sin(x)."""
        if len(items) < 2:
            return None
        present = {id(m) for m, _ in items}
        for index, (m, c) in enumerate(items):
            if m.kind != MUL:
                continue
            for i, (base, exponent) in enumerate(m.items):
                if base.kind != ADD or not _is_number(exponent, 1.0) or len(base.items) > 8:
                    continue
                rest = self._product(1.0, m.items[:i] + m.items[i + 1:]) \
                    if len(m.items) > 1 else self.number(1.0)
                parts = [self.multiply([self.number(c * tc), rest, t]) for t, tc in base.items]
                if base.value != 0:
                    parts.append(self.multiply([self.number(c * base.value), rest]))
                if any(p.kind != NUM and id(_split(self, p)[0]) in present for p in parts):
                    return [self.scale(mm, cc) for j, (mm, cc) in enumerate(items)
                            if j != index] + parts
        return None

    def negate(self, term: Term) -> Term:
        return self.scale(term, -1.0)

    def subtract(self, a: Term, b: Term) -> Term:
        return self.add([a, self.negate(b)])

    def scale(self, term: Term, factor: float, divide: bool = False) -> Term:
        """factor * term (or term / factor): a numeric coefficient, distributed over a sum."""
        def times(c: float) -> float:
            # IEEE, as the tape computes: x/(x - x) is inf*x, not a ZeroDivisionError.
            with np.errstate(all="ignore"):
                return float(np.divide(c, factor) if divide else np.multiply(c, factor))

        if term.kind == NUM:
            return self.number(times(term.value))
        if not divide and factor == 1:
            return term
        if term.kind == ADD:
            items = [(m, times(c)) for m, c in term.items]
            return self.add([self.number(times(term.value)),
                             *(self._monomial(m, c) for m, c in items)])
        monomial, coefficient = _split(self, term)
        return self._monomial(monomial, times(coefficient))

    def _monomial(self, monomial: Term, coefficient: float) -> Term:
        if coefficient == 0:
            return self.number(0.0)
        if coefficient == 1:
            return monomial
        items = monomial.items if monomial.kind == MUL else ((monomial, self.number(1.0)),)
        return self._product(coefficient, items)

    def multiply(self, terms: Sequence[Term]) -> Term:
        coefficient = 1.0
        work: list[tuple[Term, Term]] = []  # (base, exponent) pairs still to place
        for term in terms:
            if term.kind == NUM:
                coefficient *= term.value
            elif term.kind == MUL:
                coefficient *= term.value
                work.extend(term.items)
            else:
                work.append((term, self.number(1.0)))
        if coefficient == 0:  # the algebra a reader means: 0*anything is 0
            return self.number(0.0)
        if len(work) == 1 and work[0][0].kind == ADD and _is_number(work[0][1], 1.0):
            return self.scale(work[0][0], coefficient)  # 2*(x + 1) is 2*x + 2
        exponents: dict[int, list] = {}  # id(base) -> [base, [exponents]]
        while work:
            base, exponent = work.pop()
            if base.kind == ADD and exponent.kind == NUM:
                if _is_integer(exponent.value):
                    # x*(x*y + x**2) is x**2*(y + x): a common factor of the terms out.
                    common, base = self._common(base)
                    work.extend((b, self.number(e * exponent.value)) for b, e in common)
                    if base.kind == ADD and _sign_to_flip(base):
                        # -2*(x + y), not 2*(-x - y): one sign per sum, whichever way it came.
                        base = self.negate(base)
                        coefficient *= (-1.0) ** exponent.value
                if base.kind != ADD:
                    work.append((base, exponent))
                    continue
                # 200*y - 200*x**2 as a factor is 200*(y - x**2): the content out.
                content = _content(base)
                if content != 1:
                    with np.errstate(all="ignore"):
                        coefficient *= float(np.power(content, exponent.value))
                    base = self.scale(base, content, divide=True)
            exponents.setdefault(id(base), [base, []])[1].append(exponent)
        # exp(a)**j * exp(b)**k is exp(j*a + k*b), as 1/exp(u) is exp(-u).
        logs = [self.scale(base.items[0], p.value) for key, (base, powers) in exponents.items()
                if base.kind == CALL and base.name == "exp" and all(p.kind == NUM for p in powers)
                for p in powers]
        if logs:
            exponents = {k: v for k, v in exponents.items() if not (
                v[0].kind == CALL and v[0].name == "exp" and all(p.kind == NUM for p in v[1]))}
            combined = self.call("exp", [self.add(logs)])
            exponents.setdefault(id(combined), [combined, []])[1].append(self.number(1.0))
        factors, again = [], []
        for base, powers in exponents.values():
            exponent = powers[0] if len(powers) == 1 else self.add(powers)
            powered = self.power(base, exponent)
            if powered.kind == NUM:
                coefficient *= powered.value
            elif powered.kind == MUL and len(powered.items) == 1 and powered.items[0][0] is base:
                factors.append(powered.items[0])
            elif powered.kind == MUL:
                again.append(powered)  # (x*y)**0.5 squared: x*y, to place among the rest
            else:
                factors.append((powered, self.number(1.0)))
        if again:
            rest = [self._product(1.0, (f,)) for f in factors]
            return self.multiply([self.number(coefficient), *rest, *again])
        if coefficient == 0 or not factors:
            return self.number(coefficient if factors or coefficient else 0.0)
        if len(factors) == 1 and factors[0][0].kind == ADD and _is_number(factors[0][1], 1.0):
            return self.scale(factors[0][0], coefficient)
        return self._product(coefficient, tuple(factors))

    def _common(self, term: Term) -> tuple[list[tuple[Term, float]], Term]:
        """The bases that every term of a sum has (with the exponent closest to 0 of
        one sign), and the sum divided by them."""
        if term.value != 0:
            return [], term
        seen: dict[int, list] = {}
        for monomial, _ in term.items:
            items = monomial.items if monomial.kind == MUL else ((monomial, self.number(1.0)),)
            for b, e in items:
                if e.kind == NUM:
                    seen.setdefault(id(b), [b, []])[1].append(e.value)
        common = []
        for b, values in seen.values():
            if len(values) == len(term.items):
                if all(v > 0 for v in values):
                    common.append((b, min(values)))
                elif all(v < 0 for v in values):
                    common.append((b, max(values)))
        if not common:
            return [], term
        divisor = [self.power(b, self.number(-e)) for b, e in common]
        return common, self.add([self.multiply([self.number(c), m, *divisor])
                                 for m, c in term.items])

    def _product(self, coefficient: float, items: tuple) -> Term:
        if len(items) == 1 and coefficient == 1 and _is_number(items[0][1], 1.0):
            return items[0][0]
        key = (MUL, coefficient, frozenset((id(b), id(e)) for b, e in items))
        return self._intern(key, lambda: Term(MUL, value=coefficient, items=items))

    def divide(self, a: Term, b: Term) -> Term:
        if b.kind == NUM:
            return self.scale(a, b.value, divide=True)
        if b.kind == MUL and b.value != 1:
            # Divide the coefficient (exact as the tape's x/3, not x*(1/3)).
            quotient = self.divide(a, self._product(1.0, b.items))
            return self.scale(quotient, b.value, divide=True)
        return self.multiply([a, self.power(b, self.number(-1.0))])

    def power(self, base: Term, exponent: Term) -> Term:
        if _is_number(exponent, 0.0):
            return self.number(1.0)
        if _is_number(exponent, 1.0):
            return base
        if base.kind == NUM and exponent.kind == NUM:
            with np.errstate(all="ignore"):
                return self.number(np.power(np.float64(base.value), exponent.value))
        if _is_number(base, 1.0):
            return base
        if exponent.kind == NUM and base.kind == CALL and base.name == "exp":
            return self.call("exp", [self.scale(base.items[0], exponent.value)])
        if exponent.kind == NUM and _is_integer(exponent.value) and base.kind == MUL:
            # (c*x**a*y)**n = c**n * x**(a*n) * y**n: exact algebra for an integer n.
            n = exponent.value
            with np.errstate(all="ignore"):
                coefficient = float(np.power(base.value, n))
            items = [self.power(b, self.multiply([e, exponent])) for b, e in base.items]
            return self.multiply([self.number(coefficient), *items])
        return self._product(1.0, ((base, exponent),))


def _content(term: Term) -> float:
    """What divides a sum's coefficients and constant into coprime integers (x/2 + y
    is (x + 2*y)/2), else their common absolute value (1 if there is none)."""
    values = {abs(c) for _, c in term.items}
    if term.value != 0:
        values.add(abs(term.value))
    if not values:
        return 1.0
    fractions = [Fraction(v).limit_denominator(1000) for v in values]
    if all(f.numerator / f.denominator == v and f.numerator < 2**53
           for f, v in zip(fractions, values)):
        numerator = math.gcd(*(f.numerator for f in fractions))
        denominator = math.lcm(*(f.denominator for f in fractions))
        return numerator / denominator
    content = values.pop()
    return content if not values and math.isfinite(content) and content != 0 else 1.0


def _sign_to_flip(term: Term) -> bool:
    """Whether a sum reads better negated: more negative terms than positive, or as
    many and a negative constant, or, failing both, a negative first term in print."""
    negative = sum(c < 0 for _, c in term.items) + (term.value < 0)
    positive = len(term.items) + (term.value != 0) - negative
    if negative != positive:
        return negative > positive
    if term.value != 0:
        return term.value < 0
    first = min(term.items, key=lambda mc: (-_degree(mc[0]), to_text(mc[0])))
    return first[1] < 0


def _split(builder: Builder, term: Term) -> tuple[Term, float]:
    """term as (monomial, coefficient): 3*x*y is (x*y, 3)."""
    if term.kind == MUL and term.value != 1:
        return builder._product(1.0, term.items), term.value
    return term, 1.0


# ---- the recorded graph as a canonical term ------------------------------------------
# A language function's name -> its row, and back (the rows' `language` column).
_PRIMITIVES = PRIMITIVES
_NAMES = {op: name for name, op in PRIMITIVES.items()}

def from_graph(graph: Graph, names: Sequence[str], builder: Builder | None = None
               ) -> list[Term]:
    """The graph's outputs as canonical terms; `names[i]` names input i."""
    builder = builder or Builder()
    terms: dict[int, Term] = {}
    for node in graph.nodes:
        if node.input is not None:
            terms[id(node)] = builder.variable(names[node.input])
        elif node.prim is None:
            if node.value.dtype.kind == "f":
                terms[id(node)] = builder.number(node.value)
        elif node.prim.boolean:
            continue  # read where it is used: as a where's condition
        elif node.prim is ops.where:
            cond, yes, no = node.args
            if id(yes) not in terms or id(no) not in terms:
                continue  # a where of truth values: a condition, read where it is used
            terms[id(node)] = _select(builder, terms, cond, terms[id(yes)], terms[id(no)])
        else:
            args = []
            for a in node.args:
                if id(a) not in terms:
                    raise FormulaError(f"{node.prim.name} of a truth value has no formula")
                args.append(terms[id(a)])
            if node.prim.formula is not None:
                terms[id(node)] = node.prim.formula(builder, *args)
            elif node.prim in _NAMES:
                terms[id(node)] = builder.call(_NAMES[node.prim], args)
            else:
                raise FormulaError(f"the op {node.prim.name} has no formula in the language")
    try:
        return [terms[id(n)] for n in graph.outputs]
    except KeyError:
        raise FormulaError("a truth value has no formula in the language") from None


def _select(builder: Builder, terms: dict, cond, yes: Term, no: Term) -> Term:
    """where(cond, yes, no) in the language: heaviside for <, <=, >, >=; ifzero for ==, !=."""
    if yes is no:
        return yes
    if cond.prim is None:
        return yes if bool(cond.value) else no
    if cond.prim is ops.where:  # a condition made of conditions: where(c1, c2, c3)
        first, then, otherwise = cond.args
        return _select(builder, terms, first, _select(builder, terms, then, yes, no),
                       _select(builder, terms, otherwise, yes, no))
    if cond.prim.condition is None or any(id(a) not in terms for a in cond.args):
        raise FormulaError(f"the condition {cond.prim.name} has no formula in the language")
    p, q = (terms[id(a)] for a in cond.args)
    how, swap, flip = cond.prim.condition
    difference = builder.subtract(q, p) if swap else builder.subtract(p, q)
    if flip:
        yes, no = no, yes
    if how == "positive":  # yes where difference > 0
        if difference.kind == NUM:
            return yes if difference.value > 0 else no
        step = builder.call("heaviside", [difference])
        return builder.add([builder.multiply([yes, step]),
                            builder.multiply([no, builder.subtract(builder.number(1.0), step)])])
    if difference.kind == NUM:
        return yes if difference.value == 0 else no
    yes, no = _assume(builder, yes, difference, 1), _assume(builder, no, difference, 2)
    return builder.call("ifzero", [difference, yes, no])


def _assume(builder: Builder, term: Term, condition: Term, branch: int) -> Term:
    """`term` with every ifzero(condition, a, b) inside replaced by its branch
    (1: a, where condition == 0 is known; 2: b, where it is known not to be)."""
    order = postorder(term)
    if not any(t.kind == CALL and t.name == "ifzero" and t.items[0] is condition for t in order):
        return term
    new: dict[int, Term] = {}
    for t in order:
        if t.kind == CALL and t.name == "ifzero" and t.items[0] is condition:
            new[id(t)] = new[id(t.items[branch])]
        else:
            new[id(t)] = rebuild(builder, t, new)
    return new[id(term)]


def rebuild(builder: Builder, t: Term, new: dict[int, Term]) -> Term:
    """`t` again from its children's replacements `new` (itself if none changed)."""
    if all(new[id(c)] is c for c in t.children()):
        return t
    if t.kind == ADD:
        return builder.add([builder.number(t.value),
                            *(builder.scale(new[id(m)], c) for m, c in t.items)])
    if t.kind == MUL:
        return builder.multiply([builder.number(t.value),
                                 *(builder.power(new[id(b)], new[id(e)]) for b, e in t.items)])
    return builder.call(t.name, [new[id(a)] for a in t.items])


def postorder(root: Term) -> list[Term]:
    """Every distinct node under `root`, each after its children (no recursion)."""
    return topological([root], Term.children)


def size(root: Term) -> int:
    """The number of nodes of the printed tree (a shared node counts at each use)."""
    return root.size


def check_total(terms: Sequence[Term], what: str) -> None:
    """Refuse the formulas of a whole result past MAX_TOTAL terms, before each
    is printed and read back."""
    total = sum(t.size for t in terms)
    if total > MAX_TOTAL:
        raise FormulaError(f"the formulas of {what} have more than {MAX_TOTAL:,} terms in all "
                           f"({len(terms):,} formulas); ask for numbers (--at) instead")


def check_size(root: Term, what: str) -> None:
    if size(root) > MAX_SIZE:
        raise FormulaError(f"the formula of {what} has more than {MAX_SIZE} terms; "
                           f"ask for numbers (--at) instead, or a lower order")


# ---- printing -------------------------------------------------------------------------
def _degree(term: Term) -> float:
    """Total degree, for ordering the terms of a sum: x**2 before x before 1."""
    if term.kind == NUM:
        return 0.0
    if term.kind == MUL:
        return sum(e.value if e.kind == NUM else 1.0 for _, e in term.items)
    return 1.0


_BASE_RANK = {NUM: 0, VAR: 1, CALL: 2, MUL: 3, ADD: 4}


class _Text:
    """The language's own syntax (EXPRESSIONS.md): what `parse` reads back."""

    def number(self, x: float) -> tuple[str, int]:
        if x != x:
            return "(1e999 - 1e999)", _SUM  # nan: the language has no literal for it
        if x < 0:
            text, _ = self.number(-x)
            return "-" + text, _NEGATION
        if x == math.inf:
            return "1e999", ATOM  # the literal overflows to inf
        if x == math.pi:
            return "pi", ATOM
        if x == math.e:
            return "e", ATOM
        if _is_integer(x) and x < 1e16:
            return str(int(x)), ATOM
        fraction = _fraction(x, shorter_by=1) if len(repr(x)) >= 8 else None
        if fraction is not None:
            return self.fraction(self.number(fraction[0]), self.number(fraction[1])), _PRODUCT
        return repr(x), ATOM

    def variable(self, name: str) -> str:
        return name

    def call(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def sqrt(self, text: str, prec: int) -> str:
        return f"sqrt({text})"

    def power(self, base: tuple[str, int], exponent: tuple[str, int]) -> str:
        # The grammar's power is `atom ** unary`: a base needs to be an atom, an
        # exponent at least a unary minus (x**-y, 2**3**2).
        b = base[0] if base[1] >= ATOM else f"({base[0]})"
        e = exponent[0] if exponent[1] >= _NEGATION else f"({exponent[0]})"
        return f"{b}**{e}"

    def product(self, factors: list[tuple[str, int]]) -> str:
        return "*".join(t if p > _PRODUCT else f"({t})" for t, p in factors)

    def fraction(self, numerator: tuple[str, int], denominator: tuple[str, int]) -> str:
        n = numerator[0] if numerator[1] >= _PRODUCT else f"({numerator[0]})"
        d = denominator[0] if denominator[1] > _PRODUCT else f"({denominator[0]})"
        return f"{n}/{d}"

    def negative(self, text: str) -> str:
        return "-" + text

    def join(self, first: str, rest: list[tuple[bool, str]]) -> str:
        return first + "".join((" - " if negative else " + ") + t for negative, t in rest)


class _Latex(_Text):
    """The same structure as LaTeX math (for papers and notebooks)."""

    def number(self, x: float) -> tuple[str, int]:
        text, prec = super().number(x)
        if text == "pi":
            return r"\pi", ATOM
        if text == "1e999":
            return r"\infty", ATOM
        if "e" in text and text != "e" and not text.startswith("(1e999"):
            mantissa, power = text.split("e")
            sign = "-" if mantissa.startswith("-") else ""
            mantissa = mantissa.lstrip("-")
            body = (f"{mantissa} \\cdot " if mantissa != "1" else "") + \
                f"10^{{{int(power)}}}"
            return sign + body, (_NEGATION if sign else _PRODUCT)
        return text, prec

    def variable(self, name: str) -> str:
        return to_latex_name(name)

    def call(self, name: str, args: list[str]) -> str:
        latex = _PRIMITIVES[name].latex  # the row's: a command, or how to write the call
        if callable(latex):
            return latex(*args)
        return rf"{latex}\left({', '.join(args)}\right)"

    def sqrt(self, text: str, prec: int) -> str:
        return _PRIMITIVES["sqrt"].latex(text)

    def power(self, base: tuple[str, int], exponent: tuple[str, int]) -> str:
        b = base[0] if base[1] >= ATOM else rf"\left({base[0]}\right)"
        return f"{b}^{{{exponent[0]}}}"

    def product(self, factors: list[tuple[str, int]]) -> str:
        parts = [t if p > _PRODUCT else rf"\left({t}\right)" for t, p in factors]
        out = parts[0]
        for part in parts[1:]:
            # A number after another factor needs a visible sign: 2 x, but 2 \cdot 3^{x}.
            out += (r" \cdot " if part[:1].isdigit() else " ") + part
        return out

    def fraction(self, numerator: tuple[str, int], denominator: tuple[str, int]) -> str:
        return rf"\frac{{{numerator[0]}}}{{{denominator[0]}}}"


def to_latex_name(name: str) -> str:
    """A variable's name in LaTeX: x, x_{1}, \\mathit{rate}."""
    head, _, tail = name.partition("_")
    head = head if len(head) <= 1 else rf"\mathit{{{head}}}"
    tail = tail.replace("_", r"\_")
    return head + (f"_{{{tail}}}" if tail else "")


def _coefficient_parts(style: _Text, c: float) -> tuple[str | None, str | None]:
    """A positive coefficient as (numerator, denominator) texts: 3 -> ('3', None),
    1/3 -> (None, '3'), 2/3 -> ('2', '3'), 0.1 -> ('0.1', None)."""
    if c == 1:
        return None, None
    plain = style.number(c)[0]
    fraction = _fraction(c, shorter_by=0)
    if fraction is not None and (fraction[0] == 1 or len(repr(c)) >= 8):
        p, q = fraction
        return (None if p == 1 else style.number(p)[0]), style.number(q)[0]
    return plain, None


def _fraction(c: float, shorter_by: int) -> tuple[int, int] | None:
    """(p, q) with p/q == c exactly for q <= 1000, if the text "p/q" is at least
    `shorter_by` characters shorter than repr(c) (1/3 for 0.3333333333333333)."""
    if not math.isfinite(c) or _is_integer(c):
        return None
    fraction = Fraction(abs(c)).limit_denominator(1000)
    p, q = fraction.numerator, fraction.denominator
    if p / q == abs(c) and len(f"{p}/{q}") + shorter_by <= len(repr(abs(c))):
        return p, q
    return None


def _print(root: Term, style: _Text, keys: dict | None = None) -> dict[int, tuple[str, int]]:
    """Every node's (text, precedence rung) in `style`; terms and factors are
    ordered by `keys` (the plain texts), so LaTeX lists them as the text does."""
    printed: dict[int, tuple[str, int]] = {}
    keys = printed if keys is None else keys

    def text_of(t: Term) -> str:
        return keys[id(t)][0] if id(t) in keys else _Text().number(t.value)[0]

    def factor(base: Term, exponent: float | Term) -> tuple[str, int]:
        """base**exponent for a positive exponent, with sqrt for 1/2."""
        b = printed[id(base)]
        e = exponent.value if isinstance(exponent, Term) and exponent.kind == NUM else exponent
        if e == 1:
            return b
        if e == 0.5:
            return style.sqrt(b[0], b[1]), ATOM
        return style.power(b, printed[id(exponent)] if isinstance(exponent, Term)
                           else style.number(e)), _POWER

    def product(coefficient: float, items) -> tuple[str, int]:
        """|coefficient| * items as a fraction where exponents are negative (the
        coefficient's sign is the caller's)."""
        top, bottom = [], []
        for base, exponent in sorted(items, key=lambda be: (
                _BASE_RANK[be[0].kind], keys[id(be[0])][0], text_of(be[1]))):
            if exponent.kind == NUM and exponent.value < 0:
                bottom.append(factor(base, -exponent.value))
            else:
                top.append(factor(base, exponent))
        p, q = _coefficient_parts(style, abs(coefficient))
        if p is not None:
            top.insert(0, (p, ATOM))
        if q is not None:
            bottom.insert(0, (q, ATOM))
        if len(top) > 1:
            numerator = style.product(top), _PRODUCT
        else:
            numerator = top[0] if top else style.number(1.0)
        if not bottom:
            return numerator
        denominator = (style.product(bottom), _PRODUCT) if len(bottom) > 1 else bottom[0]
        return style.fraction(numerator, denominator), _PRODUCT

    def signed(text_prec: tuple[str, int], negative: bool) -> tuple[str, int]:
        # -x*y reads as (-x)*y, the same product: it stays on the product rung.
        text, prec = text_prec
        if not negative:
            return text, prec
        return style.negative(text), (_PRODUCT if prec <= _PRODUCT else _NEGATION)

    for t in postorder(root):
        if t.kind == NUM:
            printed[id(t)] = style.number(t.value)
        elif t.kind == VAR:
            printed[id(t)] = style.variable(t.name), ATOM
        elif t.kind == CALL:
            printed[id(t)] = style.call(t.name, [printed[id(a)][0] for a in t.items]), ATOM
        elif t.kind == MUL:
            printed[id(t)] = signed(product(t.value, t.items), t.value < 0)
        else:
            terms = []
            for monomial, c in t.items:
                items = monomial.items if monomial.kind == MUL else ((monomial, _ONE),)
                terms.append((-_degree(monomial), keys[id(monomial)][0], c < 0,
                              product(c, items)))
            terms.sort(key=lambda x: (x[0], x[1]))
            if t.value != 0:
                terms.append((0, "", t.value < 0, style.number(abs(t.value))))
            first = next((i for i, x in enumerate(terms) if not x[2]), 0)
            terms.insert(0, terms.pop(first))  # lead with a positive term: 1 - x, y - x
            head = signed(terms[0][3], terms[0][2])[0]
            rest = [(negative, text) for _, _, negative, (text, _) in terms[1:]]
            printed[id(t)] = style.join(head, rest), _SUM
    return printed


_ONE = Term(NUM, value=1.0)  # the exponent of a lone factor (printing only)


def to_text(term: Term) -> str:
    """The term in the language of EXPRESSIONS.md (parses back to the same formula)."""
    return _print(term, _Text())[id(term)][0]


def to_latex(term: Term) -> str:
    """The term as LaTeX math."""
    return _print(term, _Latex(), _print(term, _Text()))[id(term)][0]


# ---- formulas of Expressions: what the Expression methods and the CLI call --------------
def _read(make, exprs: Sequence, wrt: Sequence[str]) -> list[Term]:
    from .derivatives import recorded_graph

    graph, names = recorded_graph(make, exprs, wrt)
    return from_graph(graph, names)


def _wrt(expr, wrt) -> tuple[str, ...]:
    names = tuple(expr.variables) if wrt is None else (wrt,) if isinstance(wrt, str) \
        else tuple(wrt)
    for name in names:
        check_variable_name(name)
    return names


def _expression(term: Term, what: str, like):
    """The term as a new Expression, read back from its text by the parser that
    made `like` (Expression.parse: the parser imports Expressions, not the reverse)."""
    check_size(term, what)
    return type(like).parse(to_text(term))


_TEXTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def text(expr) -> str:
    """The expression's simplified formula (what `str(expr)` prints)."""
    found = _TEXTS.get(expr)
    if found is None:
        from .derivatives import value_program

        term = _read(value_program, (expr,), ())[0]
        check_size(term, "the expression")
        found = _TEXTS[expr] = to_text(term)
    return found


def latex(expr) -> str:
    """The expression's simplified formula as LaTeX math."""
    from .derivatives import value_program

    term = _read(value_program, (expr,), ())[0]
    check_size(term, "the expression")
    return to_latex(term)


def simplify(expr):
    """The expression in its simplified form, as a new Expression."""
    return type(expr).parse(text(expr))


def differentiate(expr, wrt: str | Sequence[str]):
    """d^k expr / d wrt[0] ... d wrt[k-1] as a simplified Expression: one tape per
    variable, each reading the simplified formula of the step before."""
    from .derivatives import derivative_program

    names = _wrt(expr, wrt)
    if not names:
        return simplify(expr)
    current = expr
    for k, name in enumerate(names, 1):
        term = _read(derivative_program, (current,), (name,))[1]
        current = _expression(term, derivative_name(names[:k]), expr)
    return current


def gradient_formulas(expr, wrt: Sequence[str] | None = None) -> list:
    """[df/dx for x in wrt] (default: the expression's variables) as Expressions."""
    from .derivatives import gradient_program

    names = _wrt(expr, wrt)
    terms = _read(gradient_program, (expr,), names)[1:]
    check_total(terms, "the gradient")
    return [_expression(t, derivative_name((n,)), expr) for t, n in zip(terms, names)]


def hessian_formulas(expr, wrt: Sequence[str] | None = None) -> list[list]:
    """The Hessian's entries d2f/dx_i dx_j (rows and columns follow wrt) as Expressions."""
    from .derivatives import hessian_program

    names = _wrt(expr, wrt)
    n = len(names)
    terms = _read(hessian_program, (expr,), names)[1 + n:]
    check_total(terms, "the Hessian")
    return [[_expression(terms[i * n + j], derivative_name((names[i], names[j])), expr)
             for j in range(n)] for i in range(n)]


def derivative_tensor_formulas(expr, order: int, wrt: Sequence[str] | None = None):
    """The order-k derivative tensor as nested lists of Expressions, k deep; an entry
    is the derivative of the order k-1 entry of its sorted index (mixed partials commute)."""
    names = _wrt(expr, wrt)
    n = len(names)
    found: dict[tuple, object] = {(): expr}
    total = [0]

    def entry(index: tuple):
        key = tuple(sorted(index))
        for k in range(1, len(key) + 1):
            if key[:k] not in found:
                found[key[:k]] = differentiate(found[key[:k - 1]], names[key[k - 1]])
        # Each entry is printed, repeats too: n**order of them in all.
        total[0] += len(found[key].text)
        if total[0] > 8 * MAX_TOTAL:  # as characters: about 8 a term
            raise FormulaError(f"the formulas of the order-{order} tensor have more than "
                               f"{MAX_TOTAL:,} terms in all; ask for numbers (--at) instead")
        return found[key]

    def nest(prefix: tuple):
        if len(prefix) == order:
            return entry(prefix)
        return [nest(prefix + (i,)) for i in range(n)]

    return nest(())


def jacobian_formulas(expressions: Sequence, wrt: Sequence[str] | None = None) -> list[list]:
    """[[dfi/dx for x in wrt] for fi in expressions] as Expressions (default wrt: every
    variable of the expressions, in order of first appearance)."""
    from .derivatives import jacobian_program

    exprs = tuple(expressions)
    default = tuple(dict.fromkeys(v for e in exprs for v in e.variables))
    names = default if wrt is None else _wrt(exprs[0] if exprs else None, wrt)
    terms = _read(jacobian_program, exprs, names)[len(exprs):]
    check_total(terms, "the Jacobian")
    n = len(names)
    return [[_expression(terms[i * n + j], derivative_name((names[j],), f"f{i + 1}"), exprs[i])
             for j in range(n)]
            for i in range(len(exprs))]

