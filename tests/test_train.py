"""Training: the course's accuracy on real digits, and the contract every solver shares (history,
callbacks, early stopping, interrupts, resume, validation of inputs, BLAS threads)."""

import json
import tracemalloc
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from digitnet import data, engine, network
from digitnet.data import stratified_split
from digitnet.engine import _blas_pools, blas_threads
from digitnet.labels import LabelMap
from digitnet.model import Model
from digitnet.train import SOLVERS, History, data_fingerprint, minimize, train

MINI_BATCH = ("adam", "sgd")


@pytest.fixture(scope="module")
def small(mnist20):
    """500 digits, 50 of each class (mnist20 is sorted by label), for quick runs."""
    X, y = mnist20
    return X[::10], y[::10]


def accuracy(model, X, y):
    return float(np.mean(model.predict(X) == y))


# --- the accuracy targets (the two slow tests) -------------------------------------------


def test_lbfgs_100_iterations_fits_the_course_network(mnist20):
    X, y = mnist20
    model = train(X, y, hidden_layer_sizes=(25,), lam=1.0, solver="lbfgs", max_iter=100)
    assert model.layer_sizes == [400, 25, 10]
    assert model.info["n_iter"] == len(model.history["cost"]) == 100
    assert model.info["stop_reason"] == "max_iter"
    assert accuracy(model, X, y) >= 0.99


def test_cg_50_iterations_matches_the_course(mnist20):
    X, y = mnist20
    model = train(X, y, lam=1.0, solver="cg", max_iter=50)
    assert len(model.history["cost"]) == 50
    assert accuracy(model, X, y) >= 0.95  # the course reports about 95.3%


# --- seeding and the objective -------------------------------------------------------------------


def test_initial_weights_are_the_course_uniform_from_default_rng(small):
    X, y = small
    seen = []
    train(X, y, max_iter=1, callback=lambda history, theta: seen.append(theta.copy()))
    theta0 = network.initialize([400, 25, 10], np.random.default_rng(0), epsilon=0.12)
    Y = LabelMap.fit(y).one_hot(y)
    objective = lambda theta, rows=None: network.cost_and_gradient(theta, X, Y, 1.0, [400, 25, 10])  # noqa: E731
    expected = minimize(objective, theta0, max_iter=1).theta
    np.testing.assert_allclose(seen[0], expected, rtol=1e-12)


def test_history_rows_are_the_cost_and_gradient_at_the_kept_weights(small):
    X, y = small
    model = train(X, y, solver="lbfgs", max_iter=7)
    Y = model.labels.one_hot(y)
    J, grad = network.cost_and_gradient(network.pack(model.thetas), X, Y, 1.0, model.layer_sizes)
    assert model.history["cost"][-1] == pytest.approx(J, rel=1e-12)
    assert model.history["grad_norm"][-1] == pytest.approx(np.linalg.norm(grad), rel=1e-12)
    assert np.all(np.diff(model.history["cost"]) < 0)  # L-BFGS-B only accepts decreasing steps


def test_mini_batch_objective_averages_to_the_full_batch_cost(small):
    """Batches weighted by their share of the rows add up to the full objective, penalty once."""
    X, y = small
    sizes = [400, 7, 10]
    Y = LabelMap.fit(y).one_hot(y)
    w = np.random.default_rng(1).uniform(0, 2, len(X))
    theta = network.initialize(sizes, np.random.default_rng(2))
    objective = engine.Objective(engine.Rows(X, Y, sizes, sample_weight=w), 3.0, sizes)
    J, grad = objective(theta)
    batches = np.array_split(np.random.default_rng(3).permutation(len(X)), 4)
    parts = [objective(theta, np.sort(rows)) for rows in batches]
    shares = [len(rows) / len(X) for rows in batches]
    assert sum(s * Jb for s, (Jb, _) in zip(shares, parts)) == pytest.approx(J, rel=1e-12)
    np.testing.assert_allclose(sum(s * g for s, (_, g) in zip(shares, parts)), grad, rtol=1e-10)


# --- history, for every solver -------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_history_has_one_row_per_iteration(small, solver):
    X, y = small
    rows = []
    model = train(X, y, solver=solver, max_iter=4, progress=lambda h: rows.append(len(h)))
    history = model.history
    assert rows == [1, 2, 3, 4]
    assert set(history) == {"iteration", "cost", "grad_norm", "time", "val_cost", "val_accuracy"}
    np.testing.assert_array_equal(history["iteration"], [1, 2, 3, 4])
    assert np.all(np.isfinite(history["cost"])) and np.all(history["grad_norm"] > 0)
    assert np.all(np.diff(history["time"]) >= 0)
    assert np.all(np.isnan(history["val_cost"])) and np.all(np.isnan(history["val_accuracy"]))
    assert model.info["n_iter"] == 4 and model.info["best_iteration"] == 4


@pytest.mark.parametrize("solver", SOLVERS)
def test_validation_columns_score_the_held_out_set(small, solver):
    X, y = small
    seen = []
    model = train(
        X, y, solver=solver, max_iter=3, validation_fraction=0.2,
        callback=lambda history, theta: seen.append(theta.copy()),
    )  # fmt: skip
    assert model.info["n_train"] == 400 and model.info["n_validation"] == 100
    history = model.history
    assert np.all((history["val_accuracy"] >= 0) & (history["val_accuracy"] <= 1))
    # Re-score the last row independently: unregularized cost and accuracy on the same split.
    _, held_out = stratified_split(y, 0.2, random_state=0)
    X_val, y_val = X[held_out], y[held_out]
    thetas = network.unpack(seen[-1], model.layer_sizes)
    J_val, _ = network.cost_and_gradient(
        seen[-1], X_val, model.labels.one_hot(y_val), 0.0, model.layer_sizes
    )
    assert history["val_cost"][-1] == pytest.approx(J_val, rel=1e-10)
    predicted = model.labels.decode(network.predict(thetas, X_val))
    assert history["val_accuracy"][-1] == np.mean(predicted == y_val)


def test_history_as_arrays():
    history = History()
    history.append(1, 2.0, 3.0, 0.5, np.nan, np.nan)
    arrays = history.as_arrays()
    assert len(history) == 1 and arrays["iteration"].dtype == np.int64
    assert arrays["cost"].dtype == np.float64 and arrays["cost"][0] == 2.0


# --- early stopping, callbacks and interrupts: the contract, with a scripted validation score ----


CURVATURE = np.linspace(0.1, 1, 30)


def quadratic(theta, rows=None):
    """A smooth objective every solver needs a few dozen steps for (rows are ignored)."""
    return 0.5 * float(CURVATURE @ theta**2), CURVATURE * theta


def scripted(accuracies):
    """validate() that returns the given accuracies in turn (cost 1 - accuracy)."""
    scores = iter(accuracies)

    def validate(theta):
        accuracy = next(scores)
        return 1 - accuracy, accuracy

    return validate


def solver_options(solver):
    return {"n_examples": 10, "batch_size": 10} if solver in MINI_BATCH else {}


@pytest.mark.parametrize("solver", SOLVERS)
def test_early_stopping_restores_the_best_weights(solver):
    weights = []
    result = minimize(
        quadratic, np.linspace(-5, 5, 30), solver=solver, max_iter=50, tol=0,
        validate=scripted([0.5, 0.8, 0.7, 0.8, 0.6, 0.6, 0.9]), early_stopping=True,
        n_iter_no_change=3, callback=lambda history, theta: weights.append(theta.copy()),
        **solver_options(solver),
    )  # fmt: skip
    # 0.8 at iteration 2 is the best (an exact tie at 4 is no improvement); 3 rows on: stop.
    assert result.stop_reason == "early_stopping"
    assert len(result.history) == 5 and result.best_iteration == 2
    np.testing.assert_array_equal(result.theta, weights[1])


def test_early_stopping_on_real_digits_keeps_the_best_validation_score(small):
    X, y = small
    model = train(
        X, y, solver="adam", learning_rate=0.05, max_iter=40, validation_fraction=0.2,
        early_stopping=True, n_iter_no_change=3,
    )  # fmt: skip
    history = model.history
    best = model.info["best_iteration"]
    assert history["val_accuracy"][best - 1] == history["val_accuracy"].max()
    assert model.info["stop_reason"] in ("early_stopping", "max_iter")
    if model.info["stop_reason"] == "early_stopping":
        assert model.info["n_iter"] == best + 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_callback_stops_training(solver):
    result = minimize(
        quadratic, np.linspace(-5, 5, 30), solver=solver, max_iter=50, tol=0,
        callback=lambda history, theta: len(history) == 3, **solver_options(solver),
    )  # fmt: skip
    assert result.stop_reason == "callback" and len(result.history) == 3
    assert result.best_iteration == 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_keyboard_interrupt_in_callback_keeps_the_last_completed_weights(solver):
    weights = []

    def callback(history, theta):
        weights.append(theta.copy())
        if len(history) == 3:
            raise KeyboardInterrupt

    result = minimize(
        quadratic, np.linspace(-5, 5, 30), solver=solver, max_iter=50, tol=0,
        callback=callback, **solver_options(solver),
    )  # fmt: skip
    assert result.stop_reason == "interrupted"
    assert len(result.history) == 3 and result.best_iteration == 3
    np.testing.assert_array_equal(result.theta, weights[2])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_keyboard_interrupt_inside_the_cost_keeps_completed_weights(small, solver, early_stopping):
    """Ctrl-C in the middle of an iteration (during an evaluation) never leaks half-updated
    weights: the model is the last completed iteration's, or the best one's."""
    X, y = small
    weights, calls = [], {"n": 0}
    real = network.loss_sum_and_gradient

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(network, real.__name__, interrupted)
        model = train(
            X, y, solver=solver, max_iter=100, batch_size=100, validation_fraction=0.2,
            early_stopping=early_stopping, n_iter_no_change=100,
            chunk_size=1000,  # one piece per evaluation: 12 calls are 12 evaluations
            callback=lambda history, theta: weights.append(theta.copy()),
        )  # fmt: skip
    info, history = model.info, model.history
    assert info["stop_reason"] == "interrupted"
    assert 1 <= info["n_iter"] == len(weights) == len(history["cost"]) < 12
    if early_stopping:
        assert history["val_accuracy"][info["best_iteration"] - 1] == history["val_accuracy"].max()
    else:
        assert info["best_iteration"] == info["n_iter"]
    np.testing.assert_array_equal(network.pack(model.thetas), weights[info["best_iteration"] - 1])


def test_interrupt_before_the_first_iteration_returns_the_initial_weights():
    def objective(theta, rows=None):
        raise KeyboardInterrupt

    theta0 = np.arange(5.0)
    result = minimize(objective, theta0)
    assert result.stop_reason == "interrupted" and len(result.history) == 0
    assert result.best_iteration == 0
    np.testing.assert_array_equal(result.theta, theta0)


@pytest.mark.parametrize("solver", ["lbfgs", "cg"])
def test_full_batch_solvers_converge_on_an_easy_problem(solver):
    result = minimize(quadratic, np.linspace(-5, 5, 30), solver=solver, max_iter=100, tol=1e-6)
    assert result.stop_reason == "converged" and len(result.history) < 100
    assert quadratic(result.theta)[0] < 1e-6 < result.history.cost[0]


@pytest.mark.parametrize("solver", MINI_BATCH)
def test_mini_batch_solvers_converge_when_the_cost_stalls(solver):
    result = minimize(
        quadratic, np.linspace(-5, 5, 30), solver=solver, max_iter=10_000, tol=1e-3,
        learning_rate=0.1, n_iter_no_change=5, n_examples=10, batch_size=5,
    )  # fmt: skip
    assert result.stop_reason == "converged" and len(result.history) < 10_000


@pytest.mark.parametrize("solver", MINI_BATCH)
def test_the_stalled_cost_stops_after_as_many_epochs_as_scikit_learns(solver, small):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = small
    peer = MLPClassifier(solver=solver, tol=100, n_iter_no_change=3, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peer.fit(X, y)  # no epoch improves the cost by 100
    model = train(X, y, solver=solver, tol=100, n_iter_no_change=3, max_iter=50)
    assert model.info["stop_reason"] == "converged"
    assert model.info["n_iter"] == peer.n_iter_ == 5


# --- train: settings, dtypes, resume -------------------------------------------------------------


def test_float32_end_to_end(small):
    X, y = small
    model = train(X.astype(np.float32), y, max_iter=20)
    assert model.dtype == np.float32 and model.info["dtype"] == "float32"
    model64 = train(X, y, max_iter=20, dtype="float32")
    assert model64.dtype == np.float32
    assert accuracy(model, X, y) > 0.9


def test_mini_batch_runs_are_reproducible(small):
    X, y = small
    a, b = (train(X, y, solver="adam", max_iter=3, random_state=5) for _ in range(2))
    c = train(X, y, solver="adam", max_iter=3, random_state=6)
    np.testing.assert_array_equal(network.pack(a.thetas), network.pack(b.thetas))
    assert not np.array_equal(network.pack(a.thetas), network.pack(c.thetas))


def test_any_labels_and_layouts():
    rng = np.random.default_rng(0)
    X = rng.random((60, 6))
    y = np.array(["cat", "dog", "eel"])[np.arange(60) % 3]
    model = train(X, y, hidden_layer_sizes=4, max_iter=5)
    assert model.labels.classes == ("cat", "dog", "eel") and model.layer_sizes == [6, 4, 3]
    assert model.image_shape == (1, 6) and set(model.predict(X)) <= {"cat", "dog", "eel"}
    assert train(X[:, :4], y, hidden_layer_sizes=(), max_iter=2).image_shape == (2, 2)
    assert train(X, y, max_iter=2, image_shape=(2, 3), pixel_order="F").pixel_order == "F"


def test_info_is_json_and_complete(small):
    X, y = small
    model = train(X, y, solver="sgd", max_iter=2, validation_fraction=0.1)
    info = json.loads(json.dumps(model.info))
    expected = {
        "lam", "solver", "max_iter", "batch_size", "learning_rate", "hidden_layer_sizes",
        "random_state", "init_epsilon", "dtype", "n_iter", "stop_reason", "best_iteration",
        "train_time_s", "data_fingerprint", "n_train", "n_validation",
    }  # fmt: skip
    assert expected <= set(info)
    assert info["solver"] == "sgd" and info["learning_rate"] == 0.1 and info["batch_size"] == 200
    assert info["data_fingerprint"] == data_fingerprint(X, y)


def test_data_fingerprint_tells_data_apart(small):
    X, y = small
    assert data_fingerprint(X, y) == data_fingerprint(X.copy(order="F"), list(y))
    assert data_fingerprint(X, y) != data_fingerprint(X, np.roll(y, 1))
    assert data_fingerprint(X, y) != data_fingerprint(X.astype(np.float32), y)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_resume_continues_the_model_and_its_history(small, solver):
    X, y = small
    first = train(X, y, solver=solver, max_iter=5, labels=LabelMap(range(1, 11)))
    more = train(X, y, solver=solver, max_iter=3, initial=first, hidden_layer_sizes=(7,))
    assert more.layer_sizes == first.layer_sizes and more.labels == first.labels
    np.testing.assert_array_equal(more.history["iteration"], np.arange(1, 9))
    np.testing.assert_array_equal(more.history["cost"][:5], first.history["cost"])
    assert np.all(np.diff(more.history["time"]) >= 0)
    assert more.info["n_iter"] == 3 and more.info["best_iteration"] == 8
    if solver == "lbfgs":
        assert more.history["cost"][5] < first.history["cost"][4]


def test_initial_flat_theta_and_sample_weight(small):
    X, y = small
    theta0 = network.initialize([400, 25, 10], np.random.default_rng(9))
    kept = theta0.copy()
    counts = np.arange(len(X)) % 3  # 0, 1 or 2 copies of each example
    weighted = train(X, y, max_iter=5, initial=theta0, sample_weight=counts)
    repeated = train(np.repeat(X, counts, axis=0), np.repeat(y, counts), max_iter=5, initial=theta0)
    np.testing.assert_array_equal(theta0, kept)  # the caller's array is never touched
    np.testing.assert_allclose(
        network.pack(weighted.thetas), network.pack(repeated.thetas), rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solver": "newton"}, "solver"),
        ({"lam": -1}, "lam"),
        ({"lam": float("nan")}, "lam"),
        ({"max_iter": 0}, "max_iter"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"early_stopping": True, "validation_fraction": 0}, "early_stopping"),
        ({"dtype": np.int32}, "dtype"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"initial": np.zeros(3)}, "initial"),
        ({"sample_weight": -np.ones(10)}, "sample_weight"),
        ({"pixel_order": "K"}, "pixel_order"),
        ({"threads": 0}, "threads"),
        ({"validation_data": (np.zeros((2, 3)), [0, 1])}, "validation_data"),
        ({"validation_data": (np.zeros((2, 4)), [0, 7])}, "validation_data y"),
        ({"validation_data": (np.zeros((2, 4)), [0, 1]), "validation_fraction": 0.5}, "not both"),
    ],
)
def test_bad_settings_raise_naming_the_parameter(kwargs, message):
    X = np.random.default_rng(0).random((10, 4))
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match=message):
        train(X, y, **kwargs)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN"),
        (np.zeros((3, 2)), [0, 1], "y must have shape"),
        (np.zeros((2, 2)), [1, 1], "at least 2 classes"),
        (np.zeros(4), [0, 1, 0, 1], "2-D"),
    ],
)
def test_bad_data_raise(X, y, message):
    with pytest.raises(ValueError, match=message):
        train(X, y)


def test_initial_model_must_read_these_inputs(small):
    X, y = small
    model = train(X, y, max_iter=1)
    with pytest.raises(ValueError, match="initial reads 400 inputs"):
        train(X[:, :100], y, initial=model)
    with pytest.raises(ValueError, match="labels"):
        train(X, y, initial=model, labels=LabelMap(range(10)))
    assert isinstance(train(X, y, max_iter=1, initial=model), Model)


# --- BLAS threads --------------------------------------------------------------------------------


def blas_threads_now():
    return {
        lib["filepath"]: lib["num_threads"]
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    }


def test_blas_threads_pins_other_pools_and_sets_numpys():
    numpy_pools, other_pools = _blas_pools()
    ours = {lib.filepath for lib in numpy_pools.lib_controllers}
    others = {lib.filepath for lib in other_pools.lib_controllers}
    before = blas_threads_now()
    with blas_threads(1):
        inside = blas_threads_now()
    assert blas_threads_now() == before
    assert all(inside[path] == 1 for path in ours | others)
    with blas_threads():
        inside = blas_threads_now()
    assert all(inside[path] == 1 for path in others)
    assert all(inside[path] == before[path] for path in ours)
    assert ours and not ours & others


def test_training_runs_every_blas_pool_on_one_thread(small):
    X, y = small
    seen = []
    model = train(X, y, max_iter=1, callback=lambda h, t: seen.append(blas_threads_now()))
    assert set(seen[0].values()) == {1}
    assert model.info["threads"] == engine.available_cores()
    assert train(X, y, max_iter=1, threads=3).info["threads"] == 3


@pytest.mark.parametrize("chunk_size", [None, 150])
@pytest.mark.parametrize("solver", SOLVERS)
def test_same_seed_same_weights_bit_for_bit_whatever_the_threads(mnist20, solver, chunk_size):
    """The rows' split, which decides the order of the sums, is fixed by the data: 1, 2 and 3
    threads give the same bits (another order of the sums would differ in the last digits)."""
    X, y = mnist20[0][::2], mnist20[1][::2]  # 2500 rows: 3 pieces, or 17 of 150 rows
    settings = {"solver": solver, "max_iter": 4, "chunk_size": chunk_size, "random_state": 5}
    runs = [train(X, y, threads=threads, **settings) for threads in (1, 2, 3)]
    for model in runs[1:]:
        for theta, expected in zip(model.thetas, runs[0].thetas):
            np.testing.assert_array_equal(theta, expected)
        np.testing.assert_array_equal(model.history["cost"], runs[0].history["cost"])


# --- the mini-batch step -------------------------------------------------------------------------


@pytest.mark.parametrize("solver", MINI_BATCH)
def test_a_mini_batch_step_allocates_nothing_and_follows_the_formula(solver):
    from digitnet.train import _SGD, _Adam

    rng = np.random.default_rng(0)
    theta, grads = rng.normal(size=50_000), rng.normal(size=(3, 50_000))
    update = _Adam(theta) if solver == "adam" else _SGD(theta, 0.9)
    lr = 1e-3 if solver == "adam" else 0.1
    expected, m, v, velocity = theta.copy(), 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):  # the papers' updates, written out
        if (
            solver == "adam"
        ):  # Kingma and Ba's efficient form: the step size carries the corrections
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
            step_size = 1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            expected -= step_size * m / (np.sqrt(v) + 1e-8)
        else:
            velocity = 0.9 * velocity - 0.1 * g
            expected += velocity
    update(theta, grads[0], lr)  # scratch buffers exist from here on
    tracemalloc.start()
    try:
        update(theta, grads[1], lr)
        update(theta, grads[2], lr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000  # bytes: no array of 50,000 numbers (400 kB) was made
    np.testing.assert_allclose(theta, expected, rtol=1e-6, atol=1e-9)


# --- activations, softmax, dropout, schedules, Nesterov, augmentation (issue 12) -----------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu"])
def test_other_networks_learn_the_digits(small, activation):
    X, y = small
    model = train(X, y, activation=activation, output="softmax", solver="adam", max_iter=15,
                  learning_rate=3e-3, hidden_layer_sizes=(30,), lam=0.1)  # fmt: skip
    assert (model.activation, model.output) == (activation, "softmax")
    assert model.info["activation"] == activation and model.info["output"] == "softmax"
    assert model.info["init_epsilon"] is None  # "auto": He or Glorot, not the course's 0.12
    assert accuracy(model, X, y) > 0.9
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1)


def test_auto_initialization_is_he_for_relu_and_the_courses_for_sigmoid():
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 50)), np.arange(60) % 3
    for activation, bound in (("relu", np.sqrt(6 / 50)), ("sigmoid", 0.12)):
        # a step of 1e-12 leaves the initial weights visible to 1e-9
        model = train(X, y, activation=activation, solver="sgd", max_iter=1, momentum=0,
                      learning_rate=1e-12, hidden_layer_sizes=(40,))  # fmt: skip
        first = np.abs(model.thetas[0])
        assert bound * 0.98 < first.max() <= bound + 1e-9, activation


def test_dropout_training_is_seeded_and_changes_the_weights(small):
    X, y = small
    runs = [train(X, y, solver="adam", max_iter=2, dropout=0.3, random_state=s, threads=t)
            for s, t in ((1, 1), (1, 2), (2, 1))]  # fmt: skip
    np.testing.assert_array_equal(network.pack(runs[0].thetas), network.pack(runs[1].thetas))
    assert not np.array_equal(network.pack(runs[0].thetas), network.pack(runs[2].thetas))
    plain = train(X, y, solver="adam", max_iter=2, random_state=1)
    assert not np.array_equal(network.pack(plain.thetas), network.pack(runs[0].thetas))
    assert runs[0].info["dropout"] == 0.3
    # prediction never drops: the same rows, the same answers
    np.testing.assert_array_equal(runs[0].predict_proba(X), runs[0].predict_proba(X))


def test_learning_rate_schedules():
    from digitnet.train import learning_rate_at

    # 10 steps per epoch, 9 epochs: step halves after epochs 3 and 6
    assert [learning_rate_at("step", 1.0, s, 10, 9) for s in (0, 29, 30, 59, 60, 89)] == [
        1.0, 1.0, 0.5, 0.5, 0.25, 0.25,
    ]  # fmt: skip
    assert learning_rate_at("constant", 0.3, 77, 10, 9) == 0.3
    assert learning_rate_at("cosine", 2.0, 0, 10, 9) == 2.0
    assert learning_rate_at("cosine", 2.0, 45, 10, 9) == pytest.approx(1.0)
    assert learning_rate_at("cosine", 2.0, 90, 10, 9) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_a_schedule_changes_the_steps_taken(small, schedule):
    X, y = small
    constant = train(X, y, solver="sgd", max_iter=3, random_state=3)
    scheduled = train(X, y, solver="sgd", max_iter=3, random_state=3, schedule=schedule)
    assert scheduled.info["schedule"] == schedule
    assert not np.array_equal(network.pack(constant.thetas), network.pack(scheduled.thetas))


def test_nesterov_follows_its_formula():
    from digitnet.train import _SGD

    rng = np.random.default_rng(0)
    theta, grads = rng.normal(size=100), rng.normal(size=(4, 100))
    update = _SGD(theta, 0.9, nesterov=True)
    expected, velocity = theta.copy(), 0.0
    for g in grads:  # Sutskever et al.'s form as scikit-learn writes it
        velocity = 0.9 * velocity - 0.05 * g
        expected += 0.9 * velocity - 0.05 * g
        update(theta, g, 0.05)
    np.testing.assert_allclose(theta, expected, rtol=1e-13)


def test_nesterov_sgd_learns(small):
    X, y = small
    model = train(X, y, solver="sgd", nesterov=True, max_iter=30, batch_size=50, learning_rate=0.3)
    assert model.info["nesterov"] is True
    assert accuracy(model, X, y) > 0.95


def test_augmentation_trains_on_distorted_images_in_the_models_pixel_order(small, monkeypatch):
    from digitnet import augment

    X, y = small
    calls = []
    real = augment.random_affine

    def spy(X_, image_shape, pixel_order, rng):
        calls.append((X_.shape, image_shape, pixel_order))
        return real(X_, image_shape, pixel_order, rng)

    monkeypatch.setattr(augment, "random_affine", spy)
    model = train(X, y, solver="adam", max_iter=3, augment=True, image_shape=(20, 20),
                  pixel_order="F", random_state=4)  # fmt: skip
    assert calls == [(X.shape, (20, 20), "F")] * 3  # once per epoch, the model's own layout
    assert model.info["augment"] is True
    again = train(X, y, solver="adam", max_iter=3, augment=True, image_shape=(20, 20),
                  pixel_order="F", random_state=4)  # fmt: skip
    np.testing.assert_array_equal(network.pack(model.thetas), network.pack(again.thetas))
    plain = train(X, y, solver="adam", max_iter=3, image_shape=(20, 20), pixel_order="F",
                  random_state=4)  # fmt: skip
    assert not np.array_equal(network.pack(model.thetas), network.pack(plain.thetas))


def test_augmentation_needs_the_image_layout(small):
    X, y = small
    with pytest.raises(ValueError, match="augment distorts images, but the layout"):
        train(X, y, solver="adam", augment=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dropout": 0.5}, "dropout needs a mini-batch solver"),
        ({"schedule": "cosine"}, "schedule cosine needs a mini-batch solver"),
        ({"solver": "adam", "nesterov": True}, "nesterov is a momentum of sgd"),
        ({"activation": "gelu"}, "activation must be one of"),
    ],
)
def test_new_settings_are_checked(small, kwargs, message):
    X, y = small
    with pytest.raises(ValueError, match=message):
        train(X, y, **kwargs)


def test_resume_keeps_the_network_family(small):
    X, y = small
    model = train(X, y, activation="relu", output="softmax", solver="adam", max_iter=1)
    more = train(X, y, activation="relu", output="softmax", solver="adam", max_iter=1,
                 initial=model)  # fmt: skip
    assert (more.activation, more.output) == ("relu", "softmax")
    with pytest.raises(ValueError, match="initial is a relu activation network"):
        train(X, y, solver="adam", max_iter=1, initial=model)


def test_the_course_configuration_is_unchanged(small):
    """sigmoid/sigmoid with the defaults: the weights of the course's formulas, started from the
    course's uniform(-0.12, 0.12) (test_initial_weights_... checks the first iterations)."""
    X, y = small
    model = train(X, y, max_iter=3)
    assert (model.activation, model.output) == ("sigmoid", "sigmoid")
    assert model.info["init_epsilon"] == 0.12


def test_a_continued_model_refuses_another_image_layout():
    digits = data.load_digits()
    model = train(digits.X, digits.y, max_iter=2, image_shape=(8, 8), pixel_order="C")
    with pytest.raises(ValueError, match="pixel_order 'F' differs from the model's 'C'"):
        train(digits.X, digits.y, max_iter=2, initial=model, pixel_order="F")
    with pytest.raises(
        ValueError, match=r"image_shape \(4, 16\) differs from the model's \(8, 8\)"
    ):
        train(digits.X, digits.y, max_iter=2, initial=model, image_shape=(4, 16))
    again = train(
        digits.X, digits.y, max_iter=2, initial=model, image_shape=(8, 8), pixel_order="C"
    )
    assert (again.image_shape, again.pixel_order) == ((8, 8), "C")
