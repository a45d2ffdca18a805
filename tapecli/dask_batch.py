"""A batch over a dataset on a Dask cluster: one task per part file, one output part each.

The input is a Parquet or CSV file, a directory of part files or a glob; each
part file is a partition. A task reads its part with tapecli's own batch reader
(row group by row group, CSV block by block), evaluates it with the job's
compiled plan and writes `part-NNNNN.parquet` (or `.csv`, `.jsonl`) with
tapecli's own batch writer, through the same block pipeline as the
single-machine batch: a worker's memory stays flat however big its part, and
the numbers and their text are those of `tapecli grad --input part` bit for
bit. A part is written under a temporary name and renamed when complete, so a
part that looks finished is finished; the rows of a part that fails (a bad
row, --strict) are not kept.

Dask does the rest: a worker that dies is replaced (the nanny restarts it) and
its parts rerun elsewhere. A Job travels as its texts, wrt and order (a few
hundred bytes, tapecli.jobs) and unpickles through the parser's cache, so a
worker compiles its plans once for all its parts. This module imports
distributed only inside the functions that need it, so that a worker running a
part loads neither pandas nor dask.dataframe; tapecli.dask builds on it.

Paths with a protocol (`s3://bucket/points/`, `gs://...`) go through fsspec
and need its filesystem package (s3fs, gcsfs); local paths use the OS directly.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Sequence

from .errors import DataError, TapecliError, UsageError
from .formats import BY_NAME as BY_FORMAT
from .formats import having, listing

CONNECT_SECONDS = 5  # a scheduler that does not answer by then is reported, not waited on
# A cluster with no worker for this long (none joined, or all left and none came
# back) is reported rather than waited on for ever.
WORKER_SECONDS = 30
PART_EXTENSIONS = tuple(e for f in having("reader") for e in f.extensions)
DEFAULT_PARTS = "parquet"  # the format of the output parts without --format
_ADDRESS = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}")
_GLOB = re.compile(r"[*?\[]")
_PART = re.compile(r"part-\d{5}\.")

# -- the run ----------------------------------------------------------------------------

def run_dataset(job, source: str, output: str, *, fmt: str | None = None,
                keep_input: bool = False, strict: bool = False,
                scheduler: str = "local", workers: int | None = None) -> None:
    """Run `job` (a tapecli.jobs.Job) over every part of `source`
    on the Dask cluster `scheduler` ("local": worker processes on this machine,
    `workers` of them, default one per core; or "tcp://HOST:PORT"), writing one
    part per input part into the directory `output`. Raises UsageError for bad
    options, DataError for bad data (naming its part), TapecliError when the
    cluster fails."""
    extension = part_extension(fmt)
    _check_scheduler(scheduler)
    parts = list_parts(source)
    targets = _check_output(output, len(parts), extension, source)
    # Workers run in directories of their own: they get absolute paths, messages
    # keep the names the user gave.
    where = [_absolute(part) for part in parts]
    targets = [_absolute(target) for target in targets]
    run = uuid.uuid4().hex[:8]
    try:
        with _client(scheduler, workers) as client:
            _wait_for_workers(client, scheduler)
            # Checked and made where the parts go: on a worker.
            _result(client, client.submit(prepare_output, _absolute(output), output,
                                          pure=False), scheduler)
            futures = [client.submit(run_part, job, path, target, extension[1:], keep_input,
                                     strict, shown, run, key=f"tapecli-part-{run}-{i:05d}",
                                     pure=False)
                       for i, (path, target, shown) in enumerate(zip(where, targets, parts))]
            if _is_terminal(sys.stderr):
                from distributed import progress

                with contextlib.redirect_stdout(sys.stderr):  # dask's bar draws on stdout
                    progress(futures, scheduler=client.scheduler.address)
            totals, rows = _collect(client, futures, parts, scheduler)
    finally:
        # Also after an error or a signal: a worker stopped while writing a part
        # leaves its temporary file.
        _remove_leftovers(output, run)
    if totals:
        from . import domain

        print(f"tapecli: warning: {domain.describe(totals, rows)}", file=sys.stderr)


def _absolute(path: str) -> str:
    return path if _is_remote(path) else os.path.abspath(path)


def part_extension(fmt: str | None) -> str:
    """The output parts' extension for --format: a format with a batch writer
    (tapecli.formats), Parquet unless another is asked for."""
    writers = having("batch")
    row = BY_FORMAT.get(fmt or DEFAULT_PARTS)
    if row is None or row.batch is None:
        others = listing([f.name for f in writers if f.name != DEFAULT_PARTS])
        raise UsageError(f"--format {fmt}: a dataset batch writes {DEFAULT_PARTS} "
                         f"(the default), {others} parts")
    return row.extensions[0]


def _check_scheduler(scheduler: str) -> None:
    if scheduler != "local" and not _ADDRESS.fullmatch(scheduler):
        raise UsageError(f"--scheduler {scheduler}: expected local or tcp://HOST:PORT")


# -- the input parts ----------------------------------------------------------------

def list_parts(source: str) -> list[str]:
    """The part files of `source`, in input order (names compared number by number,
    so part-2 comes before part-10). A directory's parts are its .parquet and .csv
    files, leaving out hidden ones and _SUCCESS-like markers; a glob's are its matches."""
    if _is_remote(source):
        names, is_dir = _remote_names(source)
    elif _GLOB.search(source) and not os.path.exists(source):
        names, is_dir = [p for p in glob.glob(source) if os.path.isfile(p)], False
        if not names:
            raise UsageError(f"--input {source}: no file matches")
    elif os.path.isdir(source):
        names = [os.path.join(source, n) for n in os.listdir(source)
                 if os.path.isfile(os.path.join(source, n))]
        is_dir = True
    elif os.path.exists(source):
        names, is_dir = [source], False
    else:
        raise UsageError(f"--input {source}: no such file or directory")
    if is_dir:
        names = [n for n in names if _is_part_name(os.path.basename(n.rstrip("/")))]
        if not names:
            raise UsageError(f"--input {source}: the directory holds no .parquet or .csv "
                             "part files")
    return sorted(names, key=_natural)


def _is_part_name(name: str) -> bool:
    return not name.startswith(("_", ".")) and name.lower().endswith(PART_EXTENSIONS)


def _natural(name: str) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", name)]


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _filesystem(url: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:  # no filesystem package for the protocol
        raise UsageError(f"{url}: {e}") from None


@contextlib.contextmanager
def storage_errors(url: str):
    """Turn what a remote store's library raises (botocore's NoCredentialsError or
    EndpointConnectionError, an access denied, a time-out) into one DataError
    line that names the URL and the cause."""
    try:
        yield
    except TapecliError:
        raise
    except Exception as e:  # noqa: BLE001 - filtered to the storage libraries below
        library = type(e).__module__.split(".")[0]
        if not isinstance(e, OSError) and library not in _STORAGE_LIBRARIES:
            raise
        cause = _first_line(e) or type(e).__name__
        raise DataError(f"{url}: the storage failed: {cause}") from None


# Libraries under fsspec whose errors are a store's answer, not tapecli's bug.
_STORAGE_LIBRARIES = {"botocore", "aiobotocore", "s3fs", "fsspec", "gcsfs", "adlfs",
                      "aiohttp", "google", "azure"}


def _remote_names(source: str) -> tuple[list[str], bool]:
    with storage_errors(source):
        return _listed_names(source)


def _listed_names(source: str) -> tuple[list[str], bool]:
    fs, path = _filesystem(source)
    if _GLOB.search(path):
        names, is_dir = [p for p in fs.glob(path) if fs.isfile(p)], False
        if not names:
            raise UsageError(f"--input {source}: no file matches")
    elif fs.isdir(path):
        names, is_dir = [p for p in fs.ls(path, detail=False) if fs.isfile(p)], True
    elif fs.exists(path):
        names, is_dir = [path], False
    else:
        raise UsageError(f"--input {source}: no such file or directory")
    return [fs.unstrip_protocol(n) for n in names], is_dir


# -- the output directory -----------------------------------------------------------

def _check_output(output: str, count: int, extension: str, source: str) -> list[str]:
    """The path of each output part. A directory that already holds parts is
    refused: mixing two runs' parts would look like one. Nothing is created yet."""
    if _is_remote(output):
        base = output.rstrip("/")
        with storage_errors(output):
            held = _held_parts(output)
    else:
        if os.path.exists(output) and not os.path.isdir(output):
            raise UsageError(f"--output {output}: a dataset batch writes a directory of "
                             "parts; this is a file")
        if not _is_remote(source) and os.path.isdir(source) and os.path.isdir(output) \
                and os.path.samefile(source, output):
            raise UsageError(f"--output {output} is the input directory")
        base = output
        held = _held_parts(output)
    if held:
        raise UsageError(f"--output {output} already holds parts ({held[0]}, ...): "
                         "remove them or choose another directory")
    return [f"{base}/part-{i:05d}{extension}" for i in range(count)]


def prepare_output(output: str, shown: str) -> TapecliError | None:
    """On a worker, where the parts go: refuse a directory that already holds
    parts (the client's check sees the client's files only), then make it. A
    directory that cannot be made is a DataError (exit 1), like any output
    that cannot be written. The error is returned, not raised: it is the
    user's, and a worker logs the exceptions of its tasks."""
    try:
        with storage_errors(shown) if _is_remote(output) else contextlib.nullcontext():
            held = _held_parts(output)
            if held:
                return UsageError(f"--output {shown} already holds parts ({held[0]}, ...): "
                                  "remove them or choose another directory")
            if _is_remote(output):
                fs, path = _filesystem(output)
                fs.makedirs(path, exist_ok=True)
            else:
                os.makedirs(output, exist_ok=True)
    except TapecliError as e:
        return e
    except OSError as e:
        return DataError(f"--output {shown}: cannot make the directory: {e.strerror or e}")
    return None


def _held_parts(output: str) -> list[str]:
    if _is_remote(output):
        fs, path = _filesystem(output)
        held = [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)] if fs.isdir(path) else []
    else:
        held = os.listdir(output) if os.path.isdir(output) else []
    return sorted(n for n in held if _PART.match(n))


def _remove_leftovers(output: str, run: str) -> None:
    """This run's temporary parts left by a worker that died or was stopped while
    writing them (a rerun wrote the part again under another name)."""
    if _is_remote(output) or not os.path.isdir(output):
        return  # remote parts are uploaded whole and never leave a temporary file
    for name in os.listdir(output):
        if name.startswith(".part-") and name.endswith(".tmp") and f".{run}" in name:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(output, name))


# -- the cluster --------------------------------------------------------------------

@contextlib.contextmanager
def _client(scheduler: str, workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'tapecli[dask]'") from None

    _quiet_dask()
    if scheduler == "local":
        with LocalCluster(n_workers=workers or _cores(), threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None,
                          # The scheduler's HTTP server (health, metrics) listens
                          # anyway: on a free port, not on a taken 8787.
                          scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                          # A new worker imports what a part needs while the cluster
                          # starts, not on its first part (half a second saved).
                          preload=[__name__],
                          # A part's error is the client's one line, not a worker's log.
                          silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster, set_as_default=False) as client:
            yield client
        return
    _probe(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except OSError as e:  # TimeoutError is one
        raise _unreachable(scheduler, e) from None
    with client:
        yield client


def _quiet_dask() -> None:
    """The client's own logs (a lost connection, its retries) would print tracebacks
    that the one-line error already says."""
    for name in ("distributed", "distributed.client", "distributed.worker",
                 "distributed.scheduler", "distributed.nanny", "distributed.core"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _probe(scheduler: str) -> None:
    """Ask the scheduler who it is, within CONNECT_SECONDS in all: distributed's
    Client waits for ever on an address that accepts a connection and never answers."""
    import asyncio

    async def identity():
        from distributed.comm import connect

        comm = await connect(scheduler, timeout=CONNECT_SECONDS)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        answer = asyncio.run(asyncio.wait_for(identity(), CONNECT_SECONDS))
    except (OSError, asyncio.TimeoutError) as e:  # CommClosedError is an OSError too
        raise _unreachable(scheduler, e) from None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise TapecliError(f"cannot use {scheduler}: it answers, but not as a Dask scheduler")


def _unreachable(scheduler: str, error: BaseException) -> TapecliError:
    import asyncio

    timed_out = isinstance(error, (TimeoutError, asyncio.TimeoutError)) \
        or "Timed out" in str(error)
    why = f"no answer within {CONNECT_SECONDS} s" if timed_out else _first_line(error)
    return TapecliError(f"cannot reach the Dask scheduler at {scheduler}: {why}")


def _wait_for_workers(client, scheduler: str) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_SECONDS)
    except (TimeoutError, OSError):
        raise TapecliError(f"the Dask scheduler at {scheduler} has no workers: none joined "
                           f"within {WORKER_SECONDS} s (start some with "
                           f"`dask worker {scheduler}`)") from None


def _result(client, future, scheduler: str):
    """A small task's result, raising its TapecliError as it is."""
    for done in _as_completed(client, [future], scheduler):
        _raise_failure(client, done, scheduler, None)
    return future.result()


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _collect(client, futures, parts: Sequence[str], scheduler: str) -> tuple[Counter, int]:
    """Wait for every part; on the first that fails, cancel the rest and raise its
    error. A cluster that loses its last worker, or a scheduler that goes away, is
    an error too, after WORKER_SECONDS, rather than a wait for ever."""
    totals: Counter = Counter()
    rows = 0
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in _as_completed(client, futures, scheduler):
            _raise_failure(client, future, scheduler, parts[index[future.key]])
            count, problems = future.result()
            rows += count
            totals.update(problems)
    except BaseException:
        for other in futures:
            other.cancel()
        raise
    return totals, rows


def _as_completed(client, futures, scheduler: str):
    """The futures as they finish; between them, every second, a look at the
    cluster (distributed's own wait has no time-out for a lost scheduler)."""
    import time

    from distributed import as_completed

    pending = as_completed(futures, loop=client.loop)
    alone_since = None
    last_look = time.monotonic()
    while not pending.is_empty():
        if pending.has_ready():
            yield from pending.next_batch(block=False)
            continue
        time.sleep(0.05)
        if time.monotonic() - last_look >= 1:
            alone_since = _check_cluster(client, scheduler, alone_since)
            last_look = time.monotonic()


def _check_cluster(client, scheduler: str, alone_since: float | None) -> float | None:
    """Between results: whether the scheduler is still there and has workers."""
    import time

    if client.status not in ("running", "connecting"):
        raise _lost(scheduler)
    if client.scheduler_info(n_workers=-1).get("workers"):
        return None
    now = time.monotonic()
    if alone_since is None:
        return now
    if now - alone_since > WORKER_SECONDS:
        raise TapecliError(f"the Dask scheduler at {scheduler} lost its workers and none "
                           f"came back within {WORKER_SECONDS} s")
    return alone_since


def _lost(scheduler: str) -> TapecliError:
    return TapecliError(f"lost the Dask scheduler at {scheduler} during the run; the parts "
                        "written so far are kept")


def _raise_failure(client, future, scheduler: str, part: str | None) -> None:
    """Raise what went wrong with a finished future, if anything: a part's own
    TapecliError (returned by run_part, so that workers log nothing), or the
    cluster's failure."""
    if future.status == "lost" and client.status == "running":
        future.result()  # its result died with a worker: the scheduler reruns it
    if future.status == "finished":
        result = future.result()
        if isinstance(result, TapecliError):
            raise result
        return
    if client.status not in ("running", "connecting") or future.status in ("cancelled",
                                                                           "lost"):
        raise _lost(scheduler)
    error = future.exception()
    if error is None:
        raise _lost(scheduler)
    if isinstance(error, TapecliError):
        raise error
    where = f"{part}: " if part else ""
    raise TapecliError(f"{where}the cluster could not run this part: "
                       f"{type(error).__name__}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- one part (on a worker) ---------------------------------------------------------

def dask_setup(worker) -> None:
    """Run by a worker of `--scheduler local` as it starts (distributed's preload)."""
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401

    from . import batch, batch_output  # noqa: F401


def run_part(job, part: str, target: str, fmt: str, keep_input: bool,
             strict: bool, shown: str | None = None, run: str = ""
             ) -> tuple[int, dict[str, int]] | TapecliError:
    """Evaluate the part file `part` into `target` (written whole, or not at all;
    never over a part that exists): the number of rows and the domain problems
    found, or the TapecliError that stopped it, naming the part as `shown`
    (default `part`). The error is returned, not raised: a bad row is the
    user's, and a worker logs the exceptions of its tasks."""
    import pyarrow as pa

    from . import batch, batch_output

    shown = shown or part
    # As in the single-machine batch: the system allocator hands freed blocks back.
    pa.set_memory_pool(pa.system_memory_pool())
    parquet_in = part.lower().endswith(".parquet")
    echo = None
    if keep_input:
        echo = "lines" if fmt == "csv" and not parquet_in else "table"
    remote_out = _is_remote(target)
    directory, name = target.rsplit("/", 1)
    if remote_out:
        import tempfile
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
    else:
        temporary = f"{directory}/.{name}.{run}{uuid.uuid4().hex[:8]}.tmp"
    totals: Counter = Counter()
    rows = 0
    remote = _is_remote(part) or remote_out
    try:
        with (storage_errors(shown) if remote else contextlib.nullcontext()), \
                _open_part(part, job.inputs, echo, job) as reader:
            writer = batch_output.open_output(temporary, fmt, job, echo, reader, None,
                                                  replace=False)
            try:
                writer.start()
                # The single-machine pipeline: blocks read, evaluated and encoded
                # on threads, written in order; a bounded number in flight.
                with contextlib.closing(batch._pipeline(reader, writer, job, strict)) as blocks:
                    for done in blocks:
                        if done.payload is not None:
                            writer.write(done.payload)
                        totals.update(done.problems)
                        rows += done.rows
                        if done.error is not None:
                            raise done.error
            finally:
                writer.close()
        with storage_errors(shown) if remote else contextlib.nullcontext():
            _publish(temporary, target)
    except TapecliError as e:  # the same kind of error, naming the part
        kind = UsageError if isinstance(e, UsageError) else DataError
        return kind(f"{shown}: {e}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    return rows, dict(totals)


def _same_part(temporary: str, target: str) -> bool:
    """Whether the part at `target` holds exactly these bytes: a rerun (its worker
    died after publishing, before reporting) finds its own part, bit for bit."""
    import filecmp

    with contextlib.suppress(OSError):
        return filecmp.cmp(temporary, target, shallow=False)
    return False


def _publish(temporary: str, target: str) -> None:
    """Give the finished part its name, unless a part of that name exists: then
    another run wrote there since the client looked, and its part is kept."""
    exists = DataError(f"{target} already exists (written by another run at the same "
                       "time?); it is left as it is")
    if _is_remote(target):
        fs, path = _filesystem(target)
        if fs.exists(path):
            raise exists
        fs.put_file(temporary, path)  # an object store publishes an upload whole
        return
    try:
        os.link(temporary, target)  # fails if the target exists, atomically
    except FileExistsError:
        if _same_part(temporary, target):
            return
        raise exists from None
    except OSError:  # a file system without hard links
        if os.path.exists(target):
            raise exists from None
        os.replace(temporary, target)


@contextlib.contextmanager
def _open_part(part: str, variables, echo, job):
    from . import batch_input

    max_rows = batch_input.rows_per_block(len(job.column_names()))
    if not _is_remote(part):
        reader = batch_input.open_reader(part, variables, echo, max_rows)
    else:
        fs, path = _filesystem(part)
        stream = fs.open(path, "rb")
        try:
            if part.lower().endswith(".parquet"):
                reader = batch_input.ParquetReader(stream, variables, echo, max_rows)
                reader.name = part
            else:
                reader = batch_input.CsvReader(stream, part, variables, echo, max_rows,
                                               owned=False)
        except BaseException:
            stream.close()
            raise
        reader = _Closing(reader, stream)
    try:
        yield reader
    finally:
        reader.close()


class _Closing:
    """A reader whose remote stream is closed with it."""

    def __init__(self, reader, stream):
        self._reader, self._stream = reader, stream

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._stream.close()
