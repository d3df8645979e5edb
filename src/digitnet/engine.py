"""The evaluation engine: where the rows live, and how their sums add up.

The cost is a sum over examples, so it splits over pieces of rows exactly::

    J(theta) = 1/m [ sum_pieces loss_sum(piece) + lam/2 ||W||^2 ]     (the gradient likewise)

``network.loss_sum_and_gradient`` computes one piece's sums; this module decides where the pieces
are computed and adds their sums. Every training path goes through here: ``train.train`` (all four
solvers), the estimator, ``explore``, the gradient checker, and the Dask path
(``distributed.DaskRows`` is a placement like ``Rows``).

``Rows``
    rows in this process (an array, or a ``numpy.memmap`` larger than memory), their pieces spread
    over threads.
``distributed.DaskRows``
    row chunks on a Dask cluster; each worker sums its chunks' pieces with ``Rows``.
``Objective``
    ``objective(theta, rows=None) -> (J, grad)`` over a placement: the average and the penalty
    (``network.regularize``), for the full batch or a mini-batch. What ``train.minimize`` calls.

**Pieces are fixed by the data, never by the machine.** ``piece_bounds(m, weights, chunk_size)``
cuts the rows; the pieces' sums are added in piece order, one after the other, whichever thread finished
first. Each piece is computed by the same single-threaded code on 64-byte-aligned buffers, so an
evaluation gives the same bits with 1 thread or 16, run after run, and training with a seed gives
the same weights whatever ``threads`` is. Every placement equals the one-piece
``network.cost_and_gradient`` to rounding (about 1e-15 relative).

**Thread policy** (the one place it is decided):

- ``threads`` (``train(threads=)``, ``digitnet train --threads``) is the number of threads that
  evaluate pieces; the default is every core this process may run on (``os.sched_getaffinity``).
- Each of them runs BLAS on one thread: NumPy releases the GIL in BLAS and in ufuncs, so rows
  across threads use the cores fully, where OpenBLAS's own threads barely speed up the skinny
  products of these networks (``W1 @ X.T``, 25 x 400 by 400 x 5000: 2.8 ms on one thread, 2.1 ms on
  two). Pool threads x BLAS threads = ``threads`` <= cores: nothing is oversubscribed.
- SciPy's own OpenBLAS (the wheels bundle one each) is held at one thread during training
  (``blas_threads``): it only runs L-BFGS-B's and CG's small vector updates, and its idle threads
  spin between calls and take the cores from the evaluation (100 L-BFGS iterations 3.5 s instead of
  0.7 s on a 2-core machine).
- A piece must be worth a thread (``MIN_PIECE_WORK``, ``MIN_PIECE_ROWS``): a Fashion-MNIST
  mini-batch of 200 rows is one piece, the course network's 5000 rows two, a 784-512-256-10
  network's mini-batch of 128 two; large batches split like the full batch.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from digitnet import network

# Without a chunk_size, m rows make the largest of these numbers of pieces that leaves every piece
# at least MIN_PIECE_WORK rows x weights: 1, 2, 3, 4, 6 and 12 threads share 12 pieces evenly. A
# piece costs some 40 NumPy calls (110 us) besides its products, and two threads' small calls
# contend for the GIL (on 2 cores, 20,000-element ufunc calls ran slower on two threads than on
# one; whole pieces slow each other mostly through the virtual cores, docs/performance.md), so
# pieces are few and thick: the course network's 5000 rows make 2 pieces (6.8 ms f64 / 3.7 ms f32
# on 2 threads, where 4 took 7.1 / 4.3 and 6 took 7.6 / 4.6), a Fashion-MNIST mini-batch of 200
# rows one (an epoch 0.74 s, where two pieces on two threads took 0.82), its 60,000 rows 12.
PIECE_COUNTS = (1, 2, 3, 4, 6, 12)
MIN_PIECE_WORK = 2.5e7
# A piece also needs rows enough for BLAS: each piece multiplies (h, rows) deltas by (rows, n)
# activations and then adds a whole (P,) gradient, so a big network's small mini-batch does
# better in few thick pieces (784-512-256-10, 128 rows on 2 threads: 2 pieces of 64 take a third
# less time than 6 of 22). Smaller networks' mini-batches meet MIN_PIECE_WORK first.
MIN_PIECE_ROWS = 64
# Beyond this many rows a piece's working memory grows without making anything faster.
MAX_PIECE_ROWS = 8192
# Pieces computed at once (and gradient buffers held): one block, whatever the number of pieces.
BLOCK_PIECES = max(PIECE_COUNTS)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset`` set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads(threads) -> int:
    """``threads`` as a positive int (None: ``available_cores()``), or a ValueError naming it."""
    if threads is None:
        return available_cores()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return int(threads)


def piece_bounds(m: int, n_weights: int, chunk_size: int | None = None) -> list[int]:
    """Boundaries ``[0, b_1, ..., m]`` of the pieces that ``m`` rows are cut into, for a network
    of ``n_weights`` weights.

    With ``chunk_size``, pieces of exactly that many rows (the last one shorter), so that memory
    follows the chunk. Without, the largest count in ``PIECE_COUNTS`` whose pieces keep at least
    ``MIN_PIECE_WORK`` rows x weights and ``MIN_PIECE_ROWS`` rows, of equal size, each at most
    ``MAX_PIECE_ROWS`` rows. A
    function of the data and the network alone: the order of the sums never depends on the machine.
    """
    if chunk_size is None:
        count = max(
            c
            for c in PIECE_COUNTS
            if c == 1 or (m // c * n_weights >= MIN_PIECE_WORK and m // c >= MIN_PIECE_ROWS)
        )
        count = max(count, -(-m // MAX_PIECE_ROWS))
        rows = -(-m // count)
    else:
        rows = check_rows("chunk_size", chunk_size)
    return [*range(0, m, rows), m]


def check_rows(name: str, rows) -> int:
    """``rows`` (a setting called ``name``) as a positive int, or a ValueError naming it."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ValueError(f"{name} must be a positive number of rows, got {rows!r}")
    return int(rows)


def add_in_order(parts: Iterable[tuple[float, np.ndarray]], grad: np.ndarray, loss=0.0) -> float:
    """Add the pieces' ``(loss_sum, grad_sum)`` one after the other in the order given, the
    gradients into ``grad``; return the loss total. The one place where pieces' sums meet: their
    order decides the last bits, so every placement adds here, in piece order."""
    for part_loss, part_grad in parts:
        loss += part_loss
        grad += part_grad
    return loss


# --- BLAS thread pools ---------------------------------------------------------------------------


@contextmanager
def blas_threads(threads: int | None = None) -> Iterator[None]:
    """Run a block with NumPy's BLAS at ``threads`` threads and every other BLAS at one.

    Every BLAS library except NumPy's (SciPy's own OpenBLAS in the wheels) gets one thread: SciPy
    only does the optimizers' small vector updates with it, and its spinning idle threads make
    100 L-BFGS iterations several times slower. NumPy's pool gets ``threads`` threads, or keeps its
    current setting when ``threads`` is None (so ``OPENBLAS_NUM_THREADS`` and an enclosing
    ``threadpoolctl`` limit still apply). When NumPy and SciPy share one BLAS (conda, system
    packages), that one pool counts as NumPy's. Import SciPy's optimizers before entering: a library
    loaded inside the block is not limited.
    """
    if threads is not None:
        threads = check_threads(threads)
    numpy_pools, other_pools = _blas_pools()
    with ExitStack() as stack:
        stack.enter_context(other_pools.limit(limits=1))
        if threads is not None:
            stack.enter_context(numpy_pools.limit(limits=threads))
        yield


@functools.cache
def _loaded_blas() -> ThreadpoolController:
    """The BLAS libraries loaded at the first evaluation, found once: a search costs milliseconds,
    and a Dask worker builds a ``Rows`` for every chunk it sums."""
    return ThreadpoolController().select(user_api="blas")


def _blas_pools() -> tuple[ThreadpoolController, ThreadpoolController]:
    """(NumPy's BLAS, every other BLAS) among the libraries loaded now."""
    blas = ThreadpoolController().select(user_api="blas")
    numpy_dir = Path(np.__file__).resolve().parent
    # Wheels put NumPy's OpenBLAS in site-packages/numpy.libs (Linux) or numpy/.dylibs (macOS).
    numpy_dirs = (str(numpy_dir), str(numpy_dir.parent / "numpy.libs"))
    ours = [
        lib.filepath
        for lib in blas.lib_controllers
        if str(Path(lib.filepath).resolve()).startswith(numpy_dirs)
    ]
    if not ours:  # NumPy uses a BLAS installed elsewhere (conda, system), likely shared with SciPy
        return blas, blas.select(filepath=[])
    others = [lib.filepath for lib in blas.lib_controllers if lib.filepath not in ours]
    return blas.select(filepath=ours), blas.select(filepath=others)


# --- rows in this process ------------------------------------------------------------------------


class Rows:
    """The rows of ``X`` and ``Y`` in this process, evaluated in pieces on ``threads`` threads.

    ``sums(theta, rows=None)`` returns ``(loss_sum, grad_sum)`` over all rows or over the rows of an
    index array (a mini-batch: each piece gathers its rows into a reused buffer on its own thread);
    a mini-batch may come with dropout masks, one column per row, which each piece slices.
    ``set_examples(X)`` swaps in new examples of the same shape (an epoch's augmented images).
    Use as a context manager, or call ``close()``, to stop the threads.

    Parameters
    ----------
    X : (m, n) float64 or float32 examples (an array or a ``numpy.memmap``; never copied).
    Y : (m, K) one-hot targets. Column-major (``order="F"``, one unit after another, as the
        output layer's ``(K, m)`` arrays are) makes full-batch evaluations faster (float32, the
        course network: 5-9 %; element-wise passes that mix layouts are slower); row-major makes
        mini-batch gathers faster. Never copied: the caller picks, as ``train.train`` does by
        solver.
    layer_sizes : [n, h_1, ..., K].
    sample_weight : (m,) optional weights.
    threads : threads evaluating pieces, each with one BLAS thread (None: every available core).
    chunk_size : rows per piece (see ``piece_bounds``); bounds the working memory per thread.
    activation, output : the network's hidden activation and output (``network``'s names).
    """

    def __init__(
        self,
        X,
        Y,
        layer_sizes: Sequence[int],
        *,
        sample_weight=None,
        threads: int | None = None,
        chunk_size: int | None = None,
        activation: str = "sigmoid",
        output: str = "sigmoid",
    ) -> None:
        network.check_family(activation, output)
        self.activation, self.output = activation, output
        self.X, self.Y, self.sample_weight = network.check_arrays(X, Y, layer_sizes, sample_weight)
        self.layer_sizes = [int(s) for s in layer_sizes]
        self.dtype = self.X.dtype
        self.n_rows = len(self.X)
        self.total = (
            self.n_rows if self.sample_weight is None else float(np.sum(self.sample_weight))
        )
        self.threads = check_threads(threads)
        self.chunk_size = chunk_size
        P = network.n_params(self.layer_sizes)
        self._full_batch = piece_bounds(self.n_rows, P, chunk_size)
        self._work = [network.Workspace(self.dtype) for _ in range(self.threads)]
        self.n_weights = P
        self._slots: np.ndarray | None = None
        self._dropout: tuple[float, Sequence[np.ndarray] | None] = (0.0, None)
        self._losses = [0.0] * BLOCK_PIECES
        self._pool: ThreadPoolExecutor | None = None

    def set_examples(self, X: np.ndarray) -> None:
        """Evaluate on ``X`` from now on: same shape, same dtype, e.g. an epoch's distorted images."""
        if X.shape != self.X.shape or X.dtype != self.dtype:
            raise ValueError(
                f"new examples must be {self.dtype} {self.X.shape}, got {X.dtype} {X.shape}"
            )
        self.X = X

    def sums(
        self,
        theta: np.ndarray,
        rows: np.ndarray | None = None,
        dropout: float = 0.0,
        dropout_masks: Sequence[np.ndarray] | None = None,
    ) -> tuple[float, np.ndarray]:
        """``(loss_sum, grad_sum)`` over every row (``rows=None``) or over ``rows``, an index array.

        ``dropout_masks`` (with ``rows``): one ``(h_l, len(rows))`` mask per hidden layer drawn
        with rate ``dropout`` (``network.dropout_masks``); column j belongs to ``rows[j]``, so the
        masks, like the rows, do not depend on the threads. ``grad_sum`` is a new ``(P,)`` array
        of the data's dtype.
        """
        self._dropout = (dropout, dropout_masks)
        theta = np.asarray(theta, dtype=self.dtype)
        if rows is None:
            bounds = self._full_batch
        else:
            rows = np.asarray(rows)
            if rows.ndim != 1 or rows.dtype.kind not in "iu":
                raise ValueError(
                    f"rows must be a 1-D integer index array, got {rows.dtype} {rows.shape}"
                )
            if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
                raise IndexError(
                    f"rows must be indices in [0, {self.n_rows}), got {rows.min()}..{rows.max()}"
                )
            bounds = piece_bounds(len(rows), self.n_weights, self.chunk_size)
        loss, grad = 0.0, np.zeros(self.n_weights, dtype=self.dtype)
        with _loaded_blas().limit(limits=1):
            for first in range(0, len(bounds) - 1, BLOCK_PIECES):
                block = bounds[first : first + BLOCK_PIECES + 1]
                loss = self._add_block(theta, rows, block, grad, loss)
        return loss, grad

    def _add_block(self, theta, rows, block, grad, loss) -> float:
        """Add the sums of the pieces of ``block`` (boundaries) to ``grad`` and ``loss``, in piece
        order; return the loss. On one thread each piece is added as soon as it is done (one slot
        does); on T threads, thread t computes pieces t, t + T, ... into slots of their own, added
        once all are done. Either way the same additions in the same order: the same bits."""
        n_pieces = len(block) - 1
        threads = min(self.threads, n_pieces)
        self._slots = self._grown_slots(n_pieces if threads > 1 else 1)
        if threads == 1:
            for i in range(n_pieces):
                self._run_pieces(theta, rows, block[i : i + 2], 0, 1)
                loss = add_in_order([(self._losses[0], self._slots[0])], grad, loss)
            return loss
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="digitnet-rows")
        futures = [
            self._pool.submit(self._run_pieces, theta, rows, block, t, threads)
            for t in range(1, threads)
        ]
        try:
            self._run_pieces(theta, rows, block, 0, threads)
        finally:
            wait(futures)  # also on an interrupt: no thread writes on after we return
        for future in futures:
            future.result()  # raises what a thread raised
        return add_in_order(zip(self._losses[:n_pieces], self._slots), grad, loss)

    def _grown_slots(self, n_pieces: int) -> np.ndarray:
        """``(n, P)`` gradients of pieces, kept from call to call and grown when more are needed.
        Each row starts on a ``Workspace.ALIGN`` boundary, like every buffer a piece writes."""
        slots = self._slots
        if slots is None or len(slots) < n_pieces:
            per_line = network.Workspace.ALIGN // self.dtype.itemsize
            stride = -(-self.n_weights // per_line) * per_line
            flat = network.aligned_empty(n_pieces * stride, self.dtype)
            slots = flat.reshape(n_pieces, stride)[:, : self.n_weights]
        return slots

    def _run_pieces(self, theta, rows, block, t, threads) -> None:
        work, slots = self._work[t], self._slots
        assert slots is not None, "_add_block grows the slots before any piece runs"
        dropout, masks = self._dropout
        for i in range(t, len(block) - 1, threads):
            start, stop = block[i], block[i + 1]
            X, Y, w = self._piece(start, stop, rows, work)
            self._losses[i], _ = network.loss_sum_and_gradient(
                theta,
                X,
                Y,
                self.layer_sizes,
                w,
                work=work,
                out=slots[i],
                activation=self.activation,
                output=self.output,
                dropout=dropout,
                dropout_masks=None if masks is None else [m[:, start:stop] for m in masks],
            )

    def _piece(self, start, stop, rows, work):
        """The piece's (X, Y, w): views of the rows, or a mini-batch's rows gathered into ``work``."""
        w = self.sample_weight
        if rows is None:
            return self.X[start:stop], self.Y[start:stop], None if w is None else w[start:stop]
        index = rows[start:stop]
        X = _gather(self.X, index, work.array("X", (len(index), self.X.shape[1])))
        Y = _gather(self.Y, index, work.array("Y", (len(index), self.Y.shape[1])))
        return X, Y, None if w is None else _gather(w, index, work.array("w", (len(index),)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _gather(a: np.ndarray, index: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a[index]`` into ``out``. ``sums`` has checked the indices, so ``mode="clip"`` changes
    nothing but speed: NumPy buffers a checking take's output (a Fashion-MNIST batch of 200
    rows: 0.15 ms instead of 0.09)."""
    return np.take(a, index, axis=0, out=out, mode="clip")


# --- the objective the optimizers minimize -------------------------------------------------------


class Objective:
    """``objective(theta, rows=None) -> (J, grad)``: the regularized mean cost over a placement.

    ``placement`` is a ``Rows`` or a ``distributed.DaskRows``: anything with ``sums(theta, rows)``,
    ``n_rows`` and ``total`` (the sum of the sample weights, else ``n_rows``). ``rows=None`` is the
    full batch, ``J = (loss_sum + lam/2 ||W||^2) / total``. An index array asks for a mini-batch,
    averaged over its expected share of the total weight, ``len(rows) * total / n_rows``, not its
    actual one (unbiased, and no 0/0 for a batch of zero weights), with the penalty kept at
    ``lam / (2 total)`` whatever the batch, so that the mini-batch costs average to ``J``.

    ``dropout`` > 0 drops hidden units in mini-batches only (``rows`` given), with masks drawn
    from ``rng`` in the calling thread (``network.dropout_masks``), so a seed gives the same masks
    whatever the threads. The full batch (``rows=None``: L-BFGS, CG, the gradient checker) never
    drops anything.
    """

    def __init__(
        self,
        placement,
        lam: float,
        layer_sizes: Sequence[int],
        *,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.placement, self.lam, self.layer_sizes = placement, float(lam), list(layer_sizes)
        if dropout and rng is None:
            raise ValueError("dropout needs rng, the generator its masks are drawn from")
        self.dropout, self.rng = float(dropout), rng
        self._masks = network.Workspace(placement.dtype) if dropout else None

    def __call__(self, theta: np.ndarray, rows: np.ndarray | None = None):
        if rows is not None and self.dropout:
            assert self.rng is not None, "__init__ refuses dropout without rng"
            hidden = self.layer_sizes[1:-1]
            dtype = self.placement.dtype
            masks = network.dropout_masks(
                hidden, len(rows), self.dropout, self.rng, dtype, work=self._masks
            )
            loss, grad = self.placement.sums(theta, rows, self.dropout, masks)
        else:
            loss, grad = self.placement.sums(theta, rows)
        total = self.placement.total
        if rows is None:
            return network.regularize(theta, loss, grad, self.lam, total, self.layer_sizes)
        share = len(rows) * total / self.placement.n_rows
        lam = self.lam * share / total
        return network.regularize(theta, loss, grad, lam, share, self.layer_sizes)

    def close(self) -> None:
        self.placement.close()

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cost_and_gradient(
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    lam: float,
    layer_sizes: Sequence[int],
    *,
    sample_weight: np.ndarray | None = None,
    chunk_size: int | None = None,
    threads: int | None = 1,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> tuple[float, np.ndarray]:
    """``network.cost_and_gradient`` through the engine: in pieces (``chunk_size`` rows each, so
    that a ``numpy.memmap`` larger than memory works) on ``threads`` threads. For repeated
    evaluations build an ``Objective(Rows(...), lam, layer_sizes)`` once instead."""
    placement = Rows(
        X,
        Y,
        layer_sizes,
        sample_weight=sample_weight,
        threads=threads,
        chunk_size=chunk_size,
        activation=activation,
        output=output,
    )
    with Objective(placement, lam, layer_sizes) as objective:
        return objective(theta)
