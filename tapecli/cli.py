"""The `tapecli` command line of CLI.md: a thin click layer over tapecli.run.

One click command per row of tapecli.commands (COMMANDS and LISTINGS), built
from the row (help, example, EXPR or EXPR [EXPR ...], --order, its own
--format choices) and the shared option objects of OPTIONS. Each command
parses and checks its options and hands one Request to tapecli.run, which
decides between one point, a batch, a cluster, formulas or the row's own body.
Imports are deferred to where they are needed: a single point never loads
pyarrow, and rich only when a table goes to a terminal.
"""

from __future__ import annotations

import re
import sys

import click

from . import __version__
from .commands import COMMANDS, LISTINGS, Command
from .errors import TapecliError
from .output import FORMATS

# VALUE of --at: a decimal or scientific number, or inf, -inf, nan (not Python's
# other float spellings such as 1_000).
# ASCII digits only, as in expressions: \d and float() would take ١٢ and １２ too.
_NUMBER = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)",
                     re.IGNORECASE)
# The highest --order (a million Taylor coefficients): beyond it a usage error, never
# an OverflowError or a MemoryError from building the sequence of differentiations.
MAX_ORDER = 1_000_000
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


def _run(row: Command, texts: list[str], **options) -> None:
    """Every command's body: the paths checked as click checks a file option,
    then one Request to the run layer (tapecli.run), which knows nothing of click."""
    from .run import Request, run

    if not options.get("formula") and options.get("scheduler") is None:
        _paths(options.get("input_path"), options.get("output_path"))
    run(Request(row, tuple(texts), **options))


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
        *(_own_format(row) if flag == "--format" and row.formats else OPTIONS[flag]
          for flag in row.options)]
    if row.order is not None:
        params.append(click.Option(["--order"], type=click.IntRange(max=MAX_ORDER),
                                   metavar=row.order.metavar,
                                   help=row.order.help))

    def callback(expressions, **options):
        _run(row, _expressions(expressions, one=not row.many), **options)

    example = "".join(f"\n  {line}" for line in row.example)
    return _Command(row.name, context_settings=_CONTEXT, callback=callback,
                         params=params, help=f"{row.help}\n\n\b\nExample:{example}")


def _own_format(row: Command) -> click.Option:
    """--format for a row with choices of its own (trace: a listing, table or json)."""
    return click.Option(["--format", "fmt"], type=click.Choice(row.formats),
                        default=row.formats[0],
                        help=f"{' or '.join(row.formats)} (default {row.formats[0]}).")


for _row in COMMANDS + LISTINGS:
    cli.add_command(_click_command(_row))


# -- the process -------------------------------------------------------------------

def main(argv: list[str] | None = None, prog_name: str = "tapecli") -> None:
    """Console-script entry point: run the CLI and turn user errors into exit statuses."""
    from .run import prepare_process, silence_stdout

    prepare_process()
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
        silence_stdout()
        status = 1
    sys.exit(status if isinstance(status, int) else 0)
