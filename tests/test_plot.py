"""`tapecli plot` as a library: samples against calculus, pictures decoded, errors by message.

The samples are checked against closed forms: the n-th derivative of
exp(a*x)*sin(x) is (a**2 + 1)**(n/2) * exp(a*x) * sin(x + n*atan2(1, a)).
PNGs are decoded with pillow; the terminal drawing is measured in characters.
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tapecli
from tapecli import plot, plot_draw
from tapecli.errors import TapecliError, UsageError


def damped_sine_derivative(x: np.ndarray, n: int, a: float = -0.25) -> np.ndarray:
    """d^n/dx^n of exp(a*x)*sin(x), in closed form."""
    return (a * a + 1) ** (n / 2) * np.exp(a * x) * np.sin(x + n * math.atan2(1.0, a))


def csv_columns(samples: plot.Samples) -> tuple[list[str], dict[str, np.ndarray]]:
    """The CSV text of the samples, read back: header and float columns by name."""
    stream = io.StringIO()
    plot.write_csv(samples, stream)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    header, body = rows[0], rows[1:]
    return header, {name: np.array([float(r[i]) for r in body]) for i, name in enumerate(header)}


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    # rtol 1e-9, and an absolute floor at the curve's scale where it crosses zero
    # (a value of 1e-16 cannot be matched to 9 digits by any float computation).
    np.testing.assert_allclose(actual, expected, rtol=1e-9,
                               atol=1e-12 * np.max(np.abs(expected)))


def damped_sine(order: int, points: int = 241) -> plot.Samples:
    return plot.sample(tapecli.parse("sin(x)*exp(-x/4)"), "x", -6.0, 6.0, points, order)


# -- samples against calculus ----------------------------------------------------------

@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_csv_samples_match_the_closed_form_derivatives_at_every_order(order):
    header, columns = csv_columns(damped_sine(order))
    names = ["x", "f", "df/dx"] + ["d%df/%s" % (k, "dxdx" if k == 2 else f"dx^{k}")
                                   for k in range(2, order + 1)]
    assert header == names
    x = columns["x"]
    for k, name in enumerate(names[1:]):
        assert_close(columns[name], damped_sine_derivative(x, k))


def test_the_grid_is_numpys_linspace_exactly():
    header, columns = csv_columns(damped_sine(1, points=1001))
    assert np.array_equal(columns["x"], np.linspace(-6.0, 6.0, 1001))
    assert columns["x"][0] == -6.0 and columns["x"][-1] == 6.0


def test_other_variables_are_fixed_by_at_and_named_in_the_subtitle():
    # f = exp(2x)*y + z: d^k f/dx^k = 2**k * exp(2x) * y for k >= 1
    samples = plot.sample(tapecli.parse("exp(2*x)*y + z"), "x", -1.0, 1.0, 51, 4,
                          {"y": 3.0, "z": -0.5, "unused": 7.0})
    assert samples.fixed == {"y": 3.0, "z": -0.5}
    assert samples.subtitle() == "y = 3.0, z = -0.5"
    x = samples.x
    assert_close(samples.curves[0], np.exp(2 * x) * 3.0 - 0.5)
    for k in range(1, 5):
        assert_close(samples.curves[k], 2.0 ** k * np.exp(2 * x) * 3.0)


def test_order_zero_is_f_alone_and_a_constant_is_a_flat_curve():
    samples = plot.sample(tapecli.parse("2*pi"), "x", 0.0, 1.0, 5, 2)
    assert [c.tolist() for c in samples.curves] == [[2 * math.pi] * 5, [0.0] * 5, [0.0] * 5]
    assert len(plot.sample(tapecli.parse("x**2"), "x", 0.0, 1.0, 5, 0).curves) == 1


def test_each_order_is_one_batch_evaluation_through_the_drivers(monkeypatch):
    calls = []
    original_value, original_derivative = plot.derivatives.value, plot.derivatives.derivative

    def value(expr, point):
        calls.append(("value", np.shape(point["x"])))
        return original_value(expr, point)

    def derivative(expr, point, wrt):
        calls.append((tuple(wrt), np.shape(point["x"])))
        return original_derivative(expr, point, wrt)

    monkeypatch.setattr(plot.derivatives, "value", value)
    monkeypatch.setattr(plot.derivatives, "derivative", derivative)
    damped_sine(3, points=100)
    assert calls == [("value", (100,)), (("x",), (100,)), (("x", "x"), (100,)),
                     (("x", "x", "x"), (100,))]


def test_column_names_are_the_command_tables_derivative_names():
    from tapecli.names import derivative_name

    samples = plot.sample(tapecli.parse("x**7"), "x", 0.0, 1.0, 3, 6)
    for k in range(7):
        assert samples.column_names()[1 + k] == derivative_name(["x"] * k)


def test_curves_are_named_as_diff_names_them_in_csv_and_compactly_in_the_legend():
    samples = plot.sample(tapecli.parse("t**4"), "t", 0.0, 1.0, 3, 3)
    assert samples.column_names() == ["t", "f", "df/dt", "d2f/dtdt", "d3f/dt^3"]
    assert samples.labels() == ["f", "df/dt", "d2f/dtdt", "d3f/dt^3"]


# -- ranges -----------------------------------------------------------------------------

def test_over_reads_a_name_and_a_range_of_numbers_or_constants():
    assert plot.parse_over("x=-6:6") == ("x", -6.0, 6.0)
    assert plot.parse_over(" t = 1e-3 : 2.5 ") == ("t", 0.001, 2.5)
    assert plot.parse_over("x=-pi:2*pi") == ("x", -math.pi, 2 * math.pi)


@pytest.mark.parametrize("text, words", [
    (None, "--over NAME=A:B"),
    ("x", "NAME=A:B"),
    ("x=1", "NAME=A:B"),
    ("x=1:1", "empty"),
    ("x=2:-2", "empty"),
    ("x=a:1", "'a' is not a number"),
    ("x=0:", "'' is not a number"),
    ("x=0:inf", "'inf' is not finite"),
    ("x=0:1:2", "'1:2' is not a number"),
    ("pi=0:1", "constant"),
])
def test_a_missing_malformed_or_empty_range_is_a_one_line_usage_error(text, words):
    with pytest.raises(UsageError) as error:
        plot.parse_over(text)
    assert words in str(error.value)
    assert "\n" not in str(error.value)
    assert error.value.exit_code == 2


def test_a_variable_without_at_is_a_usage_error_that_names_it():
    with pytest.raises(UsageError) as error:
        plot.sample(tapecli.parse("x*y + z"), "x", 0.0, 1.0, 10, 1, {"z": 1.0})
    message = str(error.value)
    assert "y has no value" in message and "--at y=VALUE" in message
    assert "\n" not in message and error.value.exit_code == 2


@pytest.mark.parametrize("at, points, order, words", [
    ({"x": 1.0}, 10, 1, "x is given by both --over and --at"),
    ({}, 1, 1, "at least 2 points"),
    ({}, 10, -1, "--order -1"),
])
def test_bad_points_order_or_a_doubly_given_variable_are_usage_errors(at, points, order, words):
    with pytest.raises(UsageError, match=words):
        plot.sample(tapecli.parse("x**2"), "x", 0.0, 1.0, points, order, at)


# -- gaps and the y range --------------------------------------------------------------------

def test_points_where_a_curve_is_not_finite_are_gaps_with_one_warning():
    # 1/x at x = 0 (the middle of 201 points) is inf, and so is -1/x**2.
    samples = plot.sample(tapecli.parse("1/x"), "x", -1.0, 1.0, 201, 1)
    assert samples.gaps() == {"f": 1, "df/dx": 1}
    assert samples.gap_warning() == ("not finite (nan or inf), left as gaps: "
                                     "f at 1 of 201 points, df/dx at 1 of 201 points")
    _, columns = csv_columns(samples)
    assert np.isinf(columns["f"][100]) and np.isfinite(np.delete(columns["f"], 100)).all()
    x, y = plot.drawable(samples.x, samples.curves[0], -10.0, 10.0)
    assert np.isnan(y[100]) and np.isfinite(np.delete(y, 100)).all()


def test_a_curve_without_problems_has_no_warning():
    assert damped_sine(2).gap_warning() is None


def test_log_of_negatives_leaves_half_the_curve_out_and_still_draws(tmp_path):
    samples = plot.sample(tapecli.parse("log(x)"), "x", -1.0, 1.0, 100, 1)
    assert samples.gaps() == {"f": 50}  # 1/x, the derivative, is finite for x < 0
    plot_draw.write_image(samples, str(tmp_path / "log.png"))
    assert "|" in plot_draw.terminal_text(samples, 60, 24)


def test_a_pole_does_not_flatten_the_other_curves():
    # tan(x) over 0:1.6 crosses its pole at pi/2: values reach ~1e4 and beyond.
    samples = plot.sample(tapecli.parse("tan(x)"), "x", 0.0, 1.6, 1000, 2)
    values = np.concatenate(samples.curves)
    low, high = plot.view_range(samples.curves)
    assert np.ptp(values) > 1e4 * (high - low)
    assert ((values >= low) & (values <= high)).mean() > 0.75
    f = samples.curves[0]
    assert ((f >= low) & (f <= high)).mean() > 0.9


def test_a_curve_that_only_grows_fast_is_drawn_whole():
    samples = plot.sample(tapecli.parse("exp(x)"), "x", 0.0, 10.0, 1000, 1)
    low, high = plot.view_range(samples.curves)
    assert low < 1.0 and high > math.exp(10.0)


def test_the_y_range_has_a_margin_and_a_flat_or_empty_one_still_has_height():
    assert plot.view_range([np.array([0.0, 10.0])]) == (-0.5, 10.5)
    assert plot.view_range([np.array([2.0, 2.0])]) == (1.8, 2.2)
    assert plot.view_range([np.array([0.0, 0.0])]) == (-1.0, 1.0)
    assert plot.view_range([np.array([np.nan, np.inf])]) == (-1.0, 1.0)


def test_a_jump_across_the_view_is_cut_so_no_line_joins_the_two_sides_of_a_pole():
    x, y = plot.drawable(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 50.0, -50.0, 0.0]),
                         -1.0, 1.0)
    assert x.tolist()[:2] == [0.0, 1.0] and math.isnan(x[2]) and x.tolist()[3:] == [2.0, 3.0]
    assert np.isnan(y[2]) and len(y) == 5


# -- files: matplotlib -------------------------------------------------------------------------

def test_a_png_has_the_size_and_the_colours_of_a_real_plot(tmp_path):
    path = tmp_path / "plot.png"
    plot_draw.write_image(damped_sine(2, points=1000), str(path))
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 750)  # 8 x 5 inches at 150 dpi
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels != 255).any(axis=1).mean() > 0.02  # not blank
    colours = {tuple(p) for p in pixels}
    # matplotlib's first three cycle colours, one per curve: f, df/dx, d2f/dxdx
    for rgb in [(31, 119, 180), (255, 127, 14), (44, 160, 44)]:
        assert rgb in colours


def test_an_svg_and_a_pdf_are_written_by_their_extension(tmp_path):
    samples = plot.sample(tapecli.parse("x**2*y"), "x", -1.0, 1.0, 50, 1, {"y": 2.0})
    plot_draw.write_image(samples, str(tmp_path / "p.svg"))
    plot_draw.write_image(samples, str(tmp_path / "p.PDF"))
    svg = (tmp_path / "p.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg
    # matplotlib writes each text as a comment beside its glyph paths.
    for text in ["x**2*y", "y = 2.0", "df/dx"]:
        assert f"<!-- {text} -->" in svg
    assert (tmp_path / "p.PDF").read_bytes().startswith(b"%PDF-")


def test_the_same_plot_gives_the_same_bytes(tmp_path):
    samples = damped_sine(1, points=200)
    for name in ["a.png", "b.png", "a.svg", "b.svg"]:
        plot_draw.write_image(samples, str(tmp_path / name))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


@pytest.mark.parametrize("name", ["plot.gif", "plot", "plot.png.txt", "plot.jpeg"])
def test_an_unknown_picture_extension_is_a_one_line_usage_error(tmp_path, name):
    with pytest.raises(UsageError) as error:
        plot_draw.write_image(damped_sine(1, points=10), str(tmp_path / name))
    assert "is not a picture or CSV file" in str(error.value)
    assert "\n" not in str(error.value) and error.value.exit_code == 2
    assert not (tmp_path / name).exists()


def test_a_file_that_cannot_be_written_is_a_data_error(tmp_path):
    with pytest.raises(TapecliError, match="cannot write") as error:
        plot_draw.write_image(damped_sine(1, points=10), str(tmp_path / "no" / "p.png"))
    assert error.value.exit_code == 1


# -- the terminal: uniplot ----------------------------------------------------------------------

@pytest.mark.parametrize("columns, lines", [(80, 24), (120, 40), (50, 10)])
def test_the_terminal_drawing_is_as_wide_as_asked_with_rows_from_the_height(columns, lines):
    text = plot_draw.terminal_text(damped_sine(2, points=2 * columns), columns, lines)
    rows = text.splitlines()
    assert max(len(row) for row in rows) == columns
    # title, frame top and bottom, x ticks, the variable's name, legend: 6 lines
    # around a plotting area of the height less 8, kept within 8..20 rows
    assert len(rows) == 6 + max(8, min(20, lines - 8))


def test_the_terminal_width_and_height_come_from_columns_and_lines(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "30")
    rows = plot_draw.terminal_text(damped_sine(1, points=200)).splitlines()
    assert max(len(row) for row in rows) == 100 and len(rows) == 6 + 20 + 0
    assert plot_draw.default_points(to_terminal=True) == 200
    assert plot_draw.default_points(to_terminal=False) == 1000


def test_plain_text_names_the_expression_axis_curves_and_ticks_in_ascii():
    samples = plot.sample(tapecli.parse("sin(t)*y"), "t", -3.0, 3.0, 160, 2, {"y": 2.0})
    text = plot_draw.terminal_text(samples, 80, 24)
    rows = text.splitlines()
    assert text.isascii() and "\x1b" not in text
    assert rows[0].strip() == "sin(t)*y" and rows[1].strip() == "y = 2.0"
    legend = rows[-1].split()
    assert legend == ["++", "f", "xx", "df/dt", "oo", "d2f/dtdt"]
    assert rows[-2].strip() == "t"
    ticks = rows[-3].split()
    assert ticks[0] == "-3" and "0" in ticks
    # y ticks at the right of the frame: -2 and 2 for 2*sin(t) and its derivatives
    right = [row.rsplit("|", 1)[1].strip() for row in rows if row.startswith("|")]
    assert {"-2", "2"} <= set(right)


def test_colour_draws_each_curve_in_its_own_ansi_colour():
    text = plot_draw.terminal_text(damped_sine(2, points=160), 80, 24, color=True)
    for code in ["\x1b[34m", "\x1b[35m", "\x1b[32m"]:
        assert code in text


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert plot_draw.use_color(Terminal()) and not plot_draw.use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not plot_draw.use_color(Terminal())


def test_a_pole_in_the_terminal_keeps_the_other_curves_readable():
    samples = plot.sample(tapecli.parse("tan(x)"), "x", -3.0, 3.0, 160, 1)
    text = plot_draw.terminal_text(samples, 80, 24)
    right = [row.rsplit("|", 1)[1].strip() for row in text.splitlines() if row.startswith("|")]
    ticks = [float(t.replace(",", "")) for t in right if t]
    assert max(abs(t) for t in ticks) < 100


# -- without the extra ---------------------------------------------------------------------------

@pytest.mark.parametrize("module, draw", [
    ("matplotlib", lambda s, tmp: plot_draw.write_image(s, str(tmp / "p.png"))),
    ("uniplot", lambda s, tmp: plot_draw.terminal_text(s, 80, 24)),
])
def test_drawing_without_the_plot_extra_says_how_to_install_it(monkeypatch, tmp_path,
                                                               module, draw):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    with pytest.raises(TapecliError) as error:
        draw(damped_sine(1, points=10), tmp_path)
    assert str(error.value) == (f"plotting needs {module}, which is not installed: "
                                'pip install "tapecli[plot]"')
    assert not (tmp_path / "p.png").exists()


def test_csv_samples_need_no_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "uniplot", None)
    header, _ = csv_columns(damped_sine(1, points=10))
    assert header == ["x", "f", "df/dx"]


def test_importing_tapecli_and_the_plot_modules_loads_no_drawing_library():
    code = ("import sys, tapecli, tapecli.plot, tapecli.plot_draw; "
            "print(sorted(m for m in ('matplotlib', 'uniplot') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- where the plot goes -------------------------------------------------------------------------

@pytest.mark.parametrize("output, fmt, where", [
    (None, None, "terminal"), ("-", None, "terminal"), (None, "table", "terminal"),
    (None, "csv", "csv"), ("-", "csv", "csv"), ("s.csv", None, "csv"), ("S.CSV", "csv", "csv"),
    ("p.png", None, "png"), ("p.svg", None, "svg"), ("p.pdf", None, "pdf"),
])
def test_output_and_format_choose_the_terminal_the_samples_or_a_picture(output, fmt, where):
    assert plot_draw.target(output, fmt) == where


@pytest.mark.parametrize("output, fmt, words", [
    (None, "json", "--format json: plot draws (table, the default) or writes its samples"),
    ("p.png", "csv", "--format csv does not match --output p.png"),
    ("s.csv", "table", "--format table does not match --output s.csv"),
    ("p.png", "table", "--format table draws in the terminal; --output p.png writes a PNG"),
    ("p.txt", None, "--output p.txt: .txt is not a picture or CSV file"),
])
def test_output_and_format_that_disagree_are_usage_errors(output, fmt, words):
    with pytest.raises(UsageError) as error:
        plot_draw.target(output, fmt)
    assert str(error.value).startswith(words) and error.value.exit_code == 2


def test_show_writes_csv_to_a_file_or_stdout_and_the_drawing_to_stdout(tmp_path):
    samples = damped_sine(1, points=5)
    plot_draw.show(samples, "csv", str(tmp_path / "s.csv"), io.StringIO())
    stdout = io.StringIO()
    plot_draw.show(samples, "csv", None, stdout)
    assert (tmp_path / "s.csv").read_text() == stdout.getvalue()
    header, first = stdout.getvalue().splitlines()[:2]
    assert header == "x,f,df/dx"
    # shortest round-trip text of the samples themselves
    assert first == ",".join(repr(float(c[0])) for c in (samples.x, *samples.curves))
    stdout = io.StringIO()
    plot_draw.show(samples, "terminal", None, stdout)
    assert stdout.getvalue().splitlines()[0].strip() == "sin(x)*exp(-x/4)"
    with pytest.raises(TapecliError, match="cannot write"):
        plot_draw.show(samples, "csv", str(tmp_path / "no" / "s.csv"), io.StringIO())


# -- the command line: the installed script in a subprocess -------------------------------------

SCRIPT = Path(sys.executable).parent / "tapecli"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tapecli"]


def tapecli_plot(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`tapecli plot ARGS` with stdin closed and stdout a pipe (not a terminal)."""
    result = subprocess.run([*COMMAND, "plot", *args], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, **(env or {})})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_csv_samples_match_calculus_and_a_csv_file_gets_the_same(tmp_path):
    result = tapecli_plot("sin(x)*exp(-x/4)", "--over", "x=-6:6", "--order", "3",
                          "--points", "101", "--format", "csv")
    assert result.returncode == 0 and result.stderr == ""
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["x", "f", "df/dx", "d2f/dxdx", "d3f/dx^3"]
    table = np.array(rows[1:], dtype=float)
    assert np.array_equal(table[:, 0], np.linspace(-6.0, 6.0, 101))
    for k in range(4):
        assert_close(table[:, k + 1], damped_sine_derivative(table[:, 0], k))
    path = tmp_path / "samples.csv"
    again = tapecli_plot("sin(x)*exp(-x/4)", "--over", "x=-6:6", "--order", "3",
                         "--points", "101", "--output", str(path))
    assert again.returncode == 0 and again.stdout == ""
    assert path.read_text() == result.stdout


def test_cli_csv_defaults_to_a_thousand_points_with_other_variables_from_at():
    result = tapecli_plot("x*y + z", "--over", "x=0:1", "--at", "y=2,z=-1", "--format", "csv")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 1000 and lines[0] == "x,f,df/dx"
    assert lines[-1] == "1.0,1.0,2.0"


def test_cli_writes_a_png_with_the_curves_colours(tmp_path):
    path = tmp_path / "plot.png"
    result = tapecli_plot("sin(x)*exp(-x/4)", "--over", "x=-6:6", "--order", "2",
                          "--output", str(path))
    assert result.returncode == 0 and result.stdout == ""
    # matplotlib may log about its font cache on a first run; tapecli says nothing
    assert "tapecli:" not in result.stderr
    with Image.open(path) as image:
        assert image.size == (1200, 750)
        colours = {tuple(p) for p in np.asarray(image.convert("RGB")).reshape(-1, 3)}
    assert {(31, 119, 180), (255, 127, 14), (44, 160, 44)} <= colours


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {}])
def test_cli_draws_plain_text_as_wide_as_columns_when_piped_or_without_colour(env):
    result = tapecli_plot("sin(x)*exp(-x/4)", "--over", "x=-6:6", "--order", "2",
                          env={"COLUMNS": "80", "LINES": "24", **env})
    assert result.returncode == 0 and result.stderr == ""
    rows = result.stdout.splitlines()
    assert max(map(len, rows)) == 80 and len(rows) == 6 + 16
    assert result.stdout.isascii() and rows[0].strip() == "sin(x)*exp(-x/4)"
    assert rows[-1].split() == ["++", "f", "xx", "df/dx", "oo", "d2f/dxdx"]


def test_cli_warns_once_about_gaps_and_still_succeeds():
    result = tapecli_plot("1/x", "--over", "x=-1:1", "--points", "201", "--format", "csv")
    assert result.returncode == 0
    assert result.stderr == ("tapecli: warning: not finite (nan or inf), left as gaps: "
                             "f at 1 of 201 points, df/dx at 1 of 201 points\n")
    assert "0.0,inf,-inf" in result.stdout.splitlines()


@pytest.mark.parametrize("args, message", [
    (["x**2"], "plot needs a range: give --over NAME=A:B"),
    (["x**2", "--over", "x=3:3"], "--over x=3:3: the range is empty (A must be less than B)"),
    (["x**2", "--over", "x=3:-3"], "--over x=3:-3: the range is empty"),
    (["x*y", "--over", "x=0:1"], "y has no value: plot varies x only; fix the others with "
                                 "--at y=VALUE"),
    (["x**2", "--over", "x=0:1", "--output", "plot.gif"],
     "--output plot.gif: .gif is not a picture or CSV file"),
    (["x**2", "--over", "x=0:1", "--format", "json"], "--format json: plot draws"),
    (["x**2", "--over", "x=0:1", "--order", "-1"], "--order -1: the order is 0"),
])
def test_cli_usage_errors_exit_2_with_one_line(args, message):
    result = tapecli_plot(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"tapecli: error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_an_expression_that_does_not_parse_shows_the_caret_as_every_command_does():
    result = tapecli_plot("x**", "--over", "x=0:1")
    assert result.returncode == 2
    assert result.stderr.splitlines()[:3] == [
        "tapecli: error: unexpected end of expression (column 4)", "  x**", "     ^"]


def test_cli_without_the_extra_names_the_install_command(monkeypatch, capsys):
    from tapecli import cli

    monkeypatch.setitem(sys.modules, "uniplot", None)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plot", "x**2", "--over", "x=0:1"])
    assert exit_.value.code == 1
    assert capsys.readouterr().err == ("tapecli: error: plotting needs uniplot, which is not "
                                       'installed: pip install "tapecli[plot]"\n')
