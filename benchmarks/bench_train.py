"""100 L-BFGS iterations on the course network: digitnet against scikit-learn and PyTorch.

The 400-25-10 network on ``mnist20-5000.mat`` (lam 1), every contestant from the same initial
weights (``uniform(-0.12, 0.12)`` from ``default_rng(0)``) with a budget of 100 iterations. Reported:
wall time of the training call, training accuracy, and held-out accuracy on the 3000 ``mnist-8k``
test digits, resized the way ``mnist20-5000.mat`` was made (``scipy.ndimage.zoom(image / 255,
20 / 28, order=3)``, unrolled column-major).

Contestants
    digitnet float64 and float32: ``digitnet.train`` with its default thread policy.
    scikit-learn: ``MLPClassifier(hidden_layer_sizes=(25,), activation="logistic", solver="lbfgs",
        alpha=1.0, max_iter=100)`` with its defaults (softmax output, its own thread pools), warm
        started from the same weights; once more with every BLAS pool at one thread, to show how
        much of the difference is thread pools and how much is code.
    PyTorch: ``torch.optim.LBFGS`` (strong Wolfe line search, history 10 like SciPy's L-BFGS-B,
        torch's default threads) on the course's objective, float64 and float32, only where
        ``import torch`` works (``--torch-site-packages DIR`` adds a separate installation).

Every timed run is a fresh process, so that no contestant's idle threads or caches slow the next;
each process warms up with a 2-iteration run first. Runs are interleaved (A B C ... A B C ...) for
``--rounds`` rounds, and the table reports medians, with the median over rounds of each
contestant's time divided by scikit-learn's in the same round. A probe (a 2000x2000 matmul on 1 and
2 threads) before every round tells whether the machine had two free cores at the time.

Run from the project root: ``python benchmarks/bench_train.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
import scipy.ndimage
from common import probe
from threadpoolctl import threadpool_limits

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = [400, 25, 10]
LAM = 1.0
ITERATIONS = 100
CONTESTANTS = {
    "digitnet float64": "digitnet64",
    "digitnet float32": "digitnet32",
    "scikit-learn (defaults)": "sklearn",
    "scikit-learn, BLAS 1 thread": "sklearn1",
    "PyTorch LBFGS float64": "torch64",
    "PyTorch LBFGS float32": "torch32",
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


def run_torch(X, y, dtype, iterations):
    import torch

    m = len(X)
    Xt = torch.tensor(np.ascontiguousarray(X), dtype=dtype)
    Yt = torch.nn.functional.one_hot(torch.tensor(y - 1), 10).to(dtype)
    weights = [torch.tensor(theta, dtype=dtype, requires_grad=True) for theta in initial_thetas()]

    def logits(A):
        for layer, W in enumerate(weights):
            if layer:
                A = torch.sigmoid(A)
            A = A @ W[:, 1:].T + W[:, 0]
        return A

    start = time.perf_counter()
    optimizer = torch.optim.LBFGS(
        weights, max_iter=iterations, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        data = torch.nn.functional.binary_cross_entropy_with_logits(logits(Xt), Yt, reduction="sum")
        penalty = sum((W[:, 1:] ** 2).sum() for W in weights)
        J = (data + LAM / 2 * penalty) / m
        J.backward()
        return J

    optimizer.step(closure)
    seconds = time.perf_counter() - start
    n_iter = optimizer.state[weights[0]]["n_iter"]

    def predict(X):
        with torch.no_grad():
            return logits(torch.tensor(np.asarray(X), dtype=dtype)).argmax(1).numpy() + 1

    return seconds, predict, int(n_iter)


def run(key, iterations):
    X, y = load_train()
    if key.startswith("digitnet"):
        return run_digitnet(X, y, np.float32 if key == "digitnet32" else np.float64, iterations)
    if key.startswith("sklearn"):
        return run_sklearn(X, y, iterations, threads=1 if key == "sklearn1" else None)
    import torch

    return run_torch(X, y, torch.float32 if key == "torch32" else torch.float64, iterations)


def child(key: str) -> None:
    """One timed run in this process, after a warm-up; prints a JSON line."""
    run(key, 2)
    seconds, predict, n_iter = run(key, ITERATIONS)
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


def spawn(key: str, site_packages: str | None) -> dict:
    args = [sys.executable, __file__, "--child", key]
    if site_packages:
        args += ["--torch-site-packages", site_packages]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{key} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch-site-packages", help="site-packages of a separate torch install")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_site_packages:
        sys.path.append(args.torch_site_packages)
    if args.child:
        child(args.child)
        return

    names = [name for name in CONTESTANTS if not CONTESTANTS[name].startswith("torch")]
    if torch_available(args.torch_site_packages):
        names += [name for name in CONTESTANTS if CONTESTANTS[name].startswith("torch")]
    else:
        print("PyTorch: not importable here, left out (see --torch-site-packages)")
    results: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        line = [f"round {round_ + 1}/{args.rounds}", probe()]
        for name in names:
            results[name].append(spawn(CONTESTANTS[name], args.torch_site_packages))
            line.append(f"{CONTESTANTS[name]} {results[name][-1]['seconds']:.2f} s")
        print(" | ".join(line), flush=True)
    print(probe())
    print_table(results)


def print_table(results: dict[str, list[dict]]) -> None:
    reference = [r["seconds"] for r in results["scikit-learn (defaults)"]]
    print(
        f"\n400-25-10 on mnist20-5000, lam {LAM}, {ITERATIONS} L-BFGS iterations, same initial "
        f"weights; medians of {len(reference)} interleaved rounds, each run in a fresh process"
    )
    header = (
        f"{'':30} {'time s':>8} {'vs sklearn':>10} {'iters':>6} {'train acc':>9} {'held-out':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        ratio = np.median(np.divide(seconds, reference))
        print(
            f"{name:30} {np.median(seconds):8.3f} {ratio:9.2f}x "
            f"{int(np.median([r['n_iter'] for r in runs])):6d} "
            f"{np.median([r['train_accuracy'] for r in runs]):9.4f} "
            f"{np.median([r['test_accuracy'] for r in runs]):9.4f}"
        )


if __name__ == "__main__":
    main()
