"""Recipes: named sets of training settings, each for a purpose, with what it was chosen on.

``digitnet train --recipe NAME`` starts from a recipe's settings; any flag given explicitly on
the command line wins over the recipe. In Python, ``train.train(X, y, **recipe.settings)`` (or
``DigitNetClassifier(**recipe.settings)``) does the same.

Each recipe was chosen on validation rows carved from its training data (never on a test set):
``mnist`` on 1000 of ``mnist-8k``'s 5000 training digits, trained on the other 4000; ``fashion``
on 10,000 of Fashion-MNIST's 60,000 training images, trained on the other 50,000.
``benchmarks/bench_recipes.py`` then measures each on its test set, beside scikit-learn and
PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RECIPES", "Recipe", "describe"]


@dataclass(frozen=True)
class Recipe:
    """A named set of training settings.

    Attributes
    ----------
    name : what ``--recipe`` takes.
    purpose : one line: what it is for.
    settings : keyword arguments of ``train.train`` (``hidden_layer_sizes``, ``activation``, ...,
        and ``dtype``); settings it does not name keep their defaults.
    chosen_on : how the settings were chosen.
    """

    name: str
    purpose: str
    settings: dict[str, Any] = field(default_factory=dict)
    chosen_on: str = ""


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "course",
            "The course's exercise exactly: 25 sigmoid units, sigmoid outputs, lambda 1, "
            "100 L-BFGS iterations (digitnet train's defaults).",
            {
                "hidden_layer_sizes": (25,),
                "activation": "sigmoid",
                "output": "sigmoid",
                "lam": 1.0,
                "solver": "lbfgs",
                "max_iter": 100,
            },
            "the course's handout",
        ),
        Recipe(
            "mnist",
            "28x28 handwritten digits from a few thousand examples: two ReLU layers, softmax, "
            "dropout, Adam with a cosine schedule, and distorted copies of the digits each epoch.",
            {
                "hidden_layer_sizes": (512, 256),
                "activation": "relu",
                "output": "softmax",
                "dropout": 0.3,
                "lam": 0.0,
                "solver": "adam",
                "learning_rate": 2e-3,
                "schedule": "cosine",
                "batch_size": 128,
                "max_iter": 60,
                "augment": True,
                "dtype": "float32",
            },
            "validation accuracy on 1000 of mnist-8k's 5000 training digits, trained on the other "
            "4000: 0.979 (one ReLU layer of 512: 0.969; without distortions: 0.955)",
        ),
        Recipe(
            "fashion",
            "Fashion-MNIST's 60,000 training images: two ReLU layers, softmax, dropout, Adam "
            "with a cosine schedule (distortions do not help clothes).",
            {
                "hidden_layer_sizes": (512, 256),
                "activation": "relu",
                "output": "softmax",
                "dropout": 0.2,
                "lam": 0.0,
                "solver": "adam",
                "learning_rate": 1e-3,
                "schedule": "cosine",
                "batch_size": 128,
                "max_iter": 20,
                "dtype": "float32",
            },
            "validation accuracy on 10,000 of the 60,000 training images, trained on the other "
            "50,000: 0.904 (one ReLU layer of 256: 0.899)",
        ),
    ]
}


def describe(recipe: Recipe) -> str:
    """A few lines for ``digitnet recipes``: the purpose, each setting, and how it was chosen."""
    lines = [f"{recipe.name}: {recipe.purpose}"]
    lines += [f"    {name} = {value!r}" for name, value in recipe.settings.items()]
    if recipe.chosen_on:
        lines.append(f"    chosen on: {recipe.chosen_on}")
    return "\n".join(lines)
