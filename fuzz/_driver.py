"""Runs a harness's `one_input(data: bytes)` under atheris (coverage-guided) when it
is installed, else under a plain loop of random and mutated inputs for
`--seconds`, so that every harness also runs with nothing but Python.

    python fuzz/fuzz_parser.py -max_total_time=60      # atheris (libFuzzer flags)
    python fuzz/fuzz_parser.py --seconds 60            # the plain loop
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable


def run(one_input: Callable[[bytes], None], seeds: list[bytes]) -> None:
    if "--seconds" not in sys.argv:
        try:
            import atheris
        except ImportError:
            pass
        else:
            atheris.instrument_all()  # coverage of every loaded module, tapecli's included
            atheris.Setup(sys.argv, one_input)
            atheris.Fuzz()
            return
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 60
    rng, runs, end = random.Random(0), 0, time.monotonic() + seconds
    corpus = list(seeds)
    while time.monotonic() < end:
        data = _mutate(rng, rng.choice(corpus)) if rng.random() < 0.8 else rng.randbytes(
            rng.randrange(200))
        one_input(data)
        if rng.random() < 0.01:
            corpus.append(data)
        runs += 1
    print(f"{runs:,} inputs in {seconds:g} s, no failure")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        choice = rng.randrange(4)
        at = rng.randrange(len(data) + 1)
        if choice == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif choice == 1:
            data[at:at] = rng.choice([b'"', b",", b"\n", b"\r", b"(", b")", b"**", b"1e", b"\xff"])
        elif choice == 2 and data:
            del data[at:at + rng.randrange(1, 8)]
        else:
            data[at:at] = data[:rng.randrange(len(data) + 1)]  # repeat a prefix: deep input
    return bytes(data)
