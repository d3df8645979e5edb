"""report: the model card says the architecture and the training settings."""

import numpy as np
import pytest

from digitnet.labels import LabelMap
from digitnet.model import Model
from digitnet.report import Evaluation, build_report


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    thetas = [rng.normal(0, 0.3, (5, 17)), rng.normal(0, 0.3, (3, 6))]
    info = {"lam": 1.0, "solver": "adam", "learning_rate": 0.01, "dropout": 0.2}
    return Model(thetas, LabelMap([0, 1, 2]), (4, 4), "C", info=info)


def test_the_model_card_shows_the_architecture_and_settings(model):
    rng = np.random.default_rng(1)
    X, y = rng.random((30, 16)), rng.integers(0, 3, 30)
    page = build_report(model, Evaluation.of(model, X, y, "random"))
    assert "<tr><td>architecture</td><td>16-5-3, sigmoid hidden units, sigmoid output</td>" in page
    assert '<tr><td>learning rate</td><td class="num">0.01</td></tr>' in page
    assert '<tr><td>dropout</td><td class="num">0.2</td></tr>' in page


def test_a_relu_softmax_model_says_so(model):
    relu = Model(model.thetas, model.labels, (4, 4), "C", activation="relu", output="softmax")
    rng = np.random.default_rng(1)
    X, y = rng.random((30, 16)), rng.integers(0, 3, 30)
    page = build_report(relu, Evaluation.of(relu, X, y, "random"))
    assert "<td>16-5-3, relu hidden units, softmax output</td>" in page
