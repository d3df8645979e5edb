"""DigitNetClassifier: scikit-learn's own estimator checks, its tools, and an independent oracle."""

import warnings

import numpy as np
import pytest
from conftest import shared_file
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from digitnet import model_io, network
from digitnet.estimator import DigitNetClassifier, merge_repeated_rows

ESTIMATORS = [
    DigitNetClassifier(random_state=0),
    DigitNetClassifier(solver="adam", learning_rate=0.05, max_iter=200, random_state=0),
    # learning_rate 0.01: at adam's default 1e-3, the default 20 epochs of the checks' 300 rows
    # are 40 small steps, too few to reach the 0.83 training accuracy check_classifiers_train asks
    DigitNetClassifier(
        activation="relu", output="softmax", solver="adam", learning_rate=0.01, random_state=0
    ),
]


@parametrize_with_checks(ESTIMATORS)  # no expected failures
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "solver, activation, output", [("lbfgs", "sigmoid", "sigmoid"), ("adam", "relu", "softmax")]
)
def test_weights_and_repetition_give_the_same_model_to_the_bit(seed, solver, activation, output):
    """scikit-learn's sample-weight check on other data: unconverged fits too, so no luck."""
    rng = np.random.RandomState(seed)
    X, y, sw = rng.rand(15, 30), rng.randint(0, 3, 15), rng.randint(0, 5, 15)
    order = rng.permutation(15)
    params = dict(solver=solver, activation=activation, output=output, max_iter=30)
    repeated = DigitNetClassifier(**params, random_state=0)
    weighted = DigitNetClassifier(**params, random_state=0)
    repeated.fit(X.repeat(sw, axis=0), y.repeat(sw))
    weighted.fit(X[order], y[order], sample_weight=sw[order])
    np.testing.assert_array_equal(repeated.predict_proba(X), weighted.predict_proba(X))


def test_merge_repeated_rows():
    X = np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0]])
    y = np.array(["b", "a", "b", "a", "a"])
    Xm, ym, w = merge_repeated_rows(X, y)
    # a [0, 5], a [1, 2], a [3, 3], b [1, 2] (twice): sorted by label, then x
    np.testing.assert_array_equal(Xm, [[0, 5], [1, 2], [3, 3], [1, 2]])
    assert ym.tolist() == ["a", "a", "a", "b"] and w.tolist() == [1, 1, 1, 2]
    # no repeats, unit weights: untouched, in its own order; zero weights: dropped
    same = merge_repeated_rows(X[:2], y[:2], np.ones(2))
    assert same[0] is not None and same[2] is None and same[1].tolist() == ["b", "a"]
    kept = merge_repeated_rows(X[:4], y[:4], np.array([1.0, 1.0, 0.0, 1.0]))
    assert kept[1].tolist() == ["b", "a", "a"] and kept[2] is None


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.2, stratify=y, random_state=0)


def test_pipeline_grid_search_and_cross_validation(digits):
    X_train, _, y_train, _ = digits
    X, y = X_train[:600], y_train[:600]
    pipe = make_pipeline(StandardScaler(), DigitNetClassifier(max_iter=60, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.95
    grid = GridSearchCV(
        DigitNetClassifier(max_iter=60, random_state=0),
        {"lam": [0.1, 3.0], "hidden_layer_sizes": [(10,), (25,)]},
        cv=3,
    ).fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] in [(10,), (25,)]
    assert grid.best_score_ > 0.85
    scores = cross_val_score(DigitNetClassifier(max_iter=60, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_cost_equals_mlpclassifier_loss_and_gradient():
    """Oracle: scikit-learn's MLP with logistic output on one-hot targets has the same cost."""
    rng = np.random.default_rng(0)
    sizes, lam, m = [12, 7, 5, 4], 0.7, 30
    X = rng.normal(size=(m, 12))
    Y = np.eye(4)[rng.integers(0, 4, m)]
    thetas = network.unpack(network.initialize(sizes, rng, epsilon=1.0), sizes)
    J, grad = network.cost_and_gradient(network.pack(thetas), X, Y, lam, sizes)

    mlp = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1], activation="logistic", alpha=lam, max_iter=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, Y)  # multilabel indicator targets: logistic outputs, binary log loss per unit
    mlp.coefs_ = [theta[:, 1:].T.copy() for theta in thetas]
    mlp.intercepts_ = [theta[:, 0].copy() for theta in thetas]
    activations = [X] + [None] * (len(sizes) - 1)
    deltas = [None] * (len(sizes) - 1)
    coef_grads = [np.empty_like(c) for c in mlp.coefs_]
    intercept_grads = [np.empty_like(b) for b in mlp.intercepts_]
    # _backprop is private, but it is the loss and gradient the MLP trains on: the truest oracle.
    loss, coef_grads, intercept_grads = mlp._backprop(
        X, Y, None, activations, deltas, coef_grads, intercept_grads
    )
    assert J == pytest.approx(loss, rel=1e-12)
    for G, gW, gb in zip(network.unpack(grad, sizes), coef_grads, intercept_grads):
        np.testing.assert_allclose(G[:, 1:], gW.T, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(G[:, 0], gb, rtol=1e-10, atol=1e-15)


# Both stop at the same iteration budget on purpose; scikit-learn warns that it stopped there.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_accuracy_at_least_mlpclassifier_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    ours = DigitNetClassifier(lam=1.0, max_iter=200, random_state=0).fit(X_train, y_train)
    theirs = MLPClassifier(
        hidden_layer_sizes=(25,),
        activation="logistic",
        solver="lbfgs",
        alpha=1.0,
        max_iter=200,
        random_state=0,
    ).fit(X_train, y_train)
    assert ours.score(X_test, y_test) >= theirs.score(X_test, y_test) - 0.005


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "adam", "sgd"])
def test_history_for_every_solver(digits, solver):
    X_train, _, y_train, _ = digits
    clf = DigitNetClassifier(
        solver=solver, max_iter=15, early_stopping=True, validation_fraction=0.2, random_state=0
    ).fit(X_train, y_train)
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.validation_scores_) >= 1
    assert np.all(np.isfinite(clf.validation_scores_))
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_float32_is_kept_and_random_state_reproduces(digits):
    X_train, X_test, y_train, _ = digits
    X32 = X_train.astype(np.float32)
    a = DigitNetClassifier(max_iter=30, random_state=3).fit(X32, y_train)
    b = DigitNetClassifier(max_iter=30, random_state=3).fit(X32, y_train)
    assert a.thetas_[0].dtype == np.float32
    for ta, tb in zip(a.thetas_, b.thetas_):
        np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_save_load_and_octave(tmp_path, digits, mnist20):
    X_train, X_test, y_train, _ = digits
    clf = DigitNetClassifier(max_iter=20, random_state=0).fit(X_train, y_train)
    clf.save(tmp_path / "clf.npz")
    again = DigitNetClassifier.load(tmp_path / "clf.npz")
    np.testing.assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))

    course = DigitNetClassifier.from_octave(shared_file("ex4weights.mat"))
    X, y = mnist20
    assert course.score(X, y % 10) == pytest.approx(0.952, abs=0.005)
    # The course's units read 1, ..., 9, 0; scikit-learn's tools take classes_ sorted, with
    # predict_proba's columns in that order.
    assert course.classes_.tolist() == list(range(10))
    units = model_io.import_octave(shared_file("ex4weights.mat"))
    by_unit = units.predict_proba(X[:200])
    for k, digit in enumerate(units.labels.classes):
        np.testing.assert_allclose(
            course.predict_proba(X[:200])[:, digit], by_unit[:, k], rtol=1e-12
        )
    assert log_loss(y % 10, course.predict_proba(X)) < 0.5  # 7.0 with the columns unsorted


def test_a_loaded_classifier_has_the_settings_it_was_trained_with(tmp_path, digits):
    X_train, _, y_train, _ = digits
    params = dict(solver="adam", learning_rate=0.05, batch_size=50, early_stopping=True,
                  random_state=7, dropout=0.1, n_iter_no_change=4, schedule="cosine", max_iter=3)  # fmt: skip
    clf = DigitNetClassifier(**params).fit(X_train, y_train)
    clf.save(tmp_path / "clf.npz")
    loaded = DigitNetClassifier.load(tmp_path / "clf.npz").get_params()
    assert {name: loaded[name] for name in params} == params
    again = clone(DigitNetClassifier.load(tmp_path / "clf.npz")).fit(X_train, y_train)
    np.testing.assert_array_equal(again.thetas_[0], clf.thetas_[0])


def test_a_class_of_weight_zero_is_still_a_class(digits):
    X_train, X_test, y_train, _ = digits
    weights = np.where(y_train == 3, 0.0, 1.0)
    clf = DigitNetClassifier(max_iter=5).fit(X_train, y_train, sample_weight=weights)
    assert clf.classes_.tolist() == list(range(10))  # as LogisticRegression and MLPClassifier
    assert clf.predict_proba(X_test).shape == (len(X_test), 10)


def test_numpy_booleans_are_booleans(digits):
    X_train, _, y_train, _ = digits
    clf = DigitNetClassifier(max_iter=2, early_stopping=np.True_, validation_fraction=0.2)
    assert clf.fit(X_train, y_train).model_.info["early_stopping"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lam": -1}, "lam must be >= 0"),
        ({"solver": "newton"}, "solver must be one of"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes must be positive"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
        ({"validation_fraction": 1.0}, "validation_fraction must be < 1"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        DigitNetClassifier(**params).fit(np.eye(4), [0, 1, 0, 1])


def test_feature_names_from_a_dataframe(digits):
    pd = pytest.importorskip("pandas")
    X_train, _, y_train, _ = digits
    frame = pd.DataFrame(X_train[:200], columns=[f"pixel{i}" for i in range(64)])
    clf = DigitNetClassifier(max_iter=10, random_state=0).fit(frame, y_train[:200])
    assert list(clf.feature_names_in_) == list(frame.columns)


def test_the_classifier_is_at_the_top_of_the_package():
    import digitnet

    assert digitnet.DigitNetClassifier is DigitNetClassifier


def test_an_int_is_one_hidden_layer(digits):
    X_train, _, y_train, _ = digits
    clf = DigitNetClassifier(hidden_layer_sizes=7, max_iter=3).fit(X_train, y_train)
    assert clf.model_.layer_sizes == [64, 7, 10]


def test_the_same_seed_gives_the_same_weights_as_train(digits):
    from digitnet.train import train

    X_train, _, y_train, _ = digits
    family = {"activation": "relu", "output": "softmax", "dropout": 0.2, "schedule": "cosine"}
    for kwargs in (
        {},
        {"random_state": 5, "solver": "adam", "max_iter": 2},
        {"solver": "adam", "max_iter": 3, **family},
        {"solver": "sgd", "nesterov": True, "activation": "tanh", "max_iter": 2},
    ):
        clf = DigitNetClassifier(**{"max_iter": 4, **kwargs}).fit(X_train, y_train)
        model = train(X_train, y_train, **{"max_iter": 4, **kwargs})
        for a, b in zip(clf.thetas_, model.thetas):
            np.testing.assert_array_equal(a, b)


def test_defaults_are_the_settings_defaults():
    import inspect

    from digitnet import settings, train

    classifier = inspect.signature(DigitNetClassifier).parameters
    function = inspect.signature(train.train).parameters
    for name, default in settings.DEFAULTS.items():
        assert classifier[name].default == default == function[name].default, name


def _gradient_descent(thetas, X, Y, lam, lr, steps):
    """The independent expectation: plain full-batch gradient descent on the course's cost."""
    sizes = [X.shape[1]] + [t.shape[0] for t in thetas]
    theta = network.pack(thetas)
    for _ in range(steps):
        theta = theta - lr * network.cost_and_gradient(theta, X, Y, lam, sizes)[1]
    return network.unpack(theta, sizes)


def test_partial_fit_epochs_are_fit_epochs_and_gradient_steps(digits):
    """Full batch (batch_size >= m) and no momentum: the shuffles and the optimizer state do not
    matter, so N partial_fit calls, fit with max_iter=N, and N gradient steps must agree."""
    X_train, _, y_train, _ = digits
    X, y = X_train[:150], y_train[:150]
    params = dict(solver="sgd", momentum=0.0, learning_rate=0.5, batch_size=200, random_state=4)
    online = DigitNetClassifier(**params).partial_fit(X, y, classes=np.arange(10))
    after_one = [t.copy() for t in online.thetas_]
    for _ in range(4):
        online.partial_fit(X, y)
    batch = DigitNetClassifier(max_iter=5, **params).fit(X, y)
    for a, b in zip(online.thetas_, batch.thetas_):
        np.testing.assert_array_equal(a, b)
    assert online.n_iter_ == batch.n_iter_ == 5
    expected = _gradient_descent(after_one, X, np.eye(10)[y], 1.0, 0.5, 4)
    for a, b in zip(online.thetas_, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_warm_start_continues_where_fit_stopped(digits):
    X_train, _, y_train, _ = digits
    X, y = X_train[:150], y_train[:150]
    params = dict(solver="sgd", momentum=0.0, learning_rate=0.5, batch_size=200, random_state=1)
    warm = DigitNetClassifier(max_iter=3, warm_start=True, **params).fit(X, y)
    warm.set_params(max_iter=2).fit(X, y)
    cold = DigitNetClassifier(max_iter=5, **params).fit(X, y)
    for a, b in zip(warm.thetas_, cold.thetas_):
        np.testing.assert_array_equal(a, b)
    assert warm.n_iter_ == 5  # the history goes on
    fresh = DigitNetClassifier(max_iter=2, **params).fit(X, y)
    fresh.set_params(max_iter=3).fit(X, y)  # no warm start: starts anew
    assert fresh.n_iter_ == 3
    with pytest.raises(ValueError, match="classes of the first fit"):
        warm.fit(X[:20], np.r_[11, y[1:20]])
    with pytest.raises(ValueError, match=r"hidden_layer_sizes \(7,\) differs from the fitted"):
        warm.set_params(hidden_layer_sizes=7).fit(X, y)  # get_params would no longer say the truth
    assert warm.set_params(warm_start=False).fit(X, y).thetas_[0].shape == (7, 65)


def test_partial_fit_needs_a_stochastic_solver_and_the_classes(digits):
    X_train, _, y_train, _ = digits
    assert not hasattr(DigitNetClassifier(), "partial_fit")  # lbfgs, cg: as MLPClassifier
    clf = DigitNetClassifier(solver="adam", random_state=0)
    with pytest.raises(ValueError, match="classes must be given"):
        clf.partial_fit(X_train[:50], y_train[:50])
    clf.partial_fit(X_train[:50], np.minimum(y_train[:50], 4), classes=np.arange(10))
    assert clf.classes_.tolist() == list(range(10))  # labels unseen so far still get a unit
    clf.partial_fit(X_train[50:100], y_train[50:100])
    assert clf.n_iter_ == 2
    with pytest.raises(ValueError, match="labels \\[12\\]"):
        clf.partial_fit(X_train[:3], [1, 2, 12])
    with pytest.raises(ValueError, match="differ from the first call"):
        clf.partial_fit(X_train[:3], [1, 2, 3], classes=[1, 2, 3])
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(X_train[:3, :3], [1, 2, 3])


def test_partial_fit_learns(digits):
    X_train, X_test, y_train, y_test = digits
    clf = DigitNetClassifier(solver="adam", learning_rate=0.05, random_state=0)
    for _ in range(10):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))
    assert clf.score(X_test, y_test) > 0.9


def test_the_new_settings_reach_the_model(digits, tmp_path):
    X_train, X_test, y_train, y_test = digits
    clf = DigitNetClassifier(
        activation="leaky_relu", output="softmax", solver="adam", learning_rate=0.01,
        dropout=0.1, image_shape=(8, 8), pixel_order="C", augment=True, random_state=0,
    ).fit(X_train, y_train)  # fmt: skip
    assert (clf.model_.activation, clf.model_.output) == ("leaky_relu", "softmax")
    assert clf.model_.info["dropout"] == 0.1 and clf.model_.info["augment"] is True
    assert clf.score(X_test, y_test) > 0.9
    clf.save(tmp_path / "m.npz")
    again = DigitNetClassifier.load(tmp_path / "m.npz")
    assert (again.activation, again.output) == ("leaky_relu", "softmax")
    np.testing.assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_allclose(clf.predict_proba(X_test).sum(axis=1), 1.0)


def test_partial_fit_refuses_a_schedule(digits):
    X_train, _, y_train, _ = digits
    clf = DigitNetClassifier(solver="adam", schedule="cosine")
    with pytest.raises(ValueError, match="schedule 'cosine' needs the number of epochs"):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"activation": "swish"}, "activation must be one of"),
        ({"output": "identity"}, "output must be one of"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": 0.5}, "dropout"),  # with lbfgs: mini-batch solvers only
    ],
)
def test_bad_new_settings_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        DigitNetClassifier(**params).fit(np.eye(4), [0, 1, 0, 1])
