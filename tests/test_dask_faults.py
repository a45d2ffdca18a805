"""The dataset batch when things go wrong: paths seen from another directory, parts
that exist, clusters that hang, lose their scheduler or have no workers, a client
stopped by SIGTERM, and s3:// through a local S3 server (moto) without credentials
or with its endpoint down. Every cluster is real (`dask scheduler`, `dask worker`
or `--scheduler local` processes on 127.0.0.1) and every server is started and
stopped here; the workers run in a directory of their own, as on a real cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tapecli
from tapecli import dask_batch
from tapecli.errors import DataError, TapecliError, UsageError
from tapecli.jobs import Job

BIN = Path(sys.executable).parent
SCRIPT = BIN / "tapecli"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_job(command: str, texts, wrt=None, order=None) -> Job:
    return Job.create(command, [tapecli.parse(t) for t in texts], wrt, order)


def write_points(path: Path, rows: int, seed: int, columns: str = "xy") -> dict:
    rng = np.random.default_rng(seed)
    data = {c: rng.standard_normal(rows) for c in columns}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), path, row_group_size=1 << 16)
    return data


def run_cli(*args: str, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd,
                            env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@contextlib.contextmanager
def dask_cluster(workers: int, directory: Path, env=None):
    """`dask scheduler` and `dask worker` processes (workers: their count, 0 for a
    scheduler alone) running in `directory`; yields the address and the processes."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    directory.mkdir(parents=True, exist_ok=True)
    started = {}

    def start(name, *args):
        log = open(directory.parent / f"{directory.name}-{name}.log", "wb")
        process = subprocess.Popen([str(BIN / "dask"), *args], cwd=directory, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        started[name] = (process, log)

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
              "--no-dashboard", "--dashboard-address", "127.0.0.1:0")
        if workers:
            start("worker", "worker", address, "--host", "127.0.0.1", "--nworkers",
                  str(workers), "--nthreads", "1", "--no-dashboard")
        import distributed

        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            if workers:
                client.wait_for_workers(workers, timeout=60)
        yield address, {name: p for name, (p, _) in started.items()}
    finally:
        for process, _ in reversed(started.values()):
            if process.poll() is None:
                process.terminate()
        for process, log in started.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1, and the environment that points boto at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3):
    """A scheduler and one worker, in a directory that is not the client's, with
    the S3 server's environment."""
    with dask_cluster(1, tmp_path_factory.mktemp("worker-home"), env=s3) as (address, _):
        yield address


# -- misplaced output ------------------------------------------------------------------

def test_relative_input_and_output_are_the_clients_paths_not_the_workers(cluster, tmp_path):
    home = tmp_path / "client"
    data = [write_points(home / "in" / f"p{i}.parquet", 500, i) for i in range(2)]
    result = run_cli("grad", "x**2*y", "--scheduler", cluster, "--input", "in",
                     "--output", "out", cwd=home)
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(os.listdir(home / "out")) == ["part-00000.parquet", "part-00001.parquet"]
    for i, d in enumerate(data):
        got = pq.read_table(home / "out" / f"part-0000{i}.parquet")
        x, y = d["x"], d["y"]
        assert np.array_equal(got["df/dx"].to_numpy(), 2 * x * y)  # calculus by hand
        assert np.array_equal(got["df/dy"].to_numpy(), x ** 2)
    # A relative single file and a relative glob, too.
    for source, out in (("in/p1.parquet", "one"), ("in/p*.parquet", "glob")):
        result = run_cli("eval", "x", "--scheduler", cluster, "--input", source,
                         "--output", out, cwd=home)
        assert result.returncode == 0, result.stderr
        assert (home / out / "part-00000.parquet").exists()
    before = (home / "out" / "part-00000.parquet").read_bytes()
    again = run_cli("eval", "x", "--scheduler", cluster, "--input", "in", "--output", "out",
                    cwd=home)
    assert again.returncode == 2
    assert again.stderr == ("tapecli: error: --output out already holds parts "
                            "(part-00000.parquet, ...): remove them or choose another "
                            "directory\n")
    assert (home / "out" / "part-00000.parquet").read_bytes() == before


def test_a_worker_never_overwrites_a_part_that_exists(tmp_path):
    write_points(tmp_path / "p.parquet", 100, 7)
    target = tmp_path / "out" / "part-00000.parquet"
    target.parent.mkdir()
    target.write_bytes(b"another run's part")
    error = dask_batch.run_part(make_job("eval", ["x"]), str(tmp_path / "p.parquet"),
                                str(target), "parquet", False, False, "p.parquet", "run1")
    assert isinstance(error, DataError)
    assert str(error) == (f"p.parquet: {target} already exists (written by another run at "
                          "the same time?); it is left as it is")
    assert target.read_bytes() == b"another run's part"
    assert os.listdir(target.parent) == ["part-00000.parquet"]  # no temporary part left


def test_parts_are_checked_where_they_go_and_an_output_that_cannot_be_made_is_exit_1(
        cluster, tmp_path):
    held = tmp_path / "held"
    held.mkdir()
    (held / "part-00003.csv").touch()
    error = dask_batch.prepare_output(str(held), "held")
    assert isinstance(error, UsageError) and "held already holds parts" in str(error)
    (tmp_path / "a-file").write_text("x\n")
    error = dask_batch.prepare_output(str(tmp_path / "a-file" / "out"), "a-file/out")
    assert isinstance(error, DataError)
    assert str(error) == "--output a-file/out: cannot make the directory: Not a directory"
    write_points(tmp_path / "in.parquet", 10, 8)
    result = run_cli("eval", "x", "--scheduler", cluster, "--input", "in.parquet",
                     "--output", "a-file/out", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("tapecli: error: --output a-file/out: cannot make the "
                             "directory: Not a directory\n")


# -- s3:// through a local S3 server ------------------------------------------------------

def test_an_s3_dataset_runs_and_s3_errors_are_one_line(cluster, s3, tmp_path):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3["AWS_ENDPOINT_URL"]},
                           key="testing", secret="testing")
    fs.mkdir("points")
    data = write_points(tmp_path / "p.parquet", 300, 9)
    fs.put_file(str(tmp_path / "p.parquet"), "points/in/part-a.parquet")
    result = run_cli("grad", "sin(x)*y", "--scheduler", cluster, "--input", "s3://points/in/",
                     "--output", "s3://points/out", env=s3)
    assert (result.returncode, result.stderr) == (0, "")
    fs.get_file("points/out/part-00000.parquet", str(tmp_path / "got.parquet"))
    got = pq.read_table(tmp_path / "got.parquet")
    assert np.array_equal(got["df/dy"].to_numpy(), np.sin(data["x"]))

    # A glob that matches nothing: the local message, the usage status.
    for source in ("s3://points/in/*.csv", str(tmp_path / "*.csv")):
        result = run_cli("eval", "x", "--scheduler", cluster, "--input", source,
                         "--output", str(tmp_path / "o"), env=s3)
        assert result.returncode == 2
        assert result.stderr == f"tapecli: error: --input {source}: no file matches\n"

    no_credentials = {k: v for k, v in s3.items()
                      if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    no_credentials.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                          AWS_CONFIG_FILE=str(tmp_path / "none"))
    down = {**s3, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    for env, cause in ((no_credentials, "Unable to locate credentials"),
                       (down, "Could not connect to the endpoint URL")):
        result = run_cli("eval", "x", "--scheduler", cluster, "--input", "s3://points/in/",
                         "--output", "s3://points/o2", env=env)
        assert result.returncode == 1
        assert result.stderr.startswith(f"tapecli: error: s3://points/in/: the storage "
                                        f"failed: {cause}")
        assert result.stderr.count("\n") == 1, result.stderr


# -- hangs -----------------------------------------------------------------------------

def test_an_address_that_accepts_but_never_answers_fails_within_the_connect_time(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept():  # takes every connection and never says a word
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    write_points(tmp_path / "in.parquet", 10, 10)
    try:
        start = time.monotonic()
        result = run_cli("eval", "x", "--scheduler", address, "--input", "in.parquet",
                         "--output", "out", cwd=tmp_path, timeout=60)
        took = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
    assert accepted, "the client never connected"
    assert took < dask_batch.CONNECT_SECONDS + 5, took
    assert result.returncode == 1
    assert result.stderr == (f"tapecli: error: cannot reach the Dask scheduler at {address}: "
                             f"no answer within {dask_batch.CONNECT_SECONDS} s\n")
    assert not (tmp_path / "out").exists()


def test_a_scheduler_without_workers_and_a_scheduler_lost_mid_run_are_one_line_each(
        tmp_path, monkeypatch):
    home = tmp_path / "client"
    write_points(home / "in.parquet", 10, 11)
    # No worker: a clear error after WORKER_SECONDS, not a wait for ever.
    with dask_cluster(0, tmp_path / "lonely") as (address, _):
        monkeypatch.setattr(dask_batch, "WORKER_SECONDS", 2)
        start = time.monotonic()
        with pytest.raises(TapecliError) as error:
            dask_batch.run_dataset(make_job("eval", ["x"]), str(home / "in.parquet"),
                                   str(home / "out"), scheduler=address)
        assert time.monotonic() - start < 15
        assert str(error.value) == (f"the Dask scheduler at {address} has no workers: none "
                                    f"joined within 2 s (start some with `dask worker "
                                    f"{address}`)")
        assert error.value.exit_code == 1
        assert not (home / "out").exists()

    # The scheduler killed while parts are being written.
    for i in range(6):
        write_points(home / "big" / f"p{i}.parquet", 400_000, 20 + i)
    with dask_cluster(1, tmp_path / "doomed") as (address, processes):
        client = subprocess.Popen([str(SCRIPT), "hessian", "sin(x)*exp(y)*x*y", "--order", "3",
                                   "--scheduler", address, "--input", "big", "--output", "out"],
                                  cwd=home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and client.poll() is None \
                    and not ((home / "out").exists() and os.listdir(home / "out")):
                time.sleep(0.05)
            assert client.poll() is None, client.communicate()
            processes["scheduler"].kill()
            out, err = client.communicate(timeout=30)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    assert client.returncode == 1
    assert err == (f"tapecli: error: lost the Dask scheduler at {address} during the run; "
                   "the parts written so far are kept\n")
    assert out == ""


# -- --scheduler local: no worker logs, and SIGTERM -----------------------------------------

def test_a_failing_part_on_a_local_cluster_prints_only_the_one_line(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("x,y\n1,2\n3,oops\n")
    (tmp_path / "in" / "b.csv").write_text("x,y\n1,2\n")
    result = run_cli("grad", "x*y", "--scheduler", "local", "--input", "in", "--output", "out",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "tapecli: error: in/a.csv: line 3, column 2 (y): 'oops' is not a " \
                            "number\n"
    assert "part-00000.parquet" not in os.listdir(tmp_path / "out")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_sigterm_to_the_client_removes_temporary_parts_and_stops_the_local_cluster(tmp_path):
    for i in range(4):
        write_points(tmp_path / "big" / f"p{i}.parquet", 600_000, 30 + i)
    client = subprocess.Popen([str(SCRIPT), "hessian", "sin(x)*exp(y)*x*y", "--order", "3",
                               "--scheduler", "local", "--input", "big", "--output", "out"],
                              cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and client.poll() is None and not (
                (tmp_path / "out").exists()
                and any(n.endswith(".tmp") for n in os.listdir(tmp_path / "out"))):
            time.sleep(0.02)
        assert client.poll() is None, client.communicate()
        workers = _descendants(client.pid)
        assert workers
        client.send_signal(signal.SIGTERM)
        out, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 128 + signal.SIGTERM
    assert (out, err) == ("", "")  # no resource-tracker warning, no log
    assert not [n for n in os.listdir(tmp_path / "out") if n.endswith(".tmp")]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]
