"""The evaluation engine against the one-piece, one-thread evaluation (``network.cost_and_gradient``,
itself checked against a per-example loop in test_network.py): equal to rounding for any threads and
pieces, the same bits whatever the number of threads, the same bits run after run."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet import engine, network
from digitnet.labels import LabelMap

COURSE = [400, 25, 10]


def assert_close(result, expected, tol):
    (J, grad), (J_ref, grad_ref) = result, expected
    assert grad.dtype == grad_ref.dtype
    assert J == pytest.approx(J_ref, rel=tol, abs=0)
    assert np.max(np.abs(grad - grad_ref)) <= tol * np.max(np.abs(grad_ref))


def assert_identical(result, expected):
    assert result[0] == expected[0]
    np.testing.assert_array_equal(result[1], expected[1])


@pytest.fixture(scope="module")
def course(mnist20):
    """(theta, X, Y, w) for the course network on mnist20-5000, random weights and sample weights."""
    X, y = mnist20
    rng = np.random.default_rng(0)
    return (
        network.initialize(COURSE, rng),
        X,
        LabelMap.fit(y).one_hot(y),
        rng.uniform(0, 2, len(X)),
    )


# float64 pieces equal the one-piece evaluation to 1e-12. float32 pieces cannot: float32 rounds at
# 6e-8, and a different summation order moves the last bits. What they must be is as accurate as
# float32 allows: within a few units of float32's last place of the float64 one-piece evaluation.
@pytest.mark.parametrize(
    "dtype, tol", [(np.float64, 1e-12), (np.float32, 8 * float(np.finfo(np.float32).eps))]
)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 500, 333, 7000])
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_engine_equals_one_piece_on_one_thread(course, dtype, tol, weighted, chunk_size, threads):
    theta, X, Y, w = course
    w = w if weighted else None
    J_ref, grad_ref = network.cost_and_gradient(theta, X, Y, 1.0, COURSE, sample_weight=w)
    X = X.astype(dtype)
    expected = (J_ref, grad_ref.astype(dtype))
    placement = engine.Rows(X, Y, COURSE, sample_weight=w, threads=threads, chunk_size=chunk_size)
    with engine.Objective(placement, 1.0, COURSE) as objective:
        first = objective(theta)
        assert_close(first, expected, tol)
        assert_identical(objective(theta), first)  # buffers and threads reused: the same bits
        assert_identical(objective(theta), first)


@pytest.mark.parametrize("chunk_size", [None, 333])
def test_the_bits_do_not_depend_on_the_threads(course, chunk_size):
    theta, X, Y, w = course
    results = [
        engine.cost_and_gradient(
            theta, X, Y, 1.0, COURSE, sample_weight=w, chunk_size=chunk_size, threads=threads
        )
        for threads in (1, 2, 3, 7)
    ]
    for result in results[1:]:
        assert_identical(result, results[0])


def test_a_mini_batch_is_its_rows_evaluated_alone(course):
    theta, X, Y, w = course
    rows = np.sort(np.random.default_rng(1).choice(len(X), 1200, replace=False))
    with engine.Rows(X, Y, COURSE, sample_weight=w, threads=2) as placement:
        loss, grad = placement.sums(theta, rows)
        again = placement.sums(theta, rows)
    loss_ref, grad_ref = network.loss_sum_and_gradient(theta, X[rows], Y[rows], COURSE, w[rows])
    assert_close((loss, grad), (loss_ref, grad_ref), 1e-12)
    assert_identical(again, (loss, grad))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hidden=st.lists(st.integers(1, 30), min_size=0, max_size=3),
    m=st.integers(1, 1500),
    chunk_size=st.one_of(st.none(), st.integers(1, 1600)),
    threads=st.integers(1, 5),
)
def test_engine_equals_one_piece_on_random_networks(seed, hidden, m, chunk_size, threads):
    rng = np.random.default_rng(seed)
    sizes = [13, *hidden, 4]
    X = rng.normal(size=(m, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    theta = network.initialize(sizes, rng, epsilon=1.0)
    expected = network.cost_and_gradient(theta, X, Y, 0.7, sizes)
    result = engine.cost_and_gradient(
        theta, X, Y, 0.7, sizes, chunk_size=chunk_size, threads=threads
    )
    assert_close(result, expected, 1e-12)


@pytest.mark.parametrize("m", [1, 99, 200, 350, 1000, 5000, 60_000, 200_000])
@pytest.mark.parametrize("sizes", [COURSE, [784, 100, 10], [784, 512, 256, 10]])
def test_pieces_are_equal_and_fixed_by_the_data_alone(m, sizes):
    weights = network.n_params(sizes)
    bounds = engine.piece_bounds(m, weights)
    rows = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == m and np.all(rows > 0)
    assert rows.max() - rows.min() <= 1 or rows[:-1].min() == rows.max()  # the last may be short
    assert rows.max() <= engine.MAX_PIECE_ROWS
    if len(rows) > 1:
        assert rows[:-1].min() * weights >= engine.MIN_PIECE_WORK
        assert rows[:-1].min() >= engine.MIN_PIECE_ROWS


def test_the_pieces_of_the_common_jobs():
    course, fashion = network.n_params(COURSE), network.n_params([784, 100, 10])
    assert len(engine.piece_bounds(5000, course)) - 1 == 2
    assert engine.piece_bounds(200, fashion) == [0, 200]  # a mini-batch: one piece
    assert len(engine.piece_bounds(60_000, fashion)) - 1 == 12
    big = network.n_params([784, 512, 256, 10])  # a big network's mini-batch: thick pieces
    assert engine.piece_bounds(128, big) == [0, 64, 128]


def test_chunk_size_gives_pieces_of_exactly_that_many_rows():
    assert engine.piece_bounds(10, 50, 4) == [0, 4, 8, 10]
    assert engine.piece_bounds(8, 50, 4) == [0, 4, 8]
    assert engine.piece_bounds(3, 50, 7) == [0, 3]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            engine.piece_bounds(10, 50, bad)


def test_threads_are_checked_and_default_to_the_available_cores():
    assert engine.check_threads(None) == engine.available_cores() >= 1
    assert engine.check_threads(3) == 3
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            engine.check_threads(bad)


def test_bad_arrays_are_named():
    X, Y = np.zeros((5, 4)), np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"X must have shape \(m, 3\)"):
        engine.Rows(X, Y, [3, 2, 2])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(5,\)"):
        engine.Rows(X, Y, [4, 2, 2], sample_weight=np.ones(4))
    theta = np.zeros(network.n_params([4, 2, 2]))
    for weights in ([1, 1, -1, 1, 1], [1, np.nan, 1, 1, 1], np.zeros(5)):
        for evaluate in (engine.cost_and_gradient, network.cost_and_gradient):
            with pytest.raises(ValueError, match="finite, non-negative, and not all zero"):
                evaluate(theta, X, Y, 0.0, [4, 2, 2], sample_weight=np.array(weights))


def test_mini_batch_rows_are_checked(course):
    theta, X, Y, _ = course
    with engine.Rows(X, Y, COURSE) as placement:
        with pytest.raises(IndexError, match=r"rows must be indices in \[0, 5000\)"):
            placement.sums(theta, np.array([0, 5000]))
        with pytest.raises(IndexError, match="rows must be indices"):
            placement.sums(theta, np.array([-1, 3]))
        with pytest.raises(ValueError, match="1-D integer index array"):
            placement.sums(theta, np.array([0.0, 1.0]))


def test_saturated_units_stay_finite_without_warnings_on_threads():
    """z = +-1000: the sigmoid's overflow is expected and silent, and nothing else overflows."""
    sizes = [2, 3, 2]
    X = np.tile([[1.0, -1.0], [-1.0, 1.0]], (300, 1))
    Y = np.tile([[0.0, 1.0], [1.0, 0.0]], (300, 1))
    thetas = [np.array([[0.0, 500, -500]] * 3), np.array([[0.0, 1000, 0, 0], [0.0, -1000, 0, 0]])]
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
            warnings.simplefilter("error")
            J, grad = engine.cost_and_gradient(
                network.pack(thetas), X.astype(dtype), Y, 0.0, sizes, threads=2
            )
        assert np.isfinite(J) and np.all(np.isfinite(grad))
        assert J == pytest.approx(1000 + np.log(2), rel=1e-3)


def test_an_error_on_a_thread_reaches_the_caller(course, monkeypatch):
    theta, X, Y, _ = course
    real, calls = network.loss_sum_and_gradient, []

    def fails_on_the_third_piece(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise FloatingPointError("piece 3")
        return real(*args, **kwargs)

    monkeypatch.setattr(network, "loss_sum_and_gradient", fails_on_the_third_piece)
    with engine.Rows(X, Y, COURSE, threads=2, chunk_size=1000) as placement:  # 5 pieces
        with pytest.raises(FloatingPointError, match="piece 3"):
            placement.sums(theta)


def test_public_sigmoid_is_exact_and_finite():
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        g = network.sigmoid(z)
    expected = [0.0, 4.248354255291589e-18, 0.2689414213699951, 0.5, 0.7310585786300049, 1.0, 1.0]
    np.testing.assert_allclose(g, expected, rtol=1e-15, atol=0)
    assert network.sigmoid(0.0) == 0.5 and network.sigmoid(np.float32(2)).dtype == np.float32


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_activation_and_output_pass_through_the_pieces(activation, output):
    sizes = [30, 20, 4]
    rng = np.random.default_rng(5)
    theta = network.initialize(sizes, rng, None, activation=activation)
    X = rng.normal(size=(3000, 30))
    Y = np.eye(4)[rng.integers(0, 4, 3000)]
    J, grad = engine.cost_and_gradient(
        theta, X, Y, 0.5, sizes, threads=2, chunk_size=700, activation=activation, output=output
    )
    J_one, grad_one = network.cost_and_gradient(
        theta, X, Y, 0.5, sizes, activation=activation, output=output
    )
    assert J == pytest.approx(J_one, rel=1e-13)
    np.testing.assert_allclose(grad, grad_one, rtol=1e-10, atol=1e-15)


def test_dropout_masks_follow_their_rows_whatever_the_pieces():
    """A mini-batch with masks in pieces on threads = the same rows and masks in one piece."""
    sizes = [30, 20, 10, 4]
    rng = np.random.default_rng(6)
    theta = network.initialize(sizes, rng, None, activation="relu")
    X = rng.normal(size=(900, 30))
    Y = np.eye(4)[rng.integers(0, 4, 900)]
    rows = np.sort(rng.choice(900, 500, replace=False))
    masks = network.dropout_masks(sizes[1:-1], len(rows), 0.3, rng)
    with engine.Rows(X, Y, sizes, threads=2, chunk_size=90, activation="relu") as placement:
        loss, grad = placement.sums(theta, rows, 0.3, masks)
    loss_one, grad_one = network.loss_sum_and_gradient(
        theta, X[rows], Y[rows], sizes, activation="relu", dropout=0.3, dropout_masks=masks
    )
    assert loss == pytest.approx(loss_one, rel=1e-13)
    np.testing.assert_allclose(grad, grad_one, rtol=1e-10, atol=1e-13)


def test_objective_drops_units_in_mini_batches_only():
    sizes = [5, 8, 3]
    rng = np.random.default_rng(8)
    theta = network.initialize(sizes, rng)
    X, Y = rng.normal(size=(40, 5)), np.eye(3)[rng.integers(0, 3, 40)]
    plain = engine.Objective(engine.Rows(X, Y, sizes, threads=1), 1.0, sizes)
    dropping = engine.Objective(
        engine.Rows(X, Y, sizes, threads=1), 1.0, sizes, dropout=0.5, rng=rng
    )
    assert dropping(theta)[0] == plain(theta)[0]  # the full batch: no dropout
    rows = np.arange(20)
    assert dropping(theta, rows)[0] != plain(theta, rows)[0]
