"""Seconds and memory per cost+gradient evaluation on Fashion-MNIST, one machine to a Dask cluster.

The 784-100-10 network on Fashion-MNIST's 60,000 training images, evaluated side by side, interleaved
(the machines here are noisy; medians over rounds):

- in memory: ``network.cost_and_gradient`` on the whole array in RAM, in one piece;
- chunked: ``engine.Rows`` on one thread in pieces of several sizes, reading a memory-mapped
  ``.npy`` cache;
- threads: pieces of the memmap on 2 threads, one BLAS thread each (``engine.Rows(threads=2)``);
- Dask: a ``LocalCluster`` of 1 and of 2 single-threaded worker processes, each reading its chunks
  from the ``.npy`` file (``distributed.DaskRows``).

Every variant's result is checked against the in-memory one. Then: the constants of the cost
model in ``docs/scaling.md`` (compute per row; a Dask evaluation's fixed and per-chunk costs,
measured on chunks of a few rows so that compute vanishes), the drift between unchunked, chunked and
Dask training, and a full training run on a LocalCluster to above the Fashion-MNIST benchmark's
published MLP (0.8833 test accuracy, a 256-128-100 MLP), with its time.

Run: ``python benchmarks/bench_scale.py [--rounds N] [--skip-evals] [--skip-train] [--train-single]``.
Needs ``apt-get install dataset-fashion-mnist`` and ``pip install digitnet[dask]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import psutil
from common import probe, timed

from digitnet import data, distributed, engine, network
from digitnet import train as training
from digitnet.labels import LabelMap

FASHION = data.FASHION_MNIST_DIR
SIZES = [784, 100, 10]
LAM = 1.0
PUBLISHED_MLP = 0.8833  # Fashion-MNIST README's benchmark table: MLP 256-128-100


def peak_bytes(fn) -> int:
    """Peak of NumPy's allocations while ``fn`` runs (tracemalloc sees NumPy's data buffers)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def worker_peak_bytes(client, fn) -> int:
    """The largest tracemalloc peak over the workers while ``fn`` runs on the client."""
    client.run(tracemalloc.start)
    try:
        fn()
        return max(client.run(lambda: tracemalloc.get_traced_memory()[1]).values())
    finally:
        client.run(tracemalloc.stop)


def worker_rss(client) -> int:
    return max(client.run(lambda: psutil.Process().memory_info().rss).values())


def load(cache: Path, dtype):
    X = distributed.idx_to_npy_cache(FASHION / "train-images-idx3-ubyte.gz", cache, dtype=dtype)
    y = data.read_idx(FASHION / "train-labels-idx1-ubyte.gz").astype(np.int64)
    test = data.load_idx(
        FASHION / "t10k-images-idx3-ubyte.gz", FASHION / "t10k-labels-idx1-ubyte.gz", dtype=dtype
    )
    return X, y, test


def dask_objective(client, npy: Path, Y, chunk: int, piece_rows: int | None = None):
    dX, dY = distributed.from_npy(npy, chunk), distributed.to_dask(Y, chunk)
    placement = distributed.DaskRows(dX, dY, client, SIZES, piece_rows=piece_rows)
    return engine.Objective(placement, LAM, SIZES)


def rows_objective(X, Y, chunk: int | None, threads: int):
    placement = engine.Rows(X, Y, SIZES, chunk_size=chunk, threads=threads)
    return engine.Objective(placement, LAM, SIZES)


def evaluations(args, X, Y, theta, npy, clients) -> dict[str, float]:
    """The table of seconds and memory per evaluation; returns the cost-model constants."""
    X_ram = np.array(X)
    variants = {"in memory": lambda t: network.cost_and_gradient(t, X_ram, Y, LAM, SIZES)}
    for chunk in args.chunks:
        variants[f"chunked {chunk} (memmap)"] = rows_objective(X, Y, chunk, threads=1)
    threaded = rows_objective(X, Y, args.dask_chunk, threads=2)
    variants[f"2 threads x 1 BLAS, chunk {args.dask_chunk}"] = threaded
    for workers, client in clients.items():
        objective = dask_objective(client, npy, Y, args.dask_chunk)
        variants[f"LocalCluster {workers} worker{'s' * (workers > 1)}, chunk {args.dask_chunk}"] = (
            objective
        )
    big = -(-len(X) // max(clients))  # one chunk per worker, gone through in pieces
    variants[f"LocalCluster {max(clients)} workers, chunk {big} / {args.dask_chunk}"] = (
        dask_objective(clients[max(clients)], npy, Y, big, piece_rows=args.dask_chunk)
    )

    J_ref, grad_ref = variants["in memory"](theta)
    times = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved: A B C ... A B C ...
        for name, fn in variants.items():
            times[name].append(timed(lambda fn=fn: fn(theta)))

    print(
        f"\n{'variant':<44} {'s/eval':>7} {'vs RAM':>7} {'work MiB':>9} {'data MiB':>9} {'max rel dev':>11}"
    )
    base = statistics.median(times["in memory"])
    for name, fn in variants.items():
        J, grad = fn(theta)
        dev = max(
            abs(J - J_ref) / abs(J_ref), np.max(np.abs(grad - grad_ref)) / np.max(np.abs(grad_ref))
        )
        if name.startswith("LocalCluster"):
            client = clients[int(name.split()[1])]  # "LocalCluster N worker..."
            work = worker_peak_bytes(client, lambda fn=fn: fn(theta))
            held = worker_rss(client)
            data_col = f"{held / 2**20:9.0f}"  # largest worker's RSS: its chunks plus Python
        else:
            work = peak_bytes(lambda fn=fn: fn(theta))
            data_col = (
                f"{(X_ram.nbytes + Y.nbytes) / 2**20:9.0f}" if name == "in memory" else "  memmap"
            )
        median = statistics.median(times[name])
        print(
            f"{name:<44} {median:7.3f} {median / base:6.2f}x {work / 2**20:9.1f} {data_col} {dev:11.1e}"
        )
    print(
        "work MiB: peak of NumPy's allocations during one evaluation (tracemalloc; for the clusters, "
        "the largest worker's). data MiB: the examples held in RAM (for the clusters, the largest "
        "worker process's RSS); memmap: read through the page cache, evictable."
    )
    threaded.close()

    # Cost-model constants. Compute per row on one core, in chunks:
    one_thread = rows_objective(X_ram, Y, args.dask_chunk, threads=1)
    one_core = statistics.median(timed(lambda: one_thread(theta)) for _ in range(args.rounds))
    t_row = one_core / len(X)
    # A Dask evaluation's overhead: chunks of 8 rows (compute vanishes, theta and each chunk's
    # gradient are full size), k chunks on 2 workers; fit T = fixed + per_chunk * k.
    client = clients[max(clients)]
    ks, medians = [2, 8, 32], []
    for k in ks:
        rows = 8 * k
        placement = distributed.DaskRows(
            distributed.to_dask(X_ram[:rows], 8), distributed.to_dask(Y[:rows], 8), client, SIZES
        )
        objective = engine.Objective(placement, LAM, SIZES)
        objective(theta)
        medians.append(
            statistics.median(
                timed(lambda o=objective: o(theta)) for _ in range(max(5, args.rounds))
            )
        )
    per_chunk, fixed = np.polyfit(ks, medians, 1)
    grad = np.zeros_like(grad_ref)
    add = statistics.median(timed(lambda: grad.__iadd__(grad_ref)) for _ in range(50))
    constants = {
        "t_row": t_row,
        "fixed": float(fixed),
        "per_chunk": float(per_chunk),
        "add": add,
        "P": network.n_params(SIZES),
        "itemsize": X.dtype.itemsize,
    }
    print(
        f"\ncost-model constants: compute {t_row * 1e6:.2f} us per row on one core "
        f"(chunks of {args.dask_chunk}, 1 BLAS thread); Dask evaluation overhead "
        f"{fixed * 1e3:.1f} ms fixed + {per_chunk * 1e3:.2f} ms per chunk "
        f"(fit to k = {ks}: {', '.join(f'{m * 1e3:.1f}' for m in medians)} ms); "
        f"client-side add of one gradient ({constants['P']} numbers) {add * 1e6:.0f} us"
    )
    return constants


MACHINE = {"cores": 2, "ram": 64e9, "disk": 2e9, "bandwidth": 1.25e9}  # the machines on paper


def cost_model(c, m, W, *, few_chunks=False, piece=5000, n=784, machine=MACHINE):
    """Seconds per evaluation on paper, for ``m`` rows on ``W`` machines (``W = 1``: no Dask).

    A machine: ``cores`` cores, ``ram`` bytes of memory, a disk reading ``disk`` bytes/s, a network
    link of ``bandwidth`` bytes/s. Each machine computes its share of the rows, ``t_row`` seconds a
    row per core, after reading from disk whatever of its share does not fit in its memory (one
    machine rereads it every evaluation; reads and compute are not overlapped). A cluster adds the
    measured Dask overhead, ``fixed`` plus ``per_chunk`` and the client's ``add`` for each chunk,
    and the traffic through the client's and the weights holder's links: theta to each of the
    ``W * cores`` worker processes and one gradient back per chunk. Chunks: ``piece`` rows each, or
    with ``few_chunks`` one per worker process, gone through ``piece`` rows at a time
    (``DaskRows(piece_rows=...)``).
    """
    cores, ram, disk, bandwidth = (machine[k] for k in ("cores", "ram", "disk", "bandwidth"))
    share = m * n * c["itemsize"] / W
    local = c["t_row"] * m / (W * cores) + max(0.0, share - ram) / disk
    if W == 1:
        return local
    chunks = W * cores if few_chunks else -(-m // piece)
    vector = c["P"] * 8
    return (
        local
        + c["fixed"]
        + chunks * (c["per_chunk"] + c["add"])
        + (W * cores + chunks) * vector / bandwidth
    )


def paper_table(c) -> None:
    sizes = [60_000, 10**6, 10**7, 10**8, 10**9]
    print(
        f"\non paper: seconds per evaluation (speedup over one machine) on machines of "
        f"{MACHINE['cores']} cores, {MACHINE['ram'] / 1e9:.0f} GB RAM, "
        f"{MACHINE['disk'] / 1e9:.0f} GB/s disk, {MACHINE['bandwidth'] * 8 / 1e9:.0f} Gb/s network"
    )
    for few in (False, True):
        print(
            "chunks of 5000 rows"
            if not few
            else "one chunk per worker process, pieces of 5000 rows"
        )
        print(f"{'rows':>14} " + " ".join(f"{W:>15}" for W in (1, 2, 8, 32, 100)))
        for m in sizes:
            cells = []
            for W in (1, 2, 8, 32, 100):
                t = cost_model(c, m, W, few_chunks=few)
                cells.append(f"{t:7.3g} ({cost_model(c, m, 1) / t:4.1f}x)")
            print(f"{m:>14,d} " + " ".join(f"{cell:>15}" for cell in cells))
        grid = np.unique(np.logspace(3, 10, 141).astype(np.int64))
        wins = []
        for W in (2, 4, 8, 16, 32, 64, 100):
            faster = [m for m in grid if cost_model(c, m, W, few_chunks=few) < cost_model(c, m, 1)]
            wins.append(f"{W}: {faster[0]:,d}" if faster else f"{W}: never")
        print("  smallest data (rows) where W machines beat one:", "; ".join(wins))


def drift(args, X, y, npy, client) -> None:
    """Weights after N L-BFGS iterations: unchunked vs chunked vs Dask (same chunks)."""
    X_ram = np.array(X)
    kwargs = {"hidden_layer_sizes": SIZES[1:-1], "lam": LAM, "max_iter": args.drift_iter}
    chunked = training.train(X_ram, y, chunk_size=args.dask_chunk, **kwargs)
    whole = training.train(X_ram, y, **kwargs)
    on_dask = training.train(
        distributed.from_npy(npy, args.dask_chunk), y, client=client, image_shape=(28, 28), **kwargs
    )

    def diff(a, b):
        return float(np.max(np.abs(network.pack(a.thetas) - network.pack(b.thetas))))

    print(
        f"\ndrift after {args.drift_iter} L-BFGS iterations (max |weight difference|): "
        f"unchunked vs chunked {diff(whole, chunked):.1e}, Dask (2 workers) vs chunked "
        f"{diff(on_dask, chunked):.1e}; final costs {whole.history['cost'][-1]:.12f}, "
        f"{chunked.history['cost'][-1]:.12f}, {on_dask.history['cost'][-1]:.12f}"
    )


def full_training(args, X, y, test, npy, client) -> None:
    """Full-batch L-BFGS on a LocalCluster to above the published MLP's test accuracy; with
    ``--train-single``, the same training in this process (same chunks) for comparison."""
    kwargs = {
        "hidden_layer_sizes": SIZES[1:-1],
        "lam": args.train_lam,
        "max_iter": args.train_iter,
        "init_epsilon": None,
        "image_shape": (28, 28),
    }
    start = time.perf_counter()
    model = training.train(distributed.from_npy(npy, args.dask_chunk), y, client=client, **kwargs)
    elapsed = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(test.X) == test.y))
    info = model.info
    print(
        f"\nfull training on a LocalCluster of {info['n_workers']} workers: 784-100-10, L-BFGS, "
        f"lam {args.train_lam}, {info['n_iter']} iterations ({info['n_evaluations']} evaluations, "
        f"stop: {info['stop_reason']}), {elapsed:.0f} s in all ({info['train_time_s']:.0f} s "
        f"training): test accuracy {accuracy:.4f} (published MLP {PUBLISHED_MLP}; "
        f"{'above' if accuracy > PUBLISHED_MLP else 'NOT above'})"
    )
    if args.train_single:
        start = time.perf_counter()
        single = training.train(np.array(X), y, chunk_size=args.dask_chunk, **kwargs)
        elapsed = time.perf_counter() - start
        difference = np.max(np.abs(network.pack(single.thetas) - network.pack(model.thetas)))
        print(
            f"the same in one process (chunks of {args.dask_chunk}, NumPy's BLAS "
            f"{single.info['threads'] or 'as set'} thread(s)): {elapsed:.0f} s, test accuracy "
            f"{np.mean(single.predict(test.X) == test.y):.4f}, max |weight difference| from the "
            f"LocalCluster's {difference:.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--dask-chunk", type=int, default=5000)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "digitnet-cache"
    )
    parser.add_argument("--drift-iter", type=int, default=50)
    parser.add_argument("--train-iter", type=int, default=500)
    parser.add_argument("--train-lam", type=float, default=10.0)
    parser.add_argument("--skip-evals", action="store_true", help="no table, no cost model")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--train-single", action="store_true", help="also train in one process")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "Sending large graph")

    print(probe())
    X, y, test = load(args.cache, args.dtype)
    Y = LabelMap.fit(y).one_hot(y, dtype=X.dtype)
    npy = Path(X.filename)
    theta = network.initialize(SIZES, np.random.default_rng(0), epsilon=None)
    print(
        f"Fashion-MNIST: {X.shape[0]} x {X.shape[1]} {X.dtype} ({X.nbytes / 2**20:.0f} MiB, "
        f"memmap {npy}); network {'-'.join(map(str, SIZES))} ({len(theta)} weights)"
    )
    clients = {workers: distributed.connect(workers=workers) for workers in (1, 2)}
    try:
        if not args.skip_evals:
            paper_table(evaluations(args, X, Y, theta, npy, clients))
            drift(args, X, y, npy, clients[2])
        if not args.skip_train:
            full_training(args, X, y, test, npy, clients[2])
    finally:
        for client in clients.values():
            client.close()
    print(probe())


if __name__ == "__main__":
    main()
