"""What every benchmark here needs: a timer and a probe of the machine's state."""

import time

import numpy as np
from threadpoolctl import threadpool_limits


def timed(fn) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dtype_in(name: str) -> str:
    """The dtype a candidate's name says it runs in: "float32" if it says so, else "float64"."""
    return "float32" if "float32" in name else "float64"


def probe() -> str:
    """A 2000x2000 matmul on 1 and 2 threads: about equal means one core's worth is free now.

    These machines flip between two cores and about one; print this beside every table.
    """
    a = np.random.default_rng(0).normal(size=(2000, 2000))
    times = {}
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            times[threads] = min(timed(lambda: a @ a) for _ in range(3))
    return (
        f"probe 2000^2 matmul: 1 thread {times[1] * 1e3:.0f} ms, 2 threads {times[2] * 1e3:.0f} ms"
    )
