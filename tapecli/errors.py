"""The errors a user can cause, each with the exit status the CLI gives it."""

from __future__ import annotations


class TapecliError(Exception):
    """Base of every error caused by user input; `exit_code` is the CLI's status."""

    exit_code = 1


class UsageError(TapecliError):
    """The request itself is wrong: an expression that does not parse, an unknown
    function, a bad option (exit status 2)."""

    exit_code = 2


class ExpressionSyntaxError(UsageError):
    """The expression does not parse; the message draws a caret under the column."""

    def __init__(self, text: str, column: int, problem: str, expected: str = ""):
        self.text, self.column, self.problem, self.expected = text, column, problem, expected
        lines = [f"{problem} (column {column})", f"  {text}", "  " + " " * (column - 1) + "^"]
        if expected:
            lines.append(f"expected {expected}")
        super().__init__("\n".join(lines))


class DataError(TapecliError):
    """The data is wrong: a variable without a value, a malformed row, a domain
    error in strict mode (exit status 1)."""

    exit_code = 1
