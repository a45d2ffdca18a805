"""Batch throughput: `tapecli grad` end to end against the bare pyarrow I/O floor.

For each row count, writes a CSV of random x, y, z (full-precision floats) and
times, in the same run and as separate processes:

- tapecli: `tapecli grad EXPR --input points.csv --output out.csv`
- floor:   pyarrow's streaming CSV reader feeding its CSV writer, the same data
           to the same disk, nothing in between: the cost of the I/O alone.

It prints the median wall time of each, rows per second, tapecli's ratio to
the floor (target: at most 1.3) and tapecli's peak RSS (target: under 200 MB,
flat in the row count). Files go to a temporary directory that is removed.

    python benchmarks/batch.py                 # 1e5 and 1e6 rows
    python benchmarks/batch.py --rows 1e5 1e6 1e7 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

EXPRESSION = "sin(x)*exp(y) + log(1+z**2)*sqrt(x**2+y**2+1) - x*y*z/(1+z**2)"
TAPECLI = str(Path(sys.executable).parent / "tapecli")

FLOOR = """
import sys
import pyarrow as pa, pyarrow.csv as pa_csv
convert = pa_csv.ConvertOptions(column_types={c: pa.float64() for c in "xyz"})
reader = pa_csv.open_csv(sys.argv[1], convert_options=convert)
with pa_csv.CSVWriter(sys.argv[2], reader.schema) as writer:
    for batch in reader:
        writer.write_batch(batch)
"""


def write_points(path: Path, rows: int, seed: int = 0) -> None:
    """A CSV of x, y, z: normal random floats, written in slices to keep memory low."""
    rng = np.random.default_rng(seed)
    step = 1_000_000
    with pa_csv.CSVWriter(str(path), pa.schema([(c, pa.float64()) for c in "xyz"])) as writer:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            writer.write_table(pa.table({c: rng.standard_normal(n) for c in "xyz"}))


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of `command`."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def bench(directory: Path, rows: int, repeat: int) -> dict:
    points, out = directory / "points.csv", directory / "out.csv"
    write_points(points, rows)
    tapecli = [TAPECLI, "grad", EXPRESSION, "--input", str(points), "--output", str(out)]
    floor = [sys.executable, "-c", FLOOR, str(points), str(out)]
    # Byte-code cached as an installed package has it, even where the environment
    # says not to write it (kept out of the source tree).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    runs: dict[str, list] = {"tapecli": [], "floor": []}
    tiny = directory / "tiny.csv"
    tiny.write_text("x,y,z\n1,2,3\n")
    timed([TAPECLI, "grad", EXPRESSION, "--input", str(tiny)], env)  # writes the byte-code
    for _ in range(repeat):  # interleaved, so that both see the same machine load
        runs["floor"].append(timed(floor, env))
        runs["tapecli"].append(timed(tapecli, env))
    size = points.stat().st_size
    points.unlink()
    out.unlink(missing_ok=True)
    median = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    return {"rows": rows, "MB": size / 1e6, "tapecli": median["tapecli"],
            "floor": median["floor"], "ratio": median["tapecli"] / median["floor"],
            "rss": max(r for _, r in runs["tapecli"]),
            "floor_rss": max(r for _, r in runs["floor"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", type=float, default=[1e5, 1e6])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write the data (default: /tmp)")
    args = parser.parse_args()
    if not Path(TAPECLI).exists():
        raise SystemExit(f"{TAPECLI} not found: install tapecli in this environment")
    directory = Path(tempfile.mkdtemp(prefix="tapecli-bench-", dir=args.dir))
    print(f"tapecli grad {EXPRESSION!r}, median of {args.repeat} runs")
    print(f"{'rows':>10} {'CSV MB':>8} {'tapecli s':>10} {'rows/s':>12} "
          f"{'floor s':>8} {'ratio':>6} {'peak RSS MB':>12} {'floor RSS':>10}")
    try:
        for rows in args.rows:
            r = bench(directory, int(rows), args.repeat)
            print(f"{r['rows']:>10.0e} {r['MB']:>8.1f} {r['tapecli']:>10.3f} "
                  f"{r['rows'] / r['tapecli']:>12,.0f} {r['floor']:>8.3f} {r['ratio']:>6.2f} "
                  f"{r['rss']:>12.0f} {r['floor_rss']:>10.0f}", flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
