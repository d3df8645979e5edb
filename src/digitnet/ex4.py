"""The course's exercise functions, with its names, signatures and semantics.

Put these beside your Octave solution and compare numbers: ``nn_params`` and ``grad`` are unrolled in
Octave's column-major order (``[Theta1(:); Theta2(:)]``) and labels ``y`` run from 1 to
``num_labels`` (the course writes the digit 0 as 10). Each function is a thin wrapper over the general
``digitnet.network`` and ``digitnet.gradcheck``; none computes anything of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet import gradcheck, network
from digitnet.labels import LabelMap
from digitnet.network import sigmoid, sigmoid_gradient

__all__ = [
    "check_nn_gradients",
    "compute_numerical_gradient",
    "debug_initialize_weights",
    "nn_cost_function",
    "predict",
    "rand_initialize_weights",
    "sigmoid",
    "sigmoid_gradient",
]


def nn_cost_function(
    nn_params: np.ndarray,
    input_layer_size: int,
    hidden_layer_size: int,
    num_labels: int,
    X: np.ndarray,
    y: np.ndarray,
    lam: float,
) -> tuple[float, np.ndarray]:
    """The course's ``nnCostFunction``: regularized cost and gradient of the two-layer network.

    ``nn_params`` and the returned ``grad`` are unrolled column-major, as Octave's ``(:)`` does;
    ``y: (m,)`` or ``(m, 1)`` holds labels 1..num_labels.
    """
    sizes = [input_layer_size, hidden_layer_size, num_labels]
    theta = network.pack(network.unpack(np.asarray(nn_params, dtype=float), sizes, order="F"))
    Y = LabelMap(range(1, num_labels + 1)).one_hot(np.asarray(y).ravel())
    J, grad = network.cost_and_gradient(theta, np.asarray(X, dtype=float), Y, lam, sizes)
    return J, network.pack(network.unpack(grad, sizes), order="F")


def rand_initialize_weights(
    L_in: int, L_out: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``(L_out, 1 + L_in)`` weights uniform in [-0.12, 0.12], the course's ``randInitializeWeights``.

    Without ``rng`` a fresh generator seeded from the operating system is used (never NumPy's global
    random state); pass ``np.random.default_rng(seed)`` for repeatable weights.
    """
    rng = np.random.default_rng() if rng is None else rng
    return network.initialize([L_in, L_out], rng).reshape(L_out, 1 + L_in)


def debug_initialize_weights(fan_out: int, fan_in: int) -> np.ndarray:
    """The course's ``debugInitializeWeights``: ``(fan_out, 1 + fan_in)`` filled with sin(1..n)/10."""
    return network.debug_weights(fan_out, fan_in)


def compute_numerical_gradient(J: Callable, theta: np.ndarray) -> np.ndarray:
    """The course's ``computeNumericalGradient``: central differences with e = 1e-4.

    ``J(theta)`` may return the cost or a ``(cost, grad)`` pair, like ``nn_cost_function``.
    """

    def cost(t: np.ndarray) -> float:
        value = J(t)
        return value[0] if isinstance(value, tuple) else value

    return gradcheck.numerical_gradient(cost, theta, epsilon=1e-4)


def check_nn_gradients(lam: float = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """The course's ``checkNNGradients``: a 3-5-3 network on 5 examples.

    Returns ``(numgrad, grad, diff)``: the numeric and backpropagation gradients (Octave order) and
    their relative difference, which should be below 1e-9.
    """
    input_layer_size, hidden_layer_size, num_labels, m = 3, 5, 3, 5
    Theta1 = debug_initialize_weights(hidden_layer_size, input_layer_size)
    Theta2 = debug_initialize_weights(num_labels, hidden_layer_size)
    X = debug_initialize_weights(m, input_layer_size - 1)
    y = 1 + np.arange(1, m + 1) % num_labels
    nn_params = network.pack([Theta1, Theta2], order="F")

    def cost(p: np.ndarray) -> tuple[float, np.ndarray]:
        return nn_cost_function(p, input_layer_size, hidden_layer_size, num_labels, X, y, lam)

    numgrad = compute_numerical_gradient(cost, nn_params)
    grad = cost(nn_params)[1]
    return numgrad, grad, gradcheck.relative_difference(numgrad, grad)


def predict(Theta1: np.ndarray, Theta2: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The course's ``predict``: labels ``(m,)`` in 1..num_labels."""
    return network.predict([Theta1, Theta2], np.asarray(X, dtype=float)) + 1
