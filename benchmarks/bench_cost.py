"""Milliseconds per cost+gradient evaluation of the course's 400-25-10 network on mnist20-5000.mat.

Side by side, interleaved in blocks in one run (the machines here are noisy, and their capacity flips between
about two cores and one), medians over many rounds:

- digitnet float64 and float32 in one piece on the calling thread (``network.cost_and_gradient``);
- digitnet's engine, float64 and float32, as training evaluates: pieces on every available core,
  one BLAS thread each (``engine.Objective(engine.Rows(...))`` inside ``engine.blas_threads(1)``);
- the floor: the two large matrix products an evaluation needs, ``X @ W1.T`` and ``delta2.T @ X``,
  in float64 and float32;
- the bound of the engine's design: the same two products with the rows split as the engine
  splits them, one thread per piece with one BLAS thread each. Whatever the engine does besides
  these products (element-wise passes, the small products, handing pieces to threads) adds to it;
- a faithful Python 3 port of the original learner's notebook (vectorized cost in trace form,
  first-layer gradient by a Python double loop), run for fewer rounds because it is slow;
- and, last, what each element-wise function a piece calls costs per element.

Run: ``python benchmarks/bench_cost.py [--rounds N]``. Targets: the engine at most 1.0x the floor
run with NumPy's default threads (the table for 2 BLAS threads on a 2-core machine). Each row's
``x floor`` is against the floor of its own dtype.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import scipy.io
from common import dtype_in, probe, timed
from scipy.special import expit
from threadpoolctl import threadpool_info, threadpool_limits

from digitnet import engine, network

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = [400, 25, 10]
BLOCK = 10  # timed calls in a row per candidate, after WARM_UP untimed ones
WARM_UP = 5
FLOOR = "floor float64: X @ W1.T + delta2.T @ X"
PAUSE_S = 0.3  # before each block: long enough for OpenBLAS's spinning threads to go to sleep


def notebook_cost_function(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lam):
    """The original notebook's nnCostFunction, ported to Python 3 as it was written (not fixed)."""
    Theta1 = nn_params[: hidden_layer_size * (input_layer_size + 1)].reshape(
        hidden_layer_size, input_layer_size + 1
    )
    Theta2 = nn_params[hidden_layer_size * (input_layer_size + 1) :].reshape(
        num_labels, hidden_layer_size + 1
    )
    m = X.shape[0]
    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), expit(z2)])
    h = expit(a2 @ Theta2.T)
    Y = np.eye(num_labels)[y - 1]
    # Trace form: builds two m x m matrices to take their diagonals.
    J = -np.trace(Y @ np.log(h).T + (1 - Y) @ np.log(1 - h).T) / m
    J += lam / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    delta3 = h - Y
    delta2 = (delta3 @ Theta2[:, 1:]) * expit(z2) * (1 - expit(z2))
    Theta2_grad = delta3.T @ a2 / m
    Theta1_grad = np.zeros_like(Theta1)
    for i in range(Theta1.shape[0]):
        for j in range(Theta1.shape[1]):
            Theta1_grad[i, j] = np.sum(delta2[:, i] * a1[:, j]) / m
    Theta1_grad[:, 1:] += lam / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lam / m * Theta2[:, 1:]
    return J, np.concatenate([Theta1_grad.ravel(), Theta2_grad.ravel()])


def floor_products(X, W1, delta2, rows=slice(None)):
    """The two large products an evaluation cannot avoid, over ``rows`` of ``X`` (all: the floor)."""
    return X[rows] @ W1.T, delta2[rows].T @ X[rows]


def split_products(X, W1, delta2, threads, pool):
    """The floor's two products on the engine's pieces of rows, piece i on thread i % threads
    (the calling one and ``threads - 1`` of ``pool``) as the engine spreads them; run inside
    ``engine.blas_threads(1)``. What an evaluation costs if everything else were free."""
    bounds = engine.piece_bounds(len(X), network.n_params(SIZES))
    pieces = [slice(start, stop) for start, stop in itertools.pairwise(bounds)]

    def products(first):
        for rows in pieces[first::threads]:
            floor_products(X, W1, delta2, rows)

    def run():
        futures = [pool.submit(products, t) for t in range(1, threads)]
        products(0)
        for future in futures:
            future.result()

    return run


def ufunc_costs(shape=(25, 2500), rounds=100) -> None:
    """Nanoseconds per element of the element-wise functions a piece calls, on one hidden layer's
    activations of one piece (one thread; not interleaved: single-thread timings are stable here).
    Where NumPy has no SIMD loop for a dtype on this CPU (float64 ``exp``/``log`` without AVX512),
    the call costs several times a multiply."""
    a = np.random.default_rng(2).uniform(0.1, 2.0, size=shape)
    print(f"\nnanoseconds per element, one thread, {shape[0]} x {shape[1]}")
    print(f"{'function':<12} {'float64':>8} {'float32':>8}")
    for name in ("exp", "log", "log1p", "tanh", "reciprocal", "multiply"):
        ufunc = getattr(np, name)
        costs = []
        for dtype in (np.float64, np.float32):
            x = a.astype(dtype)
            out = np.empty_like(x)
            args = (x, x) if ufunc.nin == 2 else (x,)
            call = functools.partial(ufunc, *args, out=out)
            seconds = statistics.median(timed(call) for _ in range(rounds))
            costs.append(seconds / x.size * 1e9)
        print(f"{name:<12} {costs[0]:>8.2f} {costs[1]:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--notebook-rounds", type=int, default=3)
    args = parser.parse_args()

    mat = scipy.io.loadmat(DATA / "mnist20-5000.mat")
    X, y = mat["X"], mat["y"].ravel().astype(np.int64)
    X32 = X.astype(np.float32)
    Y = np.asfortranarray(np.eye(10)[y - 1])  # column-major, as train.train builds it for L-BFGS
    theta = network.initialize(SIZES, np.random.default_rng(0))
    W1 = network.unpack(theta, SIZES)[0][:, 1:]
    delta2 = np.random.default_rng(1).normal(size=(len(X), 25))
    W1_32, delta2_32 = W1.astype(np.float32), delta2.astype(np.float32)

    engine64 = engine.Objective(engine.Rows(X, Y, SIZES), 1.0, SIZES)
    engine32 = engine.Objective(engine.Rows(X32, Y, SIZES), 1.0, SIZES)
    cores = engine64.placement.threads
    pool = ThreadPoolExecutor(max(1, cores - 1))
    candidates = {
        "digitnet float64": lambda: network.cost_and_gradient(theta, X, Y, 1.0, SIZES),
        "digitnet float32": lambda: network.cost_and_gradient(theta, X32, Y, 1.0, SIZES),
        f"engine float64, {cores} threads": lambda: engine64(theta),
        f"engine float32, {cores} threads": lambda: engine32(theta),
        f"bound float64, {cores} threads": split_products(X, W1, delta2, cores, pool),
        f"bound float32, {cores} threads": split_products(X32, W1_32, delta2_32, cores, pool),
        "floor float32": functools.partial(floor_products, X32, W1_32, delta2_32),
        FLOOR: functools.partial(floor_products, X, W1, delta2),
    }
    print(probe())
    print(
        "BLAS:",
        ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info()),
    )
    # The engine sets its own threads (one BLAS thread each); these limits apply to the others.
    # Candidates take turns in blocks of BLOCK calls, each block after a pause: OpenBLAS's idle
    # threads spin for a while after a multi-threaded call (some 0.1 s), and would take a core
    # from whichever candidate ran next.
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            samples = {name: [] for name in candidates}
            for _ in range(-(-args.rounds // BLOCK)):
                for name, fn in candidates.items():
                    time.sleep(PAUSE_S)
                    # The engine as train.minimize runs it: inside blas_threads(1), so that its
                    # one-BLAS-thread pieces do not switch NumPy's pool down and up on every call
                    # (which wakes OpenBLAS's idle threads to spin on the cores the pieces need).
                    one_blas_thread = name.startswith(("engine", "bound"))
                    with engine.blas_threads(1) if one_blas_thread else nullcontext():
                        for _ in range(WARM_UP):
                            fn()
                        samples[name].extend(timed(fn) * 1e3 for _ in range(BLOCK))
            notebook = [
                timed(lambda: notebook_cost_function(theta, 400, 25, 10, X, y, 1.0)) * 1e3
                for _ in range(args.notebook_rounds)
            ]
        # Each candidate against the floor of its own dtype, round by round.
        floors = {
            "float32": np.array(samples["floor float32"]),
            "float64": np.array(samples[FLOOR]),
        }
        print(f"\nBLAS threads: {threads}")
        print(f"{'implementation':<42} {'median ms':>10} {'x floor':>9}")
        for name, times in samples.items():
            floor = floors[dtype_in(name)]
            ratio = statistics.median(np.array(times) / floor)
            print(f"{name:<42} {statistics.median(times):>10.3f} {ratio:>9.2f}")
        nb_ratio = statistics.median(notebook) / statistics.median(floors["float64"])
        print(
            f"{'original notebook (Python loop)':<42} {statistics.median(notebook):>10.1f} {nb_ratio:>9.0f}"
        )
    ufunc_costs()
    J_nb, grad_nb = notebook_cost_function(theta, 400, 25, 10, X, y, 1.0)
    J, grad = network.cost_and_gradient(theta, X, Y, 1.0, SIZES)
    print(
        f"notebook port agrees with digitnet: |dJ| = {abs(J - J_nb):.1e}, "
        f"max |dgrad| = {np.abs(grad - grad_nb).max():.1e}"
    )


if __name__ == "__main__":
    main()
