"""Memory-bounded pieces, memmaps and Dask evaluations against the single-machine ones.

Chunked sums add in another order than one big sum, so "equal" here means equal to rounding:
the cost to 1e-12 relative and the gradient to 1e-12 of its largest element. The Dask tests start
real ``LocalCluster``s (worker processes, loopback only); they skip without ``dask.distributed``.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
from conftest import shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet import distributed, engine, network
from digitnet.labels import LabelMap
from digitnet.train import train

COURSE = [400, 25, 10]

# to_dask puts a NumPy array into the graph (that is what makes chunks recomputable); Dask warns.
pytestmark = pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning")


def assert_same(result, expected, tol=1e-12):
    (J, grad), (J_ref, grad_ref) = result, expected
    assert J == pytest.approx(J_ref, rel=tol, abs=0)
    assert np.max(np.abs(grad - grad_ref)) <= tol * np.max(np.abs(grad_ref))


@pytest.fixture(scope="module")
def course_problem(mnist20):
    """(theta, X, Y) for the course network on mnist20-5000, at random weights."""
    X, y = mnist20
    Y = LabelMap.fit(y).one_hot(y)
    theta = network.initialize(COURSE, np.random.default_rng(0))
    return theta, X, Y


def random_problem(seed, sizes, m, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], m)]
    theta = network.initialize(sizes, rng, epsilon=None)
    return theta, X, Y


# --- chunked equals unchunked ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 333, 1000, 1024, 4999, 5000, 7000])
@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_chunked_equals_unchunked_on_mnist20(course_problem, chunk_size, lam):
    theta, X, Y = course_problem
    whole = network.cost_and_gradient(theta, X, Y, lam, COURSE)
    chunked = engine.cost_and_gradient(theta, X, Y, lam, COURSE, chunk_size=chunk_size)
    assert_same(chunked, whole)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    hidden=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    m=st.integers(1, 400),
    chunk_size=st.integers(1, 450),
)
def test_chunked_equals_unchunked_on_random_deep_networks(seed, hidden, m, chunk_size):
    sizes = [17, *hidden, 6]
    theta, X, Y = random_problem(seed, sizes, m)
    whole = network.cost_and_gradient(theta, X, Y, 0.7, sizes)
    assert_same(engine.cost_and_gradient(theta, X, Y, 0.7, sizes, chunk_size=chunk_size), whole)


# --- memory budget and memmaps ---------------------------------------------------------------------


def test_chunk_rows_fits_the_budget_and_the_data():
    sizes = [784, 100, 10]
    per_row = distributed.work_bytes_per_row(sizes)
    fixed = (engine.BLOCK_PIECES + 4) * network.n_params(sizes) * 8
    assert distributed.chunk_rows(60_000, sizes, fixed + 1000 * per_row) == 1000
    assert distributed.chunk_rows(60_000, sizes, fixed + 1000 * per_row + per_row - 1) == 1000
    assert distributed.chunk_rows(500, sizes, 10**12) == 500
    assert distributed.chunk_rows(60_000, sizes, fixed + 1000 * per_row, np.float32) > 1000
    with pytest.raises(ValueError, match="too small"):
        distributed.chunk_rows(60_000, sizes, fixed)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_grows_with_the_chunk_not_with_the_data(tmp_path):
    """On a memmap, one evaluation's NumPy allocations stay within the budget whatever ``m`` is."""
    sizes = [200, 40, 30, 10]
    budget = 4 << 20
    peaks = {}
    for m in (2_000, 8_000):
        theta, X, Y = random_problem(1, sizes, m)
        np.save(tmp_path / f"X{m}.npy", X)
        X = np.load(tmp_path / f"X{m}.npy", mmap_mode="r")
        rows = distributed.chunk_rows(m, sizes, budget)
        assert rows < 2_000
        peaks[m] = _peak_bytes(
            lambda X=X, Y=Y, theta=theta, rows=rows: engine.cost_and_gradient(
                theta, X, Y, 1.0, sizes, chunk_size=rows
            )
        )
    assert max(peaks.values()) <= budget
    assert peaks[8_000] <= 1.1 * peaks[2_000]  # 4x the data, the same working memory
    whole = _peak_bytes(lambda: network.cost_and_gradient(theta, X, Y, 1.0, sizes))
    assert whole > 2 * budget  # the same data in one piece needs far more


def _read_idx_images(path):
    """An independent reading of a gzip IDX images file: header of 16 bytes, then bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    m, h, w = np.frombuffer(raw[4:16], ">u4")
    return np.frombuffer(raw[16:], np.uint8).reshape(m, h * w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_idx_cache_unpacks_once_and_memory_maps(tmp_path, dtype):
    images = shared_file("mnist-8k/t10k-images-idx3-ubyte.gz")
    X = distributed.idx_to_npy_cache(images, tmp_path, dtype=dtype, block_rows=1000)
    assert isinstance(X, np.memmap) and X.dtype == dtype and not X.flags.writeable
    expected = _read_idx_images(images).astype(dtype) / 255
    np.testing.assert_array_equal(X, expected)
    (cache,) = tmp_path.glob("*.npy")
    written = cache.stat().st_mtime_ns
    again = distributed.idx_to_npy_cache(images, tmp_path, dtype=dtype)
    assert cache.stat().st_mtime_ns == written  # reopened, not unpacked again
    np.testing.assert_array_equal(again, expected)


def test_memmap_cache_trains_like_the_array_in_memory(tmp_path):
    folder = shared_file("mnist-8k")
    X = distributed.idx_to_npy_cache(
        folder / "t10k-images-idx3-ubyte.gz", tmp_path, dtype=np.float64
    )
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read()[8:], np.uint8)
    Y = LabelMap.fit(y).one_hot(y)
    sizes = [784, 30, 10]
    theta = network.initialize(sizes, np.random.default_rng(2))
    whole = network.cost_and_gradient(theta, np.array(X), Y, 1.0, sizes)
    assert_same(engine.cost_and_gradient(theta, X, Y, 1.0, sizes, chunk_size=700), whole)


# --- Dask ------------------------------------------------------------------------------------------
# The course network on mnist20-5000, 50 L-BFGS iterations, chunks of 700 rows (seven, then 100).

CHUNK = 700
ITERATIONS = 50


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.distributed")
    with distributed.connect(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def course_dask(course_problem, client):
    _, X, Y = course_problem
    dX, dY = distributed.to_dask(X, CHUNK), distributed.to_dask(Y, CHUNK)
    return engine.Objective(distributed.DaskRows(dX, dY, client, COURSE), 1.0, COURSE)


@pytest.fixture(scope="module")
def chunked_run(mnist20):
    """Single-machine chunked training, and its weights after every iteration."""
    X, y = mnist20
    weights = []
    model = train(
        X,
        y,
        max_iter=ITERATIONS,
        chunk_size=CHUNK,
        callback=lambda h, theta: weights.append(theta.copy()),
    )
    assert model.info["n_iter"] == ITERATIONS
    return model, weights


def max_difference(model, theta):
    return float(np.max(np.abs(network.pack(model.thetas) - theta)))


def test_dask_evaluation_equals_single_machine(course_problem, course_dask):
    theta, X, Y = course_problem
    assert course_dask.placement.chunks == (CHUNK,) * 7 + (100,)
    expected = engine.cost_and_gradient(theta, X, Y, 1.0, COURSE, chunk_size=CHUNK)
    assert_same(course_dask(theta), expected)
    assert_same(course_dask(theta), network.cost_and_gradient(theta, X, Y, 1.0, COURSE))
    with pytest.raises(ValueError, match="full batch"):
        course_dask(theta, rows=np.arange(10))


def test_dask_pieces_of_large_chunks(course_problem, client):
    theta, X, Y = course_problem
    placement = distributed.DaskRows(
        distributed.to_dask(X, 2500), distributed.to_dask(Y, 2500), client, COURSE, piece_rows=700
    )
    assert placement.chunks == (2500, 2500)
    assert_same(
        engine.Objective(placement, 1.0, COURSE)(theta),
        engine.cost_and_gradient(theta, X, Y, 1.0, COURSE, chunk_size=700),
    )


def test_dask_retries_a_failed_evaluation_while_the_scheduler_answers(
    course_problem, course_dask, monkeypatch
):
    theta, X, Y = course_problem
    placement = course_dask.placement
    chunk_sums, failures = placement._chunk_sums, []

    def fail_once(theta):
        if not failures:
            failures.append(1)
            raise OSError("a worker went away")
        return chunk_sums(theta)

    monkeypatch.setattr(placement, "_chunk_sums", fail_once)
    retries = placement.n_retries
    assert_same(
        course_dask(theta), engine.cost_and_gradient(theta, X, Y, 1.0, COURSE, chunk_size=CHUNK)
    )
    assert placement.n_retries == retries + 1


def test_dask_with_weights_float32_and_an_npy_source(client, tmp_path):
    sizes = [30, 12, 8, 5]
    theta, X, Y = random_problem(5, sizes, 1000, np.float32)
    w = np.random.default_rng(6).uniform(0, 2, len(X)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    placement = distributed.DaskRows(
        distributed.from_npy(tmp_path / "X.npy", 128),
        distributed.to_dask(Y, 128),
        client,
        sizes,
        sample_weight=distributed.to_dask(w, 128),
    )
    J, grad = engine.Objective(placement, 0.5, sizes)(theta)
    assert grad.dtype == np.float32
    expected = engine.cost_and_gradient(theta, X, Y, 0.5, sizes, sample_weight=w, chunk_size=128)
    assert_same((J, grad), expected, tol=1e-6)


def test_a_scattered_array_is_refused_with_what_to_give(client):
    _, X, Y = random_problem(9, [30, 12, 5], 100)
    with pytest.raises(ValueError, match=r"2-D array \(m, n\) of numbers, got a Future"):
        train(client.scatter(X), Y.argmax(axis=1), client=client, max_iter=1)


def test_empty_row_chunks_are_merged_away(client):
    sizes = [30, 12, 5]
    theta, X, Y = random_problem(7, sizes, 1000, np.float64)
    w = np.random.default_rng(8).uniform(0, 2, len(X))
    rows = (300, 0, 300, 300, 0, 100)
    placement = distributed.DaskRows(
        distributed.to_dask(X, 300).rechunk((rows, (30,))),
        distributed.to_dask(Y, 300).rechunk((rows, (5,))),
        client,
        sizes,
        sample_weight=distributed.to_dask(w, 300).rechunk((rows,)),
    )
    assert placement.chunks == (300, 300, 300, 100)
    expected = engine.cost_and_gradient(theta, X, Y, 0.5, sizes, sample_weight=w, chunk_size=300)
    assert_same(engine.Objective(placement, 0.5, sizes)(theta), expected)


def test_dask_refuses_mismatched_chunks(course_problem, client):
    _, X, Y = course_problem
    with pytest.raises(ValueError, match="same row chunks"):
        distributed.DaskRows(
            distributed.to_dask(X, 700), distributed.to_dask(Y, 500), client, COURSE
        )
    with pytest.raises(TypeError, match="dask arrays"):
        distributed.DaskRows(X, Y, client, COURSE)


@pytest.fixture(scope="module")
def dask_run(mnist20, client):
    X, y = mnist20
    return train(X, y, client=client, max_iter=ITERATIONS, chunk_size=CHUNK)


def test_dask_training_equals_single_machine_chunked(mnist20, dask_run, chunked_run):
    X, y = mnist20
    model = dask_run
    reference, weights = chunked_run
    assert model.info["n_iter"] == ITERATIONS and model.info["stop_reason"] == "max_iter"
    assert model.info["chunks"] == [CHUNK] * 7 + [100]
    assert model.labels == reference.labels and model.image_shape == (20, 20)
    assert max_difference(model, weights[-1]) <= 1e-10
    np.testing.assert_allclose(model.history["cost"], reference.history["cost"], rtol=1e-12)
    # Unchunked training differs by rounding alone (docs/scaling.md gives the measured drift).
    whole = train(X, y, max_iter=ITERATIONS)
    assert 0 < max_difference(whole, weights[-1]) <= 1e-8


def test_dask_training_is_deterministic(mnist20, client, dask_run):
    """The same run again gives the same bits: the chunk sums are added in a fixed order, and
    every array a worker computes with is aligned (NumPy's rounding can depend on it)."""
    X, y = mnist20
    again = train(X, y, client=client, max_iter=ITERATIONS, chunk_size=CHUNK)
    for theta, theta_again in zip(dask_run.thetas, again.thetas):
        np.testing.assert_array_equal(theta, theta_again)


def test_a_killed_worker_changes_nothing(mnist20, chunked_run):
    """SIGKILL one of two worker processes during iteration 6; its nanny restarts it, Dask
    recomputes its chunks from the graph and reruns its tasks, and training ends where an
    undisturbed run does."""
    pytest.importorskip("dask.distributed")
    X, y = mnist20
    with distributed.connect(workers=2) as client:
        victim = next(iter(client.run(os.getpid).values()))

        def kill_after_five(history, theta):
            if len(history) == 5:  # a moment later: most likely while it computes a chunk
                threading.Timer(0.02, os.kill, (victim, signal.SIGKILL)).start()

        model = train(
            X, y, client=client, max_iter=ITERATIONS, chunk_size=CHUNK, callback=kill_after_five
        )
        assert victim not in client.run(os.getpid).values()  # the worker really died
    assert model.info["n_iter"] == ITERATIONS and model.info["stop_reason"] == "max_iter"
    assert max_difference(model, chunked_run[1][-1]) <= 1e-10


@pytest.fixture
def separate_scheduler(tmp_path):
    """A ``dask scheduler`` process and one ``dask worker`` process; yields (address, scheduler)."""
    pytest.importorskip("dask.distributed")
    file = tmp_path / "scheduler.json"
    cli = [sys.executable, "-m", "distributed.cli.dask_{}", "--host", "127.0.0.1", "--no-dashboard"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [arg.format("scheduler") for arg in cli] + ["--port", "0", "--scheduler-file", str(file)],
        **quiet,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while True:  # the scheduler writes its address into the file once it listens
            try:
                address = json.loads(file.read_text())["address"]
                break
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        worker = subprocess.Popen(
            [arg.format("worker") for arg in cli] + [address, "--nthreads", "1", "--no-nanny"],
            **quiet,
        )
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)


def test_a_lost_scheduler_ends_training_with_the_weights_reached(
    mnist20, chunked_run, separate_scheduler
):
    """SIGKILL the scheduler process after 5 iterations: training stops there, as on Ctrl-C, and
    the model holds the weights of iteration 5."""
    address, scheduler = separate_scheduler
    X, y = mnist20
    with distributed.connect(scheduler=address, timeout=5) as client:
        client.wait_for_workers(1, timeout=60)

        def kill_scheduler_after_five(history, theta):
            if len(history) == 5:
                os.kill(scheduler.pid, signal.SIGKILL)

        model = train(
            X,
            y,
            client=client,
            max_iter=ITERATIONS,
            chunk_size=CHUNK,
            callback=kill_scheduler_after_five,
        )
    assert model.info["stop_reason"] == "cluster_lost" and model.info["n_iter"] == 5
    assert "scheduler" in model.info["cluster_error"]
    assert max_difference(model, chunked_run[1][4]) <= 1e-10


# --- train.train(client=...) on small problems: every setting of the one set-up --------------------


def small_problem(seed=0, m=300, n=12, classes=3):
    """(X, y) with labels that X barely predicts: training overfits, validation stalls."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = np.argmax(X[:, :classes] + rng.normal(scale=2.0, size=(m, classes)), axis=1)
    return X, y


def assert_same_training(model, reference, tol=1e-10):
    assert model.info["n_iter"] == reference.info["n_iter"]
    assert model.info["stop_reason"] == reference.info["stop_reason"]
    assert model.info["best_iteration"] == reference.info["best_iteration"]
    assert max_difference(model, network.pack(reference.thetas)) <= tol
    for column in ("iteration", "cost", "val_cost", "val_accuracy"):
        np.testing.assert_allclose(model.history[column], reference.history[column], rtol=1e-9)


def test_validation_split_and_early_stopping_on_the_cluster(client):
    X, y = small_problem()
    kwargs = {
        "hidden_layer_sizes": (8,),
        "lam": 0.01,
        "max_iter": 200,
        "early_stopping": True,  # holds out validation_fraction 0.1, stratified and seeded
        "n_iter_no_change": 4,
        "chunk_size": 64,
    }
    reference = train(X, y, **kwargs)
    assert reference.info["stop_reason"] == "early_stopping"  # the test means something
    model = train(X, y, client=client, **kwargs)
    assert_same_training(model, reference)
    assert model.info["n_validation"] == reference.info["n_validation"] == 30
    assert model.info["n_train"] == 270 and model.info["chunks"] == [64] * 4 + [14]
    assert model.info["data_fingerprint"] == reference.info["data_fingerprint"]
    assert model.info["threads"] is None and model.info["n_workers"] == 2
    assert model.info["n_evaluations"] >= model.info["n_iter"]


@pytest.mark.parametrize(("activation", "output"), [("tanh", "softmax"), ("relu", "sigmoid")])
def test_a_dask_x_with_weights_and_validation_data_trains_as_in_memory(
    client, tmp_path, activation, output
):
    X, y = small_problem(1)
    X_val, y_val = small_problem(2, m=60)
    w = np.random.default_rng(3).uniform(0, 2, len(X))
    kwargs = {
        "hidden_layer_sizes": (7, 5),
        "activation": activation,
        "output": output,
        "max_iter": 15,
        "sample_weight": w,
        "validation_data": (X_val, y_val),
    }
    reference = train(X, y, chunk_size=50, **kwargs)
    np.save(tmp_path / "X.npy", X)
    dX, dy = distributed.from_npy(tmp_path / "X.npy", 50), distributed.to_dask(y, 50)
    model = train(dX, dy, client=client, **kwargs)  # the chunks are dX's own
    assert_same_training(model, reference)
    assert model.info["chunks"] == [50] * 6 and model.info["data_fingerprint"] is None
    assert (model.activation, model.output) == (activation, output)


def test_resuming_on_the_cluster_continues_the_model(client):
    X, y = small_problem(4)
    start = train(X, y, hidden_layer_sizes=(6,), max_iter=5, chunk_size=100)
    reference = train(X, y, initial=start, max_iter=5, chunk_size=100)
    model = train(X, y, client=client, initial=start, max_iter=5, chunk_size=100)
    assert list(model.history["iteration"]) == list(range(1, 11))
    assert_same_training(model, reference)


def test_pieces_of_large_chunks_train_as_chunks_of_pieces(client):
    X, y = small_problem(5)
    reference = train(X, y, hidden_layer_sizes=(6,), max_iter=10, chunk_size=40)
    model = train(
        X, y, client=client, hidden_layer_sizes=(6,), max_iter=10, chunk_size=160, piece_rows=40
    )
    assert model.info["chunks"] == [160, 140] and model.info["piece_rows"] == 40
    assert_same_training(model, reference, tol=1e-9)  # pieces add up in another order


def test_a_nan_in_a_dask_x_is_named(client):
    X, y = small_problem(6)
    X[17, 3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        train(distributed.to_dask(X, 100), y, client=client, max_iter=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lam": -1}, "lam must be >= 0"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"solver": "adam"}, "full-batch solvers lbfgs and cg, not solver='adam'"),
        ({"solver": "sgd", "dropout": 0.2}, "not solver='sgd'"),
        ({"dropout": 0.2}, "dropout needs a mini-batch solver"),
        ({"augment": True, "pixel_order": "C"}, "augment needs a mini-batch solver"),
        ({"threads": 2}, "threads=2: on a Dask cluster"),
        ({"piece_rows": 0}, "piece_rows must be a positive number of rows"),
        ({"chunk_size": 2.5}, "chunk_size must be a positive number of rows"),
        ({"dask_x": True, "early_stopping": True}, "would split a dask X; give validation_data"),
        ({"dask_x": True, "validation_fraction": 0.2}, "give validation_data"),
    ],
)
def test_the_cluster_refuses_what_it_cannot_do_before_using_it(kwargs, message):
    pytest.importorskip("dask.array")
    X, y = small_problem(7, m=40)
    if kwargs.pop("dask_x", False):
        X = distributed.to_dask(X, 10)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train(X, y, client=object(), **kwargs)  # any use of this client would fail otherwise


def test_piece_rows_needs_a_cluster():
    X, y = small_problem(8, m=40)
    with pytest.raises(ValueError, match="piece_rows is for training on a Dask cluster"):
        train(X, y, piece_rows=10)


@pytest.mark.parametrize("blocked", ["dask", "distributed"])
def test_without_dask_the_error_names_the_extra(monkeypatch, blocked):
    monkeypatch.setitem(sys.modules, blocked, None)  # import of it raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'digitnet\[dask\]'"):
        distributed.connect(workers=1)
