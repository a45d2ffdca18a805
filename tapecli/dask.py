"""tapecli on a dask DataFrame: derivatives of every row, lazily, partition by partition.

`gradient(ddf, "x*y")` returns a dask DataFrame with the columns of the CSV
output of CLI.md (`f`, `df/dx`, `df/dy`), one result row per input row, on the
input's partitions and index, built with `map_partitions` and a `meta` that
names every column. Nothing runs until the user computes it, so it composes
with `.to_parquet`, `.persist` and joins on the index.

The Job travels to the workers as its texts, wrt and order (a few hundred
bytes; tapecli.jobs) and unpickles through the parser's cache, so every
partition a worker evaluates after its first reuses the compiled plan. The numbers are
those of the single-machine batch, bit for bit: the same Job, the same plans.

This module and tapecli.dask_batch are the only ones that import dask;
`import tapecli` never loads them.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.dataframe as dd
import numpy as np
import pandas as pd

from .errors import DataError, listing
from .jobs import Job
from .parser import parse


def _job(command: str, texts: Sequence[str], wrt: Sequence[str] | None = None,
         order: int | None = None) -> Job:
    return Job.create(command, [parse(text) for text in texts], wrt, order)

# -- the DataFrame API ------------------------------------------------------------

def value(ddf: dd.DataFrame, text: str) -> dd.DataFrame:
    """Column `f`: the value of `text` at every row of `ddf`."""
    return _apply(ddf, _job("eval", [text]))


def gradient(ddf: dd.DataFrame, text: str, wrt: Sequence[str] | None = None) -> dd.DataFrame:
    """Columns `f`, `df/dx`, ... (one per `wrt` name, default every variable)."""
    return _apply(ddf, _job("grad", [text], wrt))


def hessian(ddf: dd.DataFrame, text: str, wrt: Sequence[str] | None = None,
            order: int | None = None) -> dd.DataFrame:
    """Columns `f`, the gradient, then the Hessian row by row (`d2f/dxdy`, ...), and
    with `order` K the derivative tensors of orders 3 to K (`d3f/dxdxdy`, ...)."""
    return _apply(ddf, _job("hessian", [text], wrt, order))


def derivative(ddf: dd.DataFrame, text: str, wrt: Sequence[str] | None = None,
               order: int | None = None) -> dd.DataFrame:
    """Columns `f` and one partial derivative: `wrt` is the sequence of
    differentiations (`["x", "x", "y"]` is d3f/dxdxdy); `order` repeats one name."""
    return _apply(ddf, _job("diff", [text], wrt, order))


def jacobian(ddf: dd.DataFrame, texts: Sequence[str],
             wrt: Sequence[str] | None = None) -> dd.DataFrame:
    """Columns `f1`, `f2`, ..., then `df1/dx`, `df1/dy`, `df2/dx`, ..."""
    if isinstance(texts, str):
        texts = [texts]
    return _apply(ddf, _job("jacobian", texts, wrt))


def _apply(ddf: dd.DataFrame, job: Job) -> dd.DataFrame:
    _check_columns(ddf, job.inputs)
    meta = pd.DataFrame({name: np.empty(0, np.float64) for name in job.column_names()},
                        index=ddf._meta.index)
    return ddf.map_partitions(evaluate_frame, job, meta=meta,
                              token=f"tapecli-{job.command.name}")


def _check_columns(ddf: dd.DataFrame, variables: Sequence[str]) -> None:
    columns = list(ddf.columns)
    missing = [v for v in variables if v not in columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise DataError(f"no {noun} named {listing(missing)} in the dask DataFrame "
                        f"(its columns: {listing(map(str, columns))})")
    for v in variables:
        dtype = ddf.dtypes[v]
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise DataError(f"column {v!r} holds {dtype} values, not numbers")


def evaluate_frame(frame: pd.DataFrame, job: Job) -> pd.DataFrame:
    """One partition's results (on a worker): float64 columns on the partition's index."""
    count = len(frame)
    # Missing values (NaN, pandas' NA) are nan, as pandas users expect.
    point = {v: frame[v].to_numpy(dtype=np.float64, na_value=np.nan) for v in job.inputs}
    with np.errstate(all="ignore"):  # IEEE results, as the batch gives them
        result = job.compute(point)
    if not job.inputs:  # a constant expression: its value on every row
        result = {k: np.broadcast_to(v, (count, *np.shape(v))) for k, v in result.items()}
    columns = (np.array(c, dtype=np.float64) for c in job.columns(result))
    return pd.DataFrame(dict(zip(job.column_names(), columns)), index=frame.index)
