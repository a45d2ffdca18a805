"""Text to Expression: the lark grammar, and errors that point at the column."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .errors import ExpressionSyntaxError
from .expression import Expression, ExpressionBuilder

# How the grammar's terminals read in "expected ..." messages.
_TERMINAL_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "__ANON_0": "'**'", "CIRCUMFLEX": "'^'", "COMMA": "','",
    "LPAR": "'('", "RPAR": "')'", "$END": "the end of the expression",
}
_NUMBER_AT_END = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


@functools.cache
def _lark():
    import lark  # deferred: only parsing needs it

    grammar = _grammar_path().read_text(encoding="utf-8")
    # cache=True stores the LALR tables in the temp dir: later processes skip building them.
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True)


def _grammar_path() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "grammar" / "expr.lark"  # a wheel ships it inside the package
    return installed if installed.exists() else package.parent / "grammar" / "expr.lark"


def parse(text: str) -> Expression:
    """Parse `text` into an immutable Expression, or raise a UsageError saying why."""
    import lark

    if not text.strip():
        raise ExpressionSyntaxError(text, 1, "empty expression", "an expression such as x**2")
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedCharacters as e:
        raise ExpressionSyntaxError(
            text, e.column, f"unexpected character {text[e.pos_in_stream]!r}",
            "numbers, names, function calls, + - * / ** ^ and parentheses") from None
    except lark.exceptions.UnexpectedEOF as e:
        raise ExpressionSyntaxError(text, len(text) + 1, "unexpected end of expression",
                                    _expected(e.expected)) from None
    except lark.exceptions.UnexpectedToken as e:
        raise _token_error(text, e) from None
    return _build(text, tree)


def _expected(terminals) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, t) for t in terminals if not t.startswith("__IGNORE")})
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _token_error(text: str, e) -> ExpressionSyntaxError:
    token = e.token
    if token.type == "$END":
        return ExpressionSyntaxError(text, len(text) + 1, "unexpected end of expression",
                                     _expected(e.expected))
    before = text[:token.start_pos]
    number = _NUMBER_AT_END.search(before)
    if number and token.type in ("NAME", "LPAR"):
        left = number.group(0).rstrip()
        return ExpressionSyntaxError(
            text, token.column, f"implicit multiplication is not supported: write {left}*{token}",
            f"an operator between {left!r} and {str(token)!r}, such as {left}*{token}")
    return ExpressionSyntaxError(text, token.column, f"unexpected {str(token)!r}",
                                 _expected(e.expected))


def _build(text: str, tree) -> Expression:
    """Turn the parse tree into an Expression, bottom-up and without recursion,
    so that 100,000 nested parentheses or signs are no problem."""
    builder = ExpressionBuilder(text)
    index: dict[int, int] = {}  # id(subtree) -> node
    for subtree in tree.iter_subtrees():  # children before parents
        kind, children = subtree.data, subtree.children
        if kind == "number":
            node = builder.constant(float(children[0]))
        elif kind == "name":
            node = builder.name(children[0])
        elif kind == "call":
            name, args = children[0], [c for c in children[1:] if c is not None]
            node = builder.call(name, [index[id(a)] for a in args])
        elif kind == "pos":
            node = index[id(children[0])]
        else:
            node = builder.operator(kind, [index[id(c)] for c in children])
        index[id(subtree)] = node
    return builder.finish(index[id(tree)])
