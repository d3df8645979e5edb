"""A correct solution in the Python port's conventions: snake_case, row-major, labels 0..K-1, y (m,)."""

import numpy as np
from scipy.special import expit


def sigmoid_gradient(z):
    return expit(z) * (1 - expit(z))


def rand_initialize_weights(L_in, L_out, epsilon_init=0.12):
    rng = np.random.default_rng()
    return rng.uniform(-epsilon_init, epsilon_init, size=(L_out, 1 + L_in))


def nn_cost_function(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    Theta1 = nn_params[: hidden_layer_size * (input_layer_size + 1)].reshape(
        hidden_layer_size, input_layer_size + 1
    )
    Theta2 = nn_params[hidden_layer_size * (input_layer_size + 1) :].reshape(
        num_labels, hidden_layer_size + 1
    )
    m = y.size
    y_matrix = np.eye(num_labels)[y]  # (m, K) only when y is (m,)

    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    z2 = a1.dot(Theta1.T)
    a2 = np.concatenate([np.ones((m, 1)), expit(z2)], axis=1)
    a3 = expit(a2.dot(Theta2.T))
    reg = (lambda_ / (2 * m)) * (
        np.sum(np.square(Theta1[:, 1:])) + np.sum(np.square(Theta2[:, 1:]))
    )
    J = (-1 / m) * np.sum(y_matrix * np.log(a3) + (1 - y_matrix) * np.log(1 - a3)) + reg

    delta_3 = a3 - y_matrix
    delta_2 = delta_3.dot(Theta2)[:, 1:] * sigmoid_gradient(z2)
    Theta1_grad = (1 / m) * delta_2.T.dot(a1)
    Theta2_grad = (1 / m) * delta_3.T.dot(a2)
    Theta1_grad[:, 1:] = Theta1_grad[:, 1:] + (lambda_ / m) * Theta1[:, 1:]
    Theta2_grad[:, 1:] = Theta2_grad[:, 1:] + (lambda_ / m) * Theta2[:, 1:]
    grad = np.concatenate([Theta1_grad.ravel(), Theta2_grad.ravel()])
    return J, grad


def predict(Theta1, Theta2, X):
    m = X.shape[0]
    h1 = expit(np.concatenate([np.ones((m, 1)), X], axis=1).dot(Theta1.T))
    h2 = expit(np.concatenate([np.ones((m, 1)), h1], axis=1).dot(Theta2.T))
    return np.argmax(h2, axis=1)


def compute_numerical_gradient(J, theta, e=1e-4):
    numgrad = np.zeros(theta.shape)
    perturb = np.diag(e * np.ones(theta.shape))
    for i in range(theta.size):
        loss1, _ = J(theta - perturb[:, i])
        loss2, _ = J(theta + perturb[:, i])
        numgrad[i] = (loss2 - loss1) / (2 * e)
    return numgrad
