"""The few pyarrow compute kernels that batches use, called directly.

`import pyarrow.compute` wraps some 300 kernels in Python functions with
docstrings scraped at import time: tens of milliseconds of every batch's
start-up, more than a 100,000-row batch spends formatting its numbers. The
kernels themselves live in pyarrow's compiled `_compute` module, which loads in
a few milliseconds; `call_function` is the same entry point that
`pyarrow.compute` exports. Like every pyarrow kernel, these release the GIL.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

try:
    from pyarrow._compute import (
        CastOptions,
        MatchSubstringOptions,
        ReplaceSubstringOptions,
        SplitPatternOptions,
        call_function,
    )
except ImportError:  # a pyarrow that moved its internals: the public module has them
    from pyarrow.compute import (
        CastOptions,
        MatchSubstringOptions,
        ReplaceSubstringOptions,
        SplitPatternOptions,
        call_function,
    )


def _arrow(value):
    """An arrow array or scalar for a numpy array, a str or bytes literal, or itself."""
    if isinstance(value, np.ndarray):
        return pa.array(value)
    if isinstance(value, str):
        return pa.scalar(value, pa.string())
    if isinstance(value, bytes):
        return pa.scalar(value, pa.binary())
    return value


def cast(values, target: pa.DataType, safe: bool = True):
    options = CastOptions.safe(target) if safe else CastOptions.unsafe(target)
    return call_function("cast", [_arrow(values)], options)


def if_else(condition, when_true, when_false):
    return call_function("if_else", [_arrow(condition), _arrow(when_true), _arrow(when_false)])


def join_each(pieces, separator: str | bytes):
    """Row by row, the pieces (arrays or literals) joined by `separator`."""
    return call_function("binary_join_element_wise", [*map(_arrow, pieces), _arrow(separator)])


def join_lists(lists, separator: str | bytes):
    """Each list's values joined by `separator`."""
    return call_function("binary_join", [lists, _arrow(separator)])


def matches(values, regex: str):
    return call_function("match_substring_regex", [values], MatchSubstringOptions(regex))


def replace(values, pattern: str, replacement: str, *, regex: bool = False):
    kernel = "replace_substring_regex" if regex else "replace_substring"
    return call_function(kernel, [values], ReplaceSubstringOptions(pattern, replacement))


def any_true(mask) -> bool:
    return bool(call_function("any", [mask]).as_py())


def is_valid(values):
    return call_function("is_valid", [values])


def is_null(values):
    return call_function("is_null", [values])


def split(values, pattern: bytes | str):
    return call_function("split_pattern", [values], SplitPatternOptions(pattern))


def flatten(lists):
    return call_function("list_flatten", [lists])


def keep(values, mask):
    """The values where `mask` is true."""
    return call_function("filter", [values, _arrow(mask)])


def lengths(values) -> np.ndarray:
    return call_function("binary_length", [values]).to_numpy(zero_copy_only=False)
