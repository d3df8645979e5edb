"""The network: the course's "neural networks learning" math, for any number of layers.

Notation follows the course handout. A network with layer sizes ``[s_1, ..., s_L]`` (``s_1 = n``
inputs, ``s_L = K`` classes; the course's is ``[400, 25, 10]``) has one weight matrix per pair of
layers, ``Theta_l`` of shape ``(s_{l+1}, 1 + s_l)``, with the bias weights in column 0.

In the course's network every unit is a sigmoid, ``a = g(z) = 1 / (1 + exp(-z))``. With one-hot
targets ``y_k`` the cost is the cross entropy of each output unit, summed over units and averaged over
the ``m`` examples, plus an L2 penalty on every weight except the bias column::

    J = 1/m sum_i sum_k [-y_k log(h_k) - (1 - y_k) log(1 - h_k)] + lam/(2m) sum_l ||Theta_l[:, 1:]||^2

Beyond the course, two choices are names (``activation``, ``output``; the course's are "sigmoid",
"sigmoid", the defaults everywhere):

- the hidden units' ``activation``: ``sigmoid``, ``tanh``, ``relu`` (``max(z, 0)``) or ``leaky_relu``
  (``max(z, 0.01 z)``), looked up in ``HIDDEN_ACTIVATIONS``;
- the ``output``: ``sigmoid`` (the K independent sigmoids and the summed binary cross entropy above)
  or ``softmax``, ``h = softmax(z)`` with the categorical cross entropy
  ``-sum_k y_k log h_k = sum_k y_k (logsumexp(z) - z_k)``, computed from the logits (finite for any
  logits). Its ``J`` and gradient are scikit-learn's ``MLPClassifier`` loss and gradient with
  ``alpha = lam`` (scikit-learn's logistic, tanh and relu are our sigmoid, tanh and relu; it has
  no leaky_relu, and we have no identity).

Training may also drop hidden units (inverted dropout, ``dropout_masks``): each unit of a hidden
layer is kept with probability ``1 - p`` and then scaled by ``1 / (1 - p)``, so its expected value is
the undropped one and prediction needs no rescaling. Prediction never drops anything.

Optimizers see the weights as one flat vector ``theta``. ``pack`` and ``unpack`` convert; the flat
order is C (row-major: ``Theta1.ravel()``, then ``Theta2.ravel()``, ...) unless ``order="F"`` asks
for the course's Octave order ``[Theta1(:); Theta2(:)]`` (column-major), which ``digitnet.ex4`` uses.

This module computes one piece of rows on the calling thread; ``digitnet.engine`` spreads the
pieces over threads, memmaps and clusters and adds their sums. Inside ``loss_sum_and_gradient`` the
activations of a layer are stored one column per example, ``(s_l, m)``, the transpose of the
handout's ``(m, s_l)``: OpenBLAS multiplies ``Theta @ X.T`` of these skinny shapes markedly faster
than ``X @ Theta.T`` (``benchmarks/bench_cost.py``). The bias is added as a broadcast column instead
of prepending a row of ones, so no array of ones is ever built. Every element-wise pass runs in
place in a ``Workspace`` reused from call to call, with NumPy's ``exp`` and ``log``
(``scipy.special.expit`` was several times slower). The hidden activation is looked up by name in
``HIDDEN_ACTIVATIONS`` and the output loss in ``OUTPUT_LOSSES``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np

COURSE_EPSILON = 0.12  # the course's init range: Theta ~ uniform(-0.12, 0.12)
LEAKY_RELU_SLOPE = 0.01  # leaky_relu's slope below 0 (PyTorch's and Keras's default)


# --- activations: allocating ones for callers, in-place ones for the hot path ---------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """g(z) = 1 / (1 + exp(-z)), element-wise, accurate to rounding and overflow-free.

    Written as ``1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` below, with ``e = exp(-|z|) <= 1``.
    """
    z = as_float(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def sigmoid_gradient(z: np.ndarray) -> np.ndarray:
    """g'(z) = g(z) (1 - g(z)), element-wise."""
    g = sigmoid(z)
    return g * (1 - g)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow: ``-log(g(z)) = softplus(-z)``, ``-log(1 - g(z)) = softplus(z)``.

    Written as ``max(z, 0) + log1p(exp(-|z|))``, equal to ``np.logaddexp(0, z)`` to rounding and
    several times faster.
    """
    s = np.abs(z)
    np.negative(s, out=s)
    np.exp(s, out=s)
    np.log1p(s, out=s)
    s += np.maximum(z, 0)
    return s


def _sigmoid_in_place(Z: np.ndarray) -> None:
    """Z <- g(Z) = 1 / (1 + exp(-Z)), accurate to rounding (relative): on a 25 x 5000 layer 1.7x
    (float64) and 1.5x (float32) faster than ``0.5 tanh(z / 2) + 0.5`` (``expit`` is slower still).
    ``exp(-z)`` overflows to inf below z = -709 (float64), where ``1 / (1 + inf) = 0`` is the
    right answer: that overflow is expected, so it warns nothing."""
    np.negative(Z, out=Z)
    with np.errstate(over="ignore"):
        np.exp(Z, out=Z)
    Z += 1
    np.reciprocal(Z, out=Z)


def _times_sigmoid_gradient(delta: np.ndarray, A: np.ndarray) -> None:
    """delta <- delta .* g'(z) with ``g'(z) = a (1 - a)`` from ``A = g(Z)``; overwrites ``A``."""
    delta *= A
    np.subtract(1, A, out=A)
    delta *= A


def _tanh_in_place(Z: np.ndarray) -> None:
    """Z <- tanh(Z)."""
    np.tanh(Z, out=Z)


def _times_tanh_gradient(delta: np.ndarray, A: np.ndarray) -> None:
    """delta <- delta .* (1 - a^2) from ``A = tanh(Z)``; overwrites ``A``."""
    A *= A
    np.subtract(1, A, out=A)
    delta *= A


def _relu_in_place(Z: np.ndarray) -> None:
    """Z <- max(Z, 0)."""
    np.maximum(Z, 0, out=Z)


def _times_relu_gradient(delta: np.ndarray, A: np.ndarray) -> None:
    """delta <- delta .* [a > 0] from ``A = relu(Z)`` (derivative 0 at the kink, as scikit-learn
    takes it); overwrites ``A``."""
    np.greater(A, 0, out=A)
    delta *= A


def _leaky_relu_in_place(Z: np.ndarray) -> None:
    """Z <- max(Z, slope Z)."""
    np.multiply(Z, LEAKY_RELU_SLOPE, out=Z, where=Z < 0)


def _times_leaky_relu_gradient(delta: np.ndarray, A: np.ndarray) -> None:
    """delta <- delta .* (1 if a > 0 else slope) from ``A = leaky_relu(Z)`` (a has z's sign);
    overwrites ``A``."""
    np.greater(A, 0, out=A)
    A *= 1 - LEAKY_RELU_SLOPE
    A += LEAKY_RELU_SLOPE
    delta *= A


# Hidden activations by name: (apply in place, multiply a delta by the derivative in place, given
# the activations). Every derivative here is a function of the activation ``a = g(z)`` itself, so
# backpropagation needs no copy of ``z``. Another activation is another entry.
HIDDEN_ACTIVATIONS = {
    "sigmoid": (_sigmoid_in_place, _times_sigmoid_gradient),
    "tanh": (_tanh_in_place, _times_tanh_gradient),
    "relu": (_relu_in_place, _times_relu_gradient),
    "leaky_relu": (_leaky_relu_in_place, _times_leaky_relu_gradient),
}


# --- parameters: shapes, flat vector, initialization ---------------------------------------------


def theta_shapes(layer_sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Shapes ``(s_{l+1}, 1 + s_l)`` of the weight matrices for ``layer_sizes = [n, h_1, ..., K]``."""
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes needs at least 2 positive sizes, got {list(layer_sizes)}")
    return [(s_next, 1 + s) for s, s_next in pairwise(sizes)]


def n_params(layer_sizes: Sequence[int]) -> int:
    """Length of the flat parameter vector."""
    return sum(rows * cols for rows, cols in theta_shapes(layer_sizes))


def pack(thetas: Sequence[np.ndarray], order: Literal["C", "F"] = "C") -> np.ndarray:
    """Weight matrices -> one flat vector; ``order="F"`` gives the course's ``[Theta1(:); ...]``."""
    return np.concatenate([np.ravel(theta, order=order) for theta in thetas])


def unpack(
    theta: np.ndarray, layer_sizes: Sequence[int], order: Literal["C", "F"] = "C"
) -> list[np.ndarray]:
    """Flat vector -> weight matrices (views into ``theta``, no copy)."""
    shapes = theta_shapes(layer_sizes)
    if theta.ndim != 1 or theta.size != sum(r * c for r, c in shapes):
        raise ValueError(
            f"theta has shape {theta.shape}, but layer sizes {list(layer_sizes)} need "
            f"({sum(r * c for r, c in shapes)},)"
        )
    thetas, start = [], 0
    for rows, cols in shapes:
        thetas.append(theta[start : start + rows * cols].reshape((rows, cols), order=order))
        start += rows * cols
    return thetas


def init_epsilon(L_in: int, L_out: int, activation: str = "sigmoid") -> float:
    """The uniform range of a layer's initial weights for units of ``activation``.

    Glorot (the handout's suggestion) for sigmoid and tanh: ``sqrt(6) / sqrt(L_in + L_out)``. He for
    relu and leaky_relu, which halve the variance they pass on: ``sqrt(6) / sqrt(L_in)``.
    """
    if activation in ("relu", "leaky_relu"):
        return float(np.sqrt(6) / np.sqrt(L_in))
    return float(np.sqrt(6) / np.sqrt(L_in + L_out))


def initialize(
    layer_sizes: Sequence[int],
    rng: np.random.Generator,
    epsilon: float | None = COURSE_EPSILON,
    dtype=np.float64,
    activation: str = "sigmoid",
) -> np.ndarray:
    """Random flat ``theta``: every weight uniform in ``[-epsilon, epsilon]``.

    Random values break the symmetry between hidden units (all-zero weights would keep every unit of
    a layer identical forever). ``epsilon=None`` uses ``init_epsilon(s_l, s_{l+1}, activation)``
    per layer, the output layer included: He for the ReLU family, Glorot otherwise.
    ``rng`` must be a ``numpy.random.Generator``: results never depend on global random state.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    thetas = []
    for rows, cols in theta_shapes(layer_sizes):
        eps = init_epsilon(cols - 1, rows, activation) if epsilon is None else epsilon
        thetas.append(rng.uniform(-eps, eps, size=(rows, cols)))
    return pack(thetas).astype(dtype, copy=False)


def debug_weights(fan_out: int, fan_in: int) -> np.ndarray:
    """The course's deterministic test weights: ``sin(1..n) / 10`` filled column-major.

    Returns ``(fan_out, 1 + fan_in)``, exactly the handout's ``debugInitializeWeights``.
    """
    n = fan_out * (1 + fan_in)
    return (np.sin(np.arange(1, n + 1)) / 10).reshape((fan_out, 1 + fan_in), order="F")


def as_float(X) -> np.ndarray:
    """``X`` as a float32 or float64 array, kept as it is when it already is one (memmaps too)."""
    X = np.asarray(X)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


# --- forward propagation ------------------------------------------------------------------------


def _affine(theta: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``z = Theta [1; a]`` for activations ``A: (s_l, m)`` -> ``Z: (s_{l+1}, m)`` (into ``out``)."""
    Z = np.matmul(theta[:, 1:], A, out=out)
    Z += theta[:, :1]
    return Z


def forward(
    thetas: Sequence[np.ndarray],
    X: np.ndarray,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> list[np.ndarray]:
    """Activations of every layer for examples ``X: (m, n)``.

    Returns ``[a_1, ..., a_L]`` with ``a_1 = X`` and ``a_l: (m, s_l)`` (no bias column); ``a_L`` holds
    the output units' values (the K sigmoids, or the softmax probabilities).
    """
    activations = _hidden_activations(thetas[:-1], X, activation)
    Theta = np.asarray(thetas[-1], activations[-1].dtype)
    logits = _affine(Theta, activations[-1].T).T
    activations.append(sigmoid(logits) if output == "sigmoid" else softmax(logits))
    return activations


def _hidden_activations(
    thetas: Sequence[np.ndarray], X: np.ndarray, activation: str = "sigmoid"
) -> list[np.ndarray]:
    """``[a_1 = X, a_2, ...]`` through the hidden layers ``thetas``, each computed in place."""
    activate, _ = _activation(activation)
    X = as_float(X)
    activations = [X]
    for theta in thetas:
        A = _affine(np.asarray(theta, X.dtype), activations[-1].T)
        activate(A)
        activations.append(A.T)
    return activations


def output_logits(
    thetas: Sequence[np.ndarray],
    X: np.ndarray,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> np.ndarray:
    """The output layer's ``z: (m, K)`` for examples ``X: (m, n)``, before the sigmoid or softmax.

    The logits do not depend on ``output``; it is checked, and taken so that every function here
    takes a network's ``activation`` and ``output`` alike.
    """
    _check_output(output)
    hidden = _hidden_activations(thetas[:-1], X, activation)[-1]
    Theta = np.asarray(thetas[-1], hidden.dtype)
    return hidden @ Theta[:, 1:].T + Theta[:, 0]


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(z_k) / sum_j exp(z_j)`` for ``Z: (m, K)``, finite for any finite logits
    (the row's largest logit is subtracted first, so ``exp`` never overflows)."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def predict_proba(
    thetas: Sequence[np.ndarray],
    X: np.ndarray,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> np.ndarray:
    """Output unit values ``(m, K)`` for examples ``X: (m, n)``: the K sigmoids (``"sigmoid"``,
    not normalized) or the softmax probabilities (``"softmax"``)."""
    logits = output_logits(thetas, X, activation, output)
    return sigmoid(logits) if output == "sigmoid" else softmax(logits)


def predict(
    thetas: Sequence[np.ndarray],
    X: np.ndarray,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> np.ndarray:
    """Index ``(m,)`` of the most active output unit; ``LabelMap.decode`` turns it into labels.

    The argmax of the logits, for either output: the sigmoid and the softmax keep their order,
    but round saturated outputs to ties (``expit(40) == expit(50) == 1.0``), which the logits never
    are.
    """
    return np.argmax(output_logits(thetas, X, activation, output), axis=1)


def _activation(name: str):
    """The (apply, times derivative) pair of ``HIDDEN_ACTIVATIONS``, or a ValueError naming it."""
    try:
        return HIDDEN_ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}, got {name!r}"
        ) from None


def _check_output(name: str) -> None:
    if name not in OUTPUT_LOSSES:
        raise ValueError(f"output must be one of {', '.join(OUTPUT_LOSSES)}, got {name!r}")


def check_family(activation: str, output: str) -> None:
    """A ValueError naming ``activation`` or ``output`` when it is not one of ours."""
    _activation(activation)
    _check_output(output)


def dropout_masks(
    hidden_sizes: Sequence[int],
    m: int,
    rate: float,
    rng: np.random.Generator,
    dtype=np.float64,
    work: Workspace | None = None,
) -> list[np.ndarray]:
    """Inverted-dropout masks for ``m`` examples: one ``(h_l, m)`` array per hidden layer.

    Each entry is ``1 / (1 - rate)`` with probability ``1 - rate`` and 0 otherwise, so a masked
    activation has the undropped one as its expected value. Drawn from ``rng`` (the training
    generator, so runs repeat), one column per example in the layout ``loss_sum_and_gradient``
    keeps its activations in. With ``work`` (of ``dtype``) the masks are drawn into its arrays,
    reused by the next call: nothing is allocated step after step.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate!r}")
    keep = 1 - rate
    masks = []
    for layer, size in enumerate(hidden_sizes):
        shape = (int(size), m)
        U = np.empty(shape, dtype) if work is None else work.array(("mask", layer), shape)
        rng.random(out=U, dtype=U.dtype.type)
        np.less(U, keep, out=U)  # 1 where the unit is kept, 0 where dropped
        U *= 1 / keep
        masks.append(U)
    return masks


# --- cost and gradient --------------------------------------------------------------------------


class Workspace:
    """Arrays that ``loss_sum_and_gradient`` reuses from call to call instead of allocating.

    ``array(key, shape)`` is a C-contiguous view of a flat buffer kept under ``key``, grown when a
    call needs more. Buffers start on a 64-byte boundary: NumPy's SIMD loops can round differently
    with another alignment, and the same rows must give the same bits on whichever thread (and
    workspace) they are computed. One workspace per thread: never share one between threads.
    """

    ALIGN = 64

    def __init__(self, dtype=np.float64) -> None:
        self.dtype = np.dtype(dtype)
        self._buffers: dict = {}

    def array(self, key, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        flat = self._buffers.get(key)
        if flat is None or flat.size < size:
            flat = aligned_empty(size, self.dtype)
            self._buffers[key] = flat
        return flat[:size].reshape(shape)


def aligned_empty(size: int, dtype) -> np.ndarray:
    """An uninitialized ``(size,)`` array whose data starts on a ``Workspace.ALIGN`` boundary."""
    dtype = np.dtype(dtype)
    raw = np.empty(size * dtype.itemsize + Workspace.ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % Workspace.ALIGN
    return raw[skip : skip + size * dtype.itemsize].view(dtype)


def _sigmoid_cross_entropy(Z: np.ndarray, YT: np.ndarray, sample_weight, work: Workspace) -> float:
    """The course's output loss: ``sum_i w_i sum_k [-y log g(z) - (1 - y) log(1 - g(z))]`` for
    ``Z: (K, m)``, ``YT: (K, m)``; turns ``Z`` into the output delta ``w (g(z) - y)`` in place.

    With ``e = exp(-|z|)`` in (0, 1], never overflowing, the loss term is
    ``-y log g(z) - (1 - y) log(1 - g(z)) = softplus(z) - y z = max(z, 0) + log1p(e) - y z``,
    finite for any z, even |z| = 1000; and ``g(z) = max(e, [z >= 0]) / (1 + e)``, that is
    ``1 / (1 + e)`` for z >= 0 and ``e / (1 + e)`` below: one ``exp`` for loss and delta.
    ``log1p(e)`` is ``log(u) - ((u - 1) - e) / u`` with ``u = 1 + e`` rounded, whose last term
    is the rounding error of ``u`` exactly: accurate to rounding like ``np.log1p``, and faster
    in float32, where NumPy's ``log`` is vectorized and its ``log1p`` is not (equal in float64).
    """
    E, U, S, T = (work.array(key, Z.shape) for key in ("e", "u", "loss", "loss2"))
    np.abs(Z, out=E)
    np.negative(E, out=E)
    np.exp(E, out=E)
    np.add(E, 1, out=U)
    np.subtract(U, 1, out=T)
    T -= E
    T /= U
    np.log(U, out=S)
    S -= T  # log1p(e)
    np.maximum(Z, 0, out=T)
    S += T
    np.multiply(YT, Z, out=T)
    S -= T
    loss = float(S.sum() if sample_weight is None else S.sum(axis=0) @ sample_weight)
    np.greater_equal(Z, 0, out=S)
    np.maximum(E, S, out=S)
    S /= U
    np.subtract(S, YT, out=Z)
    if sample_weight is not None:
        Z *= sample_weight
    return loss


def _softmax_cross_entropy(Z: np.ndarray, YT: np.ndarray, sample_weight, work: Workspace) -> float:
    """The softmax output's loss: ``sum_i w_i sum_k y_k (logsumexp(z) - z_k)`` for ``Z: (K, m)``,
    ``YT: (K, m)``; turns ``Z`` into the output delta ``w (s softmax(z) - y)`` in place, with
    ``s = sum_k y_k`` (1 for one-hot targets).

    Each column's largest logit is subtracted first (which changes neither term), so ``exp`` sees
    only ``z - max <= 0`` and the column sum is at least 1: finite for any finite logits.
    """
    m = Z.shape[1]
    top = np.max(Z, axis=0, out=work.array("top", (m,)))
    Z -= top
    E = np.exp(Z, out=work.array("loss", Z.shape))
    total = np.sum(E, axis=0, out=work.array("total", (m,)))
    log_total = np.log(total, out=work.array("log_total", (m,)))
    s = np.sum(YT, axis=0, out=work.array("s", (m,)))
    T = np.multiply(YT, Z, out=work.array("loss2", Z.shape))
    per_example = np.sum(T, axis=0, out=work.array("yz", (m,)))
    np.multiply(s, log_total, out=log_total)
    np.subtract(log_total, per_example, out=per_example)  # s logsumexp - y.z, shifts cancelled
    loss = float(per_example.sum() if sample_weight is None else per_example @ sample_weight)
    np.divide(s, total, out=total)
    np.multiply(E, total, out=Z)  # s softmax(z)
    Z -= YT
    if sample_weight is not None:
        Z *= sample_weight
    return loss


# Output losses by name: loss(Z, YT, sample_weight, work) -> summed loss, with Z: (K, m) turned
# into the output delta in place.
OUTPUT_LOSSES = {"sigmoid": _sigmoid_cross_entropy, "softmax": _softmax_cross_entropy}


def loss_sum_and_gradient(
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    layer_sizes: Sequence[int],
    sample_weight: np.ndarray | None = None,
    *,
    work: Workspace | None = None,
    out: np.ndarray | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    dropout: float = 0.0,
    dropout_masks: Sequence[np.ndarray] | None = None,
) -> tuple[float, np.ndarray]:
    """Unregularized cross entropy and its gradient, summed (not averaged) over the examples.

    Sums add over pieces of rows, which is what ``digitnet.engine`` relies on to spread rows over
    threads, chunks and machines; ``cost_and_gradient`` is the average plus the penalty.

    Parameters
    ----------
    theta : (P,) flat weights in C order.
    X : (m, n) examples; its dtype (float64 or float32) is the dtype of the whole computation.
    Y : (m, K) targets, one-hot (any values in [0, 1] work).
    layer_sizes : [n, h_1, ..., K].
    sample_weight : (m,) optional weight of each example's term.
    work : arrays to reuse across calls (one per thread); None allocates afresh.
    out : (P,) array of ``X``'s dtype to write the gradient into; None allocates it.
    activation : the hidden units' activation, a key of ``HIDDEN_ACTIVATIONS``.
    output : "sigmoid" (the course's) or "softmax", a key of ``OUTPUT_LOSSES``.
    dropout, dropout_masks : the dropout rate and one ``(h_l, m)`` mask per hidden layer drawn
        with it (``dropout_masks``), which multiplies the layer's activations (inverted dropout,
        training only); ``dropout_masks=None`` keeps every unit.

    Returns
    -------
    loss : float, ``sum_i w_i sum_k [-y_ik log h_ik - (1 - y_ik) log(1 - h_ik)]`` (sigmoid), or
        ``sum_i w_i sum_k -y_ik log softmax(z_i)_k`` (softmax).
    grad : (P,) its gradient, dtype of ``X`` (``out`` when given).
    """
    work = Workspace(X.dtype) if work is None else work
    activate, times_gradient = _activation(activation)
    _check_output(output)
    theta = np.asarray(theta, dtype=X.dtype)
    thetas = unpack(theta, layer_sizes)
    grad = np.empty_like(theta) if out is None else out
    grads = unpack(grad, layer_sizes)
    m = len(X)

    # Forward: activations[l] is a_{l+1}: (s_{l+1}, m), one column per example.
    activations = [X.T]
    for layer, Theta in enumerate(thetas[:-1]):
        A = _affine(Theta, activations[-1], out=work.array(("a", layer), (len(Theta), m)))
        activate(A)
        if dropout_masks is not None:
            A *= dropout_masks[layer]
        activations.append(A)
    Z = _affine(thetas[-1], activations[-1], out=work.array("z", (len(thetas[-1]), m)))
    loss = OUTPUT_LOSSES[output](Z, Y.T, sample_weight, work)
    delta = Z  # delta_L = w (h - y), the same for both outputs (s h - y for softmax)

    # Backward: Theta_l's gradient is delta_{l+1} [1; a_l]^T; delta_l = Theta_l[:, 1:]^T delta_{l+1} .* g'(z_l).
    for layer in range(len(thetas) - 1, -1, -1):
        A, G = activations[layer], grads[layer]
        # Into a contiguous buffer, then copied: NumPy's matmul into the strided G[:, 1:] skips BLAS.
        G[:, 1:] = np.matmul(delta, A.T, out=work.array("grad", G[:, 1:].shape))
        np.sum(delta, axis=1, out=G[:, 0])
        if layer > 0:
            below = work.array(("delta", layer % 2), A.shape)  # two buffers, used in turn
            np.matmul(thetas[layer][:, 1:].T, delta, out=below)
            if dropout_masks is None:
                times_gradient(below, A)  # a_l is not needed after this: may be overwritten
            else:
                # A holds mask .* g(z); the derivative needs g(z) where kept (dropped units are
                # zeroed by the mask whatever it is): undo the 1/keep scale, then apply the mask.
                mask = dropout_masks[layer - 1]
                A *= 1 - dropout
                times_gradient(below, A)
                below *= mask
            delta = below
    return loss, grad


def regularize(
    theta: np.ndarray,
    loss_sum: float,
    grad_sum: np.ndarray,
    lam: float,
    m: float,
    layer_sizes: Sequence[int],
) -> tuple[float, np.ndarray]:
    """Average the summed loss and gradient over ``m`` examples and add the L2 penalty.

    The penalty ``lam/(2m) ||Theta_l[:, 1:]||^2`` leaves the bias column alone. ``grad_sum`` is
    overwritten with the result.
    """
    theta = np.asarray(theta, dtype=grad_sum.dtype)
    # On the flat vector, with biases zeroed: contiguous passes, where the (rows, 1 + cols)
    # matrices' weight columns are strided views (a Fashion-MNIST step: 0.1 ms instead of 0.3).
    weights = np.multiply(theta, _weight_mask(tuple(layer_sizes), grad_sum.dtype))
    penalty = float(weights @ weights)
    weights *= lam
    grad_sum += weights
    grad_sum /= m
    return (loss_sum + lam / 2 * penalty) / m, grad_sum


@functools.cache
def _weight_mask(layer_sizes: tuple[int, ...], dtype) -> np.ndarray:
    """(P,) 1 at every weight, 0 at every bias, read-only."""
    mask = np.ones(n_params(layer_sizes), dtype=dtype)
    for Theta in unpack(mask, layer_sizes):
        Theta[:, 0] = 0
    mask.flags.writeable = False
    return mask


def cost_and_gradient(
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    lam: float,
    layer_sizes: Sequence[int],
    *,
    sample_weight: np.ndarray | None = None,
    activation: str = "sigmoid",
    output: str = "sigmoid",
) -> tuple[float, np.ndarray]:
    """The regularized cost ``J`` and its gradient by backpropagation, all rows in one piece on
    this thread: the course's ``nnCostFunction`` and the reference every other placement of the
    rows (``digitnet.engine``: threads, chunks, a cluster) equals to rounding.

    Parameters
    ----------
    theta : (P,) flat weights in C order (``pack``); cast to the dtype of ``X``.
    X : (m, n) examples, float64 or float32.
    Y : (m, K) one-hot targets (``LabelMap.one_hot``).
    lam : the regularization strength lambda (0 for none).
    layer_sizes : [n, h_1, ..., K].
    sample_weight : (m,) optional non-negative weights; ``m`` becomes their sum.
    activation, output : the network's hidden activation and output (the course's: "sigmoid").

    Returns
    -------
    J : float
    grad : (P,) in the dtype of ``X``.
    """
    X, Y, sample_weight = check_arrays(X, Y, layer_sizes, sample_weight)
    loss, grad = loss_sum_and_gradient(
        theta, X, Y, layer_sizes, sample_weight, activation=activation, output=output
    )
    total = len(X) if sample_weight is None else float(np.sum(sample_weight))
    return regularize(theta, loss, grad, lam, total, layer_sizes)


def check_arrays(X, Y, layer_sizes, sample_weight=None):
    """``(X, Y, sample_weight)`` as float arrays of X's dtype, or a ValueError naming the shape
    that is wrong. Cheap enough for the hot path: no scan of the data, no copy of a float ``X``."""
    X = as_float(X)
    Y = np.asarray(Y, dtype=X.dtype)
    n, K = layer_sizes[0], layer_sizes[-1]
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(
            f"X must have shape (m, {n}) for layer sizes {list(layer_sizes)}, got {X.shape}"
        )
    if Y.shape != (len(X), K):
        raise ValueError(f"Y must have shape ({len(X)}, {K}) (one-hot targets), got {Y.shape}")
    if len(X) == 0:
        raise ValueError("X has no examples")
    return X, Y, check_sample_weight(sample_weight, len(X), X.dtype)


def check_sample_weight(sample_weight, m: int, dtype) -> np.ndarray | None:
    """``sample_weight`` as an ``(m,)`` array of ``dtype``, or a ValueError unless its values
    are finite, non-negative and not all zero (their sum divides the cost)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (m,):
        raise ValueError(f"sample_weight must have shape ({m},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("sample_weight must be finite, non-negative, and not all zero")
    return w
