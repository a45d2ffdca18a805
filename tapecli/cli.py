"""The `tapecli` command line of CLI.md: a thin click layer over tapecli.jobs.

One click command per row of tapecli.commands.COMMANDS, built from the row
(help, example, EXPR or EXPR [EXPR ...], --order) and the shared option
objects of OPTIONS, which `trace` uses too. Each command parses its options,
builds a Job, computes it at one point and hands the result to tapecli.output;
batches go to tapecli.batch. Imports are deferred to where they are needed: a
single point never loads pyarrow, and rich only when a table goes to a terminal.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import signal
import sys

import click

from . import __version__
from .commands import COMMANDS, Command
from .errors import DataError, TapecliError, UsageError
from .output import FORMATS

# VALUE of --at: a decimal or scientific number, or inf, -inf, nan (not Python's
# other float spellings such as 1_000).
# ASCII digits only, as in expressions: \d and float() would take ١٢ and １２ too.
_NUMBER = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)",
                     re.IGNORECASE)
# The highest --order (a million Taylor coefficients): beyond it a usage error, never
# an OverflowError or a MemoryError from building the sequence of differentiations.
MAX_ORDER = 1_000_000
# The most numbers one point's result may hold (8 MB of float64). At 10,000,000
# a Hessian's tensors took 40 s and 2 GB and printed 200 MB; at this limit,
# seconds and about 200 MB. Batches and --formula multiply it by rows or text.
MAX_ENTRIES = 1_000_000
MAX_DIGITS = 10_000  # --digits: certified significant digits
# The context key of the arguments that came after `--`: expression text, whatever they look like.
_LITERAL = "tapecli.literal"
# A leading '-' lets an expression such as -x**2 through; '--word' is an option.
_CONTEXT = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


# -- option values ---------------------------------------------------------------

def _parse_point(ctx, param, values: tuple[str, ...]) -> dict[str, float] | None:
    """`--at x=3 --at y=2` and `--at x=3,y=2` -> {"x": 3.0, "y": 2.0}."""
    from .language import check_variable_name

    if not values:
        return None
    point: dict[str, float] = {}
    for item in (part for value in values for part in value.split(",")):
        name, sep, text = (s.strip() for s in item.partition("="))
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (for example x=3)")
        try:
            check_variable_name(name)
        except TapecliError as e:
            raise click.BadParameter(str(e)) from None
        if not _NUMBER.fullmatch(text):
            raise click.BadParameter(f"{name}={text}: {text!r} is not a number "
                                     "(write e.g. 3, -0.5, 1e-3, inf, nan)")
        if name in point:
            raise click.BadParameter(f"{name} is given twice")
        point[name] = float(text)
    return point


def _parse_names(ctx, param, values: tuple[str, ...]) -> list[str] | None:
    """`--wrt x,y` (or `--wrt x --wrt y`) -> ["x", "y"]."""
    if not values:
        return None
    names = [part.strip() for value in values for part in value.split(",")]
    if not all(names):
        raise click.BadParameter("empty name in " + ",".join(values))
    return names


# The options that commands share, by flag: each one object, built once (each
# Option costs its help text's cleandoc at start-up) and put on every command
# that names it (Command.options, and `trace`).
OPTIONS: dict[str, click.Option] = {option.opts[0]: option for option in (
    click.Option(["--at", "point"], multiple=True, callback=_parse_point, metavar="NAME=VALUE",
                 help="A value for a variable; repeat it or join with commas "
                      "(--at x=3,y=2). VALUE: a number, inf, -inf or nan."),
    click.Option(["--wrt"], multiple=True, callback=_parse_names, metavar="x,y",
                 help="Variables to differentiate with respect to, in this order "
                      "(default: every variable, in order of first appearance)."),
    click.Option(["--format", "fmt"], type=click.Choice(FORMATS),
                 help="Output format (default: table for one point, csv for a batch)."),
    # --input and --output take a directory or a glob with --scheduler; without it,
    # _paths checks them as the files they must be.
    click.Option(["--input", "input_path"], metavar="FILE", type=click.Path(allow_dash=True),
                 help="Read a batch of points from a CSV or Parquet file ('-': stdin); "
                      "with --scheduler, a dataset: a file, a directory of part files "
                      "or a quoted glob."),
    click.Option(["--keep-input"], is_flag=True,
                 help="Echo the input columns before the results."),
    click.Option(["--output", "output_path"], metavar="FILE", type=click.Path(allow_dash=True),
                 help="Write the results to FILE instead of stdout; with --scheduler, "
                      "a directory that receives one part per input part."),
    click.Option(["--formula"], is_flag=True,
                 help="Print the results as expressions (formulas), not numbers: no point; "
                      "--format table, json or latex."),
    click.Option(["--over"], metavar="NAME=A:B",
                 help="The variable to plot by and its range (--over x=-6:6; A and B may "
                      "be constants such as pi)."),
    click.Option(["--points"], type=int, metavar="N",
                 help="Evenly spaced samples (default: two per terminal column, "
                      "1,000 for a file)."),
    click.Option(["--strict"], is_flag=True,
                 help="Make nan/inf from finite inputs (log of a negative, "
                      "division by zero, overflow), and a result whose digits cannot "
                      "all be certified, an error, exit status 1."),
    click.Option(["--digits"], type=click.IntRange(1, MAX_DIGITS), metavar="N",
                 help="Certify every number to N significant digits (1 to 10,000) in ball "
                      "arithmetic, the point read as the exact reals it names "
                      "(0.1 is 1/10, pi is pi)."),
    click.Option(["--scheduler"], metavar="ADDRESS",
                 help="Run the batch on a Dask cluster: 'local' (worker processes on this "
                      "machine) or tcp://HOST:PORT (a running dask scheduler)."),
)}
# What --input and --output must be without --scheduler.
_INPUT_FILE = click.Path(exists=True, dir_okay=False, allow_dash=True)
_OUTPUT_FILE = click.Path(dir_okay=False, allow_dash=True)


def _paths(input_path: str | None, output_path: str | None) -> None:
    """Refuse a directory (or a missing --input) as click refuses it for a file option."""
    ctx = click.get_current_context()
    params = {p.name: p for p in ctx.command.params}
    if input_path is not None:
        _INPUT_FILE.convert(input_path, params.get("input_path"), ctx)
    if output_path is not None:
        _OUTPUT_FILE.convert(output_path, params.get("output_path"), ctx)


def _expressions(expressions: tuple[str, ...], one: bool) -> list[str]:
    """The EXPR arguments, once unknown options are refused.

    Unknown options reach us as arguments (see _CONTEXT), so that -x**2 is an
    expression; '--word' is refused here, '-h' is taken as --help."""
    ctx = click.get_current_context()
    literal = ctx.meta.get(_LITERAL, 0)  # the last `literal` came after `--`
    if not expressions:
        raise click.UsageError("Missing argument 'EXPR'.", ctx)
    for text in expressions[:len(expressions) - literal]:
        if text == "-h":
            click.echo(ctx.get_help())
            ctx.exit(0)
        if text.startswith("--"):
            name = text.partition("=")[0]
            known = [o for p in ctx.command.params for o in getattr(p, "opts", ())]
            import difflib  # only this error needs it

            near = difflib.get_close_matches(name, known, n=2, cutoff=0.7)
            raise click.NoSuchOption(name, possibilities=near, ctx=ctx)
    if one and len(expressions) != 1:
        from .parser import parse

        for text in expressions:  # `grad -- --at x=1`: say what is wrong with the text first
            parse(text)
        listed = " ".join(repr(e) for e in expressions)
        raise click.UsageError(f"{ctx.command.name} takes one EXPR, got {len(expressions)}: "
                               f"{listed} (quote an expression that has spaces)", ctx)
    return list(expressions)


# -- the commands ------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tapecli",
                      message="%(prog)s %(version)s")
def cli():
    """Differentiate expressions on a GradientTape: reverse-mode autodiff over numpy.

    \b
    tapecli grad "x**2+3*x+1" --at x=3          value 19.0, gradient 9.0
    tapecli hessian "x**2*y + y**3" --at x=1,y=2
    cat points.csv | tapecli grad "x*y"         one CSV row per point

    Run `tapecli COMMAND --help` for a command's options.
    """


def _run(command: Command, expressions, point, wrt, fmt, input_path, keep_input,
         output_path, strict, order=None, formula=False, scheduler=None,
         digits=None) -> None:
    """The body of every computing command: a Job, then one point, a batch, a
    batch over a dataset on a Dask cluster, or formulas."""
    from .jobs import Job
    from .parser import parse

    job = Job.create(command, [parse(text) for text in expressions], wrt, order)
    _check_size(job, order)
    if formula:
        _run_formula(job, point, fmt, input_path, output_path)
        return
    if fmt == "latex":
        raise UsageError("--format latex prints formulas: add --formula")
    if scheduler is not None:
        _run_on_cluster(job, point, fmt, input_path, keep_input, output_path, strict,
                        scheduler)
        return
    _paths(input_path, output_path)
    if point is not None and input_path is not None:
        raise UsageError("give either --at (one point) or --input (a batch), not both")
    batch = input_path is not None or (point is None and job.inputs and _stdin_is_piped())
    if batch:
        from .batch import run_batch
        run_batch(job, input_path or "-", output=_output_file(output_path), fmt=fmt,
                  keep_input=keep_input, strict=strict)
        return
    given = point or {}
    point = _point_for(job.inputs, given)
    fmt = _single_point_format(fmt, output_path)
    result = job.compute(point)
    certified = _certify(job, point, result, strict, digits)
    _check_domain(job, point, result if digits else certified, strict)
    result = certified
    echo = given if keep_input else None
    _write(output_path, lambda stream: _write_point(job, result, point, fmt, stream, echo))


def _run_formula(job, point, fmt, input_path, output_path) -> None:
    """--formula: the results as expressions; no point can be given."""
    from .formula_output import FORMATS as FORMULA_FORMATS
    from .formula_output import write_formulas

    if point is not None:
        raise UsageError("--formula prints expressions, not values at a point: drop --at")
    if input_path is not None:
        raise UsageError("--formula prints expressions, not values at points: drop --input")
    if fmt is not None and fmt not in FORMULA_FORMATS:
        raise UsageError(f"--formula prints {', '.join(FORMULA_FORMATS)}, not --format {fmt}")
    if job.inputs and _batch_on_stdin():
        raise UsageError("--formula prints expressions, not values at points: "
                         "it reads no batch on stdin")
    _write(output_path, lambda stream: write_formulas(job, fmt or "table", stream))


def _batch_on_stdin() -> bool:
    """Whether stdin is a pipe or file with data in it (read to its end, as a batch
    would be); a terminal or /dev/null holds none."""
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, ValueError, OSError):
        return False
    return (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)) and bool(sys.stdin.read().strip())


def _run_on_cluster(job, point, fmt, input_path, keep_input, output_path, strict,
                    scheduler: str) -> None:
    if point is not None:
        raise UsageError("--scheduler runs a batch over --input; --at is for one point")
    if input_path in (None, "-"):
        raise UsageError("--scheduler needs --input: a Parquet or CSV file, a directory "
                         "of part files or a quoted glob")
    if output_path in (None, "-"):
        raise UsageError("--scheduler needs --output DIR: the directory that receives "
                         "one part per input part")
    from .dask_batch import run_dataset  # imports dask only now

    run_dataset(job, input_path, output_path, fmt=fmt, keep_input=keep_input,
                strict=strict, scheduler=scheduler)


def _check_size(job, order: int | None) -> None:
    """Refuse a result too large to hold (`hessian --order 40`: 2**40 entries per
    point) as a usage error, before any work, rather than run out of memory."""
    from .commands import entry_shape

    many = len(job.expressions) if job.command.many else None
    entries = sum(math.prod(entry_shape(key, job.variables, many)) for key in job.keys)
    if entries > MAX_ENTRIES:
        raise UsageError(f"{job.command.name}{f' --order {order}' if order else ''}: "
                         f"{entries:,} numbers per point ({len(job.variables)} variables); "
                         f"the limit is {MAX_ENTRIES:,}")


def _stdin_is_piped() -> bool:
    return sys.stdin is not None and not sys.stdin.isatty()  # None: stdin closed (<&-)


def _write_point(job, result, point, fmt, stream, echo):
    from .output import write_result
    write_result(job, result, point, fmt, stream, echo)


def _single_point_format(fmt: str | None, output_path: str | None) -> str:
    """--format, else the --output file's extension (.csv .json .jsonl), else table."""
    from .output import format_of_path

    extension = format_of_path(output_path)
    if extension == "parquet":
        raise UsageError(f"--output {output_path}: Parquet is for batches (--input); "
                         "one point is written as table, csv, json or jsonl")
    if fmt and extension and fmt != extension:
        raise UsageError(f"--format {fmt} does not match --output {output_path}")
    return fmt or extension or "table"


def _point_for(variables, given: dict[str, float]) -> dict[str, float]:
    """The expression's variables with their --at values (others are ignored,
    like extra CSV columns); a missing one is an error that says how to give it."""
    missing = [name for name in variables if name not in given]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        example = ",".join(f"{n}=VALUE" for n in missing)
        which = "variable" if len(missing) == 1 else "variables"
        raise DataError(f"{which} {names} {'has' if len(missing) == 1 else 'have'} no value: "
                        f"give {'it' if len(missing) == 1 else 'them'} with --at {example}")
    return {name: given[name] for name in variables}


def _check_domain(job, point, result, strict: bool) -> None:
    from . import domain

    problems = domain.find_problems(job, point, result)
    if not problems:
        return
    if strict:
        raise domain.strict_error(problems)
    click.echo(f"tapecli: warning: {domain.describe(problems)}", err=True)


def _certify(job, point, result, strict: bool, digits: int | None):
    """Every number the float64 nearest its exact value, or N certified digits
    (tapecli.accuracy); one warning line, or with --strict an error, for those
    that stay uncertain."""
    from . import accuracy

    result, uncertain = accuracy.certify(job, point, result, digits)
    if uncertain:
        if strict:
            raise accuracy.strict_error(uncertain)
        click.echo(f"tapecli: warning: {accuracy.describe(uncertain)}", err=True)
    return result


def _output_file(path: str | None) -> str | None:
    return None if path in (None, "-") else path


def _write(output_path: str | None, write) -> None:
    from .output import write_to

    write_to(output_path, write, sys.stdout)


class _Command(click.Command):
    """A click command where `--` ends the options (POSIX guideline 10): the
    arguments after it are EXPR text even when they look like options. (click
    drops the `--` itself, and ignore_unknown_options, which lets -x**2 through,
    would then let no one tell `-- --x` from an unknown option `--x`.)"""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        literal: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, literal = args[:cut], args[cut + 1:]
        rest = super().parse_args(ctx, args)
        name = self.params[0].name  # EXPR comes first
        ctx.params[name] = tuple(ctx.params.get(name) or ()) + tuple(literal)
        ctx.meta[_LITERAL] = len(literal)
        return rest


def _click_command(row: Command) -> click.Command:
    """The click command of a row of COMMANDS: EXPR (or EXPR [EXPR ...]), the
    shared options it names, then its --order."""
    params: list[click.Parameter] = [
        # nargs=-1 so that an unknown option arrives here and is refused by name.
        click.Argument(["expressions"], nargs=-1, required=False,
                       metavar="EXPR [EXPR ...]" if row.many else "EXPR"),
        *(OPTIONS[flag] for flag in row.options)]
    if row.order is not None:
        params.append(click.Option(["--order"], type=click.IntRange(max=MAX_ORDER),
                                   metavar=row.order.metavar,
                                   help=row.order.help))

    def callback(expressions, **options):
        texts = _expressions(expressions, one=not row.many)
        (row.run or _run)(row, texts, **options)

    example = "".join(f"\n  {line}" for line in row.example)
    return _Command(row.name, context_settings=_CONTEXT, callback=callback,
                         params=params, help=f"{row.help}\n\n\b\nExample:{example}")


for _row in COMMANDS:
    cli.add_command(_click_command(_row))


def _options(*options: click.Option):
    """Put these option objects on a decorated command, after its EXPR."""
    def add(command: click.Command) -> click.Command:
        command.params[1:1] = options
        return command
    return add


# The tape is a listing, not results: trace has a --format of its own.
_TRACE_FORMAT = click.Option(["--format", "fmt"], type=click.Choice(("table", "json")),
                             default="table", help="table: one line per op; json: a list of nodes.")


@_options(OPTIONS["--at"], OPTIONS["--wrt"], _TRACE_FORMAT, OPTIONS["--output"])
@cli.command(cls=_Command, context_settings=_CONTEXT)
@click.argument("expression", nargs=-1, required=False, metavar="EXPR")
def trace(expression, point, wrt, fmt, output_path):
    """Show the tape of EXPR at one point: every forward op, then the backward pass.

    Each forward line is one recorded op, its inputs (node ids such as %1, or
    constants) and its value; each backward line is a node's adjoint df/d%i and
    what its op sends to its inputs, so the chain rule can be read off.

    \b
    Example:
      tapecli trace "x**2+3*x+1" --at x=3
      tapecli trace "x*y + sin(x)" --at x=1,y=2 --format json | jq '.[] | {id, op, adjoint}'
    """
    from .parser import parse
    from .tape_listing import list_tape, listing_json, listing_text

    _paths(None, output_path)
    expr = parse(_expressions(expression, one=True)[0])
    try:
        at = _point_for(expr.variables, point or {})
    except DataError as e:
        if point is None and _stdin_is_piped():
            raise DataError(f"{e} (trace shows the tape of one point; it does not read "
                            "a batch from stdin)") from None
        raise
    listing = list_tape(expr, at, wrt)
    text = listing_json(listing) if fmt == "json" else listing_text(listing)
    _write(output_path, lambda stream: stream.write(text))


# -- the process -------------------------------------------------------------------

def main(argv: list[str] | None = None, prog_name: str = "tapecli") -> None:
    """Console-script entry point: run the CLI and turn user errors into exit statuses."""
    # A closed pipe (`tapecli ... | head -1`) ends the process quietly, as it ends cat.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # A file-size limit reached (`ulimit -f`) is then a failed write, not a core dump.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # SIGTERM (kill, a job scheduler's stop) unwinds like Ctrl-C: temporary files
    # are removed and a local Dask cluster is shut down, leaving no process behind.
    signal.signal(signal.SIGTERM, _terminate)
    _prepare_stdout()
    try:
        status = cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
        sys.stdout.flush()  # a full disk is found here, not at exit where no one reports it
    except click.ClickException as e:
        e.show()
        status = e.exit_code
    except TapecliError as e:
        click.echo(f"tapecli: error: {e}", err=True)
        status = e.exit_code
    except (KeyboardInterrupt, click.Abort):
        status = 130
    except MemoryError:
        click.echo("tapecli: error: out of memory", err=True)
        status = 1
    except OSError as e:  # every write the code above did not name: stdout's
        click.echo(f"tapecli: error: cannot write the output: {e.strerror or e}", err=True)
        _silence_stdout()
        status = 1
    sys.exit(status if isinstance(status, int) else 0)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # the status a shell reports for the signal


class _ClosedStream(io.RawIOBase):
    """Stands for a stdout the shell closed (`>&-`): a write fails as it would on fd 1."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.EBADF, "stdout is closed")


def _prepare_stdout() -> None:
    if sys.stdout is None:  # fd 1 closed: fail on the first write, like any other output
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStream()), encoding="utf-8")
    elif hasattr(sys.stdout, "reconfigure"):
        # A character the terminal's encoding lacks (PYTHONIOENCODING=ascii) is
        # written as an escape, never a UnicodeEncodeError.
        sys.stdout.reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """After a failed write, drop what is still buffered: Python's flush at exit
    would fail again and print a traceback of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.BytesIO()), encoding="utf-8")
