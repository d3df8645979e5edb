"""Mistake: the central difference is divided by e, not 2e."""

import numpy as np
from course_style import nnCostFunction, predict, randInitializeWeights, sigmoidGradient  # noqa: F401


def computeNumericalGradient(J, theta):
    numgrad = np.zeros(theta.size)
    e = 1e-4
    for p in range(theta.size):
        perturb = np.zeros(theta.size)
        perturb[p] = e
        numgrad[p] = (J(theta + perturb)[0] - J(theta - perturb)[0]) / e
    return numgrad
