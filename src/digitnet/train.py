"""Training: one entry point, four optimizers, one history.

``train`` turns examples and labels into a :class:`~digitnet.model.Model`. Every optimizer
minimizes the same objective, ``network.cost_and_gradient``, through ``minimize``:

``lbfgs`` (default)
    SciPy's L-BFGS-B, as the original notebook did; ``max_iter`` counts its iterations (each needs
    about one evaluation of the cost and gradient).
``cg``
    SciPy's Polak-Ribiere conjugate gradient, the course's ``fmincg``; ``max_iter`` is the course's
    ``MaxIter`` (each iteration needs about two evaluations here).
``adam``, ``sgd``
    Mini-batch Adam and SGD with momentum (heavy-ball, or Nesterov's), shuffled each epoch by a
    seeded generator, for data too large for full-batch passes; ``max_iter`` counts epochs. Only
    these take a learning-rate ``schedule`` (``learning_rate_at``), ``dropout`` of hidden units
    and ``augment`` (each epoch trains on freshly distorted images, ``digitnet.augment``), all
    drawn from the one seeded generator, so a seed gives the same weights run after run.

Whatever the solver, ``minimize`` records one :class:`History` row per iteration (epoch for the
mini-batch solvers), hands it to ``progress`` and ``callback``, stops early on a validation score if
asked, and turns a ``KeyboardInterrupt`` into a clean stop that keeps the weights of the last
completed iteration (or the best one, when early stopping). All this lives in one place,
:class:`_Tracker`, so that it behaves the same for every solver.

Every solver evaluates through ``digitnet.engine``: the rows in pieces on ``threads`` threads, each
with one BLAS thread, SciPy's own BLAS held at one thread (``engine``'s docstring says why, and
why the weights never depend on ``threads``). Given a Dask ``client``, ``train`` evaluates on that
cluster's workers instead (``distributed.DaskRows``, lbfgs and cg); everything else is the same
set-up, loop and record.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from digitnet import engine, network, settings
from digitnet.data import default_image_shape, stratified_split
from digitnet.labels import LabelMap
from digitnet.model import Model
from digitnet.settings import DEFAULTS

if TYPE_CHECKING:  # digitnet.distributed, and Dask, only for a client
    from digitnet.distributed import DaskRows

SOLVERS = settings.SOLVERS
DEFAULT_LEARNING_RATE = settings.DEFAULT_LEARNING_RATE
_SCIPY_METHOD = {"lbfgs": "L-BFGS-B", "cg": "CG"}
# SciPy's status codes: 2 is L-BFGS-B's failed line search or CG's loss of precision, both "no
# further progress possible at this precision", which is convergence as far as training goes.
_SCIPY_STOP_REASON = {0: "converged", 1: "max_iter", 2: "converged"}
Objective = Callable[..., tuple[float, np.ndarray]]


# --- history and result --------------------------------------------------------------------------


@dataclass
class History:
    """One row per iteration (lbfgs, cg) or epoch (adam, sgd).

    Attributes
    ----------
    iteration : 1, 2, ... (``train`` numbers a resumed model's rows on from its history's).
    cost : the training objective ``J`` (with the L2 penalty) after the iteration. For adam and sgd,
        the mean of the epoch's mini-batch costs, each taken before its step: a running estimate
        that costs no extra pass over the data.
    grad_norm : Euclidean norm of the gradient of ``J``; for adam and sgd, of the epoch's mean
        mini-batch gradient.
    time : seconds since training started.
    val_cost : mean cross entropy on the validation set, *without* the penalty (the course's
        validation error); nan when there is no validation set.
    val_accuracy : fraction of the validation set classified right; nan without one.
    """

    iteration: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    val_cost: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.iteration)

    def append(self, iteration, cost, grad_norm, time, val_cost, val_accuracy) -> None:
        """Add one row."""
        self.iteration.append(int(iteration))
        self.cost.append(float(cost))
        self.grad_norm.append(float(grad_norm))
        self.time.append(float(time))
        self.val_cost.append(float(val_cost))
        self.val_accuracy.append(float(val_accuracy))

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Column name -> 1-D array, what ``Model.history`` holds (``iteration`` is int64)."""
        return {
            name: np.asarray(column, dtype=np.int64 if name == "iteration" else np.float64)
            for name, column in vars(self).items()
        }


@dataclass
class MinimizeResult:
    """What ``minimize`` returns.

    Attributes
    ----------
    theta : the weights kept: the best iteration's when early stopping, else the last completed
        iteration's (``theta0`` when none completed). Same dtype as ``theta0``.
    history : one row per completed iteration.
    stop_reason : "converged", "max_iter", "early_stopping", "callback" or "interrupted".
    best_iteration : the iteration whose weights ``theta`` is (0 for ``theta0``).
    message : the solver's own words on why it stopped, for the curious.
    """

    theta: np.ndarray
    history: History
    stop_reason: str
    best_iteration: int
    message: str = ""


class _Tracker:
    """Records history rows and keeps the weights worth returning; decides callback and
    early-stopping stops. Shared by every solver, so they all behave the same."""

    def __init__(self, theta0, validate, early_stopping, n_iter_no_change, callback, progress):
        self.history = History()
        self.validate = validate
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callback = callback
        self.progress = progress
        self.last = (theta0.copy(), 0)
        self.best = self.last
        self.best_score = (-math.inf, -math.inf)
        self.stop_reason = None
        self.start = time.perf_counter()

    def record(self, theta: np.ndarray, cost: float, grad_norm: float) -> str | None:
        """Add the row of a completed iteration; return a stop reason or None to go on."""
        val_cost, val_accuracy = self.validate(theta) if self.validate else (math.nan, math.nan)
        iteration = len(self.history) + 1
        elapsed = time.perf_counter() - self.start
        self.history.append(iteration, cost, grad_norm, elapsed, val_cost, val_accuracy)
        self.last = (theta.copy(), iteration)
        # Best = highest validation accuracy; among equal accuracies (common: accuracy moves in
        # steps of 1/m_val), the lowest validation cost, i.e. the most confident right answers.
        if self.early_stopping and (val_accuracy, -val_cost) > self.best_score:
            self.best, self.best_score = self.last, (val_accuracy, -val_cost)
        if self.progress is not None:
            self.progress(self.history)
        if self.callback is not None and self.callback(self.history, theta):
            self.stop_reason = "callback"
        elif self.early_stopping and iteration - self.best[1] >= self.n_iter_no_change:
            self.stop_reason = "early_stopping"
        return self.stop_reason

    def result(self, stop_reason: str, message: str) -> MinimizeResult:
        theta, iteration = self.best if self.early_stopping else self.last
        return MinimizeResult(theta, self.history, stop_reason, iteration, message)


# --- optimizers ----------------------------------------------------------------------------------


def learning_rate_at(
    schedule: str, learning_rate: float, step: int, steps_per_epoch: int, epochs: int
) -> float:
    """The learning rate of mini-batch ``step`` (0, 1, ...) under ``schedule``.

    ``constant``: ``learning_rate``. ``step``: halved after every ``max(1, epochs // 3)`` epochs
    (epoch ``e = step // steps_per_epoch`` uses ``learning_rate * 0.5 ** (e // that)``).
    ``cosine``: ``learning_rate * 0.5 (1 + cos(pi t / T))`` with ``t = step`` and ``T`` all the
    steps of ``epochs`` epochs, from ``learning_rate`` at the first step towards 0 at the last.
    """
    if schedule == "constant":
        return learning_rate
    if schedule == "step":
        return learning_rate * 0.5 ** ((step // steps_per_epoch) // max(1, epochs // 3))
    if schedule == "cosine":
        total = steps_per_epoch * epochs
        return learning_rate * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    raise ValueError(f"schedule must be one of {', '.join(settings.SCHEDULES)}, got {schedule!r}")


def minimize(
    objective: Objective,
    theta0: np.ndarray,
    *,
    solver: str = "lbfgs",
    max_iter: int = 100,
    tol: float = 1e-8,
    batch_size: int = 200,
    learning_rate: float | None = None,
    momentum: float = 0.9,
    nesterov: bool = False,
    schedule: str = "constant",
    before_epoch: Callable[[], None] | None = None,
    n_examples: int | None = None,
    rng: np.random.Generator | None = None,
    validate: Callable[[np.ndarray], tuple[float, float]] | None = None,
    early_stopping: bool = False,
    n_iter_no_change: int = 10,
    callback: Callable[[History, np.ndarray], object] | None = None,
    progress: Callable[[History], None] | None = None,
) -> MinimizeResult:
    """Minimize ``objective`` from ``theta0`` with one of ``SOLVERS``, recording a history.

    Parameters
    ----------
    objective : ``objective(theta, rows=None) -> (J, grad)``. ``rows=None`` is the full batch; an
        int index array asks for the mini-batch of those rows (adam and sgd only, so an objective
        that supports only the full batch works with lbfgs and cg). ``theta`` may arrive as float64
        whatever the dtype of ``theta0`` (SciPy works in float64).
    theta0 : (P,) initial weights, float64 or float32; the result has the same dtype.
    solver : one of ``SOLVERS``.
    max_iter : iterations (lbfgs, cg) or epochs (adam, sgd).
    tol : convergence tolerance. lbfgs and cg stop when the largest gradient component is below
        it (L-BFGS-B also when the relative decrease of ``J`` is, as ``scipy.optimize.minimize``'s
        ``tol`` means). adam and sgd stop when the epoch cost has not improved by ``tol`` for
        more than ``n_iter_no_change`` epochs in a row, as scikit-learn does (not when early
        stopping).
    batch_size, learning_rate, momentum, n_examples, rng : adam and sgd only: rows per step; step
        size (None: ``DEFAULT_LEARNING_RATE``); SGD momentum; number of rows to shuffle (required);
        the shuffling generator (None: a fresh unseeded one).
    nesterov, schedule, before_epoch : adam and sgd only: Nesterov momentum (sgd); how the step
        size changes over the steps (``learning_rate_at``); ``before_epoch()`` runs before each
        epoch's first mini-batch (``train`` swaps in the epoch's augmented images there).
    validate : ``validate(theta) -> (val_cost, val_accuracy)``, called after every iteration.
    early_stopping : stop when ``val_accuracy`` has not improved for ``n_iter_no_change`` rows
        (ties broken by lower ``val_cost``) and return the best weights, whatever ends training.
        Needs ``validate``.
    n_iter_no_change : patience of early stopping and of the adam/sgd convergence test.
    callback : ``callback(history, theta)`` after every row; truthy stops training. ``theta`` is
        the live array: read it, copy it, never modify it.
    progress : ``progress(history)`` after every row, e.g. to advance a progress bar.

    Returns
    -------
    MinimizeResult
        A ``KeyboardInterrupt`` raised inside an iteration (by Ctrl-C, by a SIGTERM handler, by the
        callback) ends training with ``stop_reason="interrupted"`` and the weights of the last
        completed iteration (or the best one), never half-updated ones.
    """
    _check_solver_settings(
        solver, max_iter, tol, batch_size, learning_rate, momentum, n_iter_no_change
    )
    settings.check({"solver": solver, "nesterov": nesterov, "schedule": schedule})
    if early_stopping and validate is None:
        raise ValueError("early_stopping needs a validation set (validate)")
    theta0 = np.asarray(theta0)
    if theta0.ndim != 1 or theta0.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"theta0 must be a 1-D float32 or float64 array, got {theta0.dtype} {theta0.shape}"
        )
    if solver in _SCIPY_METHOD:
        # Only these two need SciPy's optimizers (0.6 s to import), and before blas_threads, which
        # pins the BLAS pools loaded when it starts (SciPy's own among them).
        import scipy.optimize  # noqa: F401
    tracker = _Tracker(theta0, validate, early_stopping, n_iter_no_change, callback, progress)
    try:
        with engine.blas_threads(1):
            if solver in _SCIPY_METHOD:
                reason, message = _full_batch(
                    objective, theta0, tracker, _SCIPY_METHOD[solver], max_iter, tol
                )
            else:
                if n_examples is None:
                    raise ValueError(f"solver {solver!r} needs n_examples, the rows to shuffle")
                lr = DEFAULT_LEARNING_RATE[solver] if learning_rate is None else learning_rate
                update = _Adam(theta0) if solver == "adam" else _SGD(theta0, momentum, nesterov)
                epoch = _Epochs(n_examples, batch_size, rng or np.random.default_rng())
                steps = -(-n_examples // batch_size)

                def rate(step: int) -> float:
                    return learning_rate_at(schedule, lr, step, steps, max_iter)

                reason, message = _mini_batch(
                    objective,
                    theta0,
                    tracker,
                    update,
                    rate,
                    epoch,
                    max_iter,
                    tol,
                    n_iter_no_change,
                    before_epoch,
                )
    except KeyboardInterrupt:
        reason, message = "interrupted", "KeyboardInterrupt"
    return tracker.result(reason, message)


def _full_batch(objective, theta0, tracker, method, max_iter, tol) -> tuple[str, str]:
    """Run a SciPy method, one history row per iteration from its callback."""
    import scipy.optimize

    last: dict = {}  # the latest evaluation, which is the accepted point when the callback comes

    def fun(x):
        J, grad = objective(x)
        last.update(x=x.copy(), grad_norm=float(np.linalg.norm(grad)))
        # Cast at the boundary: a float32 objective, SciPy's float64 arithmetic.
        return float(J), np.asarray(grad, dtype=np.float64)

    def record(intermediate_result):
        x = intermediate_result.x
        if not np.array_equal(x, last["x"]):  # not seen with SciPy 1.17, but cheap to be sure
            fun(x)
        theta = x.astype(theta0.dtype, copy=False)
        if tracker.record(theta, intermediate_result.fun, last["grad_norm"]):
            raise StopIteration  # SciPy >= 1.11 ends cleanly with status 99

    x0 = theta0.astype(np.float64)
    options = {"maxiter": max_iter}
    result = scipy.optimize.minimize(
        fun, x0, jac=True, method=method, tol=tol, callback=record, options=options
    )
    if result.status == 99:  # our StopIteration
        return tracker.stop_reason, result.message
    if result.status not in _SCIPY_STOP_REASON:
        raise FloatingPointError(f"{method} failed: {result.message}")
    return _SCIPY_STOP_REASON[result.status], result.message


@dataclass
class _Epochs:
    """Seeded shuffling into mini-batches: iterating yields one epoch's row index arrays."""

    n_examples: int
    batch_size: int
    rng: np.random.Generator

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.rng.permutation(self.n_examples)
        for start in range(0, self.n_examples, self.batch_size):
            # Sorted rows read a memory-mapped X front to back; a batch's sum does not care.
            yield np.sort(order[start : start + self.batch_size])


def _mini_batch(
    objective, theta0, tracker, update, rate, epoch, max_iter, tol, n_iter_no_change, before_epoch
) -> tuple[str, str]:
    """One loop for every mini-batch solver: ``update(theta, grad, learning_rate)`` is the
    solver's step, ``rate(step)`` the learning rate of step 0, 1, ..."""
    theta = theta0.copy()
    best_cost, stalled, step = math.inf, 0, 0
    grad_sum, scaled = np.empty_like(theta), np.empty_like(theta)
    for _ in range(max_iter):
        if before_epoch is not None:
            before_epoch()
        cost = 0.0
        grad_sum.fill(0)
        for rows in epoch:
            J, grad = objective(theta, rows)
            update(theta, grad, rate(step))
            step += 1
            cost += J * len(rows) / epoch.n_examples
            grad_sum += np.multiply(grad, len(rows), out=scaled)
        grad_norm = float(np.linalg.norm(grad_sum)) / epoch.n_examples
        if tracker.record(theta, cost, grad_norm):
            return tracker.stop_reason, f"{tracker.stop_reason} after {len(tracker.history)} epochs"
        # scikit-learn's test: n_iter_no_change epochs in a row without improving the cost by tol
        # (when early stopping, the validation score's patience replaces it).
        stalled = stalled + 1 if cost > best_cost - tol else 0
        best_cost = min(best_cost, cost)
        if stalled > n_iter_no_change and not tracker.early_stopping:
            return "converged", f"cost improved by less than {tol} for {stalled} epochs"
    return "max_iter", f"reached max_iter={max_iter} epochs"


class _Adam:
    """Adam (Kingma and Ba, 2015) with bias-corrected moments; a call updates theta in place,
    allocating nothing: the moments and two scratch vectors are kept from step to step."""

    def __init__(self, theta0, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v = np.zeros_like(theta0), np.zeros_like(theta0)
        self._step, self._scale = np.empty_like(theta0), np.empty_like(theta0)
        self.step = 0

    def __call__(self, theta, grad, learning_rate):
        self.step += 1
        m, v, step, scale = self.m, self.v, self._step, self._scale
        # m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
        m *= self.beta1
        np.multiply(grad, 1 - self.beta1, out=step)
        m += step
        v *= self.beta2
        np.multiply(grad, grad, out=step)
        step *= 1 - self.beta2
        v += step
        # theta <- theta - lr * correction * m / (sqrt(v) + eps)
        correction = math.sqrt(1 - self.beta2**self.step) / (1 - self.beta1**self.step)
        np.multiply(m, learning_rate * correction, out=step)
        np.sqrt(v, out=scale)
        scale += self.eps
        step /= scale
        theta -= step


class _SGD:
    """SGD with momentum; a call updates theta in place, allocating nothing.

    Heavy ball: ``v <- mu v - lr g; theta <- theta + v``. Nesterov (as scikit-learn writes it, the
    gradient taken at the current point): ``v <- mu v - lr g; theta <- theta + mu v - lr g``.
    """

    def __init__(self, theta0, momentum, nesterov=False):
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity, self._step = np.zeros_like(theta0), np.empty_like(theta0)

    def __call__(self, theta, grad, learning_rate):
        step = self._step
        self.velocity *= self.momentum
        np.multiply(grad, learning_rate, out=step)
        self.velocity -= step
        if self.nesterov:
            theta -= step
            np.multiply(self.velocity, self.momentum, out=step)
            theta += step
        else:
            theta += self.velocity


# --- train ---------------------------------------------------------------------------------------


def train(
    X,
    y,
    *,
    hidden_layer_sizes: int | Sequence[int] = DEFAULTS["hidden_layer_sizes"],
    activation: str = DEFAULTS["activation"],
    output: str = DEFAULTS["output"],
    lam: float = DEFAULTS["lam"],
    solver: str = DEFAULTS["solver"],
    max_iter: int | None = DEFAULTS["max_iter"],
    tol: float = DEFAULTS["tol"],
    batch_size: int = DEFAULTS["batch_size"],
    learning_rate: float | None = DEFAULTS["learning_rate"],
    momentum: float = DEFAULTS["momentum"],
    nesterov: bool = DEFAULTS["nesterov"],
    schedule: str = DEFAULTS["schedule"],
    dropout: float = DEFAULTS["dropout"],
    augment: bool = DEFAULTS["augment"],
    validation_data: tuple | None = None,
    validation_fraction: float | None = DEFAULTS["validation_fraction"],
    early_stopping: bool = DEFAULTS["early_stopping"],
    n_iter_no_change: int = DEFAULTS["n_iter_no_change"],
    random_state: int | None = DEFAULTS["random_state"],
    init_epsilon: float | str | None = DEFAULTS["init_epsilon"],
    initial: Model | np.ndarray | None = None,
    labels: LabelMap | Sequence | None = None,
    image_shape: tuple[int, int] | None = None,
    pixel_order: str | None = None,
    dtype=None,
    threads: int | None = None,
    sample_weight=None,
    chunk_size: int | None = None,
    client=None,
    piece_rows: int | None = None,
    callback: Callable[[History, np.ndarray], object] | None = None,
    progress: Callable[[History], None] | None = None,
) -> Model:
    """Train a network on examples ``X`` with labels ``y``.

    The defaults and checks of the training settings are ``digitnet.settings``'s, shared with the
    command line and ``DigitNetClassifier``.

    Parameters
    ----------
    X : (m, n) examples, one per row (any real dtype; a ``numpy.memmap`` works).
    y : (m,) labels of any kind (ints, strings); ``LabelMap.fit(y)`` orders the output units
        unless ``labels`` (or ``initial``) gives the order.
    hidden_layer_sizes : units of each hidden layer (an int for one layer); ``()`` is one-vs-all
        logistic regression.
    activation, output : the hidden units' activation ("sigmoid", "tanh", "relu", "leaky_relu")
        and the output ("sigmoid": the course's K sigmoids; "softmax"). A Model in ``initial``
        keeps its own; asking for another is an error.
    lam : L2 penalty strength, the course's lambda: ``J`` gets ``lam / (2 m) sum ||Theta_l[:, 1:]||^2``
        with ``m`` the training examples (the sum of ``sample_weight``), whatever the solver.
    solver, tol, batch_size, learning_rate, momentum, nesterov, schedule, early_stopping,
    n_iter_no_change, callback, progress : see ``minimize``.
    dropout : adam and sgd only: drop each hidden unit with this probability at every step
        (inverted dropout, masks from the seeded generator); never at prediction.
    augment : adam and sgd only: train each epoch on the training images distorted anew
        (``digitnet.augment.random_affine``: rotation, scale, shift) in the model's pixel order;
        needs ``pixel_order``. Validation data is never distorted.
    max_iter : iterations (lbfgs, cg) or epochs (adam, sgd); None: 100 iterations or 20 epochs.
    validation_data : ``(X_val, y_val)`` scored after every iteration (``History.val_*``).
    validation_fraction : or hold out this fraction of ``X`` for that, stratified by label and
        seeded by ``random_state`` (``data.stratified_split``). None: 0.1 when early stopping
        without ``validation_data``, else 0.
    random_state : seed of the initial weights (``np.random.default_rng(random_state)``), then of
        the mini-batch shuffling, and of the validation split.
    init_epsilon : initial weights are uniform in ``[-init_epsilon, init_epsilon]``; None uses
        ``network.init_epsilon`` per layer (He for relu and leaky_relu, Glorot for sigmoid and
        tanh); "auto" is the course's 0.12 for sigmoid/sigmoid and None otherwise.
    initial : a ``Model`` (resume, warm start) or flat ``theta`` to start from instead. A Model's
        layer sizes, label map, image shape and pixel order are kept, and the new history rows are
        appended to its history, numbered on.
    labels : the output units' labels, a ``LabelMap`` or a sequence of labels.
    image_shape, pixel_order : how a row of ``X`` is an image: ``(height, width)`` and ``"C"``
        (row-major) or ``"F"`` (column-major), e.g. ``dataset.image_shape`` and
        ``dataset.pixel_order``. The model records them to read pictures right. Without
        ``pixel_order`` the layout is unknown (the model reads rows, but refuses pictures);
        without ``image_shape`` it is square when ``n`` is a perfect square, else ``(1, n)``.
    dtype : float64 or float32 for the whole computation; default: ``X``'s dtype if it is one of
        them, else float64. The returned weights have this dtype.
    threads : threads that evaluate the rows, one BLAS thread each (None: every core this process
        may use); the weights are the same bits whatever it is (``digitnet.engine``).
    sample_weight : (m,) non-negative weight of each example.
    chunk_size : evaluations go through pieces of this many rows (a bound on working memory).
        With ``client``: rows per chunk on the cluster (default: a dask ``X``'s own chunks, else
        ``distributed.chunk_rows`` for ``distributed.DEFAULT_CHUNK_BYTES``).
    client : a ``dask.distributed.Client`` (``distributed.connect``): evaluate on its cluster's
        workers (``distributed.DaskRows``; ``pip install 'digitnet[dask]'``). ``X`` may then also
        be a row-chunked ``dask.array`` (its values never come to this process; a validation set
        must come as ``validation_data``), ``y`` a dask array of labels. Full-batch solvers
        (lbfgs, cg) only, and ``threads`` stays None (each worker evaluates on one thread). With
        the same ``chunk_size``, seed and settings the weights equal those trained without
        ``client`` to rounding.
    piece_rows : with ``client``: each worker goes through a chunk this many rows at a time, so
        that chunks can be large and few (``distributed.DaskRows``).

    Returns
    -------
    Model
        ``history`` holds ``History.as_arrays()``; ``info`` the settings and outcome (``n_iter``
        counts this call's iterations, ``best_iteration`` is the history's number of the
        iteration whose weights were kept, ``stop_reason`` as in ``MinimizeResult``).

    Notes
    -----
    With ``client``, ``info`` also records the row ``chunks``, ``piece_rows``, ``n_evaluations``,
    the ``scheduler``'s address and ``n_workers``; a lost scheduler ends training as Ctrl-C does,
    with ``stop_reason == "cluster_lost"`` and the error in ``info["cluster_error"]``.

    Ctrl-C (or a SIGTERM handler that raises ``KeyboardInterrupt``) during training returns the
    model of the last completed iteration (the best one when early stopping), with
    ``info["stop_reason"] == "interrupted"``.
    """
    has_validation_data = validation_data is not None
    settings.check(
        {
            "hidden_layer_sizes": hidden_layer_sizes,
            "activation": activation,
            "output": output,
            "lam": lam,
            "solver": solver,
            "max_iter": max_iter,
            "tol": tol,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "momentum": momentum,
            "nesterov": nesterov,
            "schedule": schedule,
            "dropout": dropout,
            "augment": augment,
            # given validation_data, the fraction must be 0 (checked with the split)
            "validation_fraction": None if has_validation_data else validation_fraction,
            "early_stopping": early_stopping,
            "n_iter_no_change": n_iter_no_change,
            "random_state": random_state,
            "init_epsilon": init_epsilon,
        }
    )
    if pixel_order not in ("C", "F", None):
        raise ValueError(f"pixel_order must be 'C', 'F' or None (unknown), got {pixel_order!r}")
    _check_cluster_settings(client, solver, threads, chunk_size, piece_rows)
    if isinstance(initial, Model):
        _check_same_family(initial, activation, output)
        _check_same_layout(initial, image_shape, pixel_order)
        image_shape, pixel_order = initial.image_shape, initial.pixel_order
    if augment and pixel_order is None:
        raise ValueError(
            "augment distorts images, but the layout of X's rows is unknown: give image_shape "
            "and pixel_order ('C' row-major, 'F' column-major)"
        )
    init_epsilon = settings.init_epsilon_for(init_epsilon, activation, output)
    max_iter = settings.max_iter_for(solver, max_iter)
    validation_fraction = settings.validation_fraction_for(
        validation_fraction, early_stopping, has_validation_data
    )
    dtype = float_dtype(X, dtype)
    on_cluster = client is not None
    lazy = on_cluster and _is_dask_array(X)  # its values stay on the cluster
    if lazy and validation_fraction:
        raise ValueError(
            "validation_fraction (or early_stopping without validation_data) would split a dask X; "
            "give validation_data (X_val, y_val) instead"
        )
    X, y = _check_data(X, y, dtype, "X", "y", lazy=lazy)
    fingerprint = None if lazy else data_fingerprint(X, y)  # as evaluate loads it: in dtype
    sample_weight = network.check_sample_weight(sample_weight, len(X), dtype)
    rng = np.random.default_rng(random_state)
    labels, layer_sizes, theta0 = initial_weights(
        initial, labels, y, X.shape[1], hidden_layer_sizes, rng, init_epsilon, dtype, activation
    )
    X, y, sample_weight, X_val, y_val = _split(
        X, y, sample_weight, validation_data, validation_fraction, random_state, dtype
    )
    if early_stopping and X_val is None:
        raise ValueError("early_stopping needs validation_data or a validation_fraction > 0")
    placement: engine.Rows | DaskRows
    if client is None:
        # Full-batch pieces are faster with column-major targets, mini-batch gathers with
        # row-major ones (engine.Rows).
        order: Literal["C", "F"] = "F" if solver in settings.FULL_BATCH else "C"
        placement = engine.Rows(
            X,
            labels.one_hot(y, dtype=dtype, order=order),
            layer_sizes,
            sample_weight=sample_weight,
            threads=threads,
            chunk_size=chunk_size,
            activation=activation,
            output=output,
        )
    else:
        from digitnet import distributed

        placement = distributed.rows_on_cluster(
            X,
            labels.encode(y),
            len(labels),
            client,
            layer_sizes,
            dtype,
            sample_weight=sample_weight,
            chunk_size=chunk_size,
            piece_rows=piece_rows,
            activation=activation,
            output=output,
        )
    validate = (
        None if X_val is None else validator(X_val, y_val, labels, layer_sizes, activation, output)
    )
    before_epoch = None
    if augment:
        shape = default_image_shape(X.shape[1]) if image_shape is None else image_shape
        before_epoch = _augmenter(placement, X, shape, pixel_order, rng)

    mini_batch = solver not in _SCIPY_METHOD
    batch_size = min(batch_size, len(X))
    start = time.perf_counter()
    with engine.Objective(placement, lam, layer_sizes, dropout=dropout, rng=rng) as objective:
        result = minimize(
            _stop_when_lost(objective) if on_cluster else objective,
            theta0,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            batch_size=batch_size,
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            schedule=schedule,
            before_epoch=before_epoch,
            n_examples=len(X),
            rng=rng,
            validate=validate,
            early_stopping=early_stopping,
            n_iter_no_change=n_iter_no_change,
            callback=callback,
            progress=progress,
        )
    elapsed = time.perf_counter() - start
    cluster_facts = {} if isinstance(placement, engine.Rows) else placement.facts()
    if "cluster_error" in cluster_facts:  # what minimize took for an interrupt
        result = replace(result, stop_reason="cluster_lost")

    facts = {
        "activation": activation,
        "output": output,
        "lam": float(lam),
        "solver": solver,
        "max_iter": int(max_iter),
        "tol": float(tol),
        "batch_size": batch_size if mini_batch else None,
        "learning_rate": (learning_rate or DEFAULT_LEARNING_RATE[solver]) if mini_batch else None,
        "momentum": float(momentum) if solver == "sgd" else None,
        "nesterov": bool(nesterov) if solver == "sgd" else None,
        "schedule": schedule if mini_batch else None,
        "dropout": float(dropout),
        "augment": bool(augment),
        "random_state": None if random_state is None else int(random_state),
        "init_epsilon": None if init_epsilon is None else float(init_epsilon),
        "dtype": dtype.name,
        "threads": placement.threads if isinstance(placement, engine.Rows) else None,
        "early_stopping": bool(early_stopping),
        "n_iter_no_change": int(n_iter_no_change),
        "data_fingerprint": fingerprint,
        "n_train": len(X),
        "n_validation": 0 if X_val is None else len(X_val),
        **cluster_facts,
    }
    return to_model(result, elapsed, facts, labels, layer_sizes, initial, image_shape, pixel_order)


def _check_same_layout(initial: Model, image_shape, pixel_order) -> None:
    """A model continues with rows laid out as it reads them: a layout given that differs would
    be recorded as the model's while its rows were read the other way."""
    given = {"image_shape": image_shape, "pixel_order": pixel_order}
    kept = {"image_shape": initial.image_shape, "pixel_order": initial.pixel_order}
    for name, value in given.items():
        if value is not None and (tuple(value) if name == "image_shape" else value) != kept[name]:
            raise ValueError(
                f"{name} {value!r} differs from the model's {kept[name]!r}: a continued model "
                "reads rows as it always has; give its rows in that layout "
                "(preprocess.as_model_rows converts them)"
            )


def _check_cluster_settings(client, solver, threads, chunk_size, piece_rows) -> None:
    """ValueError naming a setting that training on a Dask cluster (``client``) cannot take, before
    the cluster is used; ``piece_rows`` without a cluster."""
    if client is None:
        if piece_rows is not None:
            raise ValueError(
                "piece_rows is for training on a Dask cluster (client=); "
                "on one machine chunk_size sets the rows per piece"
            )
        return
    if solver not in settings.FULL_BATCH:
        raise ValueError(
            f"training on a Dask cluster (client=) runs the full-batch solvers "
            f"{' and '.join(settings.FULL_BATCH)}, not solver={solver!r}"
        )
    if threads is not None:
        raise ValueError(
            f"threads={threads!r}: on a Dask cluster (client=) each worker evaluates on one "
            "thread; leave threads at None (the cluster's workers set the parallelism)"
        )
    for name, rows in (("chunk_size", chunk_size), ("piece_rows", piece_rows)):
        if rows is not None:
            engine.check_rows(name, rows)


def _is_dask_array(X) -> bool:
    import dask.array as da

    return isinstance(X, da.Array)


def _stop_when_lost(objective: Objective) -> Objective:
    """``objective`` whose lost cluster ends training as Ctrl-C does: ``minimize`` keeps the
    weights of the last completed iteration, and the placement's ``lost`` holds the error."""
    from digitnet.distributed import ClusterLost

    def evaluate(theta, rows=None):
        try:
            return objective(theta, rows)
        except ClusterLost as err:
            raise KeyboardInterrupt from err

    return evaluate


def _augmenter(placement, X, image_shape, pixel_order, rng) -> Callable[[], None]:
    """``before_epoch()`` that gives the placement this epoch's distortion of the images ``X``."""
    from digitnet.augment import random_affine  # SciPy's ndimage: only when augmenting

    def before_epoch() -> None:
        placement.set_examples(random_affine(X, image_shape, pixel_order, rng))

    return before_epoch


def _check_same_family(initial: Model, activation: str, output: str) -> None:
    """Continuing a model keeps its network: refuse another activation or output."""
    for name, asked, have in (
        ("activation", activation, initial.activation),
        ("output", output, initial.output),
    ):
        if asked != have:
            raise ValueError(
                f"initial is a {have} {name} network; continuing it with {name}={asked!r} "
                f"would change the network (leave {name} at {have!r})"
            )


def to_model(
    result: MinimizeResult,
    elapsed: float,
    settings: dict,
    labels: LabelMap,
    layer_sizes: Sequence[int],
    initial: Model | np.ndarray | None,
    image_shape: tuple[int, int] | None,
    pixel_order: str | None,
) -> Model:
    """The ``Model`` a training run made: its weights, and ``settings`` plus the outcome as info.

    A model continued from ``initial`` keeps its image layout and its history, numbered on.
    """
    previous = initial.history if isinstance(initial, Model) else {}
    history, done = _continued(previous, result.history)
    info = {
        **settings,
        "hidden_layer_sizes": [int(s) for s in layer_sizes[1:-1]],
        "n_iter": len(result.history),
        "stop_reason": result.stop_reason,
        "best_iteration": done + result.best_iteration,
        "train_time_s": elapsed,
    }
    if isinstance(initial, Model):
        image_shape, pixel_order = initial.image_shape, initial.pixel_order
        # The rows it learned before stay learned: evaluate leaves them out too (holdout).
        own = {
            key: initial.info[key] for key in ("data_fingerprint", "split") if initial.info.get(key)
        }
        info["earlier_training"] = [
            *initial.info.get("earlier_training", []),
            *([own] if own else []),
        ]
    elif image_shape is None:
        image_shape = default_image_shape(layer_sizes[0])
    thetas = network.unpack(result.theta, layer_sizes)
    activation = settings.get("activation", "sigmoid")
    output = settings.get("output", "sigmoid")
    return Model(thetas, labels, image_shape, pixel_order, info, history, activation, output)


def data_fingerprint(X, y) -> str:
    """SHA-256 (hex) of the examples as given (dtype, shape, values in C order) and the labels."""
    X = np.asarray(X)
    digest = hashlib.sha256(f"{X.dtype.str}{X.shape}".encode())
    for start in range(0, len(X), 4096):  # row blocks: no copy of a big (or memory-mapped) X
        digest.update(np.ascontiguousarray(X[start : start + 4096]).data)
    digest.update("\0".join(map(str, np.asarray(y).tolist())).encode())
    return digest.hexdigest()


def _check_solver_settings(
    solver, max_iter, tol, batch_size, learning_rate, momentum, n_iter_no_change
) -> None:
    """ValueError naming the first optimizer setting out of range (``settings.check``)."""
    settings.check(
        {
            "solver": solver,
            "max_iter": max_iter,
            "tol": tol,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "momentum": momentum,
            "n_iter_no_change": n_iter_no_change,
        }
    )


def float_dtype(X, dtype) -> np.dtype:
    """The computation's dtype: ``dtype`` if given, else X's when it is float32/64, else float64."""
    if dtype is None:
        dtype = getattr(X, "dtype", np.float64)
        return np.dtype(dtype if dtype in (np.float32, np.float64) else np.float64)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return np.dtype(dtype)


def _check_data(X, y, dtype, x_name, y_name, *, lazy=False) -> tuple[np.ndarray, np.ndarray]:
    """X as a finite (m, n) array of ``dtype`` (no copy when it already is one), y as (m,).

    A ``lazy`` X (a dask array) keeps its values where they are: only its shape and dtype are
    checked here, its values by the workers that compute them (``distributed.DaskRows``).
    """
    given = type(X).__name__
    X, y = (X if lazy else np.asarray(X)), np.asarray(y)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(
            f"{x_name} must be a non-empty 2-D array (m, n) of numbers, got a {given} of shape "
            f"{X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{x_name} must hold numbers, got dtype {X.dtype}")
    if not lazy:
        X = X.astype(dtype, copy=False)
        # A sum is a cheap scan (no temporary the size of X); only a non-finite one needs the
        # full test.
        if not math.isfinite(X.sum(dtype=np.float64)) and not np.isfinite(X).all():
            raise ValueError(f"{x_name} contains NaN or infinite values")
    if y.shape != (len(X),):
        raise ValueError(f"{y_name} must have shape ({len(X)},) to match {x_name}, got {y.shape}")
    return X, y


def initial_weights(
    initial, labels, y, n, hidden_layer_sizes, rng, init_epsilon, dtype, activation="sigmoid"
) -> tuple[LabelMap, list[int], np.ndarray]:
    """(label map, layer sizes, theta0): from ``initial`` when given, else new random weights."""
    if isinstance(initial, Model):
        if labels is not None and LabelMap(_classes(labels)) != initial.labels:
            raise ValueError(
                f"labels {_classes(labels)} differ from initial's {initial.labels.classes}"
            )
        if initial.layer_sizes[0] != n:
            raise ValueError(f"initial reads {initial.layer_sizes[0]} inputs, X has {n} columns")
        labels, layer_sizes = initial.labels, initial.layer_sizes
    else:
        try:
            labels = LabelMap.fit(y) if labels is None else LabelMap(_classes(labels))
        except ValueError as err:
            raise ValueError(f"y: {err}") from err
        layer_sizes = [n, *settings.hidden_sizes(hidden_layer_sizes), len(labels)]
    if initial is None:
        theta0 = network.initialize(
            layer_sizes, rng, epsilon=init_epsilon, dtype=dtype, activation=activation
        )
    elif isinstance(initial, Model):
        theta0 = network.pack(initial.thetas).astype(dtype)
    else:
        theta0 = np.array(initial, dtype=dtype)  # a copy: the caller's array is never touched
        if theta0.shape != (network.n_params(layer_sizes),):
            raise ValueError(
                f"initial must be a flat theta of shape ({network.n_params(layer_sizes)},) "
                f"for layer sizes {layer_sizes}, got {theta0.shape}"
            )
    return labels, layer_sizes, theta0


def _classes(labels):
    return labels.classes if isinstance(labels, LabelMap) else labels


def _split(X, y, sample_weight, validation_data, validation_fraction, random_state, dtype):
    """(X, y, sample_weight) to train on, and (X_val, y_val) or (None, None)."""
    if validation_data is not None:
        if validation_fraction:
            raise ValueError("give validation_data or validation_fraction, not both")
        X_val, y_val = _check_data(
            *validation_data, dtype, "validation_data X", "validation_data y"
        )
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(f"validation_data X has {X_val.shape[1]} columns, X has {X.shape[1]}")
        return X, y, sample_weight, X_val, y_val
    if not validation_fraction:
        return X, y, sample_weight, None, None
    try:
        keep, held_out = stratified_split(y, validation_fraction, random_state)
    except ValueError as err:
        raise ValueError(f"validation_fraction={validation_fraction}: {err}") from err
    w = None if sample_weight is None else sample_weight[keep]
    return X[keep], y[keep], w, X[held_out], y[held_out]


def validator(
    X_val, y_val, labels, layer_sizes, activation="sigmoid", output="sigmoid"
) -> Callable[[np.ndarray], tuple[float, float]]:
    """``validate(theta) -> (mean cross entropy without penalty, accuracy)`` on a held-out set:
    the training loss of ``output`` (summed binary, or categorical), never with dropout."""
    try:
        units = labels.encode(y_val)
    except ValueError as err:
        raise ValueError(f"validation_data y: {err}") from err
    index = np.arange(len(units))

    def validate(theta):
        thetas = network.unpack(np.asarray(theta, dtype=X_val.dtype), layer_sizes)
        Z = network.output_logits(thetas, X_val, activation)
        if output == "softmax":
            # -log softmax(z)_y = logsumexp(z) - z_y, with the row's largest logit taken out.
            top = Z.max(axis=1, keepdims=True)
            log_total = np.log(np.exp(Z - top).sum(axis=1)) + top[:, 0]
            cost = (log_total.sum() - Z[index, units].sum()) / len(Z)
        else:
            # -y log g(z) - (1 - y) log(1 - g(z)) = softplus(z) - y z, finite for any z.
            cost = (network.softplus(Z).sum() - Z[index, units].sum()) / len(Z)
        return float(cost), float(np.mean(Z.argmax(axis=1) == units))

    return validate


def _continued(previous: dict, history: History) -> tuple[dict[str, np.ndarray], int]:
    """(columns, iterations done before): ``history`` appended to the history of the model it
    continues, iterations and times numbered on; as it is when that model has no such history."""
    columns = history.as_arrays()
    if not previous or set(previous) != set(columns) or len(previous["iteration"]) == 0:
        return columns, 0
    done = int(previous["iteration"][-1])
    columns["iteration"] += done
    columns["time"] += float(previous["time"][-1])
    merged = {name: np.concatenate([previous[name], column]) for name, column in columns.items()}
    return merged, done
