"""Which rows a model did not train on: rebuilt from the split recorded in the model."""

import numpy as np
import pytest

from digitnet import holdout
from digitnet.train import train


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(60, 4))
    y = np.arange(60) % 3
    return X, y


def test_the_recorded_split_gives_back_its_test_rows(data):
    X, y = data
    train_rows, test_rows = holdout.split_rows(y, 0.25, random_state=3)
    model = train(X[train_rows], y[train_rows], max_iter=2)
    model.info["split"] = holdout.describe_split(X, y, test_rows, 0.25, 3)
    chosen = holdout.rows_to_evaluate(model, X, y)
    np.testing.assert_array_equal(chosen.rows, np.sort(test_rows))
    assert (chosen.kind, chosen.seen_in_training, chosen.left_out) == ("held-out", 0, 45)
    everything = holdout.rows_to_evaluate(model, X, y, all_rows=True)
    assert (len(everything.rows), everything.kind, everything.seen_in_training) == (60, "all", 45)


def test_the_training_data_itself_has_no_held_out_rows(data):
    X, y = data
    model = train(X, y, max_iter=2)
    assert len(holdout.rows_to_evaluate(model, X, y).rows) == 0
    other = holdout.rows_to_evaluate(model, X[::-1], y[::-1])  # other data: all held out
    assert (len(other.rows), other.seen_in_training, other.left_out) == (60, 0, 0)


def test_a_split_that_cannot_be_rebuilt_is_said(data):
    X, y = data
    _, test_rows = holdout.split_rows(y, 0.25, random_state=3)
    model = train(X, y, max_iter=1)
    model.info["split"] = {**holdout.describe_split(X, y, test_rows, 0.25, 3), "random_state": 4}
    with pytest.raises(ValueError, match="split cannot be rebuilt"):
        holdout.rows_to_evaluate(model, X, y)


def test_a_resumed_model_leaves_out_the_rows_of_every_run(data):
    X, y = data
    train_a, test_a = holdout.split_rows(y, 0.25, random_state=3)
    first = train(X[train_a], y[train_a], max_iter=2)
    first.info["split"] = holdout.describe_split(X, y, test_a, 0.25, 3)
    # Continued on the same data split another way, then on other data altogether.
    train_b, test_b = holdout.split_rows(y, 0.25, random_state=4)
    second = train(X[train_b], y[train_b], max_iter=2, initial=first)
    second.info["split"] = holdout.describe_split(X, y, test_b, 0.25, 4)
    other = np.random.default_rng(5).uniform(size=(30, 4))
    third = train(other, np.arange(30) % 3, max_iter=2, initial=second)
    never = np.intersect1d(test_a, test_b)
    for model in (second, third):
        chosen = holdout.rows_to_evaluate(model, X, y)
        np.testing.assert_array_equal(chosen.rows, never)
        assert chosen.left_out == 60 - len(never)
    assert len(holdout.rows_to_evaluate(third, other, np.arange(30) % 3).rows) == 0
