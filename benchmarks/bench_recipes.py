"""The recipes against scikit-learn and PyTorch: test accuracy and training time, side by side.

``mnist``
    Trained on ``mnist-8k``'s 5000 training digits, tested on its 3000 other digits.
``fashion``
    Trained on Fashion-MNIST's 60,000 training images, tested on its 10,000 test images (Debian's
    ``dataset-fashion-mnist``).

Contestants, each in a fresh process, one after the other per round (``--rounds``), with a probe
of the machine before each round:

- digitnet: ``train.train(X, y, **RECIPES[name].settings)``, the recipe exactly.
- scikit-learn: ``MLPClassifier`` with the recipe's layers (ReLU, Adam, its learning rate, batch
  size and epochs, ``alpha`` 1e-4, its default); it has no dropout, schedule or distortions, so this
  is the best of what it offers in about the same time.
- PyTorch (where ``import torch`` works): the recipe's network, dropout, Adam, cosine schedule
  and, for ``mnist``, the same distortions (``digitnet.augment.random_affine``), float32.

Run from the project root on a quiet machine: ``python benchmarks/bench_recipes.py [--data mnist
fashion] [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
from common import probe

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"mnist": ROOT.parent / "shared" / "data" / "mnist-8k", "fashion": "fashion-mnist"}
CONTESTANTS = ("digitnet", "scikit-learn", "pytorch")


def load(name: str):
    from digitnet import data

    train = data.load(str(SOURCES[name]), split="train", dtype=np.float32)
    test = data.load(str(SOURCES[name]), split="test", dtype=np.float32)
    return train, test


def run_digitnet(name, train, test):
    from digitnet import train as training
    from digitnet.recipes import RECIPES

    start = time.perf_counter()
    model = training.train(
        train.X,
        train.y,
        image_shape=train.image_shape,
        pixel_order=train.pixel_order,
        **RECIPES[name].settings,
    )
    elapsed = time.perf_counter() - start
    return elapsed, float(np.mean(model.predict(test.X) == test.y))


def run_sklearn(name, train, test):
    from sklearn.neural_network import MLPClassifier

    from digitnet.recipes import RECIPES

    recipe = RECIPES[name].settings
    clf = MLPClassifier(
        hidden_layer_sizes=recipe["hidden_layer_sizes"],
        activation="relu",
        solver="adam",
        learning_rate_init=recipe["learning_rate"],
        batch_size=recipe["batch_size"],
        max_iter=recipe["max_iter"],
        n_iter_no_change=recipe["max_iter"],  # run every epoch, as the recipe does
        random_state=0,
    )
    start = time.perf_counter()
    clf.fit(train.X, train.y)
    elapsed = time.perf_counter() - start
    return elapsed, float(clf.score(test.X, test.y))


def run_torch(name, train, test):
    import torch

    from digitnet.augment import random_affine
    from digitnet.recipes import RECIPES

    recipe = RECIPES[name].settings
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    sizes = [train.X.shape[1], *recipe["hidden_layer_sizes"]]
    layers: list[torch.nn.Module] = []
    for n_in, n_out in pairwise(sizes):
        layers += [
            torch.nn.Linear(n_in, n_out),
            torch.nn.ReLU(),
            torch.nn.Dropout(recipe["dropout"]),
        ]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe["learning_rate"])
    batch, epochs = recipe["batch_size"], recipe["max_iter"]
    steps = epochs * -(-len(train.X) // batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    y = torch.from_numpy(train.y.astype(np.int64))
    start = time.perf_counter()
    for _ in range(epochs):
        X = train.X
        if recipe.get("augment"):
            X = random_affine(X, train.image_shape, train.pixel_order, rng)
        X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        for rows in torch.randperm(len(X)).split(batch):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
            optimizer.step()
            schedule.step()
    elapsed = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        predicted = net(torch.from_numpy(test.X)).argmax(1).numpy()
    return elapsed, float(np.mean(predicted == test.y))


def one(name: str, contestant: str) -> None:
    """Run one contestant in this process and print ``{"time": s, "accuracy": a}``."""
    train, test = load(name)
    run = {"digitnet": run_digitnet, "scikit-learn": run_sklearn, "pytorch": run_torch}
    elapsed, accuracy = run[contestant](name, train, test)
    print(json.dumps({"time": elapsed, "accuracy": accuracy}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=list(SOURCES), default=list(SOURCES))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--one", nargs=2, metavar=("DATA", "CONTESTANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    try:
        import torch  # noqa: F401

        contestants = CONTESTANTS
    except ImportError:
        contestants = CONTESTANTS[:2]
    for name in args.data:
        results: dict[str, list[dict]] = {c: [] for c in contestants}
        for _ in range(args.rounds):
            print(f"# {name}: {probe()}", flush=True)
            for contestant in contestants:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", name, contestant],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[contestant].append(json.loads(out.stdout.splitlines()[-1]))
        print(f"\n{name} (median of {args.rounds} round(s))")
        print(f"{'contestant':<14} {'test accuracy':>13} {'train time':>11}")
        for contestant, runs in results.items():
            accuracy = np.median([r["accuracy"] for r in runs])
            seconds = np.median([r["time"] for r in runs])
            print(f"{contestant:<14} {accuracy:>13.4f} {seconds:>10.1f}s")
        print(flush=True)


if __name__ == "__main__":
    main()
