"""A correct solution with the handout's per-example loop: column-major, labels 1..K, y (m, 1) only."""

import math

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoidGradient(z):
    return sigmoid(z) * (1.0 - sigmoid(z))


def randInitializeWeights(L_in, L_out):
    epsilon_init = math.sqrt(6) / math.sqrt(L_in + L_out)
    return np.random.uniform(-epsilon_init, epsilon_init, (L_out, L_in + 1))


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    n1 = hidden_layer_size * (input_layer_size + 1)
    Theta1 = nn_params[:n1].reshape((input_layer_size + 1, hidden_layer_size)).T
    Theta2 = nn_params[n1:].reshape((hidden_layer_size + 1, num_labels)).T
    m = X.shape[0]
    J = 0.0
    Delta1 = np.zeros(Theta1.shape)
    Delta2 = np.zeros(Theta2.shape)
    for t in range(m):
        label = int(y[t, 0])  # the course's y is a column
        yk = np.zeros(num_labels)
        yk[label - 1] = 1
        a1 = np.concatenate([[1.0], X[t]])
        z2 = Theta1 @ a1
        a2 = np.concatenate([[1.0], sigmoid(z2)])
        a3 = sigmoid(Theta2 @ a2)
        J += np.sum(-yk * np.log(a3) - (1 - yk) * np.log(1 - a3))
        d3 = a3 - yk
        d2 = (Theta2[:, 1:].T @ d3) * sigmoidGradient(z2)
        Delta2 += np.outer(d3, a2)
        Delta1 += np.outer(d2, a1)
    J = J / m + lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    Theta1_grad = Delta1 / m
    Theta2_grad = Delta2 / m
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]
    return J, np.concatenate([Theta1_grad.T.ravel(), Theta2_grad.T.ravel()])


def predict(Theta1, Theta2, X):
    p = np.zeros((X.shape[0], 1))
    for i, x in enumerate(X):
        h1 = sigmoid(Theta1 @ np.concatenate([[1.0], x]))
        h2 = sigmoid(Theta2 @ np.concatenate([[1.0], h1]))
        p[i, 0] = np.argmax(h2) + 1
    return p
