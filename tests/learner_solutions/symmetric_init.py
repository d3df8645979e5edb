"""Mistake: all initial weights zero, so the hidden units never become different."""

import numpy as np
from course_style import computeNumericalGradient, nnCostFunction, predict, sigmoidGradient  # noqa: F401


def randInitializeWeights(L_in, L_out):
    return np.zeros((L_out, 1 + L_in))
