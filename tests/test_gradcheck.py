"""Central differences and the per-layer report."""

import numpy as np
import pytest

from digitnet import gradcheck, network


def test_central_differences_are_second_order():
    # For f = sum(t^3) the central difference has error eps^2 exactly: (3t^2 + eps^2) vs 3t^2.
    theta = np.array([0.3, -1.2])
    num = gradcheck.numerical_gradient(lambda t: float(np.sum(t**3)), theta, epsilon=1e-3)
    np.testing.assert_allclose(num, 3 * theta**2 + 1e-6, rtol=1e-8)


def test_relative_difference():
    assert gradcheck.relative_difference(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert gradcheck.relative_difference(np.zeros(2), np.zeros(2)) == 0
    assert gradcheck.relative_difference(np.array([1.0, 0]), np.array([0, 1.0])) == 1


def test_sampled_check_reports_worst_element_per_layer():
    rng = np.random.default_rng(0)
    sizes = [20, 8, 6, 3]
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(10, 20))
    Y = np.eye(3)[rng.integers(0, 3, 10)]
    result = gradcheck.check_gradient(
        theta, X, Y, 1.0, sizes, max_checks=60, rng=np.random.default_rng(1)
    )
    assert result.indices.size == 60
    assert result.relative_difference < 1e-8
    assert [w.layer for w in result.worst] == [1, 2, 3]
    for w in result.worst:
        assert w.abs_error < 1e-8
    # Unchecked coordinates are left at zero.
    unchecked = np.setdiff1d(np.arange(theta.size), result.indices)
    assert not result.numeric[unchecked].any()


def test_a_wrong_gradient_is_caught(monkeypatch):
    sizes = [3, 4, 2]
    rng = np.random.default_rng(2)
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(5, 3))
    Y = np.eye(2)[rng.integers(0, 2, 5)]
    right = network.loss_sum_and_gradient

    def stale(*args, **kwargs):
        loss, grad = right(*args, **kwargs)
        grad *= 1.01  # a 1% error, like a stale weight matrix in the gradient
        return loss, grad

    monkeypatch.setattr(network, "loss_sum_and_gradient", stale)
    result = gradcheck.check_gradient(theta, X, Y, 0.0, sizes)
    assert result.relative_difference == pytest.approx(0.005, rel=0.01)
