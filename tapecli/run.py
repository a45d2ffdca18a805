"""The run layer: one validated request in, the right run out; nothing of click.

tapecli.cli parses and checks options and hands a `Request` to `run`, which
picks what the request asks for: the command's own body (a row with `run`:
plot in tapecli.plot_draw, trace in tapecli.tape_listing), formulas, a batch over a dataset on a Dask cluster, a batch from
a file or stdin, or one point. Everything here can be called from Python with
plain values; errors are TapecliErrors, which the CLI turns into one line and
an exit status. The process's own setup (signals, a closed stdout) is here
too, as `prepare_process`, so that the CLI module only parses.
"""

from __future__ import annotations

import errno
import io
import math
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

from .errors import UsageError
from .formats import BY_NAME as BY_FORMAT
from .output import stdin_is_piped, write_to

if TYPE_CHECKING:  # annotations only: a row's own body (trace, plot) takes a Request
    from .commands import Command

# The most numbers one point's result may hold (8 MB of float64). At 10,000,000
# a Hessian's tensors took 40 s and 2 GB and printed 200 MB; at this limit,
# seconds and about 200 MB. Batches and --formula multiply it by rows or text.
MAX_ENTRIES = 1_000_000


@dataclass(frozen=True)
class Request:
    """What one command line asks for, its options checked one by one.

    `texts` are the EXPR arguments; `point` the --at values (None: not given);
    the other fields are the options of that name (None or False: not given).
    """

    command: Command
    texts: tuple[str, ...]
    point: Mapping[str, float] | None = None
    wrt: Sequence[str] | None = None
    fmt: str | None = None
    input_path: str | None = None
    keep_input: bool = False
    output_path: str | None = None
    strict: bool = False
    order: int | None = None
    formula: bool = False
    scheduler: str | None = None
    over: str | None = None
    points: int | None = None
    digits: int | None = None


def run(request: Request) -> None:
    """Run the request: the row's own body (`Command.run`: plot, trace), or a Job
    at one point, over a batch, over a dataset on a cluster, or as formulas."""
    from .jobs import Job
    from .parser import parse

    expressions = [parse(text) for text in request.texts]
    if request.command.run is not None:
        request.command.run(request, expressions)
        return
    job = Job.create(request.command, expressions, request.wrt, request.order)
    check_size(job)
    if request.digits is not None and (request.formula or request.scheduler is not None):
        raise UsageError("--digits prints certified numbers at points: not with "
                         + ("--formula" if request.formula else "--scheduler"))
    if request.formula:
        run_formulas(job, request)
        return
    fmt = request.fmt
    if fmt is not None and BY_FORMAT[fmt].point is None and BY_FORMAT[fmt].batch is None:
        raise UsageError(f"--format {fmt} prints formulas: add --formula")
    if request.scheduler is not None:
        run_on_cluster(job, request)
        return
    if request.point is not None and request.input_path is not None:
        raise UsageError("give either --at (one point) or --input (a batch), not both")
    if request.input_path is not None or (request.point is None and job.inputs
                                          and stdin_is_piped()):
        if request.digits is not None:  # every row in balls, in worker processes
            from .digits_batch import run_digits_batch

            run_digits_batch(job, request.input_path or "-",
                             output=_output_file(request.output_path), fmt=fmt,
                             keep_input=request.keep_input, digits=request.digits)
            return
        from .batch import run_batch

        run_batch(job, request.input_path or "-", output=_output_file(request.output_path),
                  fmt=fmt, keep_input=request.keep_input, strict=request.strict)
        return
    run_point(job, request)


def run_point(job, request: Request) -> None:
    """One point: compute, warn about (or refuse) domain problems, write."""
    from .derivatives import point_for
    from .output import write_result

    given = request.point or {}
    point = point_for(job.inputs, given)
    fmt = single_point_format(request.fmt, request.output_path)
    result = job.compute(point)
    certified = certify(job, point, result, request.strict, request.digits)
    check_domain(job, point, result if request.digits else certified, request.strict)
    result = certified
    echo = given if request.keep_input else None
    write(request.output_path, lambda stream: write_result(job, result, point, fmt, stream, echo))


def run_formulas(job, request: Request) -> None:
    """--formula: the results as expressions; no point can be given."""
    from .formula_output import FORMATS as FORMULA_FORMATS
    from .formula_output import write_formulas

    if request.point is not None:
        raise UsageError("--formula prints expressions, not values at a point: drop --at")
    if request.input_path is not None:
        raise UsageError("--formula prints expressions, not values at points: drop --input")
    if request.fmt is not None and request.fmt not in FORMULA_FORMATS:
        raise UsageError(f"--formula prints {', '.join(FORMULA_FORMATS)}, "
                         f"not --format {request.fmt}")
    if job.inputs and batch_on_stdin():
        raise UsageError("--formula prints expressions, not values at points: "
                         "it reads no batch on stdin")
    write(request.output_path, lambda stream: write_formulas(job, request.fmt or "table", stream))


def run_on_cluster(job, request: Request) -> None:
    """--scheduler: the batch over a dataset of part files, on a Dask cluster."""
    if request.point is not None:
        raise UsageError("--scheduler runs a batch over --input; --at is for one point")
    if request.input_path in (None, "-"):
        raise UsageError("--scheduler needs --input: a Parquet or CSV file, a directory "
                         "of part files or a quoted glob")
    if request.output_path in (None, "-"):
        raise UsageError("--scheduler needs --output DIR: the directory that receives "
                         "one part per input part")
    from .dask_batch import run_dataset  # imports dask only now

    run_dataset(job, request.input_path, request.output_path, fmt=request.fmt,
                keep_input=request.keep_input, strict=request.strict,
                scheduler=request.scheduler)


# -- checks and helpers -------------------------------------------------------------

def check_size(job) -> None:
    """Refuse a result too large to hold (`hessian --order 40`: 2**40 entries per
    point) as a usage error, before any work, rather than run out of memory."""
    from .commands import entry_shape

    many = len(job.expressions) if job.command.many else None
    entries = sum(math.prod(entry_shape(key, job.variables, many)) for key in job.keys)
    if entries > MAX_ENTRIES:
        order = f" --order {job.order}" if job.order else ""
        raise UsageError(f"{job.command.name}{order}: {entries:,} numbers per point "
                         f"({len(job.variables)} variables); the limit is {MAX_ENTRIES:,}")


def single_point_format(fmt: str | None, output_path: str | None) -> str:
    """--format, else the --output file's extension (.csv .json .jsonl), else table."""
    from .formats import having, listing
    from .output import format_of_path

    extension = format_of_path(output_path)
    if extension is not None and BY_FORMAT[extension].point is None:
        points = listing([f.name for f in having("point")])
        raise UsageError(f"--output {output_path}: {BY_FORMAT[extension].describe or extension} "
                         f"is for batches (--input); one point is written as {points}")
    if fmt and extension and fmt != extension:
        raise UsageError(f"--format {fmt} does not match --output {output_path}")
    return fmt or extension or "table"


def check_domain(job, point, result, strict: bool) -> None:
    """Warn once about nan/inf from finite inputs, or refuse them with --strict."""
    from . import domain

    problems = domain.find_problems(job, point, result)
    if not problems:
        return
    if strict:
        raise domain.strict_error(problems)
    sys.stdout.flush()
    sys.stderr.write(f"tapecli: warning: {domain.describe(problems)}\n")


def certify(job, point, result, strict: bool, digits: int | None):
    """Every number the float64 nearest its exact value, or N certified digits
    (tapecli.accuracy); one warning line, or with --strict an error, for those
    that stay uncertain."""
    from . import accuracy

    result, uncertain = accuracy.certify(job, point, result, digits)
    if uncertain:
        if strict:
            raise accuracy.strict_error(uncertain)
        sys.stdout.flush()
        sys.stderr.write(f"tapecli: warning: {accuracy.describe(uncertain)}\n")
    return result


def batch_on_stdin() -> bool:
    """Whether stdin is a pipe or file with data in it (read to its end, as a batch
    would be); a terminal or /dev/null holds none."""
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, ValueError, OSError):
        return False
    return (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)) and bool(sys.stdin.read().strip())


def _output_file(path: str | None) -> str | None:
    return None if path in (None, "-") else path


def write(output_path: str | None, writer) -> None:
    """Call `writer(stream)` on the --output file, or on stdout."""
    write_to(output_path, writer, sys.stdout)


# -- the process ---------------------------------------------------------------------

def prepare_process() -> None:
    """Signals and stdout as a Unix tool wants them, before anything is written."""
    # A closed pipe (`tapecli ... | head -1`) ends the process quietly, as it ends cat.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # A file-size limit reached (`ulimit -f`) is then a failed write, not a core dump.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # SIGTERM (kill, a job scheduler's stop) unwinds like Ctrl-C: temporary files
    # are removed and a local Dask cluster is shut down, leaving no process behind.
    signal.signal(signal.SIGTERM, _terminate)
    if sys.stdout is None:  # fd 1 closed: fail on the first write, like any other output
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStream()), encoding="utf-8")
    elif hasattr(sys.stdout, "reconfigure"):
        # A character the terminal's encoding lacks (PYTHONIOENCODING=ascii) is
        # written as an escape, never a UnicodeEncodeError.
        sys.stdout.reconfigure(errors="backslashreplace")


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # the status a shell reports for the signal


class _ClosedStream(io.RawIOBase):
    """Stands for a stdout the shell closed (`>&-`): a write fails as it would on fd 1."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.EBADF, "stdout is closed")


def silence_stdout() -> None:
    """After a failed write, drop what is still buffered: Python's flush at exit
    would fail again and print a traceback of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.BytesIO()), encoding="utf-8")
