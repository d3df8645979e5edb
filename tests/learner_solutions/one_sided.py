"""Mistake: the numerical gradient is a one-sided difference."""

import numpy as np
from course_style import nnCostFunction, predict, randInitializeWeights, sigmoidGradient  # noqa: F401


def computeNumericalGradient(J, theta):
    numgrad = np.zeros(theta.size)
    e = 1e-4
    base = J(theta)[0]
    for p in range(theta.size):
        perturb = np.zeros(theta.size)
        perturb[p] = e
        numgrad[p] = (J(theta + perturb)[0] - base) / e
    return numgrad
