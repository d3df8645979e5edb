"""Regularization and iterations, the course's optional exercise: train over a grid of lambda and
max-iter values and measure training and validation accuracy, so over-fitting shows at a glance.

A run stopped after ``k`` iterations is exactly the first ``k`` iterations of a longer run (the
optimizers are deterministic), so each lambda needs one run to the largest ``max_iter``, with the
accuracies taken at every ``max_iter`` of the grid along the way. Runs for different lambdas are
independent and go to separate processes, one BLAS thread each.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from digitnet import engine, network
from digitnet import train as training
from digitnet.labels import LabelMap


def explore(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    lams: Sequence[float],
    max_iters: Sequence[int],
    *,
    hidden_layer_sizes: Sequence[int] = (25,),
    solver: str = "lbfgs",
    random_state: int = 0,
    workers: int | None = None,
) -> list[dict]:
    """Training and validation accuracy for every ``(lam, max_iter)`` of the grid.

    Parameters
    ----------
    X, y : (m, n) training examples and (m,) labels; X_val, y_val : the validation set.
    lams, max_iters : the grid. Every run starts from the same initial weights (``random_state``).
    workers : processes to use (default: one per core, at most one per lambda).

    Returns
    -------
    One record per grid point: ``{"lam", "max_iter", "train_accuracy", "val_accuracy"}``, sorted by
    lambda, then max_iter; accuracies are fractions in [0, 1].
    """
    lams = sorted(float(lam) for lam in lams)
    max_iters = sorted(int(k) for k in max_iters)
    if not lams or not max_iters or min(max_iters) < 1:
        raise ValueError("explore needs at least one lambda and one max_iter >= 1")
    workers = min(len(lams), workers or engine.available_cores())
    jobs = [
        (X, y, X_val, y_val, lam, max_iters, tuple(hidden_layer_sizes), solver, random_state)
        for lam in lams
    ]
    if workers == 1:
        results = [_one_lambda(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_one_lambda, *zip(*jobs)))
    return [record for records in results for record in records]


def _one_lambda(X, y, X_val, y_val, lam, max_iters, hidden, solver, random_state) -> list[dict]:
    labels = LabelMap.fit(y)
    units, val_units = labels.encode(y), labels.encode(y_val)
    sizes = [X.shape[1], *hidden, len(labels)]
    checkpoints = {}

    def accuracies(theta):
        thetas = network.unpack(np.asarray(theta, dtype=X.dtype), sizes)
        return (
            float(np.mean(network.predict(thetas, X) == units)),
            float(np.mean(network.predict(thetas, X_val) == val_units)),
        )

    def at_checkpoints(history, theta):
        if len(history) in max_iters:
            checkpoints[len(history)] = accuracies(theta)

    model = training.train(
        X,
        y,
        hidden_layer_sizes=hidden,
        lam=lam,
        solver=solver,
        max_iter=max(max_iters),
        labels=labels,
        random_state=random_state,
        threads=1,
        callback=at_checkpoints,
    )
    # A run that converged early stays where it stopped: later checkpoints see its final weights.
    final = accuracies(network.pack(model.thetas))
    records = []
    for k in max_iters:
        train_accuracy, val_accuracy = checkpoints.get(k, final)
        records.append(
            {
                "lam": lam,
                "max_iter": k,
                "train_accuracy": train_accuracy,
                "val_accuracy": val_accuracy,
            }
        )
    return records
