"""Beyond one piece of memory: data larger than memory, and evaluations on a Dask cluster.

The cost is a sum over examples, and ``digitnet.engine`` adds the sums of pieces of rows in a fixed
order. This module brings the rows to the engine from further away:

``chunk_rows``
    rows per piece for a memory budget: out of core on one machine is
    ``engine.Rows(X, Y, sizes, chunk_size=chunk_rows(...))`` on a float ``numpy.memmap``
    (``idx_to_npy_cache`` makes one from IDX files); the engine's threads share its pieces.
``DaskRows``
    a placement for ``engine.Objective``: the chunks of a row-chunked ``dask.array`` on a
    ``dask.distributed`` cluster, the dask-glm way. The optimizer's state stays on the client; each
    evaluation sends ``theta`` to the cluster once, every worker sums the chunks it holds (with
    ``engine.Rows``), and the client adds the per-chunk sums in chunk order. A worker that dies
    loses only chunks that Dask recomputes from their source; a lost scheduler raises
    ``ClusterLost``, which ``train.train`` turns into the end of training with the weights reached.
``rows_on_cluster``
    what ``train.train(X, y, client=client)`` evaluates on (``digitnet train --workers N /
    --scheduler ADDR``): ``X`` and its labels as ``DaskRows``. Training itself, with its settings,
    initial weights, validation and record, is ``train.train``'s alone.

``docs/scaling.md`` has the measurements and the cost model.

Dask is an optional dependency (``pip install digitnet[dask]``); only the functions that use it
import it.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Sequence
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np

from digitnet import engine, network
from digitnet.labels import one_hot_units

__all__ = [
    "ClusterLost",
    "DaskRows",
    "chunk_rows",
    "connect",
    "from_npy",
    "idx_to_npy_cache",
    "rows_on_cluster",
    "to_dask",
    "work_bytes_per_row",
]


# --- out of core on one machine ------------------------------------------------------------------


def work_bytes_per_row(layer_sizes: Sequence[int], dtype=np.float64) -> int:
    """Bytes of working memory one thread of ``engine.Rows`` needs per row of its piece, an upper
    bound.

    Per row its ``network.Workspace`` holds a mini-batch's gathered input, target and weight
    (``n + K + 1``), every hidden activation (kept for backpropagation), the output ``z`` and two
    loss temporaries (``3 K``), two deltas of the widest hidden layer, and a row sum:
    ``n + 4 K + sum(hidden) + 2 max(hidden) + 2`` numbers. ``tests/test_distributed.py`` checks
    the bound against ``tracemalloc``.
    """
    sizes = [int(s) for s in layer_sizes]
    n, K, hidden = sizes[0], sizes[-1], sizes[1:-1]
    numbers = n + 4 * K + sum(hidden) + 2 * max(hidden, default=0) + 2
    return np.dtype(dtype).itemsize * numbers


def chunk_rows(
    n_rows: int,
    layer_sizes: Sequence[int],
    memory_budget_bytes: int,
    dtype=np.float64,
    threads: int = 1,
) -> int:
    """Rows per piece (``chunk_size``) so that one evaluation's working memory stays in a budget.

    The budget covers ``threads`` pieces in flight (``work_bytes_per_row`` each row) plus a fixed
    part of ``engine.BLOCK_PIECES + 4`` parameter-sized vectors (the pieces' gradients, theta in the
    data's dtype, the gradient sum, one layer's product, the penalty's). Returns at most ``n_rows``;
    raises if not even one row fits.
    """
    itemsize = np.dtype(dtype).itemsize
    fixed = (engine.BLOCK_PIECES + 4) * network.n_params(layer_sizes) * itemsize
    per_row = int(threads) * work_bytes_per_row(layer_sizes, dtype)
    rows = (int(memory_budget_bytes) - fixed) // per_row
    if rows < 1:
        raise ValueError(
            f"a memory budget of {memory_budget_bytes} bytes is too small for layer sizes "
            f"{list(layer_sizes)}: one row needs {fixed + per_row} bytes"
        )
    return int(min(rows, n_rows))


DEFAULT_CHUNK_BYTES = 64 << 20  # working memory per chunk when rows_on_cluster cuts an array itself

_IDX_UBYTE = 0x08


def idx_to_npy_cache(
    images_path: str | Path, cache_dir: str | Path, *, dtype=np.float32, block_rows: int = 4096
) -> np.memmap:
    """Unpack an IDX images file (raw or gzip) once into an ``.npy`` file and memory-map it.

    The cache holds ``X: (m, h*w)``, pixels / 255 in ``dtype`` (the values ``data.load_idx`` gives),
    row-major. It is written a block of images at a time, so memory stays small however large the
    file, then renamed into place; later calls reopen it (``mmap_mode="r"``) unless the IDX file is
    newer. A float memmap goes straight into ``engine.Rows(..., chunk_size=...)``.
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


# --- Dask ----------------------------------------------------------------------------------------


class ClusterLost(RuntimeError):
    """The Dask cluster could not finish an evaluation: the scheduler (or the connection to it)
    went away, or workers kept failing (``DaskRows.retries``)."""


def _identity(x):
    return x


def _aligned(a):
    """``a`` aligned, copied (in its own memory layout) only if it is not. Arrays that Dask
    deserializes can start at any byte; NumPy then leaves its fast paths for ones that round
    differently."""
    return None if a is None else np.require(a, requirements="A")


def _block_sums(theta, X, Y, w=None, *, layer_sizes, piece_rows=None, activation, output):
    """One block's ``(loss_sum, grad_sum)``, what a worker computes: in one piece, or in pieces of
    ``piece_rows`` rows added in order by the engine (so memory grows with the piece)."""
    theta, X, Y, w = map(_aligned, (theta, X, Y, w))
    rows = engine.Rows(
        X,
        Y,
        layer_sizes,
        sample_weight=w,
        threads=1,
        chunk_size=piece_rows or len(X),
        activation=activation,
        output=output,
    )
    return rows.sums(theta)


def _all_finite(block: np.ndarray) -> bool:
    return bool(np.isfinite(block).all())


def _npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def require_dask() -> None:
    """Import Dask, or raise an ImportError that names the extra to install."""
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"digitnet's Dask path needs Dask: pip install 'digitnet[dask]' ({err})"
        ) from err


def from_npy(path: str | Path, chunk_size: int):
    """A row-chunked ``dask.array`` whose chunks a worker reads from an ``.npy`` file itself.

    The graph holds only the path and row ranges (not the data), so a chunk lost with its worker
    is read again from the file. Every worker must see the file at the same path (one machine, or a
    shared file system).
    """
    require_dask()
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
    require_dask()
    import dask.array as da

    chunks = (int(chunk_size), *(-1,) * (np.ndim(a) - 1))
    if isinstance(a, da.Array):
        return a.rechunk(chunks)  # the same array when its chunks already are these
    return da.from_array(np.asarray(a), chunks=chunks)


class DaskRows:
    """The row chunks of ``X`` and ``Y`` on a Dask cluster: a placement for ``engine.Objective``.

    ``X: (m, n)`` and ``Y: (m, K)`` are ``dask.array``s with the same row chunks (``to_dask``,
    ``from_npy``); ``sample_weight`` an optional ``(m,)`` one chunked alike. They are computed onto
    the workers once, here, and stay there (a NaN or infinity in ``X`` is a ValueError then). Each
    ``sums(theta)`` then

    1. sends ``theta`` to the cluster once (one task holds it; workers fetch it from each other),
    2. sums each chunk where it lives (``engine.Rows`` on one thread), and
    3. gathers the per-chunk sums and adds them on the client in chunk order,

    so ``engine.Objective(DaskRows(...), lam, sizes)`` gives the numbers of
    ``engine.Objective(engine.Rows(..., chunk_size=c), lam, sizes)`` with the same chunks, whichever
    worker computed what. Full batch only: ``rows`` must be ``None``. ``activation`` and ``output``
    name the network's units, as for ``engine.Rows``.

    ``piece_rows`` lets a worker go through a chunk that many rows at a time (its working memory
    then grows with the piece), so that chunks can be large and few: every chunk costs the client
    and the scheduler a task and a gradient to receive (``docs/scaling.md``). The pieces of a chunk
    are added on the worker, then the chunks on the client, an order that differs from
    ``Rows(chunk_size=piece_rows)`` by rounding alone.

    A worker that dies is survived: the scheduler recomputes its chunks from their source (the
    graph) and reruns its tasks; an evaluation that still fails with an error of communication is
    tried again, up to ``retries`` times, while the scheduler answers. A lost scheduler raises
    ``ClusterLost``, which ``lost`` then holds.
    """

    def __init__(
        self,
        X,
        Y,
        client,
        layer_sizes: Sequence[int],
        *,
        sample_weight=None,
        piece_rows: int | None = None,
        retries: int = 3,
        activation: str = "sigmoid",
        output: str = "sigmoid",
    ):
        import dask.array as da
        from distributed import wait

        network.check_family(activation, output)
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
        if sample_weight is not None and sample_weight.chunks[0] != X.chunks[0]:
            raise ValueError("sample_weight must have the row chunks of X")
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        # Empty row chunks (left by filtering or rechunking) hold nothing to add: merged away.
        rows = tuple(size for size in X.chunks[0] if size)
        X, Y = X.astype(dtype).rechunk({0: rows, 1: -1}), Y.astype(dtype).rechunk({0: rows, 1: -1})
        self.client, self.layer_sizes = client, list(layer_sizes)
        self.activation, self.output = activation, output
        self.dtype, self.chunks, self.n_rows = dtype, X.chunks[0], int(X.shape[0])
        arrays = [X, Y]
        if sample_weight is not None:
            arrays.append(sample_weight.astype(dtype).rechunk({0: rows}))
        # One future per chunk, in chunk order, held on the workers for as long as this object
        # lives; aligned once here, so that _block_sums copies nothing unless a chunk has moved.
        arrays = [a.map_blocks(_aligned, dtype=a.dtype) for a in arrays]
        self._blocks = [client.compute(list(a.to_delayed().ravel())) for a in arrays]
        wait([f for blocks in self._blocks for f in blocks])
        if not all(client.gather(client.map(_all_finite, self._blocks[0], pure=False))):
            raise ValueError("X contains NaN or infinite values")
        if sample_weight is None:
            self.total: float = self.n_rows
        else:
            sums = client.gather(client.map(np.sum, self._blocks[2], pure=False))
            self.total = float(sum(sums))  # per chunk on the workers, then in chunk order
        self.piece_rows = None if piece_rows is None else int(piece_rows)
        self.retries, self.n_retries, self.n_evaluations = int(retries), 0, 0
        self.lost: ClusterLost | None = None

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
            activation=self.activation,
            output=self.output,
            pure=False,
        )
        return self.client.gather(parts)

    def _scheduler_answers(self) -> bool:
        try:
            self.client.sync(self.client.scheduler.identity, callback_timeout=30)
            return True
        except Exception:
            return False

    def sums(self, theta: np.ndarray, rows=None) -> tuple[float, np.ndarray]:
        """``(loss_sum, grad_sum)`` over every row, the chunks' sums added in chunk order."""
        from distributed.comm import CommClosedError

        if rows is not None:
            raise ValueError("DaskRows evaluates the full batch only (rows must be None)")
        theta = np.asarray(theta, dtype=np.float64)
        for attempt in range(self.retries + 1):
            try:
                results = self._chunk_sums(theta)
                break
            except (OSError, CommClosedError, CancelledError) as err:
                # A worker's death is the scheduler's to handle (it recomputes what was lost), but
                # should an error still reach us while the scheduler answers, try again.
                answers = self._scheduler_answers()
                if answers and attempt < self.retries:
                    self.n_retries += 1
                    continue
                self.lost = ClusterLost(
                    f"{attempt + 1} tries failed, the last with {err!r}"
                    if answers
                    else f"lost the Dask scheduler: {err!r}"
                )
                raise self.lost from err
        grad = np.zeros(network.n_params(self.layer_sizes), dtype=self.dtype)
        loss = engine.add_in_order(results, grad)  # in chunk order, whoever finished first
        self.n_evaluations += 1
        return loss, grad

    def facts(self) -> dict:
        """What a model trained here records besides ``train.train``'s facts: the row ``chunks``,
        ``piece_rows``, ``n_evaluations``, the ``scheduler``'s address and ``n_workers`` (None once
        the cluster is lost, with the error in ``cluster_error``)."""
        facts = {
            "chunks": [int(c) for c in self.chunks],
            "piece_rows": self.piece_rows,
            "n_evaluations": self.n_evaluations,
            "scheduler": self.client.scheduler.address,
            "n_workers": None if self.lost else len(self.client.scheduler_info()["workers"]),
        }
        if self.lost:
            facts["cluster_error"] = str(self.lost)
        return facts

    def close(self) -> None:
        """Nothing to stop: the chunks' futures go with this object."""


def connect(scheduler: str | None = None, workers: int | None = None, **kwargs):
    """A ``dask.distributed.Client``: to a running scheduler, or to a new ``LocalCluster``.

    ``scheduler``: an address such as ``"tcp://10.0.0.5:8786"`` (``digitnet train --scheduler``).
    ``workers``: start that many single-threaded worker processes on this machine, listening on
    loopback only (``digitnet train --workers N``); closing the client closes them. With neither,
    one worker per core. ``kwargs`` go to ``Client`` (e.g. ``timeout``, how long to wait for a lost
    scheduler to come back) and, for a new cluster, on to ``LocalCluster``.
    """
    require_dask()
    from distributed import Client

    if scheduler is not None and workers is not None:
        raise ValueError("give a scheduler address or a number of workers, not both")
    if scheduler is not None:
        return Client(scheduler, **kwargs)
    cluster = {
        "n_workers": int(workers or engine.available_cores()),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",  # its HTTP server (health, metrics): loopback
    }
    return Client(**(cluster | kwargs))


def rows_on_cluster(
    X,
    units: np.ndarray,
    n_labels: int,
    client,
    layer_sizes: Sequence[int],
    dtype,
    *,
    sample_weight: np.ndarray | None = None,
    chunk_size: int | None = None,
    piece_rows: int | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> DaskRows:
    """``X`` and its labels as ``DaskRows`` on the cluster of ``client``: what
    ``train.train(X, y, client=client)`` evaluates on.

    ``X: (m, n)`` is a row-chunked ``dask.array`` (its row chunks are kept unless ``chunk_size`` is
    given) or an array cut into ``chunk_size`` rows (default: ``chunk_rows`` for
    ``DEFAULT_CHUNK_BYTES``); it is computed in ``dtype``. ``units: (m,)`` holds each row's output
    unit (``LabelMap.encode``), of ``n_labels``; the one-hot targets are made on the workers, chunk
    by chunk. ``sample_weight: (m,)`` is cut like ``X``.
    """
    require_dask()
    import dask.array as da

    if chunk_size is None and not isinstance(X, da.Array):
        chunk_size = chunk_rows(len(X), layer_sizes, DEFAULT_CHUNK_BYTES, dtype)
    dX = (to_dask(X, chunk_size) if chunk_size else X.rechunk({1: -1})).astype(dtype)
    rows = dX.chunks[0]
    # Column-major targets, as train.train builds them for the full batch (a worker's block of
    # the course network: 1.4-2.4 % faster than row-major, the same bits).
    dY = da.from_array(units, chunks=(rows,)).map_blocks(
        one_hot_units, n_labels, dtype, "F", dtype=dtype, new_axis=1, chunks=(rows, (n_labels,))
    )
    weight = None if sample_weight is None else da.from_array(sample_weight, chunks=(rows,))
    return DaskRows(
        dX,
        dY,
        client,
        layer_sizes,
        sample_weight=weight,
        piece_rows=piece_rows,
        activation=activation,
        output=output,
    )
