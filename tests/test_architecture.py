"""architecture.describe: the one line the report, the web page and serve show."""

import itertools

import numpy as np

from digitnet.architecture import activation_and_output, describe
from digitnet.labels import LabelMap
from digitnet.model import Model


def _model(sizes):
    thetas = [np.zeros((b, a + 1)) for a, b in itertools.pairwise(sizes)]
    return Model(thetas, LabelMap(range(sizes[-1])), (1, sizes[0]), None)


def test_the_course_network():
    model = _model([400, 25, 10])
    assert activation_and_output(model) == ("sigmoid", "sigmoid")
    assert describe(model) == "400-25-10, sigmoid hidden units, sigmoid output"


def test_no_hidden_layer_has_no_hidden_units():
    assert describe(_model([64, 10])) == "64-10, sigmoid output"


def test_two_hidden_layers():
    assert describe(_model([64, 30, 20, 3])) == "64-30-20-3, sigmoid hidden units, sigmoid output"


def test_activation_and_output_come_from_the_model():
    thetas = [np.zeros((5, 17)), np.zeros((3, 6))]
    model = Model(thetas, LabelMap(range(3)), (4, 4), "C", activation="relu", output="softmax")
    assert activation_and_output(model) == ("relu", "softmax")
    assert describe(model) == "16-5-3, relu hidden units, softmax output"
