"""Mistake: the accumulated gradient Delta is never divided by m."""

import numpy as np
from port_style import (
    compute_numerical_gradient,
    predict,
    rand_initialize_weights,
    sigmoid_gradient,
)  # noqa: F401
from scipy.special import expit


def nn_cost_function(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    split = hidden_layer_size * (input_layer_size + 1)
    Theta1 = nn_params[:split].reshape(hidden_layer_size, input_layer_size + 1)
    Theta2 = nn_params[split:].reshape(num_labels, hidden_layer_size + 1)
    m = y.size
    Y = np.eye(num_labels)[y]
    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    z2 = a1 @ Theta1.T
    a2 = np.concatenate([np.ones((m, 1)), expit(z2)], axis=1)
    a3 = expit(a2 @ Theta2.T)
    J = -np.sum(Y * np.log(a3) + (1 - Y) * np.log(1 - a3)) / m
    J += lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    delta_3 = a3 - Y
    delta_2 = delta_3 @ Theta2[:, 1:] * sigmoid_gradient(z2)
    Theta1_grad = delta_2.T @ a1
    Theta2_grad = delta_3.T @ a2
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]
    return J, np.concatenate([Theta1_grad.ravel(), Theta2_grad.ravel()])
