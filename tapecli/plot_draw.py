"""Drawing a plot's samples: matplotlib for PNG, SVG and PDF files, uniplot in the terminal.

Both libraries come with the optional extra `plot` (`pip install "tapecli[plot]"`)
and are imported here, inside the functions that draw, never at `import tapecli`
or on another command's path: matplotlib alone takes a few hundred milliseconds
to import. What to draw (the samples, their names, the y range, the gaps) comes
from tapecli.plot; this module only lays it out.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
from typing import TextIO

import numpy as np

from .errors import DataError, TapecliError, UsageError
from .formats import BY_NAME as BY_FORMAT
from .formats import listing, of_path, plotted
from .output import write_to
from .plot import FILE_POINTS, POINTS_PER_COLUMN, Samples, drawable, view_range, write_csv

INSTALL = 'pip install "tapecli[plot]"'
TERMINAL = "terminal"  # where a plot goes without --output: drawn on stdout

# Plain mode: uniplot's box-drawing frame as ASCII, so that the picture is
# plain characters through any pipe or encoding.
_ASCII_FRAME = str.maketrans("┌┐└┘─│┬┴├┤┼", "++++-|+++++")
# Rows of the plotting area: the terminal's height less the title, axis and
# legend lines, kept between a readable minimum and a screenful.
_MIN_ROWS, _MAX_ROWS, _OTHER_LINES = 8, 20, 8
# Narrower than this, uniplot fails (at 1 to 4 columns) or draws nothing a
# reader can use: the plot is drawn this wide and the terminal wraps it.
MIN_COLUMNS = 20
# What uniplot and matplotlib raise on data they cannot lay out (ranges near
# float64's limits): caught where they are called, and said in one line.
_DRAWING_ERRORS = (ValueError, ArithmeticError, RuntimeError, IndexError, TypeError)


class MissingExtra(TapecliError):
    """The drawing libraries are not installed (exit status 1)."""


def _library(name: str):
    """Import one of the `plot` extra's libraries, or say how to install them."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtra(f"plotting needs {name.partition('.')[0]}, which is not "
                           f"installed: {INSTALL}") from None


def image_format(path: str) -> str:
    """The picture format (png, svg, pdf: tapecli.formats) of the file's extension;
    any other is a usage error."""
    found = of_path(path, plotted("image"))
    if found is None:
        extension = os.path.splitext(path)[1].lower().lstrip(".")
        shown = f".{extension}" if extension else "no extension"
        files = listing([e for f in plotted("image", "samples") for e in f.extensions])
        raise UsageError(f"--output {path}: {shown} is not a picture or CSV file "
                         f"(write {files})")
    return found.name


# -- where the plot goes ---------------------------------------------------------------

def target(output: str | None, fmt: str | None) -> str:
    """Where `--output` and `--format` send the plot: `terminal` (a drawing on
    stdout), or the format of tapecli.formats it is written in: the samples
    (csv) or a picture file (png, svg, pdf)."""
    path = None if output in (None, "-") else output
    asked = BY_FORMAT.get(fmt) if fmt is not None else None
    if fmt is not None and (asked is None or asked.plot is None):
        choices = {f.plot: f.name for f in plotted("terminal", "samples")}
        raise UsageError(f"--format {fmt}: plot draws ({choices['terminal']}, the default) "
                         f"or writes its samples ({choices['samples']})")
    by_path = of_path(path, plotted("samples"))
    if (asked is not None and asked.plot == "samples") or by_path is not None:
        if path is not None and by_path is None:
            raise UsageError(f"--format {fmt} does not match --output {path}")
        if asked is not None and asked.plot != "samples":
            raise UsageError(f"--format {fmt} does not match --output {path}")
        return by_path.name if by_path is not None else asked.name
    if path is None:
        return TERMINAL
    image = image_format(path)
    if asked is not None:
        raise UsageError(f"--format {fmt} draws in the terminal; --output {path} "
                         f"writes a {image.upper()} file: give one of them")
    return image


def show(samples: Samples, where: str, output: str | None, stdout: TextIO) -> None:
    """Send the plot to `where` (see `target`): a file named `output`, or stdout."""
    path = None if output in (None, "-") else output
    if where != TERMINAL and BY_FORMAT[where].plot == "image":
        write_image(samples, path)
        return
    if where == TERMINAL:
        text = terminal_text(samples, color=use_color(stdout))
        write = lambda stream: stream.write(text)  # noqa: E731
    else:
        write = lambda stream: write_csv(samples, stream)  # noqa: E731
    write_to(path, write, stdout)


def plot(request, expressions) -> None:
    """`tapecli plot` (the row's body): `request` is the tapecli.run.Request,
    `expressions` its one EXPR, parsed."""
    run_plot(expressions[0], over=request.over, order=request.order, points=request.points,
             point=request.point, fmt=request.fmt, output_path=request.output_path)


def run_plot(expr, over: str | None = None, order: int | None = None,
             points: int | None = None, point: dict[str, float] | None = None,
             fmt: str | None = None, output_path: str | None = None,
             stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Plot the Expression `expr`: check the options, sample, draw or write, then
    warn once about the points where a curve is not finite."""
    import sys

    from .plot import parse_over, sample

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    variable, start, stop = parse_over(over)
    where = target(output_path, fmt)
    if points is None:
        points = default_points(to_terminal=where == TERMINAL)
    samples = sample(expr, variable, start, stop, points, 1 if order is None else order, point)
    show(samples, where, output_path, stdout)
    warning = samples.gap_warning()
    if warning:
        stdout.flush()
        stderr.write(f"tapecli: warning: {warning}\n")


# -- files: matplotlib ---------------------------------------------------------------

def write_image(samples: Samples, path: str) -> None:
    """Draw the samples into a PNG, SVG or PDF file, chosen by `path`'s extension."""
    fmt = image_format(path)
    matplotlib = _library("matplotlib")
    # The object-oriented API on the Agg canvas: no pyplot, no global figure
    # state, no GUI backend looked for.
    figure_module = _library("matplotlib.figure")
    agg = _library("matplotlib.backends.backend_agg")

    # Drawn in memory, then written by write_to: matplotlib's own writers fail on
    # a full disk with errors of their own (the PDF writer's AttributeError).
    picture = io.BytesIO()
    try:
        with matplotlib.rc_context({"svg.hashsalt": "tapecli"}), np.errstate(all="ignore"):
            _draw_figure(samples, fmt, figure_module, agg, picture)
    except _DRAWING_ERRORS as e:
        raise _cannot_draw("matplotlib", e, path) from None
    write_to(path, lambda stream: stream.write(picture.getvalue()), None, binary=True)


def _draw_figure(samples: Samples, fmt: str, figure_module, agg, picture) -> None:
    figure = figure_module.Figure(figsize=(8, 5), dpi=150, layout="constrained")
    agg.FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    low, high = view_range(samples.curves)
    for label, curve in zip(samples.labels(), samples.curves):
        x, y = drawable(samples.x, curve, low, high)
        axes.plot(x, y, label=label, linewidth=1.6)
    axes.set_xlim(samples.x[0], samples.x[-1])
    axes.set_ylim(low, high)
    axes.set_xlabel(samples.variable)
    axes.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    axes.grid(True, color="0.9", linewidth=0.8)
    axes.legend(loc="best")
    figure.suptitle(samples.expression, fontsize=14)
    if samples.fixed:
        axes.set_title(samples.subtitle(), fontsize=10, color="0.3")
    # No creation date and fixed SVG ids: the same plot gives the same bytes.
    metadata = {"png": {"Software": None}, "svg": {"Date": None},
                "pdf": {"CreationDate": None}}[fmt]
    figure.savefig(picture, format=fmt, metadata=metadata)


def _cannot_draw(library: str, error: BaseException, where: str) -> DataError:
    # OverflowError from math carries (errno, text) as its arguments.
    text = error.args[-1] if len(error.args) == 2 and isinstance(error.args[0], int) \
        else str(error)
    cause = (str(text).strip().splitlines() or [type(error).__name__])[0]
    return DataError(f"cannot draw the plot in {where}: {library} failed ({cause}); "
                     "its samples are written by --format csv")


# -- the terminal: uniplot ---------------------------------------------------------------

def terminal_size() -> tuple[int, int]:
    """Columns and lines: COLUMNS and LINES if set, else the terminal's, else 80x24."""
    size = shutil.get_terminal_size((80, 24))
    return size.columns, size.lines


def default_points(to_terminal: bool) -> int:
    """Samples when --points is not given: about two per terminal column for the
    terminal, FILE_POINTS (1,000) for a file or CSV."""
    return POINTS_PER_COLUMN * terminal_size()[0] if to_terminal else FILE_POINTS


def use_color(stream: TextIO) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_text(samples: Samples, columns: int | None = None, lines: int | None = None,
                  color: bool = False) -> str:
    """The plot as text `columns` wide (default: the terminal's width): the
    expression, the other variables, the curves with y ticks on the right and
    x ticks below, the variable's name, the legend. With `color`, each curve has
    its own ANSI colour and braille dots; without, ASCII markers (+ x o * ...)."""
    uniplot = _library("uniplot")
    default_columns, default_lines = terminal_size()
    columns = max(columns or default_columns, MIN_COLUMNS)
    lines = lines or default_lines
    rows = max(_MIN_ROWS, min(_MAX_ROWS, lines - _OTHER_LINES))
    low, high = view_range(samples.curves)
    xs, ys = zip(*(drawable(samples.x, c, low, high) for c in samples.curves))
    # uniplot draws a line pixel by pixel over its whole length, off the picture
    # too: a segment to 1e300 would take for ever (found by fuzz/fuzz_plot.py).
    # Ends far beyond the view are pulled in to 100 heights of it, which moves
    # the part of the line that shows by at most 1% of its width.
    band = 100 * (high - low) if np.isfinite(high - low) else np.inf
    with np.errstate(all="ignore"):
        ys = tuple(np.clip(y, low - band, high + band) for y in ys)
    try:
        with np.errstate(all="ignore"):
            text = uniplot.plot_to_string(
                list(ys), list(xs), lines=True, legend_labels=samples.labels(),
                width=columns, line_length_hard_cap=columns, height=rows,
                x_min=float(samples.x[0]), x_max=float(samples.x[-1]), y_min=low, y_max=high,
                color=color, character_set="braille" if color else "ascii")
    except _DRAWING_ERRORS as e:
        raise _cannot_draw("uniplot", e, "the terminal") from None
    body = text.rstrip("\n").split("\n")
    if not color:
        body = [line.translate(_ASCII_FRAME) for line in body]
    # uniplot has no axis names: the variable's goes under the x ticks, which
    # follow the bottom of the frame.
    bottom = max(i for i, line in enumerate(body) if line.startswith(("└", "+")))
    body.insert(bottom + 2, _centered(samples.variable, columns))
    head = [_centered(samples.expression, columns)]
    if samples.fixed:
        head.append(_centered(samples.subtitle(), columns))
    return "\n".join(head + body) + "\n"


def _centered(text: str, columns: int) -> str:
    if len(text) > columns:
        text = text[:max(columns - 3, 0)] + "..."
    return text.center(columns).rstrip()
