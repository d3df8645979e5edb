"""What every benchmark here needs: a timer and a probe of the machine's state."""

import itertools
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


def probe_seconds() -> tuple[float, float]:
    """Seconds of a 2000x2000 matmul on 1 and on 2 threads (best of 3 each): about equal means one
    core's worth is free now. These machines flip between two cores and about one."""
    a = np.random.default_rng(0).normal(size=(2000, 2000))
    times = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            times.append(min(timed(lambda: a @ a) for _ in range(3)))
    return times[0], times[1]


def probe_line(seconds: tuple[float, float]) -> str:
    return f"probe 2000^2 matmul: 1 thread {seconds[0] * 1e3:.0f} ms, 2 threads {seconds[1] * 1e3:.0f} ms"


def probe() -> str:
    """``probe_seconds`` as the line to print beside every table."""
    return probe_line(probe_seconds())


# A round counts as busy when a probe on either side of it took this much longer on 2 threads than
# the run's fastest 2-thread probe: another job had a core meanwhile.
BUSY_PROBE = 1.3


def quiet_rounds(two_threads: list[float]) -> list[bool]:
    """For the 2-thread probe times taken before round 1, ..., before round n and after round n
    (n + 1 of them), whether each round had both of its probes within ``BUSY_PROBE`` of the
    fastest."""
    limit = BUSY_PROBE * min(two_threads)
    return [before <= limit and after <= limit for before, after in itertools.pairwise(two_threads)]
