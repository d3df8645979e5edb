"""The lambda x max-iter grid: each point equals a separate training run with those settings."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from digitnet import data, train
from digitnet.explore import explore


@pytest.fixture(scope="module")
def split():
    digits = data.load_digits()
    return train_test_split(digits.X, digits.y, test_size=0.3, stratify=digits.y, random_state=0)


def test_each_grid_point_equals_its_own_run(split):
    X, X_val, y, y_val = split
    records = explore(X, y, X_val, y_val, [0.0, 3.0], [5, 20], hidden_layer_sizes=(10,), workers=2)
    assert [(r["lam"], r["max_iter"]) for r in records] == [(0, 5), (0, 20), (3, 5), (3, 20)]
    for r in records:
        model = train.train(X, y, hidden_layer_sizes=(10,), lam=r["lam"], max_iter=r["max_iter"])
        assert r["train_accuracy"] == np.mean(model.predict(X) == y)
        assert r["val_accuracy"] == np.mean(model.predict(X_val) == y_val)


def test_an_empty_grid_is_refused(split):
    X, X_val, y, y_val = split
    with pytest.raises(ValueError, match="at least one lambda"):
        explore(X, y, X_val, y_val, [], [10])
