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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hot_path_sigmoid_and_output_loss_are_accurate_to_rounding(dtype):
    """The in-place sigmoid and the output layer's loss and delta (one ``exp``, ``log1p`` from
    ``log``) against the same formulas in extended precision, over the range where the answers
    are normal numbers: within a few units in the last place, relative."""
    eps, limit = np.finfo(dtype).eps, {np.float64: 700, np.float32: 85}[dtype]
    rng = np.random.default_rng(3)
    Z = np.clip(
        np.concatenate([rng.normal(0, 4, (10, 3000)), rng.normal(0, 60, (10, 300))], 1),
        -limit,
        limit,
    ).astype(dtype)
    YT = (rng.random(Z.shape) < 0.1).astype(dtype)
    z, y = Z.astype(np.longdouble), YT.astype(np.longdouble)
    g = 1 / (1 + np.exp(-z))
    terms = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z

    A = Z.copy()
    network._sigmoid_in_place(A)
    assert np.max(np.abs(A - g) / g) <= 4 * eps

    delta = Z.copy()
    loss = network._sigmoid_cross_entropy(delta, YT, None, network.Workspace(dtype))
    assert abs(loss - terms.sum()) <= 4 * eps * terms.sum()
    assert np.max(np.abs(delta - (g - y))) <= 4 * eps  # |g - y| <= 1: absolute is relative to 1
    kept = YT == 0  # delta = g there, a relative check even where g is tiny
    assert np.max(np.abs(delta[kept] - g[kept]) / g[kept]) <= 4 * eps


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


# --- activations, softmax output, dropout (issue 12) ---------------------------------------------

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu"]
RELU_FAMILY = ("relu", "leaky_relu")


def hidden_z(thetas, X, activation):
    """Every hidden pre-activation z, by an independent loop of plain NumPy formulas."""
    g = {
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0),
        "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    }[activation]
    a, zs = X, []
    for Theta in thetas[:-1]:
        z = a @ Theta[:, 1:].T + Theta[:, 0]
        zs.append(z)
        a = g(z)
    return zs


def problem_off_the_kinks(sizes, activation, seed, m=6):
    """(theta, X, Y) drawn from the first seed from ``seed`` on whose hidden z all lie at least
    0.01 from 0, so that central differences of a ReLU never straddle a kink."""
    for attempt in range(seed, seed + 1000):
        rng = np.random.default_rng(attempt)
        theta = network.initialize(sizes, rng, epsilon=0.3)
        X = rng.normal(size=(m, sizes[0]))
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
        zs = hidden_z(network.unpack(theta, sizes), X, activation)
        if activation not in RELU_FAMILY or min(np.abs(z).min() for z in zs) > 0.01:
            return theta, X, Y
    raise AssertionError("no problem off the kinks found")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("lam", [0, 1.5])
@pytest.mark.parametrize("hidden", [(5,), (5, 4), (4, 5, 3)])
def test_every_activation_and_output_passes_gradient_check(activation, output, lam, hidden):
    sizes = [4, *hidden, 3]
    theta, X, Y = problem_off_the_kinks(sizes, activation, seed=len(hidden))
    # A step of 3e-5, not the course's 1e-4: tanh's third derivative is larger than the sigmoid's,
    # and the central difference's eps^2 error alone came to 1.8e-9 with 1e-4.
    result = check_gradient(
        theta, X, Y, lam, sizes, activation=activation, output=output, epsilon=3e-5
    )
    limit = 1e-7 if activation in RELU_FAMILY else 1e-9
    assert result.relative_difference < limit


def sklearn_backprop(thetas, X, Y, lam, activation):
    """Loss and gradients of scikit-learn's MLPClassifier (softmax output, log loss) at our
    weights, through its private ``_backprop``: the peer oracle."""
    from sklearn.neural_network import MLPClassifier

    names = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
    clf = MLPClassifier(hidden_layer_sizes=[len(t) for t in thetas[:-1]],
                        activation=names[activation], alpha=lam)  # fmt: skip
    clf.coefs_ = [np.array(t[:, 1:].T) for t in thetas]
    clf.intercepts_ = [np.array(t[:, 0]) for t in thetas]
    clf.n_layers_ = len(thetas) + 1
    clf.out_activation_ = "softmax"
    n_layers = clf.n_layers_
    activations = [X] + [None] * (n_layers - 1)
    deltas = [None] * (n_layers - 1)
    coef_grads = [np.empty_like(c) for c in clf.coefs_]
    intercept_grads = [np.empty_like(b) for b in clf.intercepts_]
    loss, coef_grads, intercept_grads = clf._backprop(
        X, Y, None, activations, deltas, coef_grads, intercept_grads
    )
    return loss, [np.column_stack([b, W.T]) for W, b in zip(coef_grads, intercept_grads)]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("lam", [0, 0.7])
@pytest.mark.parametrize("hidden", [(6,), (6, 5)])
def test_softmax_cost_and_gradient_equal_scikit_learn(activation, lam, hidden):
    sizes = [5, *hidden, 4]
    rng = np.random.default_rng(7)
    thetas = network.unpack(network.initialize(sizes, rng, epsilon=0.8), sizes)
    X = rng.normal(size=(30, 5))
    Y = np.eye(4)[np.arange(30) % 4]
    J, grad = network.cost_and_gradient(
        network.pack(thetas), X, Y, lam, sizes, activation=activation, output="softmax"
    )
    J_ref, grads_ref = sklearn_backprop(thetas, X, Y, lam, activation)
    assert J == pytest.approx(J_ref, rel=1e-12)
    for G, G_ref in zip(network.unpack(grad, sizes), grads_ref):
        np.testing.assert_allclose(G, G_ref, rtol=1e-10, atol=1e-14)


def test_softmax_loss_is_finite_for_huge_logits():
    sizes = [2, 3, 3]
    theta = np.full(network.n_params(sizes), 400.0)
    X = np.array([[1.0, -2.0], [3.0, 5.0]])
    Y = np.eye(3)[[0, 2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for activation in ACTIVATIONS:
            J, grad = network.cost_and_gradient(
                theta, X, Y, 0.0, sizes, activation=activation, output="softmax"
            )
            assert np.isfinite(J) and np.isfinite(grad).all()
            probabilities = network.predict_proba(
                network.unpack(theta, sizes), X, activation, "softmax"
            )
            assert np.isfinite(probabilities).all()
            np.testing.assert_allclose(probabilities.sum(axis=1), 1)


def test_softmax_equals_log_of_explicit_probabilities():
    """J = -mean log softmax(z)_y, computed here with plain exp and log (no shifts)."""
    sizes = [3, 4, 5]
    rng = np.random.default_rng(3)
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(8, 3))
    y = rng.integers(0, 5, 8)
    J, _ = network.cost_and_gradient(
        theta, X, np.eye(5)[y], 0.0, sizes, activation="tanh", output="softmax"
    )
    thetas = network.unpack(theta, sizes)
    z = np.tanh(X @ thetas[0][:, 1:].T + thetas[0][:, 0]) @ thetas[1][:, 1:].T + thetas[1][:, 0]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert J == pytest.approx(-np.mean(np.log(p[np.arange(8), y])), rel=1e-13)


def test_unknown_activation_or_output_is_named():
    sizes = [2, 2, 2]
    theta, X, Y = np.zeros(network.n_params(sizes)), np.zeros((1, 2)), np.eye(2)[:1]
    with pytest.raises(ValueError, match=r"activation must be one of .*'swish'"):
        network.cost_and_gradient(theta, X, Y, 0, sizes, activation="swish")
    with pytest.raises(ValueError, match=r"output must be one of .*'linear'"):
        network.cost_and_gradient(theta, X, Y, 0, sizes, output="linear")


def test_per_activation_initialization_ranges():
    sizes = [300, 100, 10]
    for activation, bound in [
        ("relu", math.sqrt(6 / 300)),
        ("leaky_relu", math.sqrt(6 / 300)),
        ("tanh", math.sqrt(6 / 400)),
        ("sigmoid", math.sqrt(6 / 400)),
    ]:
        theta = network.initialize(sizes, np.random.default_rng(0), None, activation=activation)
        first = network.unpack(theta, sizes)[0]
        assert np.abs(first).max() <= bound
        assert np.abs(first).max() > 0.99 * bound  # 30,100 draws reach the edge


def test_dropout_masks_keep_the_mean_and_repeat_with_the_seed():
    rate, m = 0.3, 200_000
    masks = network.dropout_masks([3, 2], m, rate, np.random.default_rng(1))
    assert [mask.shape for mask in masks] == [(3, m), (2, m)]
    for mask in masks:
        assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
        # Expected value 1: a masked activation averages to the undropped one.
        np.testing.assert_allclose(mask.mean(axis=1), 1, atol=5 * math.sqrt(rate / (1 - rate) / m))
    again = network.dropout_masks([3, 2], m, rate, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))


def test_expected_hidden_activations_with_dropout_match_the_undropped_ones():
    """The output layer's z is linear in the last hidden layer: its mean over many masks equals
    the undropped z (inverted dropout needs no rescaling at prediction)."""
    sizes = [3, 6, 2]
    rng = np.random.default_rng(2)
    thetas = network.unpack(network.initialize(sizes, rng, epsilon=1.0), sizes)
    x = rng.normal(size=(1, 3))
    a = network.forward(thetas, x, "relu")[1]  # (1, 6)
    masks = network.dropout_masks([6], 100_000, 0.4, rng)[0]  # (6, n)
    mean_dropped = (a.T * masks).mean(axis=1)
    np.testing.assert_allclose(mean_dropped, a[0], rtol=0.02)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backpropagation_with_fixed_dropout_masks_matches_central_differences(activation):
    """With the masks held fixed the loss is a function of theta like any other."""
    sizes = [4, 6, 5, 3]
    theta, X, Y = problem_off_the_kinks(sizes, activation, seed=11)
    masks = network.dropout_masks(sizes[1:-1], len(X), 0.5, np.random.default_rng(4))

    def loss(t):
        return network.loss_sum_and_gradient(
            t, X, Y, sizes, activation=activation, dropout=0.5, dropout_masks=masks
        )[0]

    _, analytic = network.loss_sum_and_gradient(
        theta, X, Y, sizes, activation=activation, dropout=0.5, dropout_masks=masks
    )
    from digitnet.gradcheck import numerical_gradient, relative_difference

    numeric = numerical_gradient(loss, theta)
    assert relative_difference(numeric, analytic) < 1e-8
    # and dropout changed something: the masks are not all ones
    _, plain = network.loss_sum_and_gradient(theta, X, Y, sizes, activation=activation)
    assert not np.allclose(plain, analytic)


def test_prediction_never_drops_and_is_deterministic():
    sizes = [3, 5, 2]
    thetas = network.unpack(network.initialize(sizes, np.random.default_rng(0)), sizes)
    X = np.random.default_rng(1).normal(size=(4, 3))
    first = network.predict_proba(thetas, X, "relu", "softmax")
    np.testing.assert_array_equal(first, network.predict_proba(thetas, X, "relu", "softmax"))
