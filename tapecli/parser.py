"""Text to Expression: the lark grammar, and errors that point at the column."""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

from .errors import ExpressionSyntaxError, UsageError
from .expression import FUNCTIONS, Expression, ExpressionBuilder

# Parsing is linear, but a million characters already take seconds: refuse
# more with a clear message rather than look hung.
MAX_LENGTH = 1_000_000

# How the grammar's terminals read in "expected ..." messages.
_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "_POWER": "'**'", "COMMA": "','", "LPAR": "'('", "RPAR": "')'",
    "$END": "the end of the expression",
}
_BINARY_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "_POWER"}
_OPERAND_STARTS = {"NUMBER", "NAME", "LPAR"}
_WHITESPACE_AT_END = re.compile(r"\s*$")


@functools.cache
def _lark(transformer=None):
    """The LALR parser; with a transformer, it builds the Expression as it reduces."""
    import lark  # deferred: only parsing needs it

    grammar = _grammar_path().read_text(encoding="utf-8")
    # cache=True stores the LALR tables in the temp dir: later processes skip building them.
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True,
                     transformer=transformer)


# The ExpressionBuilder of the parse in progress: the parser is shared, parses are not.
_current = threading.local()


@functools.cache
def _builder_parser():
    """The parser that builds the Expression as it reduces, as in lark's calc example.

    LALR reductions run bottom-up in a loop, never by recursion, so 100,000
    nested parentheses or signs are no problem, and no parse tree is built.
    """
    import lark

    @lark.v_args(inline=True)
    class ToExpression(lark.Transformer):
        """One method per `->` alias of the grammar, each adding a node."""

        def number(self, token):
            return _current.builder.constant(float(token))

        def name(self, token):
            return _current.builder.name(token)

        def call(self, token, *args):
            return _current.builder.call(token, [a for a in args if a is not None])

        def pos(self, operand):
            return operand

        def add(self, a, b):
            return _current.builder.operator("add", [a, b])

        def sub(self, a, b):
            return _current.builder.operator("sub", [a, b])

        def mul(self, a, b):
            return _current.builder.operator("mul", [a, b])

        def div(self, a, b):
            return _current.builder.operator("div", [a, b])

        def pow(self, a, b):
            return _current.builder.operator("pow", [a, b])

        def neg(self, a):
            return _current.builder.operator("neg", [a])

    return _lark(ToExpression())


def _grammar_path() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "grammar" / "expr.lark"  # a wheel ships it inside the package
    return installed if installed.exists() else package.parent / "grammar" / "expr.lark"


def parse(text: str) -> Expression:
    """Parse `text` into an immutable Expression, or raise a UsageError saying why."""
    if not isinstance(text, str):
        raise UsageError(f"an expression is text, not {type(text).__name__}")
    return _parse_cached(text) if len(text) <= _CACHED_LENGTH else _parse(text)


# Expressions are immutable, so one parse serves every later call with the same
# text (and the compiled plans cached against it); huge texts are not kept.
_CACHED_LENGTH = 10_000


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Expression:
    return _parse(text)


def _parse(text: str) -> Expression:
    import lark

    if not text.strip():
        raise ExpressionSyntaxError(text, 1, "empty expression", "an expression such as x**2")
    if len(text) > MAX_LENGTH:
        raise UsageError(f"the expression is {len(text):,} characters long; "
                         f"the limit is {MAX_LENGTH:,}")
    builder = _current.builder = ExpressionBuilder(text)
    try:
        root = _builder_parser().parse(text)
    except lark.exceptions.UnexpectedCharacters as e:
        accepts, _ = _state_before(text, e.pos_in_stream)
        raise ExpressionSyntaxError(text, e.pos_in_stream + 1,
                                    f"unexpected character {text[e.pos_in_stream]!r}",
                                    _expected(accepts)) from None
    except lark.exceptions.UnexpectedToken as e:
        raise _token_error(text, e.token) from None
    except lark.exceptions.UnexpectedEOF:  # not raised by LALR, but part of lark's contract
        accepts, _ = _state_before(text, len(text))
        raise ExpressionSyntaxError(text, len(text) + 1, "unexpected end of expression",
                                    _expected(accepts)) from None
    finally:
        _current.builder = None
    return builder.finish(root)


def _state_before(text: str, end: int) -> tuple[set[str], object]:
    """The terminals the parser accepts after `text[:end]`, and the last token there.

    Asked at the moment of the error, LALR has already made the reductions its
    lookahead allowed, and only offers what could follow those; parsing the
    valid prefix again gives the full choice at that point.
    """
    import lark

    parser = _lark().parse_interactive(text[:end])
    last = None
    try:
        for last in parser.iter_parse():
            pass
    except lark.exceptions.UnexpectedInput:  # cannot happen for a prefix that parsed
        return set(), last
    return parser.accepts(), last


def _expected(accepts: set[str]) -> str:
    """'an operator (+ - * / ** ^), ')' or ','' from a set of terminal names."""
    accepts = set(accepts)
    words = []
    if _BINARY_OPERATORS <= accepts:  # after an operand
        words.append("an operator (+ - * / ** ^)")
        accepts -= _BINARY_OPERATORS
    if _OPERAND_STARTS <= accepts:  # where an operand must start
        words.append("a number, a name, a sign or '('")
        accepts -= _OPERAND_STARTS | {"PLUS", "MINUS"}
    words += sorted(_TERMINAL_WORDS.get(t, t) for t in accepts if not t.startswith("__IGNORE"))
    if not words:
        return ""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def _token_error(text: str, token) -> ExpressionSyntaxError:
    if token.type == "$END":
        accepts, _ = _state_before(text, len(text))
        return ExpressionSyntaxError(text, len(text) + 1, "unexpected end of expression",
                                     _expected(accepts))
    accepts, last = _state_before(text, token.start_pos)
    column = token.start_pos + 1
    expected = _expected(accepts)
    if token.type in ("NAME", "LPAR") and "STAR" in accepts:
        # A name or '(' right after a complete operand: 2x, 2 (x+1), (a)(b), sin x.
        # (Two numbers in a row, as in 1..2, are more likely a typo.)
        if last is not None and last.type == "NAME" and str(last) in FUNCTIONS \
                and token.type != "LPAR":
            return ExpressionSyntaxError(
                text, column, f"{last}() is a function: its argument goes in parentheses",
                expected, f"write {last}({token})")
        fixed = _excerpt_with_star(text, token.start_pos)
        hint = f"write {fixed}"
        if last is not None and last.type == "NUMBER" and str(token)[:1] in "eE":
            hint += f" (or, for a power of ten, digits after the e: {last}e3)"
        return ExpressionSyntaxError(
            text, column, f"implicit multiplication is not supported: missing operator "
            f"before {str(token)!r}", expected, hint)
    return ExpressionSyntaxError(text, column, f"unexpected {str(token)!r}", expected)


def _excerpt_with_star(text: str, at: int, width: int = 30) -> str:
    """The text with '*' put in before position `at`, cut to a window around it."""
    left = text[:at]
    left = left[:_WHITESPACE_AT_END.search(left).start()]
    right = text[at:]
    shown_left = left[-width:] if len(left) > width else left
    shown_right = right[:width] if len(right) > width else right
    fixed = f"{shown_left}*{shown_right}"
    fixed = ("..." if len(shown_left) < len(left) else "") + fixed + \
        ("..." if len(shown_right) < len(right) else "")
    return re.sub(r"\s+", " ", fixed)
