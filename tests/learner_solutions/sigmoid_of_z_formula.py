"""Mistake: sigmoidGradient(z) returns z (1 - z), and backpropagation uses it."""

import course_style
from course_style import computeNumericalGradient, predict, randInitializeWeights  # noqa: F401


def sigmoidGradient(z):
    return z * (1 - z)


def nnCostFunction(*args):
    course_style.sigmoidGradient = sigmoidGradient  # backpropagation calls the learner's version
    return course_style.nnCostFunction(*args)
