"""Fuzz the expression parser and the derivative drivers: any bytes, decoded as
a command line decodes them, give an Expression (which then differentiates) or
a TapecliError with a caret; anything else is a crash that the fuzzer reports."""

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tapecli import parse  # noqa: E402
from tapecli.errors import ExpressionSyntaxError, TapecliError  # noqa: E402

warnings.simplefilter("ignore", RuntimeWarning)  # nan and inf are answers
np.seterr(all="ignore")


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    try:
        expression = parse(text)
        point = {name: 0.5 for name in expression.variables}
        expression.value(point)
        if expression.variables and len(text) < 2000:
            expression.hessian(point)
    except ExpressionSyntaxError as e:
        assert 1 <= e.column <= len(text) + 1, (text, e.column)
        assert str(e).splitlines()[2].strip() == "^"
    except TapecliError:
        pass


if __name__ == "__main__":
    from _driver import run

    run(one_input, [b"x**2+3*x+1", b"sin(x)*exp(y)", b"log(x, 2)", b"2**-x^y", b"atan2(y, x)",
                    b"((((x))))", b"-+-x", b"1e-3*.5/3.", b"min(x, max(y, 2))"])
