"""Mistake: the cost's penalty uses lambda/m instead of lambda/(2m); the gradient is right."""

import numpy as np
from course_style import computeNumericalGradient, predict, randInitializeWeights, sigmoidGradient  # noqa: F401
from course_style import nnCostFunction as right_cost


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    split = hidden_layer_size * (input_layer_size + 1)
    Theta1 = np.reshape(nn_params[:split], (hidden_layer_size, input_layer_size + 1), order="F")
    Theta2 = np.reshape(nn_params[split:], (num_labels, hidden_layer_size + 1), order="F")
    J, grad = right_cost(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, 0)
    m = X.shape[0]
    penalty = np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2)
    J = J + lambda_ / m * penalty
    Theta1_grad = lambda_ / m * Theta1
    Theta2_grad = lambda_ / m * Theta2
    Theta1_grad[:, 0] = 0
    Theta2_grad[:, 0] = 0
    return J, grad + np.concatenate([Theta1_grad.ravel(order="F"), Theta2_grad.ravel(order="F")])
