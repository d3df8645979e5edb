"""The course-compatible functions: the course's checks and published numbers."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from digitnet import ex4, network


@pytest.mark.parametrize("lam", [0, 3])
def test_check_nn_gradients(lam):
    numgrad, grad, diff = ex4.check_nn_gradients(lam)
    assert numgrad.shape == grad.shape == (5 * 4 + 3 * 6,)
    assert diff < 1e-9


def test_sigmoid_gradient_at_zero():
    assert ex4.sigmoid_gradient(0) == 0.25


def test_nn_cost_function_uses_octave_order(mnist20, ex4_weights):
    X, y = mnist20
    Theta1, Theta2 = ex4_weights
    nn_params = np.concatenate([Theta1.ravel(order="F"), Theta2.ravel(order="F")])
    J, grad = ex4.nn_cost_function(nn_params, 400, 25, 10, X, y, 1.0)
    J_core, grad_core = network.cost_and_gradient(
        network.pack(ex4_weights), X, np.eye(10)[y - 1], 1.0, [400, 25, 10]
    )
    assert J == J_core
    # grad comes back unrolled like Octave's [Theta1_grad(:); Theta2_grad(:)].
    G1 = grad[: 25 * 401].reshape(25, 401, order="F")
    np.testing.assert_array_equal(G1, grad_core[: 25 * 401].reshape(25, 401))


def test_predict_gives_labels_1_to_10(mnist20, ex4_weights):
    X, y = mnist20
    p = ex4.predict(*ex4_weights, X)
    assert set(np.unique(p)) <= set(range(1, 11))
    assert np.mean(p == y) > 0.94


def test_rand_initialize_weights():
    W = ex4.rand_initialize_weights(400, 25, np.random.default_rng(0))
    assert W.shape == (25, 401)
    assert np.abs(W).max() <= 0.12
    np.testing.assert_array_equal(W, ex4.rand_initialize_weights(400, 25, np.random.default_rng(0)))


def test_compute_numerical_gradient_of_a_quadratic():
    theta = np.array([1.0, -2.0, 0.5])
    numgrad = ex4.compute_numerical_gradient(lambda t: float(np.sum(t**2)), theta)
    np.testing.assert_allclose(numgrad, 2 * theta, rtol=1e-10)


def test_debug_initialize_weights_matches_handout():
    # debugInitializeWeights(5, 3) is reshape(sin(1:20), 5, 4) / 10 in Octave.
    W = ex4.debug_initialize_weights(5, 3)
    np.testing.assert_array_equal(W, np.sin(np.arange(1, 21)).reshape(4, 5).T / 10)


def test_published_costs_on_the_course_data(ex4_weights):
    """The handout's figures hold only for its own ex4data1.mat (not shipped here)."""
    path = os.environ.get("DIGITNET_EX4DATA")
    if not path:
        pytest.skip(
            "set DIGITNET_EX4DATA to the course's ex4data1.mat to check 0.287629 / 0.383770"
        )
    mat = scipy.io.loadmat(Path(path))
    Theta1, Theta2 = ex4_weights
    nn_params = np.concatenate([Theta1.ravel(order="F"), Theta2.ravel(order="F")])
    for lam, published in [(0, 0.287629), (1, 0.383770)]:
        J, _ = ex4.nn_cost_function(nn_params, 400, 25, 10, mat["X"], mat["y"], lam)
        assert round(J, 6) == published
