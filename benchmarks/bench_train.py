"""digitnet against scikit-learn and PyTorch: three jobs, interleaved, medians, fresh processes.

``lbfgs`` (the course job)
    The 400-25-10 network on ``mnist20-5000.mat`` (lam 1), every contestant from the same initial
    weights (``uniform(-0.12, 0.12)`` from ``default_rng(0)``) with a budget of 100 iterations.
    Reported: wall time of the training call, training accuracy, and held-out accuracy on the 3000
    ``mnist-8k`` test digits, resized the way ``mnist20-5000.mat`` was made
    (``scipy.ndimage.zoom(image / 255, 20 / 28, order=3)``, unrolled column-major).

    digitnet float64 and float32: ``digitnet.train`` with its default thread policy.
    scikit-learn: ``MLPClassifier(hidden_layer_sizes=(25,), activation="logistic",
    solver="lbfgs", alpha=1.0, max_iter=100)`` with its defaults (softmax output, its own thread
    pools), warm started from the same weights; once more with every BLAS pool at one thread, to
    show how much of the difference is thread pools and how much is code. PyTorch:
    ``torch.optim.LBFGS`` (strong Wolfe line search, history 10 like SciPy's L-BFGS-B, torch's
    default threads) on the course's objective, float64 and float32.

``fashion`` (mini-batch)
    Fashion-MNIST (60,000 x 784), a 784-100-10 sigmoid network, Adam (learning rate 1e-3), 20
    epochs of batches of 200, float32, from the same initial weights (``network.initialize`` with
    ``epsilon=None``). digitnet and PyTorch minimize the same objective (sigmoid outputs, cross
    entropy per output unit, penalty ``lam / (2 m)``, lam 1); scikit-learn has softmax outputs, with
    ``alpha`` set to the same penalty per batch. Reported: training time, test accuracy on the
    10,000 test images, and the process's peak RSS (``ru_maxrss``; data: 188 MB of float32).

``process`` (start-up included)
    The whole ``digitnet train --data mnist20-5000.mat --max-iter 100 --test-size 0`` process against
    a Python process that imports scikit-learn, loads the same file and fits the same
    ``MLPClassifier`` (100 L-BFGS iterations): wall time from spawn to exit.

Every timed run is a fresh process, so that no contestant's idle threads or caches slow the next;
each process of the first two jobs warms up with a short run first. Runs are interleaved (A B C ...
A B C ...) for ``--rounds`` rounds, and the tables report medians, with the median over rounds of
each contestant's time divided by scikit-learn's in the same round. A probe (a 2000x2000 matmul on
1 and 2 threads) before every round and after the last tells whether the machine had two free
cores at the time; rounds with a probe on either side over ``BUSY_PROBE`` times the run's fastest
(another job had a core) are named and left out of the tables.
PyTorch runs only where ``import torch`` works (``--torch-site-packages DIR`` adds a separate
installation).

Run from the project root: ``python benchmarks/bench_train.py [--rounds 5] [--jobs lbfgs fashion
process]``; ``--quick`` shrinks every job (5 iterations, 1 epoch on 6000 rows) to check that the
script runs. Measure on a quiet machine only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io
import scipy.ndimage
from common import BUSY_PROBE, dtype_in, probe_line, probe_seconds, quiet_rounds
from threadpoolctl import threadpool_limits

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = [400, 25, 10]
LAM = 1.0
ITERATIONS = 100
FASHION_SIZES = [784, 100, 10]
FASHION_EPOCHS = 20
FASHION_BATCH = 200
FASHION_LR = 1e-3
QUICK = {"iterations": 5, "epochs": 1, "rows": 6000}
# job -> {row name: child key}; the first name of each job is the reference of its ratios.
JOBS = {
    "lbfgs": {
        "scikit-learn (defaults)": "sklearn",
        "scikit-learn, BLAS 1 thread": "sklearn1",
        "digitnet float64": "digitnet64",
        "digitnet float32": "digitnet32",
        "PyTorch LBFGS float64": "torch64",
        "PyTorch LBFGS float32": "torch32",
    },
    "fashion": {
        "scikit-learn Adam float32": "fashion_sklearn",
        "digitnet Adam float32": "fashion_digitnet",
        "PyTorch Adam float32": "fashion_torch",
    },
    "process": {
        "python: import sklearn, fit": "process_sklearn",
        "digitnet train (whole process)": "process_digitnet",
    },
}


# --- data ---------------------------------------------------------------------------------------


def load_train() -> tuple[np.ndarray, np.ndarray]:
    """mnist20-5000: X (5000, 400) float64, rows column-major 20x20; y 1..10 (10 = digit 0)."""
    mat = scipy.io.loadmat(DATA / "mnist20-5000.mat")
    return mat["X"], mat["y"].ravel().astype(np.int64)


def load_held_out() -> tuple[np.ndarray, np.ndarray]:
    """The 3000 mnist-8k test digits made like mnist20-5000, labels in its 1..10 convention."""
    from digitnet.data import read_idx

    images = read_idx(DATA / "mnist-8k" / "t10k-images-idx3-ubyte.gz")
    digits = read_idx(DATA / "mnist-8k" / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    X = np.stack([scipy.ndimage.zoom(image / 255, 20 / 28, order=3).ravel("F") for image in images])
    return X, np.where(digits == 0, 10, digits)


def initial_thetas() -> list[np.ndarray]:
    from digitnet import network

    theta0 = network.initialize(SIZES, np.random.default_rng(0), epsilon=0.12)
    return network.unpack(theta0, SIZES)


# --- contestants: each returns (seconds, predict, iterations) -----------------------------------


def run_digitnet(X, y, dtype, iterations):
    from digitnet.train import train

    start = time.perf_counter()
    model = train(X, y, hidden_layer_sizes=(25,), lam=LAM, max_iter=iterations, dtype=dtype)
    seconds = time.perf_counter() - start
    return seconds, model.predict, model.info["n_iter"]


def run_sklearn(X, y, iterations, threads=None):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(
        hidden_layer_sizes=(25,), activation="logistic", solver="lbfgs", alpha=LAM,
        max_iter=iterations, warm_start=True,
    )  # fmt: skip
    # One iteration sets up every fitted attribute; then the course's weights replace its own.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.set_params(max_iter=1).fit(X[::50], y[::50])  # every class: mnist20 is sorted
        mlp.set_params(max_iter=iterations)
        theta1, theta2 = initial_thetas()
        mlp.coefs_ = [theta1[:, 1:].T.copy(), theta2[:, 1:].T.copy()]
        mlp.intercepts_ = [theta1[:, 0].copy(), theta2[:, 0].copy()]
        with threadpool_limits(threads):
            start = time.perf_counter()
            mlp.fit(X, y)
            seconds = time.perf_counter() - start
    return seconds, mlp.predict, int(mlp.n_iter_)


def torch_logits(weights, A):
    """The sigmoid network's output logits in PyTorch: weights ``[Theta_1, ...]`` (bias column 0)."""
    import torch

    for layer, W in enumerate(weights):
        if layer:
            A = torch.sigmoid(A)
        A = A @ W[:, 1:].T + W[:, 0]
    return A


def run_torch(X, y, dtype, iterations):
    import torch

    m = len(X)
    Xt = torch.tensor(np.ascontiguousarray(X), dtype=dtype)
    Yt = torch.nn.functional.one_hot(torch.tensor(y - 1), 10).to(dtype)
    weights = [torch.tensor(theta, dtype=dtype, requires_grad=True) for theta in initial_thetas()]

    start = time.perf_counter()
    optimizer = torch.optim.LBFGS(
        weights, max_iter=iterations, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        data = torch.nn.functional.binary_cross_entropy_with_logits(
            torch_logits(weights, Xt), Yt, reduction="sum"
        )
        penalty = sum((W[:, 1:] ** 2).sum() for W in weights)
        J = (data + LAM / 2 * penalty) / m
        J.backward()
        return J

    optimizer.step(closure)
    seconds = time.perf_counter() - start
    n_iter = optimizer.state[weights[0]]["n_iter"]

    def predict(X):
        with torch.no_grad():
            return (
                torch_logits(weights, torch.tensor(np.asarray(X), dtype=dtype)).argmax(1).numpy()
                + 1
            )

    return seconds, predict, int(n_iter)


# --- the Fashion-MNIST Adam job ------------------------------------------------------------------


def load_fashion(split: str, rows: int | None = None):
    from digitnet import data

    dataset = data.load_idx_folder(data.FASHION_MNIST_DIR, split, dtype=np.float32)
    return dataset.X[:rows], dataset.y[:rows]


def fashion_thetas() -> list[np.ndarray]:
    from digitnet import network

    theta0 = network.initialize(FASHION_SIZES, np.random.default_rng(0), epsilon=None)
    return network.unpack(theta0.astype(np.float32), FASHION_SIZES)


def fashion_digitnet(X, y, epochs):
    from digitnet import network
    from digitnet.train import train

    start = time.perf_counter()
    model = train(
        X, y, hidden_layer_sizes=(100,), solver="adam", max_iter=epochs, tol=0.0,
        batch_size=FASHION_BATCH, learning_rate=FASHION_LR, dtype=np.float32,
        initial=network.pack(fashion_thetas()), n_iter_no_change=epochs + 1,
    )  # fmt: skip
    return time.perf_counter() - start, model.predict


def fashion_sklearn(X, y, epochs):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(
        hidden_layer_sizes=(100,), activation="logistic", solver="adam", batch_size=FASHION_BATCH,
        learning_rate_init=FASHION_LR, alpha=LAM * FASHION_BATCH / len(X), max_iter=epochs,
        tol=0.0, n_iter_no_change=epochs + 1, warm_start=True, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.set_params(max_iter=1).fit(X[:1000], y[:1000])  # sets up every fitted attribute
        mlp.set_params(max_iter=epochs)
        theta1, theta2 = fashion_thetas()
        mlp.coefs_ = [theta1[:, 1:].T.copy(), theta2[:, 1:].T.copy()]
        mlp.intercepts_ = [theta1[:, 0].copy(), theta2[:, 0].copy()]
        mlp._optimizer = None  # fresh Adam moments, as the others start with
        start = time.perf_counter()
        mlp.fit(X, y)
    return time.perf_counter() - start, mlp.predict


def fashion_torch(X, y, epochs):
    import torch

    torch.manual_seed(0)
    m = len(X)
    Xt, Yt = torch.from_numpy(X), torch.nn.functional.one_hot(torch.from_numpy(y), 10).float()
    weights = [torch.tensor(theta, requires_grad=True) for theta in fashion_thetas()]

    start = time.perf_counter()
    optimizer = torch.optim.Adam(weights, lr=FASHION_LR)
    for _ in range(epochs):
        for rows in torch.randperm(m).split(FASHION_BATCH):
            optimizer.zero_grad()
            data = torch.nn.functional.binary_cross_entropy_with_logits(
                torch_logits(weights, Xt[rows]), Yt[rows], reduction="sum"
            )
            penalty = sum((W[:, 1:] ** 2).sum() for W in weights)
            J = (data + LAM * len(rows) / m / 2 * penalty) / len(rows)
            J.backward()
            optimizer.step()
    seconds = time.perf_counter() - start

    def predict(X):
        with torch.no_grad():
            return torch_logits(weights, torch.from_numpy(np.asarray(X))).argmax(1).numpy()

    return seconds, predict


def fashion_child(key: str, quick: bool) -> dict:
    rows, epochs = (QUICK["rows"], QUICK["epochs"]) if quick else (None, FASHION_EPOCHS)
    X, y = load_fashion("train", rows)
    fit = {"fashion_digitnet": fashion_digitnet, "fashion_sklearn": fashion_sklearn}.get(
        key, fashion_torch
    )
    fit(X[:2000], y[:2000], 1)  # warm-up
    seconds, predict = fit(X, y, epochs)
    X_test, y_test = load_fashion("test")
    return {
        "seconds": seconds,
        "test_accuracy": float(np.mean(predict(X_test) == y_test)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- whole processes ------------------------------------------------------------------------------

SKLEARN_PROCESS = """
import sys, warnings
import scipy.io
from sklearn.neural_network import MLPClassifier
mat = scipy.io.loadmat(sys.argv[1])
warnings.simplefilter("ignore")
MLPClassifier(hidden_layer_sizes=(25,), activation="logistic", solver="lbfgs", alpha=1.0,
              max_iter=int(sys.argv[2])).fit(mat["X"], mat["y"].ravel())
"""


def process_seconds(key: str, quick: bool) -> dict:
    """Wall time of a whole process, spawn to exit."""
    iterations = str(QUICK["iterations"] if quick else ITERATIONS)
    data = str(DATA / "mnist20-5000.mat")
    if key == "process_digitnet":
        args = [sys.executable, "-m", "digitnet.cli", "train", "--data", data]
        args += ["--max-iter", iterations, "--test-size", "0"]
    else:
        args = [sys.executable, "-c", SKLEARN_PROCESS, data, iterations]
    # In a folder of its own: the model file digitnet writes (model.npz, then model-2.npz, ...
    # since it never overwrites one) must not pile up where the benchmark was started.
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, cwd=folder)
        seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{key} failed:\n{done.stderr}")
    return {"seconds": seconds}


def run(key, iterations):
    X, y = load_train()
    if key.startswith("digitnet"):
        return run_digitnet(X, y, np.float32 if key == "digitnet32" else np.float64, iterations)
    if key.startswith("sklearn"):
        return run_sklearn(X, y, iterations, threads=1 if key == "sklearn1" else None)
    import torch

    return run_torch(X, y, torch.float32 if key == "torch32" else torch.float64, iterations)


def child(key: str, quick: bool) -> None:
    """One timed run in this process, after a warm-up; prints a JSON line."""
    if key.startswith("fashion"):
        print(json.dumps(fashion_child(key, quick)))
        return
    run(key, 2)
    seconds, predict, n_iter = run(key, QUICK["iterations"] if quick else ITERATIONS)
    X, y = load_train()
    X_test, y_test = load_held_out()
    result = {
        "seconds": seconds,
        "n_iter": n_iter,
        "train_accuracy": float(np.mean(predict(X) == y)),
        "test_accuracy": float(np.mean(predict(X_test) == y_test)),
    }
    print(json.dumps(result))


# --- the comparison ------------------------------------------------------------------------------


def torch_available(site_packages: str | None) -> bool:
    code = "import sys; sys.path.extend(sys.argv[1:]); import torch"
    args = [sys.executable, "-c", code, *([site_packages] if site_packages else [])]
    return subprocess.run(args, capture_output=True).returncode == 0


def spawn(key: str, args) -> dict:
    if key.startswith("process"):
        return process_seconds(key, args.quick)
    command = [sys.executable, __file__, "--child", key, *(["--quick"] if args.quick else [])]
    if args.torch_site_packages:
        command += ["--torch-site-packages", args.torch_site_packages]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{key} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    parser.add_argument("--quick", action="store_true", help="tiny runs, to check the script")
    parser.add_argument("--torch-site-packages", help="site-packages of a separate torch install")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_site_packages:
        sys.path.append(args.torch_site_packages)
    if args.child:
        child(args.child, args.quick)
        return

    with_torch = torch_available(args.torch_site_packages)
    if not with_torch:
        print("PyTorch: not importable here, left out (see --torch-site-packages)")
    jobs = {
        job: {name: key for name, key in JOBS[job].items() if with_torch or "torch" not in key}
        for job in args.jobs
    }
    results = {job: {name: [] for name in rows} for job, rows in jobs.items()}
    probes = []
    for round_ in range(args.rounds):
        probes.append(probe_seconds())
        line = [f"round {round_ + 1}/{args.rounds}", probe_line(probes[-1])]
        for job, rows in jobs.items():
            for name, key in rows.items():
                results[job][name].append(spawn(key, args))
                line.append(f"{key} {results[job][name][-1]['seconds']:.2f} s")
        print(" | ".join(line), flush=True)
    probes.append(probe_seconds())
    print(probe_line(probes[-1]))
    quiet = quiet_rounds([two for _, two in probes])
    busy = [str(r + 1) for r, q in enumerate(quiet) if not q]
    if busy and len(busy) < len(quiet):
        print(
            f"left out as busy (a 2-thread probe beside them over {BUSY_PROBE}x the fastest, "
            f"{min(two for _, two in probes) * 1e3:.0f} ms): round {', '.join(busy)}"
        )
        results = {
            job: {name: [r for r, q in zip(runs, quiet) if q] for name, runs in table.items()}
            for job, table in results.items()
        }
    elif busy:
        print("every round was busy: the tables below are not a result")
    for job, table in results.items():
        print_table(job, table)


TITLES = {
    "lbfgs": f"400-25-10 on mnist20-5000, lam {LAM}, {ITERATIONS} L-BFGS iterations, same initial weights",
    "fashion": f"Fashion-MNIST 784-100-10 sigmoid, Adam, {FASHION_EPOCHS} epochs of {FASHION_BATCH}, float32",
    "process": f"whole process: digitnet train on mnist20-5000, {ITERATIONS} L-BFGS iterations",
}
COLUMNS = {  # result key, header, format
    "n_iter": ("iters", "{:6.0f}"),
    "train_accuracy": ("train acc", "{:9.4f}"),
    "test_accuracy": ("test acc", "{:9.4f}"),
    "peak_rss_mb": ("peak MB", "{:8.0f}"),
}


def print_table(job: str, results: dict[str, list[dict]]) -> None:
    reference = [r["seconds"] for r in next(iter(results.values()))]
    columns = [c for c in COLUMNS if c in next(iter(results.values()))[0]]
    print(f"\n{TITLES[job]}; medians of {len(reference)} interleaved rounds, fresh processes")
    header = f"{'':32} {'time s':>8} {'ratio':>7}" + "".join(
        f" {COLUMNS[c][0]:>9}" for c in columns
    )
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        ratio = np.median(np.divide(seconds, reference))
        cells = "".join(
            " " + COLUMNS[c][1].format(np.median([r[c] for r in runs])).rjust(9) for c in columns
        )
        print(f"{name:32} {np.median(seconds):8.3f} {ratio:6.2f}x{cells}")
    print(f"(ratio: time over {next(iter(results))}'s in the same round)")
    for name, runs in results.items():
        torch = next((t for t in results if "PyTorch" in t and dtype_in(t) == dtype_in(name)), None)
        if "digitnet" in name and torch is not None:
            ratios = np.divide([r["seconds"] for r in runs], [r["seconds"] for r in results[torch]])
            rounds = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"{name} over {torch}: median {np.median(ratios):.2f}x (rounds: {rounds})")


if __name__ == "__main__":
    main()
