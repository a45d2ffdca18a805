"""Text to Expression: the grammar of grammar/expr.lark, and errors that point at the column."""

from __future__ import annotations

import functools
import re

from .errors import ExpressionSyntaxError, UsageError
from . import expression as _expression_module
from .expression import FUNCTIONS, Expression, ExpressionBuilder
from .lalr import END, ParseError, Parser, load_parser

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
def _parser() -> Parser:
    return load_parser()


def _actions(builder: ExpressionBuilder) -> dict:
    """One action per `->` alias of the grammar, each adding a node, as the LALR
    parser reduces: bottom-up in a loop, never by recursion, so 100,000 nested
    parentheses or signs are no problem, and no parse tree is built."""
    def binary(kind):
        return lambda a, b: builder.operator(kind, [a, b])

    return {
        "number": lambda token: builder.constant(float(token)),
        "name": builder.name,
        "call": lambda token, *args: builder.call(token, list(args)),
        "pos": lambda operand: operand,
        "neg": lambda operand: builder.operator("neg", [operand]),
        **{kind: binary(kind) for kind in ("add", "sub", "mul", "div", "pow")},
    }


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
    if not text.strip():
        raise ExpressionSyntaxError(text, 1, "empty expression", "an expression such as x**2")
    if len(text) > MAX_LENGTH:
        raise UsageError(f"the expression is {len(text):,} characters long; "
                         f"the limit is {MAX_LENGTH:,}")
    builder = ExpressionBuilder(text)
    try:
        root = _parser().parse(text, _actions(builder))
    except ParseError as e:
        raise _syntax_error(text, e) from None
    return builder.finish(root)


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


def _syntax_error(text: str, error: ParseError) -> ExpressionSyntaxError:
    token, accepts, last = error.token, error.accepts, error.last
    if token is None:
        foreign = _foreign_digit_at(text, error.pos)
    elif (token.type == "NAME" and str(token) in ("e", "E") and last is not None
          and last.type == "NUMBER" and last.end_pos == token.start_pos):  # 1e５, 1e-５
        sign = text[token.end_pos:token.end_pos + 1] in ("+", "-")
        foreign = _foreign_digit_at(text, token.end_pos + sign)
    else:
        foreign = None
    if foreign is not None:
        # １２, ٣, or the exponent of 1e５: float() would read them, the language does not.
        import unicodedata  # only errors need it

        digit = text[foreign]
        return ExpressionSyntaxError(
            text, foreign + 1, f"{digit!r} is not an ASCII digit", _expected(accepts)
            if token is None else "", f"numbers are written with the digits 0-9 "
            f"({digit!r} is {unicodedata.name(digit, 'a digit').lower()})")
    if token is None:
        return ExpressionSyntaxError(text, error.pos + 1,
                                     f"unexpected character {text[error.pos]!r}",
                                     _expected(accepts))
    if token.type == END:
        return ExpressionSyntaxError(text, len(text) + 1, "unexpected end of expression",
                                     _expected(accepts))
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


def _foreign_digit_at(text: str, pos: int) -> int | None:
    """`pos` if a decimal digit other than 0-9 stands there (the lexer takes only those)."""
    if pos < len(text) and text[pos].isdecimal() and not text[pos].isascii():
        return pos
    return None


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


_expression_module._parse = parse  # Expression.parse, for formulas read back as text
