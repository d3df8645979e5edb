"""A predict that never returns; every other function is right."""

from course_style import (
    computeNumericalGradient,
    nnCostFunction,
    randInitializeWeights,
    sigmoidGradient,
)  # noqa: F401


def predict(Theta1, Theta2, X):
    done = False
    while not done:
        pass
    return None
