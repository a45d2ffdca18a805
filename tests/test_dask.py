"""tapecli on real Dask clusters: the DataFrame API (tapecli.dask) and the dataset batch
(tapecli.dask_batch), against the single-machine Job and batch, row for row.

Two clusters, both on 127.0.0.1 and stopped at the end: a distributed.LocalCluster
of two worker processes, and a `dask scheduler` with `dask worker` processes started
as a user starts them. The numbers must be the single machine's bit for bit, so
every comparison is np.array_equal (nan where nan).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import dask.dataframe as dd
import distributed
import pytest

import tapecli
import tapecli.dask as tapecli_dask
from tapecli import dask_batch
from tapecli.batch import run_batch
from tapecli.errors import DataError, TapecliError, UsageError
from tapecli.jobs import Job

DASK = Path(sys.executable).parent / "dask"
EXPRESSION = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def points(rows: int, seed: int, columns: str = "xyz") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.standard_normal(rows) for c in columns})


def assert_same_numbers(got: pd.DataFrame | pa.Table, want: dict[str, np.ndarray]) -> None:
    got_names = list(got.columns) if isinstance(got, pd.DataFrame) else got.column_names
    assert got_names == list(want)
    for name, column in want.items():
        values = np.asarray(got[name])
        assert values.dtype == np.float64
        assert np.array_equal(values, column, equal_nan=True), name


def make_job(command: str, texts, wrt=None, order=None) -> Job:
    return Job.create(command, [tapecli.parse(t) for t in texts], wrt, order)


def single_machine(command: str, texts, frame: pd.DataFrame, wrt=None, order=None) -> dict:
    """The Job's columns on the whole frame at once, in this process."""
    job = make_job(command, texts, wrt, order)
    with np.errstate(all="ignore"):
        result = job.compute({v: frame[v].to_numpy() for v in job.inputs})
    return dict(zip(job.column_names(), job.columns(result)))


# -- the clusters -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, no dashboard."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  silence_logs=logging.ERROR) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def dask_cli_cluster(tmp_path_factory):
    """`dask scheduler` and `dask worker` as separate processes, stopped at the end."""
    logs = tmp_path_factory.mktemp("dask-logs")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "wb")
        processes.append((subprocess.Popen([str(DASK), *args], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT), log))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
              "--no-dashboard", "--dashboard-address", "127.0.0.1:0")
        start("worker", "worker", address, "--host", "127.0.0.1", "--nworkers", "2",
              "--nthreads", "1", "--no-dashboard")
        with distributed.Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process, _ in reversed(processes):
            process.terminate()
        for process, log in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def write_parts(directory: Path, frames, kind: str = "parquet", row_group: int = 7000):
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = directory / f"points-{i}.{kind}"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if kind == "parquet":
            pq.write_table(table, path, row_group_size=row_group)
        else:
            pa_csv.write_csv(table, path)
        paths.append(path)
    return paths


def read_part(path: Path):
    return pq.read_table(path) if path.suffix == ".parquet" else path.read_bytes()


def batch_of_one(job, part: Path, out: Path, keep_input=False) -> object:
    """What `tapecli grad --input part --output out` writes, in this process."""
    run_batch(job, str(part), output=str(out), fmt=None, keep_input=keep_input, strict=False)
    return read_part(out)


# -- the DataFrame API --------------------------------------------------------------

def test_each_api_function_gives_the_single_machine_numbers_row_for_row(client):
    frame = points(30000, 1)
    ddf = dd.from_pandas(frame, npartitions=5)
    cases = [
        (tapecli_dask.value(ddf, EXPRESSION), "eval", [EXPRESSION], None, None),
        (tapecli_dask.gradient(ddf, EXPRESSION), "grad", [EXPRESSION], None, None),
        (tapecli_dask.gradient(ddf, EXPRESSION, wrt=["z", "x"]), "grad", [EXPRESSION],
         ["z", "x"], None),
        (tapecli_dask.hessian(ddf, "x**2*y + log(y) + z"), "hessian",
         ["x**2*y + log(y) + z"], None, None),
        (tapecli_dask.derivative(ddf, "sin(x)*exp(x)", ["x"], order=5), "diff",
         ["sin(x)*exp(x)"], ["x"], 5),
        (tapecli_dask.derivative(ddf, "x**2*y", ["x", "x", "y"]), "diff", ["x**2*y"],
         ["x", "x", "y"], None),
        (tapecli_dask.jacobian(ddf, ["x*y", "x+z", "hypot(x, y)"]), "jacobian",
         ["x*y", "x+z", "hypot(x, y)"], None, None),
    ]
    for result, command, texts, wrt, order in cases:
        got = result.compute()
        assert got.index.equals(frame.index)
        assert_same_numbers(got, single_machine(command, texts, frame, wrt, order))


def test_the_result_is_lazy_keeps_the_partitions_and_its_meta_names_every_column(
        client, tmp_path):
    loads = tmp_path / "loads"
    loads.mkdir()
    frame = points(4000, 2, "xy")

    def load(i):  # leaves a mark in a directory that every worker process sees
        (loads / f"{i}-{os.getpid()}-{time.monotonic_ns()}").touch()
        return frame.iloc[i * 1000:(i + 1) * 1000]

    ddf = dd.from_map(load, range(4), meta=frame.iloc[:0], divisions=[0, 1000, 2000, 3000,
                                                                        3999])
    result = tapecli_dask.hessian(ddf, "x**2*y")
    assert list(loads.iterdir()) == []  # nothing ran
    assert result.npartitions == ddf.npartitions
    assert result.divisions == ddf.divisions
    names = ["f", "df/dx", "df/dy", "d2f/dxdx", "d2f/dxdy", "d2f/dydx", "d2f/dydy"]
    assert list(result.columns) == names
    assert all(dtype == np.float64 for dtype in result.dtypes)
    got = result.compute()
    assert len(list(loads.iterdir())) == 4
    assert_same_numbers(got, single_machine("hessian", ["x**2*y"], frame))
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    assert np.array_equal(got["df/dx"], 2 * x * y)  # calculus, independently


def test_the_result_composes_with_to_parquet_persist_and_a_join(client, tmp_path):
    frame = points(12000, 3, "xy")
    frame["label"] = [f"row{i}" for i in range(len(frame))]
    ddf = dd.from_pandas(frame, npartitions=3)
    want = single_machine("grad", ["x*exp(y)"], frame)

    persisted = tapecli_dask.gradient(ddf, "x*exp(y)").persist()
    assert_same_numbers(persisted.compute(), want)

    joined = ddf.join(tapecli_dask.gradient(ddf, "x*exp(y)")).compute()
    assert list(joined.columns) == ["x", "y", "label", "f", "df/dx", "df/dy"]
    assert list(joined["label"]) == list(frame["label"])
    assert_same_numbers(joined[["f", "df/dx", "df/dy"]], want)

    tapecli_dask.gradient(ddf, "x*exp(y)").to_parquet(tmp_path / "out")
    written = sorted((tmp_path / "out").glob("*.parquet"))
    assert len(written) == 3
    back = pd.concat([pd.read_parquet(p) for p in written])
    assert_same_numbers(back, want)


def test_domain_problems_and_nulls_give_ieee_results_as_the_single_machine_does(client):
    frame = pd.DataFrame({"x": [4.0, -1.0, 0.0, np.nan, 2.0, -3.0]})
    ddf = dd.from_pandas(frame, npartitions=2)
    got = tapecli_dask.gradient(ddf, "log(x) + sqrt(x)").compute()
    assert_same_numbers(got, single_machine("grad", ["log(x) + sqrt(x)"], frame))
    assert np.isnan(got["f"][1]) and got["f"][2] == -np.inf
    assert got["f"][0] == np.log(4.0) + 2.0


def test_integer_and_nullable_columns_are_read_as_float64(client):
    frame = pd.DataFrame({"x": pd.array([1, 2, None, 4], dtype="Int64"),
                          "y": np.arange(4, dtype=np.int32)})
    got = tapecli_dask.gradient(dd.from_pandas(frame, npartitions=2), "x*y").compute()
    assert np.array_equal(got["f"], [0.0, 2.0, np.nan, 12.0], equal_nan=True)
    assert np.array_equal(got["df/dy"], [1.0, 2.0, np.nan, 4.0], equal_nan=True)


def test_a_constant_expression_has_its_value_on_every_row(client):
    ddf = dd.from_pandas(points(10, 4, "x"), npartitions=2)
    got = tapecli_dask.value(ddf, "2**10").compute()
    assert list(got["f"]) == [1024.0] * 10


def test_api_errors_are_raised_when_the_frame_is_built_and_name_the_column():
    ddf = dd.from_pandas(pd.DataFrame({"x": [1.0], "s": ["a"], "b": [True]}), npartitions=1)
    with pytest.raises(DataError, match=r"no column named y in the dask DataFrame "
                                        r"\(its columns: x, s, b\)"):
        tapecli_dask.gradient(ddf, "x*y")
    with pytest.raises(DataError, match="column 's' holds .* values, not numbers"):
        tapecli_dask.value(ddf, "s+1")
    with pytest.raises(DataError, match="column 'b' holds bool values"):
        tapecli_dask.value(ddf, "b+1")
    with pytest.raises(UsageError) as parse_error:
        tapecli_dask.gradient(ddf, "x +* 2")
    assert "^" in str(parse_error.value)
    with pytest.raises(UsageError, match="--order"):
        tapecli_dask.derivative(ddf, "x", ["x"], order=0)


def test_each_worker_compiles_the_plan_once_for_all_its_partitions(client):
    from tapecli import derivatives

    def counts():  # a driver holds the compiled plans of its expressions
        return derivatives._driver.cache_info().misses

    before = client.run(counts)
    frame = points(16 * 3000, 5, "xy")
    result = tapecli_dask.gradient(dd.from_pandas(frame, npartitions=16), "x*y + cos(x*y)")
    assert_same_numbers(result.compute(), single_machine("grad", ["x*y + cos(x*y)"], frame))
    after = client.run(counts)
    for worker, plans in after.items():
        assert plans - before[worker] <= 1


# -- the dataset batch ----------------------------------------------------------------

def test_a_parquet_directory_gives_one_part_per_input_part_in_natural_order_bit_for_bit(
        cluster, tmp_path):
    frames = [points(n, 10 + n, "xyz") for n in (20000, 1, 15000, 0, 9000, 12000, 3000, 5000,
                                                  7000, 100, 2500)]
    parts = write_parts(tmp_path / "in", frames)
    (tmp_path / "in" / "_SUCCESS").touch()  # markers and hidden files are not parts
    (tmp_path / "in" / ".points-0.parquet.crc").touch()
    job = make_job("grad", [EXPRESSION])
    dask_batch.run_dataset(job, str(tmp_path / "in"), str(tmp_path / "out"),
                           scheduler=cluster.scheduler_address)
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == [f"part-{i:05d}.parquet" for i in range(len(frames))]
    for i, part in enumerate(parts):  # points-10 after points-9: natural order
        got = pq.read_table(tmp_path / "out" / f"part-{i:05d}.parquet")
        want = batch_of_one(job, part, tmp_path / f"single-{i}.parquet")
        assert got.schema == want.schema
        assert_same_numbers(got, {n: want[n].to_numpy() for n in want.column_names})
        assert_same_numbers(got, single_machine("grad", [EXPRESSION], frames[i]))


def test_csv_parts_with_csv_format_are_the_single_machine_text_byte_for_byte(
        cluster, tmp_path):
    frames = [points(n, 20 + n, "xy") for n in (4000, 2500, 6000)]
    for frame in frames:
        frame["name"] = [f'n,"{i}"' for i in range(len(frame))]
    parts = write_parts(tmp_path / "in", frames, kind="csv")
    job = make_job("hessian", ["x**3*y - log(1+y**2)"])
    for keep in (False, True):
        out = tmp_path / f"out-{keep}"
        dask_batch.run_dataset(job, str(tmp_path / "in" / "points-*.csv"), str(out),
                               fmt="csv", keep_input=keep, scheduler=cluster.scheduler_address)
        assert sorted(os.listdir(out)) == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
        for i, part in enumerate(parts):
            want = batch_of_one(job, part, tmp_path / f"single-{i}-{keep}.csv", keep)
            assert (out / f"part-{i:05d}.csv").read_bytes() == want


def test_a_single_file_is_one_partition_and_jsonl_parts_are_possible(cluster, tmp_path):
    (part,) = write_parts(tmp_path, [points(3000, 30, "xy")])
    job = make_job("jacobian", ["x*y", "x-y"])
    dask_batch.run_dataset(job, str(part), str(tmp_path / "out"), fmt="jsonl",
                           scheduler=cluster.scheduler_address)
    assert os.listdir(tmp_path / "out") == ["part-00000.jsonl"]
    want = batch_of_one(job, part, tmp_path / "single.jsonl")
    assert (tmp_path / "out" / "part-00000.jsonl").read_bytes() == want


def test_a_bad_row_names_its_part_file_and_line_and_leaves_no_finished_part(
        cluster, tmp_path):
    directory = tmp_path / "in"
    write_parts(directory, [points(2000, 40, "xy"), points(2000, 41, "xy")], kind="csv")
    bad = directory / "points-1.csv"
    lines = bad.read_text().splitlines()
    lines[1500] = "0.5,oops"
    bad.write_text("\n".join(lines) + "\n")
    job = make_job("grad", ["x*y"])
    with pytest.raises(DataError) as error:
        dask_batch.run_dataset(job, str(directory), str(tmp_path / "out"),
                               scheduler=cluster.scheduler_address)
    assert str(error.value) == (f"{bad}: line 1501, column 2 (y): 'oops' is not a number")
    left = os.listdir(tmp_path / "out")
    assert "part-00001.parquet" not in left
    assert not [n for n in left if n.endswith(".tmp")]


def test_a_missing_column_names_the_column_and_the_part(cluster, tmp_path):
    write_parts(tmp_path / "in", [points(10, 50, "xy"), points(10, 51, "xz")])
    job = make_job("grad", ["x*y"])
    with pytest.raises(DataError) as error:
        dask_batch.run_dataset(job, str(tmp_path / "in"), str(tmp_path / "out"),
                               scheduler=cluster.scheduler_address)
    assert str(error.value) == (f"{tmp_path / 'in' / 'points-1.parquet'}: no column named y "
                                "in the input (its header has: x, z)")


def test_strict_names_the_part_and_row_and_warnings_sum_over_parts(
        cluster, tmp_path, capsys):
    frames = [pd.DataFrame({"x": [1.0, -1.0, 2.0]}), pd.DataFrame({"x": [-2.0, 0.0, 3.0]})]
    write_parts(tmp_path / "in", frames)
    job = make_job("eval", ["log(x)"])
    dask_batch.run_dataset(job, str(tmp_path / "in"), str(tmp_path / "out"),
                           scheduler=cluster.scheduler_address)
    warning = capsys.readouterr().err
    assert warning.startswith("tapecli: warning: non-finite results (nan or inf) from log")
    assert "3 of 6 rows" in warning or "3 rows" in warning
    with pytest.raises(DataError, match=r"points-0\.parquet: row 2: .*log"):
        dask_batch.run_dataset(job, str(tmp_path / "in" / "points-0.parquet"),
                               str(tmp_path / "strict"), strict=True,
                               scheduler=cluster.scheduler_address)
    assert os.listdir(tmp_path / "strict") == []


def test_a_workers_memory_stays_flat_however_big_its_part(tmp_path):
    # Each size in a fresh process (as a fresh worker): its peak RSS after one part,
    # VmHWM of its own memory (ru_maxrss would count this process's RSS at the fork).
    code = """
import re, sys
from tapecli import dask_batch
from tapecli.jobs import Job
from tapecli.parser import parse
job = Job.create("grad", [parse(sys.argv[2])])
dask_batch.run_part(job, sys.argv[1], sys.argv[1] + ".out.parquet", "parquet", False, False)
with open("/proc/self/status") as status:
    print(re.search(r"VmHWM:\\s*(\\d+) kB", status.read()).group(1))
"""
    peaks = []
    for rows in (800_000, 4_800_000):  # the big part is 96 MB more of x, y, z
        (part,) = write_parts(tmp_path / str(rows), [points(rows, 1, "xyz")],
                              row_group=1 << 17)
        result = subprocess.run([sys.executable, "-c", code, str(part), EXPRESSION],
                                capture_output=True, text=True, timeout=120, check=True)
        peaks.append(int(result.stdout.split()[-1]) / 1024)
    assert peaks[1] - peaks[0] < 40, peaks


def test_a_worker_killed_in_the_middle_of_a_run_is_replaced_and_the_output_is_whole(
        cluster, client, tmp_path):
    frames = [points(120000, 60 + i, "xyz") for i in range(8)]
    parts = write_parts(tmp_path / "in", frames, kind="csv")
    job = make_job("hessian", [EXPRESSION])
    out = tmp_path / "out"
    errors = []

    def run():
        try:
            dask_batch.run_dataset(job, str(tmp_path / "in"), str(out),
                                   scheduler=cluster.scheduler_address)
        except BaseException as e:  # noqa: BLE001 - checked below
            errors.append(e)

    runner = threading.Thread(target=run)
    runner.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        busy = [w for w, keys in client.processing().items()
                if any("tapecli-part" in str(k) for k in keys)]
        if busy and out.exists() and any(n.startswith("part-") for n in os.listdir(out)):
            killed = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    runner.join(timeout=120)
    assert killed is not None, "the run ended before a worker could be killed"
    assert errors == []
    assert sorted(os.listdir(out)) == [f"part-{i:05d}.parquet" for i in range(8)]
    for i, frame in enumerate(frames):
        got = pq.read_table(out / f"part-{i:05d}.parquet")
        assert_same_numbers(got, single_machine("hessian", [EXPRESSION], frame))
    client.wait_for_workers(2, timeout=60)  # the nanny started a new one
    assert killed not in client.run(os.getpid).values()


def test_a_scheduler_that_cannot_be_reached_is_one_line_error_within_seconds(tmp_path):
    write_parts(tmp_path / "in", [points(10, 70, "x")])
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(TapecliError) as error:
        dask_batch.run_dataset(make_job("grad", ["x"]), str(tmp_path / "in"),
                               str(tmp_path / "out"), scheduler=address)
    assert time.monotonic() - start < dask_batch.CONNECT_SECONDS + 5
    assert error.value.exit_code == 1
    message = str(error.value)
    assert "\n" not in message
    assert message == f"cannot reach the Dask scheduler at {address}: no answer within 5 s"
    assert not (tmp_path / "out").exists()


def test_bad_options_are_usage_errors(tmp_path):
    write_parts(tmp_path / "in", [points(10, 71, "x")])
    job = make_job("grad", ["x"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "held").mkdir()
    (tmp_path / "held" / "part-00000.parquet").touch()
    cases = [
        (str(tmp_path / "in"), str(tmp_path / "o1"), {"scheduler": "127.0.0.1:8786"},
         "--scheduler 127.0.0.1:8786: expected local or tcp://HOST:PORT"),
        (str(tmp_path / "in"), str(tmp_path / "o2"), {"fmt": "json"}, "--format json"),
        (str(tmp_path / "nowhere"), str(tmp_path / "o3"), {}, "no such file or directory"),
        (str(tmp_path / "*.csv"), str(tmp_path / "o4"), {}, "no file matches"),
        (str(tmp_path / "empty"), str(tmp_path / "o5"), {}, "holds no .parquet or .csv"),
        (str(tmp_path / "in"), str(tmp_path / "held"), {}, "already holds parts"),
        (str(tmp_path / "in"), str(tmp_path / "in"), {}, "is the input directory"),
        (str(tmp_path / "in"), str(tmp_path / "in" / "points-0.parquet"), {}, "this is a file"),
    ]
    for source, output, options, words in cases:
        with pytest.raises(UsageError) as error:
            dask_batch.run_dataset(job, source, output, **options)
        assert words in str(error.value)
        assert error.value.exit_code == 2


def test_a_progress_bar_goes_to_stderr_when_it_is_a_terminal(cluster, tmp_path, monkeypatch,
                                                             capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    write_parts(tmp_path / "in", [points(100, 80, "x"), points(100, 81, "x")])
    dask_batch.run_dataset(make_job("grad", ["x**2"]), str(tmp_path / "in"),
                           str(tmp_path / "out"), scheduler=cluster.scheduler_address)
    assert "100% Completed" in terminal.getvalue()
    assert capsys.readouterr().out == ""


def test_the_dask_cli_cluster_gives_the_same_numbers(dask_cli_cluster, tmp_path):
    frames = [points(5000, 90 + i, "xy") for i in range(4)]
    write_parts(tmp_path / "in", frames)
    job = make_job("grad", ["atan2(y, x) * x**2"])
    dask_batch.run_dataset(job, str(tmp_path / "in"), str(tmp_path / "out"),
                           scheduler=dask_cli_cluster)
    for i, frame in enumerate(frames):
        got = pq.read_table(tmp_path / "out" / f"part-{i:05d}.parquet")
        assert_same_numbers(got, single_machine("grad", ["atan2(y, x) * x**2"], frame))
    with distributed.Client(dask_cli_cluster) as c:
        frame = pd.concat(frames, ignore_index=True)
        got = tapecli_dask.gradient(dd.from_pandas(frame, npartitions=4),
                                    "atan2(y, x) * x**2").compute()
        assert len(c.scheduler_info()["workers"]) == 2
    assert_same_numbers(got, single_machine("grad", ["atan2(y, x) * x**2"], frame))


def test_scheduler_local_starts_and_stops_a_cluster_of_its_own(tmp_path):
    frames = [points(2000, 95 + i, "xy") for i in range(3)]
    write_parts(tmp_path / "in", frames)
    job = make_job("diff", ["x**3*y"], ["x", "x", "y"])
    dask_batch.run_dataset(job, str(tmp_path / "in"), str(tmp_path / "out"),
                           scheduler="local", workers=2)
    for i, frame in enumerate(frames):
        got = pq.read_table(tmp_path / "out" / f"part-{i:05d}.parquet")
        # Taylor mode's mixed partial: 6x to rounding, and the single machine's bits.
        assert np.allclose(got["d3f/dxdxdy"].to_numpy(), 6 * frame["x"].to_numpy(),
                           rtol=1e-13, atol=1e-13)
        assert_same_numbers(got, single_machine("diff", ["x**3*y"], frame, ["x", "x", "y"]))


def test_without_a_scheduler_nothing_imports_dask(tmp_path):
    points(5, 99, "xy").to_csv(tmp_path / "p.csv", index=False)
    code = f"""
import sys
import tapecli, tapecli.cli
for argv in (["grad", "x*y", "--at", "x=1,y=2"],
             ["grad", "x*y", "--input", {str(tmp_path / 'p.csv')!r}]):
    try:
        tapecli.cli.main(argv)
    except SystemExit as e:
        assert e.code == 0, e.code
loaded = sorted(m for m in sys.modules
                if m.split(".")[0] in ("dask", "distributed") or m.startswith("tapecli.dask"))
print("loaded:", loaded, file=sys.stderr)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "loaded: []"
    assert result.stdout.count("\n") > 5  # both commands printed their results


# -- the command line -----------------------------------------------------------------

SCRIPT = Path(sys.executable).parent / "tapecli"


def tapecli_run(*args: str) -> subprocess.CompletedProcess:
    """The installed script, as a user runs it, with stdin closed to input."""
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_every_batch_command_takes_scheduler():
    for command in ("eval", "grad", "hessian", "diff", "jacobian"):
        result = tapecli_run(command, "--help")
        assert "--scheduler ADDRESS" in result.stdout, command


def test_cli_scheduler_writes_the_single_machine_parts(cluster, tmp_path):
    frames = [points(n, 100 + n, "xyz") for n in (3000, 7000, 1)]
    parts = write_parts(tmp_path / "in", frames)
    result = tapecli_run("hessian", EXPRESSION, "--scheduler", cluster.scheduler_address,
                         "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert sorted(os.listdir(tmp_path / "out")) == [f"part-0000{i}.parquet" for i in range(3)]
    for i, part in enumerate(parts):
        single = tmp_path / f"single-{i}.parquet"
        assert tapecli_run("hessian", EXPRESSION, "--input", str(part),
                           "--output", str(single)).returncode == 0
        got, want = pq.read_table(tmp_path / "out" / f"part-0000{i}.parquet"), pq.read_table(single)
        assert got.schema == want.schema
        assert_same_numbers(got, {n: want[n].to_numpy() for n in want.column_names})


def test_cli_csv_parts_are_the_text_of_the_single_machine_batch(cluster, tmp_path):
    parts = write_parts(tmp_path / "in", [points(2000, 110, "xy"), points(500, 111, "xy")],
                        kind="csv")
    result = tapecli_run("diff", "sin(x)*exp(y)", "--wrt", "x", "--order", "4", "--format", "csv",
                         "--keep-input", "--scheduler", cluster.scheduler_address,
                         "--input", str(tmp_path / "in" / "*.csv"),
                         "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for i, part in enumerate(parts):
        single = tapecli_run("diff", "sin(x)*exp(y)", "--wrt", "x", "--order", "4",
                             "--keep-input", "--input", str(part))
        assert (tmp_path / "out" / f"part-0000{i}.csv").read_text() == single.stdout


def test_cli_scheduler_local_starts_its_own_cluster(tmp_path):
    frames = [points(4000, 120 + i, "xy") for i in range(2)]
    write_parts(tmp_path / "in", frames)
    result = tapecli_run("jacobian", "x*y", "x/y", "--scheduler", "local",
                         "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for i, frame in enumerate(frames):
        got = pq.read_table(tmp_path / "out" / f"part-0000{i}.parquet")
        assert_same_numbers(got, single_machine("jacobian", ["x*y", "x/y"], frame))
        x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
        assert np.array_equal(got["df2/dx"].to_numpy(), 1 / y)  # calculus, independently


def test_cli_errors_are_one_line_with_their_exit_status(cluster, tmp_path):
    directory = tmp_path / "in"
    write_parts(directory, [points(50, 130, "xy")], kind="csv")
    bad = directory / "points-0.csv"
    bad.write_text(bad.read_text().replace("\n", "\n1.0,\n", 1))
    address = cluster.scheduler_address
    out = str(tmp_path / "out")
    cases = [
        (["grad", "x*y", "--scheduler", address, "--input", str(directory), "--output", out],
         1, f"tapecli: error: {bad}: line 2, column 2 (y): empty field, expected a number"),
        (["grad", "x*z", "--scheduler", address, "--input", str(directory), "--output", out],
         1, f"tapecli: error: {bad}: no column named z in the input (its header has: x, y)"),
        (["grad", "x*y", "--scheduler", address, "--input", str(directory)],
         2, "tapecli: error: --scheduler needs --output DIR"),
        (["grad", "x*y", "--scheduler", address, "--at", "x=1,y=2", "--output", out],
         2, "tapecli: error: --scheduler runs a batch over --input"),
        (["grad", "x*y", "--scheduler", "localhost", "--input", str(directory), "--output", out],
         2, "tapecli: error: --scheduler localhost: expected local or tcp://HOST:PORT"),
        (["grad", "x*y", "--input", str(directory)], 2, "is a directory"),
    ]
    for args, status, message in cases:
        result = tapecli_run(*args)
        assert result.returncode == status, (args, result.stderr)
        assert message in result.stderr.strip().splitlines()[-1], result.stderr
        if status == 1:
            assert result.stderr.count("\n") == 1, result.stderr


def test_cli_unreachable_scheduler_exits_1_within_seconds(tmp_path):
    write_parts(tmp_path / "in", [points(10, 140, "x")])
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    result = tapecli_run("eval", "x", "--scheduler", address, "--input", str(tmp_path / "in"),
                         "--output", str(tmp_path / "out"))
    assert time.monotonic() - start < dask_batch.CONNECT_SECONDS + 8
    assert result.returncode == 1
    assert result.stderr == (f"tapecli: error: cannot reach the Dask scheduler at {address}: "
                             f"no answer within {dask_batch.CONNECT_SECONDS} s\n")
