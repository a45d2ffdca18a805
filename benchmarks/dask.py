"""Dataset batch on Dask against the single-process batch, on the same Parquet rows.

Writes ROWS random points x, y, z (default 1e7) twice into a temporary
directory: as one Parquet file, and as PARTS part files of a dataset (the same
rows in the same order). Then times, in interleaved rounds (the order flips
every round) and as separate processes, start-up included:

- single: `tapecli grad EXPR --input points.parquet --output out.parquet`
- dask:   `tapecli grad EXPR --scheduler local --input dataset/ --output out/`:
          one worker process per core, one output part per input part

and prints the median wall time of each, rows per second, the peak RSS of the
biggest process (the single process; the client or a Dask worker) and the ratio
dask / single (target on two cores: at most 1.5). The files are removed.

    python benchmarks/dask.py                    # 1e7 rows, 8 parts, 3 rounds
    python benchmarks/dask.py --rows 1e6 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named dask.py: keep its directory off the path, so that `import dask`
# anywhere in this process finds the library and not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

EXPRESSION = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"
TAPECLI = str(Path(sys.executable).parent / "tapecli")
ROW_GROUP = 1 << 17



def write_points(directory: Path, rows: int, parts: int, seed: int = 0) -> tuple[Path, Path]:
    """One Parquet file and a dataset of `parts` files, holding the same rows."""
    rng = np.random.default_rng(seed)
    single = directory / "points.parquet"
    dataset = directory / "dataset"
    dataset.mkdir()
    schema = pa.schema([(c, pa.float64()) for c in "xyz"])
    bounds = np.linspace(0, rows, parts + 1).astype(int)
    with pq.ParquetWriter(single, schema) as whole:
        for i in range(parts):
            n = int(bounds[i + 1] - bounds[i])
            table = pa.table({c: rng.standard_normal(n) for c in "xyz"}, schema=schema)
            whole.write_table(table, row_group_size=ROW_GROUP)
            pq.write_table(table, dataset / f"part-{i}.parquet", row_group_size=ROW_GROUP)
    return single, dataset


def timed(command: list[str], before) -> tuple[float, float]:
    """Wall seconds of one run, and the peak RSS (MB) of its biggest process (the
    single process; the client or a Dask worker), sampled every 20 ms. (ru_maxrss
    cannot tell: a child's counts its parent's RSS at the fork.)"""
    import psutil  # installed with distributed

    before()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    peak = max(peak, p.memory_info().rss)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{command[:3]} failed with status {process.returncode}")
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = int(args.rows)
    work = Path(tempfile.mkdtemp(prefix="tapecli-dask-bench-"))
    try:
        single, dataset = write_points(work, rows, args.parts)
        out_file, out_dir = work / "out.parquet", work / "out"
        contenders = {
            "single": ([TAPECLI, "grad", EXPRESSION, "--input", str(single),
                        "--output", str(out_file)], lambda: out_file.unlink(missing_ok=True)),
            "dask": ([TAPECLI, "grad", EXPRESSION, "--scheduler", "local",
                      "--input", str(dataset), "--output", str(out_dir)],
                     lambda: shutil.rmtree(out_dir, ignore_errors=True)),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        peaks: dict[str, list[float]] = {name: [] for name in contenders}
        order = list(contenders)
        for _ in range(args.rounds):
            for name in order:
                seconds, peak = timed(*contenders[name])
                times[name].append(seconds)
                peaks[name].append(peak)
            order.reverse()
        check = pq.read_table(out_file)
        parts = [pq.read_table(p) for p in sorted(out_dir.glob("part-*.parquet"))]
        same = pa.concat_tables(parts).equals(check)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{rows:.0e} rows, grad of {EXPRESSION!r}, {args.parts} parts, "
          f"{os.cpu_count()} workers, {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"| {'':6} | median s | rows/s  | peak RSS MB | runs (s) |")
    print("| --- | --: | --: | --: | --- |")
    medians = {}
    for name, runs in times.items():
        medians[name] = statistics.median(runs)
        print(f"| {name:6} | {medians[name]:.2f} | {rows / medians[name]:.3g} | "
              f"{max(peaks[name]):.0f} | " + " ".join(f"{t:.2f}" for t in runs) + " |")
    print(f"ratio dask/single: {medians['dask'] / medians['single']:.2f} (target <= 1.5); "
          f"outputs identical: {same}")


if __name__ == "__main__":
    main()
