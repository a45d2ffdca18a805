"""Fuzzing in the suite: whatever comes in, only documented errors come out.

Three targets, each bounded in examples so that the file runs in well under a
minute: expressions drawn from the grammar (every operator, function and
literal form, deep and long) parse and differentiate; arbitrary text and bytes
give a caret error or an expression, never another exception; arbitrary CSV
bytes into the batch reader give exactly the rows a reference reading gives,
then a DataError naming the line the reference stops at. The coverage-guided
harnesses under fuzz/ explore the same targets for longer, by hand.
"""

from __future__ import annotations

import csv
import io
import math
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapecli import batch_input, parse
from tapecli.batch import run_batch
from tapecli.errors import DataError, ExpressionSyntaxError, TapecliError, UsageError
from tapecli.jobs import Job
from tapecli.language import CONSTANTS, FUNCTIONS

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ---- expressions drawn from the grammar ------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(0, 10**20).map(str),
    st.floats(0, 1e300, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["3.", ".5", "1e-3", "2.5E+10", "1.e3", ".5e2", "007", "1e999", "0.000"]))
NAMES = st.sampled_from(["x", "y", "z_1", "_a", "e1"]) | st.sampled_from(sorted(CONSTANTS))
SPACE = st.sampled_from(["", "", "", " ", "\t", "\n  "])


def _calls(inner):
    def call(name_args):
        name, args = name_args
        return f"{name}({', '.join(args)})"

    def arity(name):
        counts = FUNCTIONS[name][1]
        return counts if isinstance(counts, tuple) else (counts,)

    return st.sampled_from(sorted(FUNCTIONS)).flatmap(
        lambda name: st.sampled_from(arity(name)).flatmap(
            lambda n: st.tuples(st.just(name), st.lists(inner, min_size=n, max_size=n)))
    ).map(call)


def _expressions():
    leaves = NUMBERS | NAMES
    return st.recursive(leaves, lambda inner: st.one_of(
        st.tuples(inner, SPACE, st.sampled_from(["+", "-", "*", "/", "**", "^"]), SPACE,
                  inner).map("".join),
        st.tuples(st.sampled_from(["-", "+"]), inner).map("".join),
        inner.map(lambda t: f"({t})"),
        _calls(inner)), max_leaves=12)


def _deep(expression: str, depth: int, wrapper: str) -> str:
    opening, closing = {"parentheses": ("(", ")"), "signs": ("-", ""), "calls": ("tanh(", ")"),
                        "powers": ("x**", ""), "sums": ("x+", "")}[wrapper]
    return opening * depth + expression + closing * depth


def _differentiate(text: str, order: int) -> None:
    """Parse and differentiate; anything but a documented error fails the test."""
    try:
        expression = parse(text)
        point = {name: 0.75 for name in expression.variables}
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # nan and inf are answers
            expression.value(point)
            if expression.variables:
                expression.gradient(point)
                if order >= 2:
                    expression.hessian(point)
                if order >= 3:
                    expression.derivative(point, [expression.variables[0]] * 3)
    except TapecliError as e:
        assert str(e)  # a message to show


@FAST
@given(_expressions())
def test_expressions_from_the_grammar_parse_and_differentiate(text):
    _differentiate(text, order=3)


@settings(max_examples=25, deadline=None)
@given(_expressions(), st.integers(0, 3000),
       st.sampled_from(["parentheses", "signs", "calls", "powers", "sums"]))
def test_deep_and_long_expressions_parse_and_differentiate(text, depth, wrapper):
    _differentiate(_deep(f"({text})", depth, wrapper), order=1)


# ---- arbitrary text and bytes ---------------------------------------------------------------
ANY_TEXT = st.one_of(
    st.text(),                                                   # any Unicode, NUL, controls
    st.text(st.characters(codec=None, categories=None)),         # lone surrogates too
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),  # invalid UTF-8 as argv has it
    st.lists(st.sampled_from(["x", "1", "(", ")", "+", "-", "*", "**", "^", ",", "sin", " ",
                              "e", ".", "١", "\x00", "\n", "pi", "log(", "2e"])).map("".join))


@FAST
@given(ANY_TEXT)
def test_arbitrary_text_gives_an_expression_or_a_caret_error(text):
    try:
        expression = parse(text)
    except ExpressionSyntaxError as e:
        assert 1 <= e.column <= len(text) + 1
        lines = str(e).splitlines()
        assert lines[2].strip() == "^" and len(lines[1]) < 200
    except UsageError as e:  # too long, or not text
        assert "limit" in str(e)
    else:
        assert all(name.isascii() for name in expression.variables)


@pytest.mark.parametrize("value", [b"x+1", 3, None, ["x"]])
def test_what_is_not_text_is_a_usage_error(value):
    with pytest.raises(UsageError, match="an expression is text"):
        parse(value)


# ---- arbitrary CSV bytes into the batch reader ------------------------------------------------
def _reference(body: bytes) -> tuple[list[float], int | None]:
    """The values of x, line by line, until the first line that breaks a rule,
    and that line's number: a plain Python reading of the rules of README's
    batch section, with pyarrow converting one cell at a time."""
    values = []
    for i, line in enumerate(body.split(b"\n")):
        number = i + 2  # the header x,s is line 1
        if i == body.count(b"\n") and not line:
            break  # after the final newline
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        if b"\r" in line:
            return values, number
        fields, field, state, k = [], b"", "start", 0
        while k < len(line):  # a quote opens a field only at its start; "" inside is a quote
            c = line[k:k + 1]
            k += 1
            if state == "quoted":
                if c == b'"' and line[k:k + 1] == b'"':
                    field, k = field + c, k + 1
                elif c == b'"':
                    state = "after the quote"
                else:
                    field += c
            elif c == b",":
                fields.append(field)
                field, state = b"", "start"
            elif c == b'"' and state == "start":
                state = "quoted"
            else:
                field += c
                state = "unquoted" if state == "start" else state
        if state == "quoted":
            return values, number
        fields.append(field)
        if len(fields) != 2:
            return values, number
        try:
            cell = pa_csv.read_csv(io.BytesIO(b"x\n" + _quoted(fields[0]) + b"\n"),
                                   convert_options=pa_csv.ConvertOptions(
                                       column_types={"x": pa.float64()}, null_values=[],
                                       strings_can_be_null=False))
        except pa.ArrowInvalid:
            return values, number
        if cell.num_rows != 1:
            return values, number
        values.append(cell.column("x")[0].as_py())
    return values, None


def _quoted(field: bytes) -> bytes:
    return b'"' + field.replace(b'"', b'""') + b'"'


TOKENS = [b"1", b"2.5", b"-3e2", b"nan", b"inf", b" ", b",", b'"', b'""', b"\r", b"\n", b"\r\n",
          b"\n\n", b"x", b"\xff", b"\x00", b"e", b".", b"+", b"ab"]
CSV_BODIES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(TOKENS), max_size=120).map(b"".join),
    st.lists(st.tuples(st.sampled_from([b"1", b"2.5", b"-0", b"1e3", b" 7 ", b'"4"']),
                       st.sampled_from([b"a", b'"b,c"', b'"d""e"', b"f\"g", b'"h', b"i\rj", b""]),
                       st.sampled_from([b"\n", b"\r\n"])).map(lambda t: t[0] + b"," + t[1] + t[2]),
             max_size=60).map(b"".join))


def _output_values(path) -> list[float]:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return [float(row[0]) for row in rows[1:]]


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


@FAST
@given(body=CSV_BODIES, block=st.sampled_from([8, 32, 1 << 20]))
def test_arbitrary_csv_bytes_give_the_reference_rows_then_a_line_numbered_error(
        tmp_path_factory, body, block):
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "in.csv").write_bytes(b"x,s\n" + body)
    expected, bad_line = _reference(body)
    original = batch_input.CSV_BLOCK_BYTES
    batch_input.CSV_BLOCK_BYTES = block
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            run_batch(Job.create("eval", [parse("x")], None, None), str(directory / "in.csv"),
                      output=str(directory / "out.csv"), fmt=None, keep_input=False,
                      strict=False)
        error = None
    except DataError as e:
        error = e
    finally:
        batch_input.CSV_BLOCK_BYTES = original
    written = _output_values(directory / "out.csv")
    assert _same(written, expected), (written, expected)  # none lost, none duplicated
    if bad_line is None:
        assert error is None, str(error)
    else:
        assert error is not None and str(error).startswith(f"line {bad_line}"), \
            (bad_line, str(error))


# ---- plot ranges and widths (#22) -------------------------------------------------------------
PLOTTED = [parse(t) for t in ("x", "x**2", "sin(x)", "1/x", "exp(x)", "log(x)")]
ENDS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                 st.sampled_from([0.0, 5e-324, -5e-324, 1e308, -1e308, 1.7e308, -1.7e308,
                                  1e-300, 1.8414267623051274e-10, -0.014279053749542098]))


@FAST
@given(ENDS, ENDS, st.integers(2, 80), st.integers(1, 100), st.sampled_from(PLOTTED))
def test_any_plot_range_and_width_gives_a_picture_or_one_documented_error(
        start, stop, points, columns, expr):
    # Ranges near float64's limits once failed in numpy (overflow), uniplot (no active
    # exception, a line drawn pixel by pixel to 1e300) or gave nan samples.
    from tapecli.plot import sample
    from tapecli.plot_draw import terminal_text

    if start >= stop:
        return  # parse_over refuses it first
    try:
        with np.errstate(all="ignore"):
            samples = sample(expr, "x", start, stop, points, 1)
    except UsageError as e:
        assert "too narrow" in str(e)
        return
    assert samples.x[0] == start and samples.x[-1] == stop
    assert np.all(np.diff(samples.x) > 0)
    try:
        text = terminal_text(samples, columns=columns, lines=24)
    except DataError as e:
        assert str(e).startswith("cannot draw the plot in the terminal: uniplot failed (")
        return
    assert expr.text in text and "df/dx" in text
