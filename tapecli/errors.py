"""The errors a user can cause, each with the exit status the CLI gives it."""

from __future__ import annotations

import re

# How much of a long expression an error message shows around the caret.
_EXCERPT_WIDTH = 72


class TapecliError(Exception):
    """Base of every error caused by user input; `exit_code` is the CLI's status."""

    exit_code = 1


class UsageError(TapecliError):
    """The request itself is wrong: an expression that does not parse, an unknown
    function, a bad option (exit status 2)."""

    exit_code = 2


class ExpressionSyntaxError(UsageError):
    """The expression is wrong at a column: the message draws the expression with
    a caret under that column, then says what was expected there and any hint.

    `column` counts characters from 1 across the whole text (newlines included).
    """

    def __init__(self, text: str, column: int, problem: str, expected: str = "",
                 hint: str = ""):
        self.text, self.column, self.problem = text, column, problem
        self.expected, self.hint = expected, hint
        shown, caret = excerpt(text, column)
        lines = [f"{problem} (column {column})", f"  {shown}", "  " + " " * (caret - 1) + "^"]
        if expected:
            lines.append(f"expected {expected}")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def excerpt(text: str, column: int, width: int = _EXCERPT_WIDTH) -> tuple[str, int]:
    """One line of at most about `width` characters of `text` around `column`,
    and the caret's column in it. Whitespace becomes spaces so the caret lines up."""
    flat = re.sub(r"\s", " ", text)
    if len(flat) <= width:
        return flat, column
    start = max(0, min(column - 1 - width // 2, len(flat) - width))
    end = start + width
    shown = flat[start:end]
    caret = column - start
    if start > 0:
        shown, caret = "..." + shown, caret + 3
    if end < len(flat):
        shown += "..."
    return shown, caret


def readable(text: str) -> str:
    """A name for a message: as it is when every character prints, else quoted
    with escapes (a NUL in a header name is 'x\\x00', not an invisible byte)."""
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def listing(names, most: int = 10) -> str:
    """Names for a message, `a, b, c`: each readable, and past `most` the first
    ones and a count (a 100,000-column header is not a 789 KB line)."""
    names = list(names)
    shown = ", ".join(readable(str(n)) for n in names[:most])
    if len(names) > most:
        shown += f", ... ({len(names):,} in all)"
    return shown


class DataError(TapecliError):
    """The data is wrong: a variable without a value, a malformed row, a domain
    error in strict mode (exit status 1)."""

    exit_code = 1
