"""The vectorized math against an independent per-example loop, finite differences and edge cases."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet import network
from digitnet.gradcheck import check_gradient
from digitnet.labels import LabelMap


def loop_cost_and_gradient(thetas, X, y_units, lam):
    """The course's step-by-step algorithm, one example at a time, with plain logs (no tricks).

    Written independently of digitnet.network: bias as a prepended 1, math.exp sigmoid, log(h).
    """
    m = X.shape[0]
    K = thetas[-1].shape[0]
    J = 0.0
    Deltas = [np.zeros_like(t) for t in thetas]
    for t in range(m):
        a = [np.concatenate(([1.0], X[t]))]
        for l, Theta in enumerate(thetas):
            z = Theta @ a[-1]
            g = np.array([1 / (1 + math.exp(-v)) for v in z])
            a.append(g if l == len(thetas) - 1 else np.concatenate(([1.0], g)))
        h = a[-1]
        yk = np.zeros(K)
        yk[y_units[t]] = 1
        J += sum(-yk[k] * math.log(h[k]) - (1 - yk[k]) * math.log(1 - h[k]) for k in range(K))
        delta = h - yk
        for l in range(len(thetas) - 1, -1, -1):
            Deltas[l] += np.outer(delta, a[l])
            if l > 0:
                delta = (thetas[l].T @ delta)[1:] * a[l][1:] * (1 - a[l][1:])
    J /= m
    grads = [D / m for D in Deltas]
    for Theta, G in zip(thetas, grads):
        J += lam / (2 * m) * np.sum(Theta[:, 1:] ** 2)
        G[:, 1:] += lam / m * Theta[:, 1:]
    return J, grads


def assert_matches_loop(thetas, X, y_units, lam, sizes):
    Y = np.eye(sizes[-1])[y_units]
    J, grad = network.cost_and_gradient(network.pack(thetas), X, Y, lam, sizes)
    J_ref, grads_ref = loop_cost_and_gradient(thetas, X, y_units, lam)
    assert J == pytest.approx(J_ref, rel=1e-12)
    for G, G_ref in zip(network.unpack(grad, sizes), grads_ref):
        np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("lam", [0, 1, 3])
def test_course_network_equals_per_example_loop(mnist20, ex4_weights, lam):
    X, y = mnist20
    assert_matches_loop(ex4_weights, X, y - 1, lam, [400, 25, 10])


@pytest.mark.parametrize("hidden", [(7, 5), (6, 4, 5)])
@pytest.mark.parametrize("lam", [0, 1.5])
def test_deep_random_network_equals_per_example_loop(hidden, lam):
    rng = np.random.default_rng(7)
    sizes = [12, *hidden, 4]
    X = rng.normal(size=(40, 12))
    y = rng.integers(0, 4, size=40)
    thetas = network.unpack(network.initialize(sizes, rng, epsilon=1.0), sizes)
    assert_matches_loop(thetas, X, y, lam, sizes)


def test_course_weights_read_the_digits(mnist20, ex4_weights):
    X, y = mnist20
    labels = LabelMap(range(1, 11)).decode(network.predict(ex4_weights, X))
    # The README of ../shared/data gives 95.2% for these weights on this file.
    assert np.mean(labels == y) == pytest.approx(0.952, abs=0.005)


def test_pack_unpack_round_trip_both_orders():
    rng = np.random.default_rng(1)
    sizes = [5, 4, 3, 2]
    thetas = [rng.normal(size=shape) for shape in network.theta_shapes(sizes)]
    for order in "CF":
        flat = network.pack(thetas, order=order)
        assert flat.shape == (network.n_params(sizes),)
        for a, b in zip(network.unpack(flat, sizes, order=order), thetas):
            np.testing.assert_array_equal(a, b)
    # Octave's [Theta1(:); Theta2(:)] walks each matrix down its columns.
    np.testing.assert_array_equal(network.pack(thetas, "F")[:4], thetas[0][:, 0])
    np.testing.assert_array_equal(network.pack(thetas, "C")[:6], thetas[0][0])


def test_unpack_names_the_wrong_length():
    with pytest.raises(ValueError, match=r"layer sizes \[3, 2, 2\] need \(14,\)"):
        network.unpack(np.zeros(13), [3, 2, 2])


def test_sigmoid_gradient_matches_formula():
    assert network.sigmoid_gradient(0.0) == 0.25
    z = np.array([-1, -0.5, 0.5, 1])
    g = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(network.sigmoid_gradient(z), g * (1 - g), rtol=1e-15)
    np.testing.assert_allclose(
        network.sigmoid_gradient(z), [0.196612, 0.235004, 0.235004, 0.196612], atol=1e-6
    )


@given(st.lists(st.floats(-800, 800), min_size=1, max_size=20))
def test_softplus_equals_logaddexp(values):
    z = np.array(values)
    np.testing.assert_allclose(network.softplus(z), np.logaddexp(0, z), rtol=1e-14, atol=1e-300)


def test_saturated_units_give_finite_cost_and_gradient():
    sizes = [2, 3, 2]
    X = np.array([[1.0, -1.0], [-1.0, 1.0]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    # z = +-1000 everywhere for the first example: every sigmoid is exactly 0 or 1 in float64.
    thetas = [np.array([[0.0, 500, -500]] * 3), np.array([[0.0, 1000, 0, 0], [0.0, -1000, 0, 0]])]
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        J, grad = network.cost_and_gradient(network.pack(thetas), X, Y, 0.0, sizes)
    assert np.isfinite(J) and np.all(np.isfinite(grad))
    # The first example is confidently wrong on both units: cross entropy 1000 each, over m = 2.
    assert J == pytest.approx(1000 + np.log(2), rel=1e-3)


def test_float32_stays_float32_and_agrees_with_float64(mnist20, ex4_weights):
    X, y = mnist20
    Y = np.eye(10)[y - 1]
    theta = network.pack(ex4_weights)
    J64, g64 = network.cost_and_gradient(theta, X, Y, 1.0, [400, 25, 10])
    J32, g32 = network.cost_and_gradient(theta, X.astype(np.float32), Y, 1.0, [400, 25, 10])
    assert g32.dtype == np.float32
    assert J32 == pytest.approx(J64, rel=1e-5)
    assert np.linalg.norm(g32 - g64) / np.linalg.norm(g64) < 1e-4


def test_integer_sample_weights_equal_repeated_examples():
    rng = np.random.default_rng(4)
    sizes = [5, 4, 3]
    X = rng.normal(size=(8, 5))
    Y = np.eye(3)[rng.integers(0, 3, 8)]
    w = np.array([1, 2, 0, 1, 3, 1, 1, 2])
    theta = network.initialize(sizes, rng)
    J_w, g_w = network.cost_and_gradient(theta, X, Y, 1.0, sizes, sample_weight=w)
    J_r, g_r = network.cost_and_gradient(theta, X.repeat(w, 0), Y.repeat(w, 0), 1.0, sizes)
    assert J_w == pytest.approx(J_r, rel=1e-12)
    np.testing.assert_allclose(g_w, g_r, rtol=1e-12, atol=1e-15)


@settings(max_examples=15, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    n=st.integers(1, 6),
    K=st.integers(2, 4),
    m=st.integers(1, 6),
    lam=st.floats(0, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_backpropagation_matches_central_differences(hidden, n, K, m, lam, seed):
    rng = np.random.default_rng(seed)
    sizes = [n, *hidden, K]
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(m, n))
    Y = np.eye(K)[rng.integers(0, K, m)]
    result = check_gradient(theta, X, Y, lam, sizes)
    assert result.relative_difference < 1e-8


def test_initialization_is_seeded_and_in_range():
    sizes = [400, 25, 10]
    a = network.initialize(sizes, np.random.default_rng(0))
    b = network.initialize(sizes, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 0.12 and np.abs(a).max() > 0.11
    glorot = network.unpack(
        network.initialize(sizes, np.random.default_rng(0), epsilon=None), sizes
    )
    assert np.abs(glorot[0]).max() <= math.sqrt(6) / math.sqrt(425)
    assert np.abs(glorot[1]).max() <= math.sqrt(6) / math.sqrt(35)
    with pytest.raises(TypeError, match="Generator"):
        network.initialize(sizes, 0)


def test_debug_weights_fill_sin_column_major():
    W = network.debug_weights(3, 2)
    assert W.shape == (3, 3)
    assert W[1, 0] == np.sin(2) / 10  # second element of column 0
    assert W[0, 1] == np.sin(4) / 10


def test_bad_shapes_are_named():
    sizes = [4, 3, 2]
    theta = np.zeros(network.n_params(sizes))
    with pytest.raises(ValueError, match=r"X must have shape \(m, 4\)"):
        network.cost_and_gradient(theta, np.zeros((5, 3)), np.zeros((5, 2)), 0, sizes)
    with pytest.raises(ValueError, match=r"Y must have shape \(5, 2\)"):
        network.cost_and_gradient(theta, np.zeros((5, 4)), np.zeros((5, 3)), 0, sizes)
