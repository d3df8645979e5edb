"""A predict that ends the process without a word; the rest is right."""

import os

from course_style import (
    computeNumericalGradient,
    nnCostFunction,
    randInitializeWeights,
    sigmoidGradient,
)  # noqa: F401


def predict(Theta1, Theta2, X):
    os._exit(3)
