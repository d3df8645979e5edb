"""Choose the web page's default model: candidates scored on validation digits, never test digits.

The page's default model trains at start-up on 1500 of scikit-learn's 1797 8x8 digits
(``digitnet.web.app.default_split``); the other 297 are the test digits the page shows. This
script carves a stratified validation split (20%, seeded) from the 1500 training digits only,
trains each candidate on the rest, and prints validation accuracy and training time; the best one
that trains in a few seconds becomes ``digitnet.web.app.DEFAULT_SETTINGS``. The test digits are
not read.

Run from the project root: ``python benchmarks/web_default_model.py [--seeds 0 1 2]``; ``--quick``
trains each candidate for 2 iterations to check that the script works.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from digitnet.data import load_digits, stratified_split
from digitnet.train import train
from digitnet.web.app import DEFAULT_SETTINGS, default_split

# The relu/softmax Adam candidates, each a variation of this one.
ADAM = {
    "hidden_layer_sizes": (256,), "activation": "relu", "output": "softmax", "solver": "adam",
    "learning_rate": 3e-3, "batch_size": 64, "max_iter": 60, "lam": 1.0, "schedule": "cosine",
}  # fmt: skip

CANDIDATES: dict[str, dict] = {
    "course 64-25-10 sigmoid, lbfgs 200 (the old default)": {
        "hidden_layer_sizes": (25,), "lam": 1.0, "max_iter": 200,
    },
    "64-100-10 sigmoid, lbfgs 200": {"hidden_layer_sizes": (100,), "lam": 1.0, "max_iter": 200},
    "64-128-10 relu softmax, adam 60 epochs": ADAM
    | {"hidden_layer_sizes": (128,), "schedule": "constant"},
    "64-256-10 relu softmax, adam 60 epochs, cosine": ADAM,
    "64-256-10 relu softmax, adam 60 epochs, cosine, dropout 0.2": ADAM | {"dropout": 0.2},
    "64-256-10 relu softmax, adam 60 epochs, cosine, augmented": ADAM | {"augment": True},
    "64-256-10 relu softmax, adam 100 epochs, cosine, dropout 0.2": ADAM
    | {"max_iter": 100, "dropout": 0.2},
    "64-256-10 relu softmax, adam 60 epochs, cosine, dropout 0.2, lambda 0.1": ADAM
    | {"lam": 0.1, "dropout": 0.2},
    "64-256-10 relu softmax, adam 60 epochs, cosine, dropout 0.2, lambda 3": ADAM
    | {"lam": 3.0, "dropout": 0.2},
    "64-100-10 tanh softmax, lbfgs 200": {
        "hidden_layer_sizes": (100,), "activation": "tanh", "output": "softmax", "lam": 1.0,
        "max_iter": 200,
    },
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--quick", action="store_true", help="2 iterations each: a smoke test")
    args = parser.parse_args()
    digits = load_digits()
    fit, _ = default_split(0)  # the page's test digits are never read here
    X, y = digits.X[fit], digits.y[fit]
    print(f"{'candidate':<72} {'val accuracy':>16} {'train s':>8}")
    for name, candidate in CANDIDATES.items():
        settings = {**candidate, "max_iter": 2} if args.quick else candidate
        scores, seconds = [], []
        for seed in args.seeds:
            keep, val = stratified_split(y, 0.2, seed)
            start = time.perf_counter()
            model = train(
                X[keep], y[keep], **settings, random_state=seed,
                image_shape=digits.image_shape, pixel_order=digits.pixel_order,
            )  # fmt: skip
            seconds.append(time.perf_counter() - start)
            scores.append(np.mean(model.predict(X[val]) == y[val]))
        chosen = " <- DEFAULT_SETTINGS" if candidate == DEFAULT_SETTINGS else ""
        print(f"{name:<72} {np.mean(scores):>16.4f} {np.median(seconds):>8.2f}{chosen}")


if __name__ == "__main__":
    main()
