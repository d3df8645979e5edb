"""A randInitializeWeights that crashes the interpreter (reads address 0); the rest is right."""

import ctypes

from course_style import computeNumericalGradient, nnCostFunction, predict, sigmoidGradient  # noqa: F401


def randInitializeWeights(L_in, L_out):
    return ctypes.string_at(0)
