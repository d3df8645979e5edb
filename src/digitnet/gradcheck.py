"""Gradient checking: backpropagation against central differences.

For each checked coordinate ``i`` the numeric gradient is ``(J(theta + eps e_i) - J(theta - eps e_i))
/ (2 eps)``, whose error shrinks like ``eps^2`` (a one-sided difference only like ``eps``). The
verdict is the course's relative difference ``norm(num - ana) / norm(num + ana)``: about 1e-9 or less
when backpropagation is right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from digitnet import engine, network

DEFAULT_EPSILON = 1e-4


def numerical_gradient(
    cost: Callable[[np.ndarray], float],
    theta: np.ndarray,
    epsilon: float = DEFAULT_EPSILON,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """Central-difference gradient of ``cost`` at ``theta: (P,)``.

    Only the coordinates in ``indices`` are computed (all when ``None``); the others stay 0.
    """
    theta = np.array(theta, dtype=np.float64)
    numeric = np.zeros_like(theta)
    for i in range(theta.size) if indices is None else indices:
        saved = theta[i]
        theta[i] = saved + epsilon
        plus = cost(theta)
        theta[i] = saved - epsilon
        minus = cost(theta)
        theta[i] = saved
        numeric[i] = (plus - minus) / (2 * epsilon)
    return numeric


def relative_difference(numeric: np.ndarray, analytic: np.ndarray) -> float:
    """``norm(num - ana) / norm(num + ana)``; 0 when both are exactly zero."""
    denominator = np.linalg.norm(numeric + analytic)
    return 0.0 if denominator == 0 else float(np.linalg.norm(numeric - analytic) / denominator)


@dataclass(frozen=True)
class LayerWorst:
    """The checked coordinate of one weight matrix where the two gradients differ most."""

    layer: int  # 1 for Theta1, ...
    row: int
    column: int
    numeric: float
    analytic: float

    @property
    def abs_error(self) -> float:
        return abs(self.numeric - self.analytic)


@dataclass(frozen=True)
class GradientCheck:
    """Result of ``check_gradient``: the compared coordinates and the verdict."""

    numeric: np.ndarray  # (P,), 0 where not checked
    analytic: np.ndarray  # (P,), the full backpropagation gradient
    indices: np.ndarray  # the checked coordinates
    relative_difference: float
    worst: list[LayerWorst]  # one per weight matrix that had a checked coordinate


def check_gradient(
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    lam: float,
    layer_sizes: Sequence[int],
    *,
    epsilon: float = DEFAULT_EPSILON,
    max_checks: int | None = None,
    rng: np.random.Generator | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> GradientCheck:
    """Compare backpropagation (through ``engine.Objective``, as training evaluates) with
    central differences at ``theta``.

    Parameters
    ----------
    theta : (P,) flat weights; X : (m, n); Y : (m, K); lam and layer_sizes as for the cost.
    max_checks : check a random sample of this many coordinates (drawn from ``rng``) instead of all
        ``P``: every coordinate costs two cost evaluations, too many for a large network.
    activation, output : the network's hidden activation and output (``network``'s names). No
        dropout: the full-batch objective never drops units. For relu and leaky_relu keep every
        hidden ``z`` farther than ``epsilon`` times the inputs from 0, where the derivative jumps.

    Returns
    -------
    GradientCheck with the relative difference over the checked coordinates and, per weight matrix,
    the checked element with the largest absolute error.
    """
    X = np.asarray(X, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if max_checks is None or max_checks >= theta.size:
        indices = np.arange(theta.size)
    else:
        rng = np.random.default_rng(0) if rng is None else rng
        indices = np.sort(rng.choice(theta.size, size=max_checks, replace=False))
    rows = engine.Rows(X, Y, layer_sizes, activation=activation, output=output)
    with engine.Objective(rows, lam, layer_sizes) as objective:
        _, analytic = objective(theta)
        numeric = numerical_gradient(lambda t: objective(t)[0], theta, epsilon, indices)
    return GradientCheck(
        numeric=numeric,
        analytic=analytic,
        indices=indices,
        relative_difference=relative_difference(numeric[indices], analytic[indices]),
        worst=_worst_per_layer(numeric, analytic, indices, layer_sizes),
    )


def _worst_per_layer(numeric, analytic, indices, layer_sizes) -> list[LayerWorst]:
    worst = []
    start = 0
    for layer, (rows, cols) in enumerate(network.theta_shapes(layer_sizes), start=1):
        mine = indices[(indices >= start) & (indices < start + rows * cols)]
        if mine.size:
            i = mine[np.argmax(np.abs(numeric[mine] - analytic[mine]))]
            row, column = divmod(int(i - start), cols)
            worst.append(LayerWorst(layer, row, column, float(numeric[i]), float(analytic[i])))
        start += rows * cols
    return worst
