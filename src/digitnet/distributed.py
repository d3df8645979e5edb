"""Full-batch cost and gradient beyond one piece of memory: row chunks, threads, and Dask.

The cost is a sum over examples, so it splits over row chunks exactly::

    J(theta) = 1/m [ sum_chunks loss_sum(chunk) + lam/2 ||W||^2 ]     (the gradient likewise)

``network.loss_sum_and_gradient`` computes one chunk's sums and ``network.regularize`` turns the
total into ``(J, grad)``. Everything here is a different way of producing the same per-chunk sums
and then adding them **in chunk order**, so that each way gives the same numbers as
``network.cost_and_gradient(..., chunk_size=c)`` with the same chunks:

``chunk_rows``
    rows per chunk for a memory budget: out of core on one machine is
    ``network.cost_and_gradient(theta, X, Y, lam, sizes, chunk_size=chunk_rows(...))`` on a float
    ``numpy.memmap`` (``idx_to_npy_cache`` makes one from IDX files).
``ThreadedObjective``
    chunks on a pool of threads (NumPy releases the GIL inside BLAS and ufuncs), with the BLAS
    threads per pool thread set so that the cores are not oversubscribed.
``DaskObjective``
    chunks of a row-chunked ``dask.array`` on a ``dask.distributed`` cluster, the dask-glm way: the
    optimizer's state stays on the client; each evaluation sends ``theta`` to the cluster once,
    every worker sums the chunks it holds, and the client adds the per-chunk sums. A worker that
    dies loses only chunks that Dask recomputes from their source; a lost scheduler raises
    ``ClusterLost``, which ``train_dask`` turns into the end of training with the weights reached.
``train_dask``
    ``train.train``'s counterpart on a cluster (``digitnet train --workers N / --scheduler ADDR``).

``docs/scaling.md`` has the measurements and the cost model.

Dask is an optional dependency (``pip install digitnet[dask]``); only the functions that use it
import it.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from digitnet import network
from digitnet.labels import LabelMap
from digitnet.model import Model

__all__ = [
    "ClusterLost",
    "DaskObjective",
    "ThreadedObjective",
    "chunk_rows",
    "connect",
    "from_npy",
    "idx_to_npy_cache",
    "to_dask",
    "train_dask",
    "work_bytes_per_row",
]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- out of core on one machine ------------------------------------------------------------------


def work_bytes_per_row(layer_sizes: Sequence[int], dtype=np.float64) -> int:
    """Bytes of working memory ``loss_sum_and_gradient`` needs per example, an upper bound.

    Per example it holds the input row and target (``n + K``), every hidden activation (kept for
    backpropagation), and at its peak three output-sized temporaries or two deltas of the widest
    layer: ``n + K + sum(hidden) + 3 max(s_2..s_L)`` numbers. ``tests/test_distributed.py``
    checks the bound against ``tracemalloc``.
    """
    sizes = [int(s) for s in layer_sizes]
    n, K, hidden = sizes[0], sizes[-1], sizes[1:-1]
    return np.dtype(dtype).itemsize * (n + K + sum(hidden) + 3 * max(sizes[1:]))


def chunk_rows(
    n_rows: int, layer_sizes: Sequence[int], memory_budget_bytes: int, dtype=np.float64
) -> int:
    """Rows per chunk so that one evaluation's working memory stays within a budget.

    The budget covers the per-example work (``work_bytes_per_row``) plus a fixed part of four
    parameter-sized vectors (theta in the data's dtype, the gradient sum, one chunk's gradient, and
    the result). Returns at most ``n_rows``; raises if not even one row fits.
    """
    itemsize = np.dtype(dtype).itemsize
    fixed = 4 * network.n_params(layer_sizes) * itemsize
    rows = (int(memory_budget_bytes) - fixed) // work_bytes_per_row(layer_sizes, dtype)
    if rows < 1:
        need = fixed + work_bytes_per_row(layer_sizes, dtype)
        raise ValueError(
            f"a memory budget of {memory_budget_bytes} bytes is too small for layer sizes "
            f"{list(layer_sizes)}: one row needs {need} bytes"
        )
    return int(min(rows, n_rows))


DEFAULT_CHUNK_BYTES = 64 << 20  # working memory per chunk when train_dask cuts an array itself

_IDX_UBYTE = 0x08


def idx_to_npy_cache(
    images_path: str | Path, cache_dir: str | Path, *, dtype=np.float32, block_rows: int = 4096
) -> np.memmap:
    """Unpack an IDX images file (raw or gzip) once into an ``.npy`` file and memory-map it.

    The cache holds ``X: (m, h*w)``, pixels / 255 in ``dtype`` (the values ``data.load_idx`` gives),
    row-major. It is written a block of images at a time, so memory stays small however large the
    file, then renamed into place; later calls reopen it (``mmap_mode="r"``) unless the IDX file is
    newer. A float memmap goes straight into ``network.cost_and_gradient(..., chunk_size=...)``.
    """
    images_path, cache_dir = Path(images_path), Path(cache_dir)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    name = images_path.name.removesuffix(".gz")
    cache = cache_dir / f"{name}.{dtype.name}.npy"
    if cache.exists() and cache.stat().st_mtime >= images_path.stat().st_mtime:
        return np.load(cache, mmap_mode="r")

    with open(images_path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(images_path, "rb") as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != _IDX_UBYTE or magic[3] < 2:
            raise ValueError(f"{images_path}: not an IDX file of unsigned-byte images")
        dims = [int(d) for d in np.frombuffer(f.read(4 * magic[3]), ">u4")]
        m, row = dims[0], math.prod(dims[1:])
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=(m, row))
        for start in range(0, m, block_rows):
            count = min(block_rows, m - start)
            block = f.read(count * row)
            if len(block) != count * row:
                raise ValueError(f"{images_path}: truncated: header says {m} images")
            pixels = np.frombuffer(block, np.uint8).reshape(count, row)
            out[start : start + count] = pixels.astype(dtype) / 255
        out.flush()
        del out
    os.replace(partial, cache)
    return np.load(cache, mmap_mode="r")


# --- threads on one machine ----------------------------------------------------------------------


def _check_xy(X, Y, layer_sizes, sample_weight=None):
    X = network.as_float(X)
    Y = np.asarray(Y, dtype=X.dtype)
    n, K = layer_sizes[0], layer_sizes[-1]
    if X.ndim != 2 or X.shape[1] != n or Y.shape != (len(X), K) or len(X) == 0:
        raise ValueError(
            f"X must be (m, {n}) and Y (m, {K}) with m > 0 for layer sizes {list(layer_sizes)}, "
            f"got {X.shape} and {Y.shape}"
        )
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=X.dtype)
        if sample_weight.shape != (len(X),):
            raise ValueError(f"sample_weight must be ({len(X)},), got {sample_weight.shape}")
    return X, Y, sample_weight


class ThreadedObjective:
    """``objective(theta, rows=None) -> (J, grad)`` with row chunks on a pool of threads.

    Equal to ``network.cost_and_gradient(theta, X, Y, lam, layer_sizes, chunk_size=chunk_size)``:
    the per-chunk sums are added in chunk order whichever thread finishes first. At most
    ``2 * n_threads`` chunks are in flight, so memory grows with the chunk, not with the data (``X``
    may be a memmap). During an evaluation the BLAS libraries run ``blas_threads`` threads each
    (default: cores // n_threads) so that pool threads times BLAS threads fits the machine.

    ``rows`` (an index array, for mini-batch solvers) evaluates those rows in one piece, averaged
    as ``train.train``'s objective does. Use as a context manager, or call ``close()``, to stop the
    threads.
    """

    def __init__(
        self,
        X,
        Y,
        lam: float,
        layer_sizes: Sequence[int],
        *,
        chunk_size: int,
        n_threads: int | None = None,
        blas_threads: int | None = None,
        sample_weight=None,
    ) -> None:
        self.X, self.Y, self.sample_weight = _check_xy(X, Y, layer_sizes, sample_weight)
        self.lam, self.layer_sizes = float(lam), list(layer_sizes)
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")
        self.n_threads = int(n_threads or _cpu_count())
        self.blas_threads = int(blas_threads or max(1, _cpu_count() // self.n_threads))
        m = len(self.X)
        self.total = m if self.sample_weight is None else float(np.sum(self.sample_weight))
        self._blas = ThreadpoolController()
        self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="digitnet-chunk")

    def _sums(self, theta: np.ndarray, rows) -> tuple[float, np.ndarray]:
        w = None if self.sample_weight is None else self.sample_weight[rows]
        return network.loss_sum_and_gradient(theta, self.X[rows], self.Y[rows], self.layer_sizes, w)

    def __call__(self, theta: np.ndarray, rows=None) -> tuple[float, np.ndarray]:
        if rows is not None:
            # A mini-batch, as train.train's objective does it: averaged over its expected share
            # of the total weight, with the penalty kept at lam / (2 total).
            loss, grad = self._sums(theta, rows)
            share = len(rows) * self.total / len(self.X)
            lam = self.lam * share / self.total
            return network.regularize(theta, loss, grad, lam, share, self.layer_sizes)
        theta_x = np.asarray(theta, dtype=self.X.dtype)
        loss, grad = 0.0, np.zeros(network.n_params(self.layer_sizes), dtype=self.X.dtype)
        pending: deque = deque()
        with self._blas.limit(limits=self.blas_threads, user_api="blas"):
            for start in range(0, len(self.X), self.chunk_size):
                chunk = slice(start, start + self.chunk_size)
                pending.append(self._pool.submit(self._sums, theta_x, chunk))
                if len(pending) >= 2 * self.n_threads:
                    part_loss, part_grad = pending.popleft().result()
                    loss += part_loss
                    grad += part_grad
            while pending:
                part_loss, part_grad = pending.popleft().result()
                loss += part_loss
                grad += part_grad
        return network.regularize(theta, loss, grad, self.lam, self.total, self.layer_sizes)

    def close(self) -> None:
        self._pool.shutdown()

    def __enter__(self) -> ThreadedObjective:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- Dask ----------------------------------------------------------------------------------------


class ClusterLost(RuntimeError):
    """The Dask cluster could not finish an evaluation: the scheduler (or the connection to it)
    went away, or workers kept failing (``DaskObjective.retries``)."""


def _identity(x):
    return x


def _aligned(a):
    """``a`` aligned, copied (in its own memory layout) only if it is not. Arrays that Dask
    deserializes can start at any byte; NumPy then leaves its fast paths for ones that round
    differently."""
    return None if a is None else np.require(a, requirements="A")


def _block_sums(theta, X, Y, w=None, *, layer_sizes, piece_rows=None):
    """One block's ``(loss_sum, grad_sum)``, what a worker computes: in one piece, or in pieces of
    ``piece_rows`` rows added in order (so memory grows with the piece, not the block)."""
    theta, X, Y, w = map(_aligned, (theta, X, Y, w))
    if piece_rows is None or piece_rows >= len(X):
        return network.loss_sum_and_gradient(theta, X, Y, layer_sizes, w)
    loss, grad = 0.0, np.zeros(network.n_params(layer_sizes), dtype=X.dtype)
    for start in range(0, len(X), piece_rows):
        rows = slice(start, start + piece_rows)
        part = network.loss_sum_and_gradient(
            theta, X[rows], Y[rows], layer_sizes, None if w is None else w[rows]
        )
        loss += part[0]
        grad += part[1]
    return loss, grad


def _npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def from_npy(path: str | Path, chunk_size: int):
    """A row-chunked ``dask.array`` whose chunks a worker reads from an ``.npy`` file itself.

    The graph holds only the path and row ranges (not the data), so a chunk lost with its worker
    is read again from the file. Every worker must see the file at the same path (one machine, or a
    shared file system).
    """
    import dask
    import dask.array as da

    path = str(Path(path).resolve())
    head = np.load(path, mmap_mode="r")
    m, dtype, rest = head.shape[0], head.dtype, head.shape[1:]
    del head
    read = dask.delayed(_npy_rows, pure=True)
    return da.concatenate(
        [
            da.from_delayed(
                read(path, s, min(s + chunk_size, m)), (min(chunk_size, m - s), *rest), dtype=dtype
            )
            for s in range(0, m, chunk_size)
        ]
    )


def to_dask(a, chunk_size: int):
    """``a`` as a ``dask.array`` with ``chunk_size`` rows per chunk (one chunk across the columns).

    A dask array is rechunked (a no-op when its chunks already are these). A NumPy array goes into
    the graph, so a lost chunk is cut from it again; for data larger than memory use ``from_npy``.
    """
    import dask.array as da

    chunks = (int(chunk_size), *(-1,) * (np.ndim(a) - 1))
    if isinstance(a, da.Array):
        return a.rechunk(chunks)  # the same array when its chunks already are these
    return da.from_array(np.asarray(a), chunks=chunks)


class DaskObjective:
    """``objective(theta) -> (J, grad)`` with the row chunks of ``X`` and ``Y`` on a Dask cluster.

    ``X: (m, n)`` and ``Y: (m, K)`` are ``dask.array``s with the same row chunks (``to_dask``,
    ``from_npy``); ``sample_weight`` an optional ``(m,)`` one chunked alike. They are computed onto
    the workers once, here, and stay there. Each call then

    1. sends ``theta`` to the cluster once (one task holds it; workers fetch it from each other),
    2. runs ``network.loss_sum_and_gradient`` on each chunk where it lives,
    3. gathers the per-chunk sums and adds them on the client in chunk order, and
    4. averages and regularizes them (``network.regularize``).

    So the result equals ``network.cost_and_gradient(..., chunk_size=c)`` with the same chunks,
    whichever worker computed what. Full batch only: ``rows`` must be ``None``.

    ``piece_rows`` lets a worker go through a chunk that many rows at a time (its working memory
    then grows with the piece), so that chunks can be large and few: every chunk costs the client
    and the scheduler a task and a gradient to receive (``docs/scaling.md``). The pieces of a chunk
    are added on the worker, then the chunks on the client, an order that differs from
    ``cost_and_gradient(chunk_size=piece_rows)`` by rounding alone.

    A worker that dies is survived: the scheduler recomputes its chunks from their source (the
    graph) and reruns its tasks; an evaluation that still fails with an error of communication is
    tried again, up to ``retries`` times, while the scheduler answers. A lost scheduler raises
    ``ClusterLost``. ``best_theta`` and ``best_cost`` keep the lowest-cost weights evaluated.
    """

    def __init__(
        self,
        X,
        Y,
        client,
        lam: float,
        layer_sizes: Sequence[int],
        *,
        sample_weight=None,
        piece_rows: int | None = None,
        retries: int = 3,
    ):
        import dask.array as da
        from distributed import wait

        if not isinstance(X, da.Array) or not isinstance(Y, da.Array):
            raise TypeError("X and Y must be dask arrays (digitnet.distributed.to_dask makes them)")
        n, K = layer_sizes[0], layer_sizes[-1]
        if X.ndim != 2 or X.shape[1] != n or Y.shape != (X.shape[0], K) or X.shape[0] == 0:
            raise ValueError(
                f"X must be (m, {n}) and Y (m, {K}) with m > 0 for layer sizes "
                f"{list(layer_sizes)}, got {X.shape} and {Y.shape}"
            )
        if Y.chunks[0] != X.chunks[0]:
            raise ValueError(
                f"X and Y must have the same row chunks, got {X.chunks[0]} and {Y.chunks[0]}"
            )
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        X, Y = X.astype(dtype).rechunk({1: -1}), Y.astype(dtype).rechunk({1: -1})
        self.client, self.lam, self.layer_sizes = client, float(lam), list(layer_sizes)
        self.dtype, self.chunks = dtype, X.chunks[0]
        arrays = [X, Y] if sample_weight is None else [X, Y, sample_weight.astype(dtype)]
        if sample_weight is not None and sample_weight.chunks[0] != X.chunks[0]:
            raise ValueError("sample_weight must have the row chunks of X")
        # One future per chunk, in chunk order, held on the workers for as long as this object
        # lives; aligned once here, so that _block_sums copies nothing unless a chunk has moved.
        arrays = [a.map_blocks(_aligned, dtype=a.dtype) for a in arrays]
        self._blocks = [client.compute(list(a.to_delayed().ravel())) for a in arrays]
        wait([f for blocks in self._blocks for f in blocks])
        if sample_weight is None:
            self.total = X.shape[0]
        else:
            sums = client.gather(client.map(np.sum, self._blocks[2], pure=False))
            self.total = float(sum(sums))  # per chunk on the workers, then in chunk order
        self.piece_rows = None if piece_rows is None else int(piece_rows)
        self.retries, self.n_retries, self.n_evaluations = int(retries), 0, 0
        self.best_cost = math.inf
        self.best_theta: np.ndarray | None = None

    def _chunk_sums(self, theta: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """Steps 1-3: every chunk's ``(loss_sum, grad_sum)``, in chunk order."""
        # theta goes to the cluster once, as the argument of one task; the chunk tasks fetch it
        # from the worker that holds it. Unlike client.scatter(theta, broadcast=True), a task is
        # recomputed when its worker dies, and no replication loop can hang on a dead worker
        # (dask/distributed#5704, #3149; the worker-kill test hung in scatter that way).
        theta_future = self.client.submit(_identity, theta, pure=False)
        parts = self.client.map(
            _block_sums,
            [theta_future] * len(self.chunks),
            *self._blocks,
            layer_sizes=self.layer_sizes,
            piece_rows=self.piece_rows,
            pure=False,
        )
        return self.client.gather(parts)

    def _scheduler_answers(self) -> bool:
        try:
            self.client.sync(self.client.scheduler.identity, callback_timeout=30)
            return True
        except Exception:
            return False

    def __call__(self, theta: np.ndarray, rows=None) -> tuple[float, np.ndarray]:
        from distributed.comm import CommClosedError

        if rows is not None:
            raise ValueError("DaskObjective evaluates the full batch only (rows must be None)")
        theta = np.asarray(theta, dtype=np.float64)
        for attempt in range(self.retries + 1):
            try:
                results = self._chunk_sums(theta)
                break
            except (OSError, CommClosedError, CancelledError) as err:
                # A worker's death is the scheduler's to handle (it recomputes what was lost), but
                # should an error still reach us while the scheduler answers, try again.
                if not self._scheduler_answers():
                    raise ClusterLost(f"lost the Dask scheduler: {err!r}") from err
                if attempt == self.retries:
                    raise ClusterLost(f"{attempt + 1} tries failed, the last with {err!r}") from err
                self.n_retries += 1
        loss, grad = 0.0, np.zeros(network.n_params(self.layer_sizes), dtype=self.dtype)
        for part_loss, part_grad in results:
            loss += part_loss
            grad += part_grad
        J, grad = network.regularize(theta, loss, grad, self.lam, self.total, self.layer_sizes)
        self.n_evaluations += 1
        if J < self.best_cost:
            self.best_cost, self.best_theta = J, theta.copy()
        return J, grad


def connect(scheduler: str | None = None, workers: int | None = None, **kwargs):
    """A ``dask.distributed.Client``: to a running scheduler, or to a new ``LocalCluster``.

    ``scheduler``: an address such as ``"tcp://10.0.0.5:8786"`` (``digitnet train --scheduler``).
    ``workers``: start that many single-threaded worker processes on this machine, listening on
    loopback only (``digitnet train --workers N``); closing the client closes them. With neither,
    one worker per core. ``kwargs`` go to ``Client`` (e.g. ``timeout``, how long to wait for a lost
    scheduler to come back) and, for a new cluster, on to ``LocalCluster``.
    """
    from distributed import Client

    if scheduler is not None and workers is not None:
        raise ValueError("give a scheduler address or a number of workers, not both")
    if scheduler is not None:
        return Client(scheduler, **kwargs)
    cluster = {
        "n_workers": int(workers or _cpu_count()),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",  # its HTTP server (health, metrics): loopback
    }
    return Client(**(cluster | kwargs))


def train_dask(
    X,
    y,
    client,
    *,
    hidden_layer_sizes: Sequence[int] = (25,),
    lam: float = 1.0,
    solver: str = "lbfgs",
    max_iter: int = 100,
    tol: float = 1e-8,
    chunk_size: int | None = None,
    piece_rows: int | None = None,
    validation_data: tuple | None = None,
    early_stopping: bool = False,
    n_iter_no_change: int = 10,
    random_state: int | None = 0,
    init_epsilon: float | None = network.COURSE_EPSILON,
    initial: Model | np.ndarray | None = None,
    labels: LabelMap | Sequence | None = None,
    image_shape: tuple[int, int] | None = None,
    pixel_order: str | None = None,
    dtype=None,
    callback=None,
    progress=None,
) -> Model:
    """Train like ``digitnet.train.train``, with every evaluation on a Dask cluster.

    ``X`` is a row-chunked ``dask.array`` (its chunks are used, or ``chunk_size`` rows) or an
    array, cut into ``chunk_size`` rows (default: ``chunk_rows`` for ``DEFAULT_CHUNK_BYTES``);
    ``y`` holds its ``(m,)`` labels (NumPy or dask). ``piece_rows``: see ``DaskObjective``. The
    other arguments mean what they mean for ``train.train``; the solver must be a full-batch one
    (``"lbfgs"``, ``"cg"``). The optimizer runs here, on the client, through ``train.minimize``;
    the cluster only evaluates (``DaskObjective``). With the same chunks, seed and settings, the
    weights equal those of ``train.train(X, y, chunk_size=c, ...)`` to rounding. A resumed
    ``initial`` Model gives its weights, labels and image layout; its history is carried on, as by ``train.train``.

    A worker that dies changes nothing. A lost scheduler ends training as Ctrl-C does: the model
    holds the weights of the last completed iteration (the best ones when early stopping), with
    ``info["stop_reason"] == "cluster_lost"`` and the error in ``info["cluster_error"]``.
    """
    import dask.array as da

    from digitnet import train as training
    from digitnet.settings import check as check_settings

    check_settings(
        {
            "hidden_layer_sizes": hidden_layer_sizes,
            "lam": lam,
            "solver": solver,
            "max_iter": max_iter,
            "tol": tol,
            "n_iter_no_change": n_iter_no_change,
            "random_state": random_state,
            "init_epsilon": init_epsilon,
        }
    )
    if solver not in ("lbfgs", "cg"):
        raise ValueError(f"train_dask runs the full-batch solvers 'lbfgs' and 'cg', not {solver!r}")
    if early_stopping and validation_data is None:
        raise ValueError("early_stopping needs validation_data")
    dtype = training.float_dtype(X, dtype)
    y_local = np.asarray(y.compute() if isinstance(y, da.Array) else y)  # one label per row
    if X.ndim != 2 or y_local.shape != (X.shape[0],):
        raise ValueError(f"X must be (m, n) and y (m,), got {X.shape} and {y_local.shape}")

    # Labels, layer sizes and initial weights exactly as train.train chooses them.
    labels, layer_sizes, theta0 = training.initial_weights(
        initial,
        labels,
        y_local,
        X.shape[1],
        hidden_layer_sizes,
        np.random.default_rng(random_state),
        init_epsilon,
        dtype,
    )

    if chunk_size is None and not isinstance(X, da.Array):
        chunk_size = chunk_rows(len(X), layer_sizes, DEFAULT_CHUNK_BYTES, dtype)
    dX = (to_dask(X, chunk_size) if chunk_size else X.rechunk({1: -1})).astype(dtype)
    units = labels.encode(y_local)
    dY = da.from_array(units, chunks=(dX.chunks[0],)).map_blocks(
        _one_hot, len(labels), dtype, dtype=dtype, new_axis=1, chunks=(dX.chunks[0], (len(labels),))
    )
    objective = DaskObjective(dX, dY, client, lam, layer_sizes, piece_rows=piece_rows)
    lost = []

    def evaluate(theta, rows=None):
        try:
            return objective(theta, rows)
        except ClusterLost as err:
            lost.append(err)
            raise KeyboardInterrupt from err  # minimize's clean stop, which keeps the weights

    validate = None
    if validation_data is not None:
        X_val, y_val = validation_data
        validate = training.validator(np.asarray(X_val, dtype), y_val, labels, layer_sizes)
    start = time.perf_counter()
    with training.blas_threads(1):  # the client only runs the optimizer's vector updates
        result = training.minimize(
            evaluate,
            theta0,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            validate=validate,
            early_stopping=early_stopping,
            n_iter_no_change=n_iter_no_change,
            callback=callback,
            progress=progress,
        )
    elapsed = time.perf_counter() - start
    if lost:
        result = dataclasses.replace(result, stop_reason="cluster_lost")
    settings = {
        "lam": float(lam),
        "solver": solver,
        "max_iter": int(max_iter),
        "tol": float(tol),
        "random_state": None if random_state is None else int(random_state),
        "init_epsilon": None if init_epsilon is None else float(init_epsilon),
        "dtype": dtype.name,
        "early_stopping": bool(early_stopping),
        "n_iter_no_change": int(n_iter_no_change),
        "n_train": int(X.shape[0]),
        "n_validation": 0 if validation_data is None else len(validation_data[0]),
        "chunks": [int(c) for c in objective.chunks],
        "piece_rows": piece_rows,
        "n_evaluations": objective.n_evaluations,
        "scheduler": client.scheduler.address,
        "n_workers": None if lost else len(client.scheduler_info()["workers"]),
    }
    if lost:
        settings["cluster_error"] = str(lost[0])
    if not isinstance(X, da.Array):
        settings["data_fingerprint"] = training.data_fingerprint(X, y_local)
    return training.to_model(
        result, elapsed, settings, labels, layer_sizes, initial, image_shape, pixel_order
    )


def _one_hot(units: np.ndarray, K: int, dtype) -> np.ndarray:
    Y = np.zeros((len(units), K), dtype=dtype)
    Y[np.arange(len(units)), units] = 1
    return Y
