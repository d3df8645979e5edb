"""Mistake: lambda is ignored, so neither the cost nor the gradient is regularized."""

from course_style import (  # noqa: F401
    computeNumericalGradient,
    predict,
    randInitializeWeights,
    sigmoidGradient,
)
from course_style import nnCostFunction as regularized


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    return regularized(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, 0)
