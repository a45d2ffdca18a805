"""`--formula` output: a Job's results as formulas, in table, json or latex lines.

The formulas come from tapecli.formula (the tape's graph read back as
expressions); their names and JSON layout come from the Job, as for numbers
(`key_names`, `json_fields`), so `df/dx`, `d2f/dxdy` and the JSON keys are the
ones the numeric output uses.
"""

from __future__ import annotations

from itertools import product
from typing import TextIO

from . import formats, formula
from .commands import result
from .jobs import CONSTANT, RESULT
from .names import runs

FORMATS = tuple(f.name for f in formats.having("formulas"))


def formulas(job) -> dict[str, object]:
    """The job's results as nested lists of Expressions, keyed as `job.keys`: each
    key's formula counterpart from its row (tapecli.commands.RESULTS)."""
    return {key: result(key).formulas(job) for key in job.keys}


def _flat(nested) -> list:
    if isinstance(nested, list):
        return [x for item in nested for x in _flat(item)]
    return [nested]


def _strings(nested):
    return [_strings(x) for x in nested] if isinstance(nested, list) else str(nested)


def _latex_names(job, key: str) -> list[str]:
    """\\frac{\\partial^{2} f}{\\partial x \\partial y} for each entry of `key`, row-major."""
    fs = [f"f_{{{i + 1}}}" for i in range(len(job.expressions))] if job.command.many else ["f"]
    order = result(key).order
    if order is None:  # one derivative along the whole sequence
        sequences = [job.sequence]
    else:
        sequences = list(product(job.variables, repeat=order))
    return [_partial(f, wrt) for f in fs for wrt in sequences]


def _partial(f: str, wrt) -> str:
    k = len(wrt)
    if k == 0:
        return f
    top = r"\partial " + f if k == 1 else rf"\partial^{{{k}}} {f}"
    bottom = " ".join(rf"\partial {formula.to_latex_name(n)}" + (f"^{{{m}}}" if m > 1 else "")
                      for n, m in runs(wrt))
    return rf"\frac{{{top}}}{{{bottom}}}"


def write_formulas(job, fmt: str, stream: TextIO) -> None:
    """The formulas of `job` in `fmt`, a format with a formulas writer
    (tapecli.formats): table (`df/dx = ...` lines), json (the single-point object
    with strings and no point) or latex ($$ ... $$ lines)."""
    formats.BY_NAME[fmt].writer("formulas")(job, formulas(job), stream)


def write_json(job, results: dict, stream: TextIO) -> None:
    import json

    obj = {}
    for name, kind, constant in job.json_fields():
        if kind == CONSTANT:
            obj[name] = constant
        elif kind == RESULT:
            obj[name] = _strings(results[name])
    stream.write(json.dumps(obj) + "\n")


def write_latex(job, results: dict, stream: TextIO) -> None:
    for key in job.keys:
        names = _latex_names(job, key)
        stream.writelines(f"$$ {n} = {e.latex()} $$\n" for n, e in zip(names, _flat(results[key])))


def write_table(job, results: dict, stream: TextIO) -> None:
    for key in job.keys:
        stream.writelines(f"{n} = {e}\n" for n, e in zip(job.key_names(key), _flat(results[key])))
