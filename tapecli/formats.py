"""The output formats as one table: a format's name, the file extensions that ask
for it, and what writes it for one point, a batch, formulas and a plot.

Every module that writes results reads this table (the CLI's `--format`
choices, one point's output, batch and dataset output, `--formula`, `plot`);
none switches on a format's name, so a new format is one row here plus its
writers. Writers are named as `module.attribute` of tapecli and imported when
used: the table costs nothing at start-up, and pyarrow or matplotlib load only
for the formats that need them.
"""

# No `from __future__ import annotations` here: NamedTuple would compile every
# field's annotation string at import, which start-up pays for.
import importlib
from typing import NamedTuple


class Format(NamedTuple):
    """One output format: a row of FORMATS.

    `reader`: the reader class of tapecli.batch_input for a batch's input file;
    `point`: `write(job, result, point, stream, echo)` for one point's results;
    `batch`: a writer class of tapecli.batch_output (`encode` a block, `write` it);
    `formulas`: `write(job, formulas, stream)` for `--formula`;
    `plot`: what `tapecli plot` makes in this format: "terminal" (a drawing on
    stdout), "samples" (the sampled numbers) or "image" (a picture file).
    `option`: a choice of `--format` (else only an `--output` extension asks for it).
    `describe`: how an error names it, where its name is not enough.
    """

    name: str
    extensions: tuple = ()
    reader: str | None = None
    point: str | None = None
    batch: str | None = None
    formulas: str | None = None
    plot: str | None = None
    option: bool = True
    describe: str | None = None

    def writer(self, kind: str):
        """The reader or writer of `kind` ("reader", "point", "batch", "formulas"),
        imported now."""
        reference = getattr(self, kind)
        if reference is None:
            raise ValueError(f"format {self.name!r} has no {kind} writer")
        module, _, attribute = reference.rpartition(".")
        return getattr(importlib.import_module(f"tapecli.{module}"), attribute)


FORMATS = (
    Format("table", point="output.write_table", formulas="formula_output.write_table",
           plot="terminal"),
    Format("csv", (".csv",), reader="batch_input.CsvReader", point="output.write_csv", batch="batch_output.CsvOutput",
           plot="samples"),
    Format("json", (".json",), point="output.write_json", formulas="formula_output.write_json",
           describe="JSON lines: .jsonl"),
    Format("jsonl", (".jsonl",), point="output.write_jsonl", batch="batch_output.JsonlOutput"),
    Format("latex", formulas="formula_output.write_latex"),
    Format("parquet", (".parquet",), reader="batch_input.ParquetReader", batch="batch_output.ParquetOutput", option=False,
           describe="Parquet"),
    Format("png", (".png",), plot="image", option=False),
    Format("svg", (".svg",), plot="image", option=False),
    Format("pdf", (".pdf",), plot="image", option=False),
)

BY_NAME = {f.name: f for f in FORMATS}
# The choices of --format.
CHOICES = tuple(f.name for f in FORMATS if f.option)


def having(kind: str) -> list[Format]:
    """The formats with a `kind` ("reader", "point", "batch", "formulas"), in table order."""
    return [f for f in FORMATS if getattr(f, kind) is not None]


def plotted(*what: str) -> list[Format]:
    """The formats in which plot makes one of `what` ("terminal", "samples", "image")."""
    return [f for f in FORMATS if f.plot in what]


def of_path(path: str | None, among: list[Format] | tuple = FORMATS) -> Format | None:
    """The format of `among` that a file's extension asks for, if any ("-": stdout, none)."""
    if path in (None, "-"):
        return None
    lower = path.lower()
    return next((f for f in among for e in f.extensions if lower.endswith(e)), None)


def listing(names: list[str], last: str = "or") -> str:
    """'csv', 'csv or jsonl', 'table, csv, json or jsonl'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
