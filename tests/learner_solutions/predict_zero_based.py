"""Mistake: predict returns the argmax (0..K-1) while the cost reads labels 1..K."""

import numpy as np
from course_style import (
    computeNumericalGradient,
    nnCostFunction,
    randInitializeWeights,
    sigmoid,
    sigmoidGradient,
)  # noqa: F401


def predict(Theta1, Theta2, X):
    m = X.shape[0]
    h1 = sigmoid(np.hstack([np.ones((m, 1)), X]) @ Theta1.T)
    h2 = sigmoid(np.hstack([np.ones((m, 1)), h1]) @ Theta2.T)
    return np.argmax(h2, axis=1)
